"""The `Report`: what a quality report says, as a typed dataclass with a JSON form, before any template renders it.

`build_report` fills it from an `Assessment` / `VolumeAssessment`; the templates and `render_json` read it.
JSON has no NaN: a number that could not be computed is `null` in JSON and NaN in Python.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from vliqa.assessment import DetectedDistortion, VolumeSummary
from vliqa.assessment.schema import _json_float, _py_float  # one NaN <-> null rule for every JSON form
from vliqa.errors import InvalidParameterError

#: Changes only when a field of the JSON form changes meaning or is removed.
REPORT_VERSION = 1
#: The "kind" of a report's JSON form, so a reader can tell it from an assessment's.
REPORT_KIND = "vliqa_report"


@dataclass(frozen=True)
class AspectFinding:
    """One aspect of the verdict: its 0-4 score, level word and one sentence (worded by `vliqa.text`)."""

    aspect: str
    #: the heading, e.g. "Artefacts"
    title: str
    score: float
    level: str
    sentence: str

    def to_dict(self) -> dict[str, Any]:
        return {"aspect": self.aspect, "title": self.title, "score": _json_float(self.score), "level": self.level,
                "sentence": self.sentence}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> AspectFinding:
        return cls(aspect=str(data["aspect"]), title=str(data["title"]), score=_py_float(data["score"]),
                   level=str(data["level"]), sentence=str(data["sentence"]))


@dataclass(frozen=True)
class MetadataRow:
    """One row of the acquisition table: a label, its value as shown, and the unit (may be "")."""

    key: str
    label: str
    value: str
    unit: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"key": self.key, "label": self.label, "value": self.value, "unit": self.unit}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> MetadataRow:
        return cls(key=str(data["key"]), label=str(data["label"]), value=str(data["value"]),
                   unit=str(data.get("unit", "")))


@dataclass(frozen=True)
class MeasureRow:
    """One physics measure: its value (a series: the median over its slices, with their range) and unit."""

    key: str
    label: str
    unit: str
    value: float
    minimum: float = math.nan
    maximum: float = math.nan
    #: slices it could be computed on (1 for a single slice)
    n_slices: int = 1

    def to_dict(self) -> dict[str, Any]:
        return {"key": self.key, "label": self.label, "unit": self.unit, "value": _json_float(self.value),
                "minimum": _json_float(self.minimum), "maximum": _json_float(self.maximum),
                "n_slices": self.n_slices}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> MeasureRow:
        return cls(key=str(data["key"]), label=str(data["label"]), unit=str(data.get("unit", "")),
                   value=_py_float(data.get("value")), minimum=_py_float(data.get("minimum")),
                   maximum=_py_float(data.get("maximum")), n_slices=int(data.get("n_slices", 1)))


@dataclass(frozen=True)
class WorstSlice:
    """One of a series' lowest-scored slices: index, score, level and its description."""

    index: int
    score: float
    level: str | None
    description: str
    out_of_distribution: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {"index": self.index, "score": _json_float(self.score), "level": self.level,
                "description": self.description, "out_of_distribution": self.out_of_distribution}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> WorstSlice:
        return cls(index=int(data["index"]), score=_py_float(data["score"]), level=data.get("level"),
                   description=str(data.get("description", "")),
                   out_of_distribution=bool(data.get("out_of_distribution", False)))


@dataclass(frozen=True)
class ReportFigure:
    """A figure of the report: the per-slice plot ("plot") or a heatmap ("heatmap"), as PNG.

    `png` holds the image, so a report renders after a temporary figure folder is gone; it is not part of the
    JSON form (which gives `path`, where the PNG was kept, or None when it was written to a temporary folder).
    """

    kind: str
    caption: str
    name: str
    path: str | None = None
    slice_index: int | None = None
    png: bytes = field(default=b"", repr=False, compare=False)

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "caption": self.caption, "name": self.name, "path": self.path,
                "slice_index": self.slice_index}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ReportFigure:
        index = data.get("slice_index")
        return cls(kind=str(data["kind"]), caption=str(data.get("caption", "")), name=str(data["name"]),
                   path=data.get("path"), slice_index=None if index is None else int(index))


