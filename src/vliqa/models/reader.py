"""The reader model: quality as radiologists grade it, from what the screen shows.

    display (reading_display) -> texture features (reader_features) -> per-target MLP ensembles -> 4*sigmoid -> 0-4
    + with a reference: feature differences and similarity indices -> full-reference MLP ensembles

Each target (overall, noise, texture, sharpness, contrast) is a small ensemble of one-hidden-layer MLPs
trained with a pairwise ranking loss on radiologists' judgements (`vliqa.train.reader`), then mapped to
the 0-4 LDCTIQAC scale by a fitted sigmoid. The ensemble's spread is the model's uncertainty. The
artifacts aspect, which the reader studies do not grade, comes from another shipped model
(`artifacts_from`, the simulator-trained MedQM-I scorer) run on the same images.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from vliqa.core import CTImage
from vliqa.errors import InvalidParameterError
from vliqa.models import Predictions, load_shared, register_model
from vliqa.models.reader_features import (
    FR_FEATURES,
    NR_FEATURES,
    fr_features,
    image_nr_features,
    reading_display,
)

#: The targets the model scores: the overall verdict and four aspects.
TARGETS = ("overall", "noise", "texture", "sharpness", "contrast")


@dataclass(frozen=True)
class ReaderConfig:
    """The reader model's shape: features, hidden width, ensemble size, and where the artifacts aspect comes from."""

    nr_features: tuple[str, ...] = NR_FEATURES
    fr_features: tuple[str, ...] = FR_FEATURES
    hidden: int = 8
    ensemble: int = 5
    #: The long side, in px, every display is measured at (smaller exports are enlarged to it).
    measure_px: int = 256
    targets: tuple[str, ...] = TARGETS
    #: A shipped model (or checkpoint folder) whose artifacts aspect is reported; "" for none (artifacts = overall).
    artifacts_from: str = "medqm"


def _mlp(n_in: int, hidden: int) -> nn.Module:
    """Gives one ensemble member: Linear -> tanh -> Linear to one ranking score."""
    return nn.Sequential(nn.Linear(n_in, hidden), nn.Tanh(), nn.Linear(hidden, 1))


