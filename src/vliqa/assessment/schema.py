"""The assessment result every entry point gives: `Assessment` (one slice) and `VolumeAssessment` (a series).

Both are plain dataclasses with a stable JSON form (`to_dict` / `from_dict`), documented field by field
in docs/assessment_schema.md. JSON has no NaN: a measure that could not be computed is `null` in JSON
and NaN in Python. `SCHEMA_VERSION` changes only when a field changes meaning or is removed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from vliqa.core import ASPECTS
from vliqa.errors import InvalidParameterError

SCHEMA_VERSION = 3
#: Where an Assessment's `description` comes from: the quality VLM, or the template bank of `vliqa.text`.
DESCRIPTION_SOURCES = ("vlm", "template")
#: The `scale` of a score on the LDCTIQAC 0-4 scale, and of a score on its predictor's own scale (a baseline's).
QUALITY_SCALE, OWN_SCALE = "0-4", "own"


def _json_float(value: float) -> float | None:
    """Gives `value` as a JSON-safe float: None for NaN (JSON has no NaN)."""
    value = float(value)
    return value if math.isfinite(value) else None


def _py_float(value: float | None) -> float:
    """Gives a float from a JSON value: NaN for null."""
    return math.nan if value is None else float(value)


@dataclass(frozen=True)
class DetectedDistortion:
    """A distortion the assessment believes is present: name, confidence in [0, 1], and the evidence behind it."""

    name: str
    confidence: float
    #: human-readable reasons, e.g. "model: noise aspect 1.2/4", "measure: noise_sigma_hu 41 > 25"
    evidence: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "confidence": float(self.confidence), "evidence": list(self.evidence)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> DetectedDistortion:
        return cls(name=str(data["name"]), confidence=float(data["confidence"]),
                   evidence=tuple(str(e) for e in data.get("evidence", ())))


@dataclass(frozen=True)
class Assessment:
    """The quality assessment of one CT slice (scores on the LDCTIQAC 0-4 scale, higher = better).

    A predictor on its own scale (`scale` "own": a classical baseline such as BRISQUE) gives its own
    score, higher still better, no `level` (None) and no aspects.
    """

    path: str | None
    slice_index: int | None
    score: float
    level: str | None
    aspects: dict[str, float]
    #: predictive standard deviation of `score` (raised to at least OOD_MIN_UNCERTAINTY when out of distribution)
    uncertainty: float
    distortions: tuple[DetectedDistortion, ...]
    #: the physics measures of the slice (vliqa.ct.measures.measure_series: MTF and NPS per series; NaN where not
    #: computable); empty when measures were off
    measures: dict[str, float]
    description: str
    out_of_distribution: bool
    ood_reason: str | None
    model: str
    model_version: str
    vliqa_version: str
    #: the std the model itself gave, before any OOD raise
    model_uncertainty: float = math.nan
    schema_version: int = SCHEMA_VERSION
    #: what `score` is on: "0-4" (the quality scale) or "own" (the predictor's own scale, higher is better)
    scale: str = QUALITY_SCALE
    #: who wrote `description`: "vlm" (the quality VLM, its levels fixed to this assessment's) or "template"
    description_source: str = "template"
    #: what was assessed: "ct" (a slice, in HU) or "photo" (a photograph, scored by the photo model)
    domain: str = "ct"

    def to_dict(self) -> dict[str, Any]:
        """Gives the JSON form (see docs/assessment_schema.md)."""
        return {
            "kind": "slice",
            "schema_version": self.schema_version,
            "path": self.path,
            "slice_index": self.slice_index,
            "score": _json_float(self.score),
            "scale": self.scale,
            "level": self.level,
            "aspects": {a: float(self.aspects[a]) for a in ASPECTS if a in self.aspects},
            "uncertainty": _json_float(self.uncertainty),
            "model_uncertainty": _json_float(self.model_uncertainty),
            "distortions": [d.to_dict() for d in self.distortions],
            "measures": {k: _json_float(v) for k, v in self.measures.items()},
            "description": self.description,
            "description_source": self.description_source,
            "domain": self.domain,
            "out_of_distribution": bool(self.out_of_distribution),
            "ood_reason": self.ood_reason,
            "model": self.model,
            "model_version": self.model_version,
            "vliqa_version": self.vliqa_version,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Assessment:
        """Gives the Assessment of a JSON form made by `to_dict` (of this or an older schema version)."""
        _check_kind(data, "slice")
        return cls(
            path=data.get("path"),
            slice_index=data.get("slice_index"),
            score=_py_float(data["score"]),
            scale=str(data.get("scale", QUALITY_SCALE)),
            level=None if data.get("level") is None else str(data["level"]),
            aspects={str(k): float(v) for k, v in data["aspects"].items()},
            uncertainty=_py_float(data.get("uncertainty")),
            model_uncertainty=_py_float(data.get("model_uncertainty")),
            distortions=tuple(DetectedDistortion.from_dict(d) for d in data.get("distortions", ())),
            measures={str(k): _py_float(v) for k, v in data.get("measures", {}).items()},
            description=str(data.get("description", "")),
            description_source=str(data.get("description_source", "template")),
            domain=str(data.get("domain", "ct")),
            out_of_distribution=bool(data.get("out_of_distribution", False)),
            ood_reason=data.get("ood_reason"),
            model=str(data["model"]),
            model_version=str(data.get("model_version", "")),
            vliqa_version=str(data.get("vliqa_version", "")),
            schema_version=int(data["schema_version"]),
        )


@dataclass(frozen=True)
class VolumeSummary:
    """Per-volume figures over the slice scores: mean, median, min, max, the worst slices and aspect means."""

    n_slices: int
    mean: float
    median: float
    min: float
    max: float
    #: slice indices of the lowest scores, worst first (at most WORST_SLICES_SHOWN)
    worst_slices: tuple[int, ...]
    aspect_means: dict[str, float]
    n_out_of_distribution: int

    def to_dict(self) -> dict[str, Any]:
        return {"n_slices": self.n_slices, "mean": _json_float(self.mean), "median": _json_float(self.median),
                "min": _json_float(self.min), "max": _json_float(self.max), "worst_slices": list(self.worst_slices),
                "aspect_means": dict(self.aspect_means), "n_out_of_distribution": self.n_out_of_distribution}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> VolumeSummary:
        return cls(n_slices=int(data["n_slices"]), mean=_py_float(data["mean"]), median=_py_float(data["median"]),
                   min=_py_float(data["min"]), max=_py_float(data["max"]),
                   worst_slices=tuple(int(i) for i in data["worst_slices"]),
                   aspect_means={str(k): float(v) for k, v in data["aspect_means"].items()},
                   n_out_of_distribution=int(data["n_out_of_distribution"]))


#: How many of the worst slices a volume summary names.
WORST_SLICES_SHOWN = 3


def summarise(slices: list[Assessment]) -> VolumeSummary:
    """Gives the summary of per-slice assessments (at least one); slices without a score (NaN) are left out of it."""
    if not slices:
        raise InvalidParameterError("a volume assessment needs at least one slice")
    scores = np.array([s.score for s in slices], dtype=float)
    scored = np.flatnonzero(np.isfinite(scores))
    order = scored[np.argsort(scores[scored], kind="stable")][:WORST_SLICES_SHOWN]
    indices = [s.slice_index if s.slice_index is not None else i for i, s in enumerate(slices)]
    aspect_means = {}
    for a in (a for a in ASPECTS if a in slices[0].aspects):
        finite = [v for v in (s.aspects.get(a, math.nan) for s in slices) if math.isfinite(v)]
        aspect_means[a] = float(np.mean(finite)) if finite else math.nan
    ok = scores[scored]
    mean, median, low, high = ((float(ok.mean()), float(np.median(ok)), float(ok.min()), float(ok.max()))
                               if ok.size else (math.nan,) * 4)
    return VolumeSummary(n_slices=len(slices), mean=mean, median=median, min=low, max=high,
                         worst_slices=tuple(int(indices[i]) for i in order), aspect_means=aspect_means,
                         n_out_of_distribution=sum(s.out_of_distribution for s in slices))


@dataclass(frozen=True)
class VolumeAssessment:
    """The assessment of a series: one Assessment per slice, in slice order, and their summary."""

    path: str | None
    slices: tuple[Assessment, ...]
    summary: VolumeSummary
    model: str
    model_version: str
    vliqa_version: str
    schema_version: int = SCHEMA_VERSION
    notes: tuple[str, ...] = field(default=())

    def to_dict(self) -> dict[str, Any]:
        """Gives the JSON form (see docs/assessment_schema.md)."""
        return {"kind": "volume", "schema_version": self.schema_version, "path": self.path,
                "model": self.model, "model_version": self.model_version, "vliqa_version": self.vliqa_version,
                "summary": self.summary.to_dict(), "notes": list(self.notes),
                "slices": [s.to_dict() for s in self.slices]}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> VolumeAssessment:
        """Gives the VolumeAssessment of a JSON form made by `to_dict`."""
        _check_kind(data, "volume")
        return cls(path=data.get("path"), slices=tuple(Assessment.from_dict(s) for s in data["slices"]),
                   summary=VolumeSummary.from_dict(data["summary"]), model=str(data["model"]),
                   model_version=str(data.get("model_version", "")),
                   vliqa_version=str(data.get("vliqa_version", "")), schema_version=int(data["schema_version"]),
                   notes=tuple(str(n) for n in data.get("notes", ())))


def assessment_from_dict(data: dict[str, Any]) -> Assessment | VolumeAssessment:
    """Gives an Assessment or a VolumeAssessment from its JSON form, chosen by its "kind"."""
    kind = data.get("kind") if isinstance(data, dict) else None
    if kind == "volume":
        return VolumeAssessment.from_dict(data)
    if kind == "slice":
        return Assessment.from_dict(data)
    raise InvalidParameterError(f"not a vliqa assessment (kind {kind!r})", hint="expected 'kind': 'slice' or 'volume'")


def _check_kind(data: dict[str, Any], kind: str) -> None:
    if data.get("kind", kind) != kind:
        raise InvalidParameterError(f"expected an assessment of kind '{kind}', got '{data.get('kind')}'")
    version = int(data.get("schema_version", SCHEMA_VERSION))
    if version > SCHEMA_VERSION:
        raise InvalidParameterError(f"assessment schema version {version} is newer than this vliqa reads "
                                    f"({SCHEMA_VERSION})", hint="upgrade vliqa")
