"""The quality vocabulary: aspects, the 0-4 LDCTIQAC scale and its words, distortions, and `QualityLabels`."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

#: The quality aspects every label, model and report scores, in this order.
ASPECTS = ("noise", "artifacts", "sharpness", "contrast", "texture")
#: What a low score of each aspect is called as a distortion (the names `vliqa.assess` reports).
ASPECT_DISTORTION = {"noise": "noise", "artifacts": "artifacts", "sharpness": "blur", "contrast": "low_contrast",
                     "texture": "oversmoothing"}

#: The LDCTIQAC 2023 overall scale; 4 is best.
SCALE_MIN, SCALE_MAX = 0.0, 4.0
LEVEL_NAMES = {0: "bad", 1: "poor", 2: "fair", 3: "good", 4: "excellent"}
LEVEL_MEANINGS = {
    0: "desired features are not shown",
    1: "diagnostic interpretation is impossible",
    2: "clinical interpretation is limited",
    3: "the image is diagnostic",
    4: "anatomy is evident",
}


def level_of(score: float) -> int:
    """Gives the nearest integer level 0-4 of a score."""
    return int(min(4, max(0, round(float(score)))))


@dataclass(frozen=True)
class Distortion:
    """One distortion present in an image: registry name, severity in [0, 1], where it shows."""

    name: str
    severity: float
    region: str | None = None
    params: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "severity": float(self.severity), "region": self.region, "params": dict(self.params)}


@dataclass(frozen=True)
class QualityLabels:
    """Overall 0-4 score, aspect scores 0-4 (keys of ASPECTS), distortions, and where the labels came from."""

    overall: float
    aspects: dict[str, float]
    distortions: tuple[Distortion, ...] = ()
    #: "physics", "diagnostic" or "human"
    source: str = "physics"
    #: measured facts behind the labels (noise_sigma_hu, mtf50_lp_per_cm, ...)
    measures: dict[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        missing = set(ASPECTS) - set(self.aspects)
        if missing:
            raise ValueError(f"aspect scores missing for {sorted(missing)}")

    def to_dict(self) -> dict[str, Any]:
        return {
            "overall": float(self.overall),
            "aspects": {k: float(self.aspects[k]) for k in ASPECTS},
            "distortions": [d.to_dict() for d in self.distortions],
            "source": self.source,
            "measures": {k: float(v) for k, v in self.measures.items()},
        }
