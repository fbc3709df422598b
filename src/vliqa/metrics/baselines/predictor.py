"""A classical baseline behind the model interface: `vliqa.models.load("brisque")` gives a `BaselinePredictor`.

So baselines and models take the same names everywhere (pyiqa's `create_metric` pattern): `vliqa assess
--model brisque`, `vliqa evaluate --model brisque`, `Assessor("niqe")`.

`predict(images).overall` is the baseline's score turned so that higher means better (`quality_sign x
score`), on the **baseline's own scale** (BRISQUE and NIQE units, a Laplacian variance, HU of noise...),
not the 0-4 quality scale: no mapping between the two is claimed. The predictor says so with
`scale = "own"` (models say "0-4"), and gives no aspects and no std.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from vliqa.core import CTImage, __version__
from vliqa.errors import VliqaError
from vliqa.metrics.baselines.registry import Baseline, get_baseline
from vliqa.models import Predictions

#: The `scale` of a predictor whose overall score is on its own scale (higher is better), not 0-4.
OWN_SCALE = "own"


@dataclass
class BaselinePredictor:
    """A registered baseline as a Predictor: its scores turned so that higher means better, on its own scale.

    `window` is the display window baselines that read display images see (the LDCTIQAC window by default).
    Slices the baseline is undefined on score NaN, and the reason is kept in `errors`.
    """

    name: str
    window: str = "ldctiqac"
    errors: list[str] = field(default_factory=list)
    scale: str = field(default=OWN_SCALE, init=False)

    def __post_init__(self) -> None:
        self.name = self.baseline.name  # the registered spelling (names are case-insensitive)

    @property
    def baseline(self) -> Baseline:
        """The registered baseline this predictor runs."""
        return get_baseline(self.name)

    @property
    def negated(self) -> bool:
        """True when the scores are the baseline's values negated (a lower-is-better baseline such as BRISQUE)."""
        return not self.baseline.higher_is_better

    @property
    def version(self) -> str:
        """The model version an Assessment records: the baseline's name in this vliqa."""
        return f"baseline:{self.name}@vliqa-{__version__}"

    def predict(self, images: Sequence[CTImage]) -> Predictions:
        """Gives quality_sign x score per image; NaN (and a note in `errors`) where the baseline is undefined."""
        baseline = self.baseline
        scores = np.full(len(images), np.nan)
        for i, image in enumerate(images):
            try:
                scores[i] = baseline.quality_sign * baseline.score_image(image, window=self.window)
            except VliqaError as exc:  # one odd slice must not sink a whole table or series
                self.errors.append(str(exc))
        return Predictions(overall=scores)
