"""The photo model: quality of photographs (DepictQA's domain) on the 0-4 scale, overall and per aspect.

    photo features (photo_features) -> ensemble of MLPs -> 4*sigmoid -> 5 aspects, 0-4 -> overall by the label rule
    + with a clean reference: full-reference features (photo_pair_features) -> a second ensemble

The overall score is the labels' own rule applied to each member's aspects (`overall_from_aspects`: worst aspect
less a quarter of the second worst's loss), so it always agrees with the aspects a description states; on the
validation photo it ranks better than the members' own overall output (Spearman 0.857 vs 0.794), which is kept
for `overall_from_aspects=False`.

Trained by `vliqa.train.photo` (`make train-photo`) on distorted crops of free photographs with rule labels
(`vliqa.data.photos`); shipped as `photo`. The ensemble's spread is the model's uncertainty.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import torch
from torch import nn

from vliqa.core import ASPECTS
from vliqa.data.photos import overall_from_aspects
from vliqa.errors import InvalidParameterError
from vliqa.models import Predictions, register_model
from vliqa.models.photo_features import PHOTO_FEATURES, PHOTO_PAIR_FEATURES, photo_features, photo_pair_features

#: What the model scores: the overall verdict, then every aspect.
TARGETS = ("overall", *ASPECTS)


@dataclass(frozen=True)
class PhotoConfig:
    """The photo model's shape: the features it reads, hidden width and ensemble size."""

    features: tuple[str, ...] = PHOTO_FEATURES
    pair_features: tuple[str, ...] = PHOTO_PAIR_FEATURES
    hidden: int = 32
    ensemble: int = 5
    #: the overall score from each member's aspects by the label rule (else the members' own overall output)
    overall_from_aspects: bool = True


class ScoreHead(nn.Module):
    """An ensemble of one-hidden-layer MLPs over standardised features, each giving every target on 0-4."""

    def __init__(self, n_in: int, hidden: int, ensemble: int, n_out: int = len(TARGETS)):
        super().__init__()
        self.members = nn.ModuleList(nn.Sequential(nn.Linear(n_in, hidden), nn.Tanh(), nn.Linear(hidden, n_out))
                                     for _ in range(ensemble))
        self.register_buffer("mu", torch.zeros(n_in))
        self.register_buffer("sd", torch.ones(n_in))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Gives the members' scores (members, N, targets) on 0-4 of raw features `x` (N, n_in)."""
        z = (x - self.mu) / self.sd
        return torch.stack([4.0 * torch.sigmoid(m(z)) for m in self.members])


@register_model("photo_mlp")
class PhotoModel(nn.Module):
    """Scores photographs without a reference (`predict`) or against a clean one (`predict_pair`)."""

    config_class = PhotoConfig
    #: The image domain this model scores (`vliqa.core.DOMAINS`): the Assessor sends it photographs only.
    domain: ClassVar[str] = "photo"

    def __init__(self, config: PhotoConfig):
        super().__init__()
        unknown = (set(config.features) - set(PHOTO_FEATURES)) | (set(config.pair_features) - set(PHOTO_PAIR_FEATURES))
        if unknown:
            raise InvalidParameterError(f"unknown photo features {sorted(unknown)}",
                                        hint="the checkpoint needs a newer vliqa; upgrade it or retrain the model")
        if config.hidden < 1 or config.ensemble < 1:
            raise InvalidParameterError(f"hidden and ensemble must be at least 1, got {config.hidden}, "
                                        f"{config.ensemble}")
        self.config = config
        self._index = [PHOTO_FEATURES.index(n) for n in config.features]
        self._pair_index = [PHOTO_PAIR_FEATURES.index(n) for n in config.pair_features]
        n_nr = len(config.features)
        self.nr = ScoreHead(n_nr, config.hidden, config.ensemble)
        self.fr = ScoreHead(len(config.pair_features) + n_nr, config.hidden, config.ensemble)

    # ------------------------------------------------------------ features

    def features(self, images: Sequence[Any]) -> np.ndarray:
        """Gives the no-reference features (N, len(config.features)) of photos (PhotoImage or RGB arrays)."""
        if not len(images):
            return np.zeros((0, len(self._index)), np.float32)
        return np.stack([photo_features(im) for im in images])[:, self._index]

    def pair_features(self, images: Sequence[Any], references: Sequence[Any],
                      nr: np.ndarray | None = None) -> np.ndarray:
        """Gives the full-reference head's input: pair features against the reference, then the photo's own
        no-reference features (`nr`, when the caller has them)."""
        if len(images) != len(references):
            raise InvalidParameterError(f"{len(images)} photos but {len(references)} references",
                                        hint="give one reference per photo")
        if not len(images):
            return np.zeros((0, len(self._pair_index) + len(self._index)), np.float32)
        pairs = np.stack([photo_pair_features(im, ref) for im, ref in zip(images, references, strict=True)])
        own = self.features(images) if nr is None else nr
        return np.concatenate([pairs[:, self._pair_index], own], axis=1)

    # ------------------------------------------------------------ scoring

    def _predictions(self, head: ScoreHead, x: np.ndarray) -> Predictions:
        with torch.no_grad():
            scores = head(torch.from_numpy(np.asarray(x, np.float32))).double().numpy()  # (members, N, targets)
        overall = overall_from_aspects(scores[..., 1:]) if self.config.overall_from_aspects else scores[..., 0]
        std = overall.std(axis=0, ddof=1) if scores.shape[0] > 1 else np.zeros(scores.shape[1])
        mean = scores.mean(axis=0)
        aspects = {a: mean[:, TARGETS.index(a)] for a in ASPECTS}
        return Predictions(overall=overall.mean(axis=0), aspects=aspects, std=std)

    def predict(self, images: Sequence[Any]) -> Predictions:
        """Gives the no-reference predictions for photos: overall, five aspects (0-4) and the ensemble's std."""
        return self._predictions(self.nr, self.features(list(images)))

    def predict_pair(self, images: Sequence[Any], references: Sequence[Any]) -> Predictions:
        """Gives the full-reference predictions for photos, each judged against the clean reference at its index."""
        return self._predictions(self.fr, self.pair_features(list(images), list(references)))