class RankHead(nn.Module):
    """An ensemble of MLPs over standardised features, with the sigmoid that maps its mean to 0-4."""

    def __init__(self, n_in: int, hidden: int, ensemble: int):
        super().__init__()
        self.members = nn.ModuleList(_mlp(n_in, hidden) for _ in range(ensemble))
        self.register_buffer("mu", torch.zeros(n_in))
        self.register_buffer("sd", torch.ones(n_in))
        self.register_buffer("cal", torch.tensor([1.0, 0.0]))  # score = 4 * sigmoid(a * rank + b)

    def rank(self, x: torch.Tensor) -> torch.Tensor:
        """Gives the members' ranking scores, (members, N), of raw features `x` (N, n_in)."""
        z = (x - self.mu) / self.sd
        return torch.stack([m(z)[:, 0] for m in self.members])

    def score(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Gives (score 0-4, std over members in score units) of raw features `x`."""
        scores = 4.0 * torch.sigmoid(self.cal[0] * self.rank(x) + self.cal[1])
        return scores.mean(0), scores.std(0) if len(self.members) > 1 else torch.zeros(x.shape[0])


@register_model("reader_mlp")
class ReaderModel(nn.Module):
    """Scores slices as readers do, without a reference (`predict`) or against one (`predict_pair`)."""

    config_class = ReaderConfig

    def __init__(self, config: ReaderConfig):
        super().__init__()
        unknown = set(config.targets) - set(TARGETS)
        if unknown or "overall" not in config.targets:
            raise InvalidParameterError(f"reader targets must include 'overall' and come from {TARGETS}",
                                        hint=f"unknown: {sorted(unknown)}")
        self.config = config
        unknown = (set(config.nr_features) - set(NR_FEATURES)) | (set(config.fr_features) - set(FR_FEATURES))
        if unknown:
            raise InvalidParameterError(f"unknown reader features {sorted(unknown)}",
                                        hint="the checkpoint needs a newer vliqa; upgrade it or retrain the model")
        self._nr_index = [NR_FEATURES.index(n) for n in config.nr_features]
        self._fr_index = [FR_FEATURES.index(n) for n in config.fr_features]
        self.nr = nn.ModuleDict({t: RankHead(len(config.nr_features), config.hidden, config.ensemble)
                                 for t in config.targets})
        self.fr = nn.ModuleDict({t: RankHead(len(config.fr_features), config.hidden, config.ensemble)
                                 for t in config.targets})
        self._artifacts_model = None

    # ------------------------------------------------------------ features

    def features(self, images: Sequence[CTImage]) -> np.ndarray:
        """Gives the no-reference features (N, len(NR_FEATURES)) of `images`."""
        px = self.config.measure_px
        if not images:
            return np.zeros((0, len(NR_FEATURES)), np.float32)
        return np.stack([image_nr_features(im, px) for im in images])[:, self._nr_index]

    def pair_features(self, images: Sequence[CTImage], references: Sequence[CTImage]) -> np.ndarray:
        """Gives the full-reference features (N, len(FR_FEATURES)) of `images` against `references`."""
        px = self.config.measure_px
        measured: dict[int, tuple[np.ndarray, np.ndarray]] = {}  # one reference for a whole series: measure it once
        rows = []
        for im, ref in zip(images, references, strict=True):
            if id(ref) not in measured:
                measured[id(ref)] = (reading_display(ref, px), image_nr_features(ref, px))
            ref_display, ref_nr = measured[id(ref)]
            rows.append(fr_features(reading_display(im, px), ref_display, ref_nr))
        return np.stack(rows)[:, self._fr_index]

    # ------------------------------------------------------------ scoring

    def _heads_predict(self, heads: nn.ModuleDict, x: np.ndarray, images: Sequence[CTImage],
                       artifacts: np.ndarray | None = None) -> Predictions:
        """Gives Predictions from features `x` through `heads`, with the artifacts aspect added (or given)."""
        t = torch.from_numpy(np.asarray(x, dtype=np.float32))
        with torch.no_grad():
            out = {name: head.score(t) for name, head in heads.items()}
        overall, std = (v.numpy().astype(np.float64) for v in out["overall"])
        aspects = {name: out[name][0].numpy().astype(np.float64) if name in out else overall.copy()
                   for name in ("noise", "texture", "sharpness", "contrast")}
        aspects["artifacts"] = (self._artifacts(images, overall) if artifacts is None
                                else np.asarray(artifacts, dtype=np.float64))
        return Predictions(overall=overall, aspects=aspects, std=std)

    def predict_features(self, x: np.ndarray, artifacts: np.ndarray, *, full_reference: bool = False) -> Predictions:
        """Gives the predictions for features already measured (`features` or `pair_features`), the artifacts
        aspect given (a caller that runs the artifacts model itself need not run it twice)."""
        return self._heads_predict(self.fr if full_reference else self.nr, x, [], artifacts)

    def _artifacts(self, images: Sequence[CTImage], fallback: np.ndarray) -> np.ndarray:
        """Gives the artifacts aspect from `artifacts_from`, or the overall score when none is configured."""
        if not self.config.artifacts_from:
            return fallback.copy()
        if self._artifacts_model is None:
            self._artifacts_model = load_shared(self.config.artifacts_from)
        pred = self._artifacts_model.predict(list(images))
        if pred.aspects is None or "artifacts" not in pred.aspects:
            return fallback.copy()
        return np.asarray(pred.aspects["artifacts"], dtype=np.float64)

    def predict(self, images: Sequence[CTImage]) -> Predictions:
        """Gives the no-reference predictions for `images`: overall, five aspects and the ensemble's std."""
        images = list(images)
        return self._heads_predict(self.nr, self.features(images), images)

    def predict_pair(self, images: Sequence[CTImage], references: Sequence[CTImage]) -> Predictions:
        """Gives the full-reference predictions for `images`, each judged against the reference at its index."""
        images, references = list(images), list(references)
        if len(images) != len(references):
            raise InvalidParameterError(f"{len(images)} images but {len(references)} references",
                                        hint="give one reference per image (or one for all)")
        return self._heads_predict(self.fr, self.pair_features(images, references), images)