@dataclass(frozen=True)
class Report:
    """A radiological image-quality report of one slice or one series, ready for a template.

    `score` is the slice's score, or a series' mean slice score; `level` and `level_meaning` name it on the
    0-4 scale (None on a baseline's own scale, `scale` "own"). `findings` hold one sentence per aspect (none
    for a model without aspects); `volume` and `worst_slices` are set for a series only.
    """

    title: str
    source: str | None
    #: "slice" or "volume"
    kind: str
    score: float
    scale: str
    level: str | None
    level_meaning: str | None
    #: the slice's uncertainty (NaN for a series: see the per-slice plot)
    uncertainty: float
    findings: tuple[AspectFinding, ...]
    description: str
    distortions: tuple[DetectedDistortion, ...]
    #: out-of-distribution reasons and the reader's warnings about the input
    warnings: tuple[str, ...]
    volume: VolumeSummary | None
    worst_slices: tuple[WorstSlice, ...]
    acquisition: tuple[MetadataRow, ...]
    measures: tuple[MeasureRow, ...]
    model: str
    model_version: str
    vliqa_version: str
    #: when the report was made, ISO 8601 (UTC, seconds)
    created: str
    figures: tuple[ReportFigure, ...] = ()
    report_version: int = REPORT_VERSION

    def to_dict(self) -> dict[str, Any]:
        """Gives the JSON form (figures by path; their pixels are in the HTML and PDF renderings)."""
        return {
            "kind": REPORT_KIND, "report_version": self.report_version, "title": self.title, "source": self.source,
            "input_kind": self.kind, "score": _json_float(self.score), "scale": self.scale, "level": self.level,
            "level_meaning": self.level_meaning, "uncertainty": _json_float(self.uncertainty),
            "findings": [f.to_dict() for f in self.findings], "description": self.description,
            "distortions": [d.to_dict() for d in self.distortions], "warnings": list(self.warnings),
            "volume": None if self.volume is None else self.volume.to_dict(),
            "worst_slices": [w.to_dict() for w in self.worst_slices],
            "acquisition": [r.to_dict() for r in self.acquisition], "measures": [m.to_dict() for m in self.measures],
            "model": self.model, "model_version": self.model_version, "vliqa_version": self.vliqa_version,
            "created": self.created, "figures": [f.to_dict() for f in self.figures],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Report:
        """Gives the Report of a JSON form made by `to_dict` (figures without their pixels)."""
        if not isinstance(data, dict) or data.get("kind") != REPORT_KIND:
            kind = data.get("kind") if isinstance(data, dict) else type(data).__name__
            raise InvalidParameterError(f"not a vliqa report (kind {kind!r})",
                                        hint=f"expected 'kind': '{REPORT_KIND}' (made by vliqa report ... -o X.json)")
        version = int(data.get("report_version", REPORT_VERSION))
        if version > REPORT_VERSION:
            raise InvalidParameterError(f"report version {version} is newer than this vliqa reads ({REPORT_VERSION})",
                                        hint="upgrade vliqa")
        volume = data.get("volume")
        return cls(
            title=str(data["title"]), source=data.get("source"), kind=str(data["input_kind"]),
            score=_py_float(data["score"]), scale=str(data["scale"]), level=data.get("level"),
            level_meaning=data.get("level_meaning"), uncertainty=_py_float(data.get("uncertainty")),
            findings=tuple(AspectFinding.from_dict(f) for f in data.get("findings", ())),
            description=str(data.get("description", "")),
            distortions=tuple(DetectedDistortion.from_dict(d) for d in data.get("distortions", ())),
            warnings=tuple(str(w) for w in data.get("warnings", ())),
            volume=None if volume is None else VolumeSummary.from_dict(volume),
            worst_slices=tuple(WorstSlice.from_dict(w) for w in data.get("worst_slices", ())),
            acquisition=tuple(MetadataRow.from_dict(r) for r in data.get("acquisition", ())),
            measures=tuple(MeasureRow.from_dict(m) for m in data.get("measures", ())),
            model=str(data["model"]), model_version=str(data.get("model_version", "")),
            vliqa_version=str(data.get("vliqa_version", "")), created=str(data.get("created", "")),
            figures=tuple(ReportFigure.from_dict(f) for f in data.get("figures", ())), report_version=version,
        )
