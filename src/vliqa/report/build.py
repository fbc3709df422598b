"""`build_report`: an assessment, the image and its metadata gathered into a `Report` for the templates.

Every sentence comes from `vliqa.text` (the aspect findings use its phrase bank); the figures are the
Assessor's (`Assessor.write_figures`), or without an Assessor the measured local-noise heatmap.
"""

from __future__ import annotations

import math
import random
import tempfile
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from vliqa import text
from vliqa.assessment import (
    Assessment,
    Assessor,
    DetectedDistortion,
    VolumeAssessment,
    local_noise_map,
    save_heatmap_png,
    save_volume_plot,
)
from vliqa.assessment.schema import QUALITY_SCALE
from vliqa.core import ASPECTS, LEVEL_MEANINGS, LEVEL_NAMES, CTImage, CTVolume, QualityLabels, level_of
from vliqa.errors import InvalidParameterError
from vliqa.report.schema import AspectFinding, MeasureRow, MetadataRow, Report, ReportFigure, WorstSlice
from vliqa.text.phrases import ASPECT_TITLES
from vliqa.text.templates import DescriptionContext, aspect_sentence, aspect_slots

DEFAULT_TITLE = "CT image quality report"
#: Label and unit of each physics measure (vliqa.ct.measures.MEASURE_KEYS and REFERENCE_KEYS).
MEASURE_LABELS: dict[str, tuple[str, str]] = {
    "noise_sigma_hu": ("Noise (sigma in soft tissue)", "HU"),
    "noise_n_rois": ("Homogeneous ROIs for noise", ""),
    "nps_peak_freq_per_mm": ("NPS peak frequency", "1/mm"),
    "nps_mean_freq_per_mm": ("NPS mean frequency", "1/mm"),
    "mtf50_lp_per_cm": ("MTF50 (edge)", "lp/cm"),
    "mtf10_lp_per_cm": ("MTF10 (edge)", "lp/cm"),
    "edge_width_mm": ("Edge width (10-90 %)", "mm"),
    "streak_rms_hu": ("Streak index (RMS)", "HU"),
    "ring_rms_hu": ("Ring index (RMS)", "HU"),
    "rmse_hu": ("RMSE against the reference", "HU"),
    "psnr_db": ("PSNR against the reference", "dB"),
    "ssim": ("SSIM against the reference", ""),
}
#: Units of measures not in MEASURE_LABELS, read from the end of the key (the house rule: units in names).
_UNIT_SUFFIXES = (("_lp_per_cm", "lp/cm"), ("_per_mm", "1/mm"), ("_hu", "HU"), ("_mm", "mm"), ("_db", "dB"),
                  ("_mgy", "mGy"))


def measure_label(key: str) -> tuple[str, str]:
    """Gives (label, unit) of a measure key; an unknown key is labelled by its name, its unit by its suffix."""
    if key in MEASURE_LABELS:
        return MEASURE_LABELS[key]
    for suffix, unit in _UNIT_SUFFIXES:
        if key.endswith(suffix):
            return key[: -len(suffix)].replace("_", " ").capitalize(), unit
    return key.replace("_", " ").capitalize(), ""


def build_report(result: Assessment | VolumeAssessment, image: CTImage | CTVolume | None = None, *,
                 metadata: Mapping[str, Any] | None = None, figures_dir: str | Path | None = None,
                 assessor: Assessor | None = None, title: str | None = None, figures: bool = True) -> Report:
    """Gives the Report of an assessment: verdict, aspect findings, tables, and figures when the image is given.

    `image`: the CTImage / CTVolume assessed; it gives the acquisition table and the figures (the per-slice
    plot of a series and heatmaps of its worst slices, or the slice's heatmap). `metadata`: extra rows for the
    acquisition table (label -> value; a label already there is replaced). `figures_dir`: keep the PNGs there
    (else they are made in a temporary folder and held in the Report only). `assessor`: the one that assessed,
    so the heatmaps are its model's (else the measured local-noise map). `figures=False` skips them.
    """
    volume = isinstance(result, VolumeAssessment)
    if not volume and not isinstance(result, Assessment):
        raise InvalidParameterError(f"cannot report on a {type(result).__name__}",
                                    hint="pass the Assessment or VolumeAssessment vliqa.assess gave")
    _check_image(result, image)
    slices = result.slices if volume else (result,)
    scale = slices[0].scale
    score = result.summary.mean if volume else result.score
    on_quality_scale = scale == QUALITY_SCALE and math.isfinite(score)
    level = LEVEL_NAMES[level_of(score)] if on_quality_scale else None
    aspects = result.summary.aspect_means if volume else result.aspects
    found = None
    if figures and image is not None:
        found = _figures(result, image, figures_dir, assessor)
    return Report(
        title=title or DEFAULT_TITLE, source=result.path, kind="volume" if volume else "slice", score=float(score),
        scale=scale, level=level, level_meaning=LEVEL_MEANINGS[level_of(score)] if on_quality_scale else None,
        uncertainty=math.nan if volume else float(result.uncertainty),
        findings=aspect_findings(aspects, score) if on_quality_scale else (),
        description=_volume_description(result) if volume else result.description,
        distortions=_volume_distortions(result) if volume else result.distortions,
        warnings=tuple(result.notes) if volume else _slice_warnings(result),
        volume=result.summary if volume else None, worst_slices=_worst_slices(result) if volume else (),
        acquisition=tuple(metadata_rows(image, metadata)), measures=measure_rows(slices),
        model=result.model, model_version=result.model_version, vliqa_version=result.vliqa_version,
        created=datetime.now(UTC).isoformat(timespec="seconds"), figures=found or (),
    )


def _check_image(result: Assessment | VolumeAssessment, image: CTImage | CTVolume | None) -> None:
    if image is None:
        return
    if isinstance(result, VolumeAssessment):
        if not isinstance(image, CTVolume) or len(image) != len(result.slices):
            got = f"{len(image)} slices" if isinstance(image, CTVolume) else f"a {type(image).__name__}"
            raise InvalidParameterError(f"the image ({got}) is not the series assessed ({len(result.slices)} slices)",
                                        path=result.path, hint="pass the CTVolume the assessment was made of")
    elif not isinstance(image, CTImage):
        raise InvalidParameterError(f"the image is a {type(image).__name__}, the assessment is of one slice",
                                    path=result.path, hint="pass the CTImage the assessment was made of")


def aspect_findings(aspects: Mapping[str, float], overall: float) -> tuple[AspectFinding, ...]:
    """Gives one finding per aspect (score, level, one sentence from vliqa.text's phrase bank); () without aspects."""
    if not aspects or any(a not in aspects for a in ASPECTS):
        return ()
    labels = QualityLabels(overall=float(overall), aspects=dict(aspects), source="model")
    rng = random.Random(0)  # the same assessment gives the same words
    context = DescriptionContext()
    out = []
    for aspect in ASPECTS:
        slots = aspect_slots(aspect, labels, context, rng)
        out.append(AspectFinding(aspect=aspect, title=ASPECT_TITLES[aspect], score=float(aspects[aspect]),
                                 level=LEVEL_NAMES[slots.level], sentence=aspect_sentence(slots, rng)))
    return tuple(out)


def _volume_description(result: VolumeAssessment) -> str:
    """Gives the description of a series as a whole: its mean aspect scores and mean score in words."""
    m = result.summary
    if result.slices[0].scale != QUALITY_SCALE:
        negated = "negated" in result.slices[0].description  # the baseline's own wording says so
        return text.describe_own_scale(result.model, m.mean, negated=negated)
    if not math.isfinite(m.mean):
        return ""
    if m.aspect_means and all(a in m.aspect_means for a in ASPECTS):
        return text.describe(QualityLabels(overall=m.mean, aspects=dict(m.aspect_means), source="model"))
    return text.describe_overall(m.mean)


def _slice_warnings(result: Assessment) -> tuple[str, ...]:
    return (text.ood_note(result.ood_reason),) if result.out_of_distribution else ()


def _volume_distortions(result: VolumeAssessment) -> tuple[DetectedDistortion, ...]:
    """Gives each distortion found on any slice: its highest confidence, on how many slices, the strongest evidence."""
    strongest: dict[str, tuple[DetectedDistortion, int]] = {}
    count: dict[str, int] = {}
    for position, s in enumerate(result.slices):
        index = s.slice_index if s.slice_index is not None else position
        for d in s.distortions:
            count[d.name] = count.get(d.name, 0) + 1
            if d.name not in strongest or d.confidence > strongest[d.name][0].confidence:
                strongest[d.name] = (d, index)
    n = len(result.slices)
    out = [DetectedDistortion(name, d.confidence,
                              (f"on {count[name]} of {n} slices", *(f"slice {index}: {e}" for e in d.evidence)))
           for name, (d, index) in strongest.items()]
    return tuple(sorted(out, key=lambda d: -d.confidence))


def _by_index(result: VolumeAssessment) -> dict[int, Assessment]:
    return {s.slice_index if s.slice_index is not None else i: s for i, s in enumerate(result.slices)}


def _worst_slices(result: VolumeAssessment) -> tuple[WorstSlice, ...]:
    by_index = _by_index(result)
    return tuple(WorstSlice(index=i, score=by_index[i].score, level=by_index[i].level,
                            description=by_index[i].description,
                            out_of_distribution=by_index[i].out_of_distribution)
                 for i in result.summary.worst_slices)


def measure_rows(slices: Sequence[Assessment]) -> tuple[MeasureRow, ...]:
    """Gives one row per physics measure: the slice's value, or a series' median with its range over its slices."""
    keys: list[str] = []
    for s in slices:
        keys += [k for k in s.measures if k not in keys]
    rows = []
    for key in keys:
        values = np.array([s.measures.get(key, math.nan) for s in slices], dtype=float)
        ok = values[np.isfinite(values)]
        label, unit = measure_label(key)
        if ok.size:
            rows.append(MeasureRow(key, label, unit, float(np.median(ok)), float(ok.min()), float(ok.max()),
                                   int(ok.size)))
        else:
            rows.append(MeasureRow(key, label, unit, math.nan, n_slices=0))
    return tuple(rows)


def _number(value: float) -> str:
    return f"{value:.4g}"


def metadata_rows(image: CTImage | CTVolume | None,
                  metadata: Mapping[str, Any] | None = None) -> list[MetadataRow]:
    """Gives the acquisition table: scanner, technique and geometry as far as the image tells, then `metadata`."""
    rows: list[MetadataRow] = []

    def add(key: str, label: str, value: Any, unit: str = "") -> None:
        if value is None or value == "":
            return
        shown = _number(value) if isinstance(value, float) else str(value)
        rows.append(MetadataRow(key, label, shown, unit))

    if image is not None:
        acq = image.acquisition
        add("scanner", "Scanner", " ".join(x for x in (acq.manufacturer, acq.model) if x))
        add("modality", "Modality", acq.modality)
        add("body_part", "Body part", acq.body_part)
        add("series_description", "Series", acq.series_description)
        add("study_date", "Study date", acq.study_date)
        add("kvp", "Tube voltage", acq.kvp, "kV")
        add("tube_current_ma", "Tube current", acq.tube_current_ma, "mA")
        add("exposure_mas", "Exposure", acq.exposure_mas, "mAs")
        add("ctdi_vol_mgy", "CTDIvol", acq.ctdi_vol_mgy, "mGy")
        add("kernel", "Reconstruction kernel", acq.kernel)
        add("reconstruction_method", "Reconstruction method", acq.reconstruction_method)
        add("slice_thickness_mm", "Slice thickness", image.slice_thickness_mm, "mm")
        if isinstance(image, CTVolume):
            add("n_slices", "Slices", len(image))
            add("slice_spacing_mm", "Slice spacing", image.slice_spacing_mm, "mm")
        if image.pixel_spacing_mm:
            add("pixel_spacing_mm", "Pixel spacing", " x ".join(_number(v) for v in image.pixel_spacing_mm), "mm")
        rows_px, cols_px = image.shape[-2:]
        add("matrix", "Matrix", f"{cols_px} x {rows_px}", "px")
    for label, value in (metadata or {}).items():
        key = str(label)
        rows = [r for r in rows if r.key != key and r.label != key]
        add(key, key, value)
    return rows


def _figures(result: Assessment | VolumeAssessment, image: CTImage | CTVolume, figures_dir: str | Path | None,
             assessor: Assessor | None) -> tuple[ReportFigure, ...]:
    """Gives the report's figures, made in `figures_dir` (kept) or a temporary folder (PNG bytes only)."""
    if figures_dir is not None:
        return _make_figures(result, image, Path(figures_dir), assessor, keep=True)
    with tempfile.TemporaryDirectory(prefix="vliqa_report_") as tmp:
        return _make_figures(result, image, Path(tmp), assessor, keep=False)


def _make_figures(result: Assessment | VolumeAssessment, image: CTImage | CTVolume, folder: Path,
                  assessor: Assessor | None, *, keep: bool) -> tuple[ReportFigure, ...]:
    volume = isinstance(result, VolumeAssessment)
    stem = Path(result.path).stem if result.path else "image"
    plot = folder / f"{stem}_quality.png" if volume else None
    if assessor is not None:
        written = list(assessor.write_figures(result, image, heatmap_dir=folder, plot=plot))
    else:
        written = _measured_figures(result, image, folder, plot)
    indices: list[int | None] = list(result.summary.worst_slices) if volume else [None]
    by_index = _by_index(result) if volume else {}
    out = []
    for path in written:
        if plot is not None and path == plot:
            kind, index, caption = "plot", None, "Quality score per slice; the worst slices are marked in red."
        else:
            index = indices.pop(0) if indices else None
            one = by_index[index] if index is not None else result
            where = "the slice" if index is None else f"slice {index}"
            kind, caption = "heatmap", f"Where quality is lost in {where} (score {one.score:.2f})."
        out.append(ReportFigure(kind=kind, caption=caption, name=path.name, path=str(path) if keep else None,
                                slice_index=index, png=path.read_bytes()))
    # the series plot first: it shows where the heatmaps' slices are
    return tuple(sorted(out, key=lambda f: f.kind != "plot"))


def _measured_figures(result: Assessment | VolumeAssessment, image: CTImage | CTVolume, folder: Path,
                      plot: Path | None) -> list[Path]:
    """Writes what `Assessor.write_figures` writes, with the measured local-noise map as heatmap (no model at hand)."""
    stem = Path(result.path).stem if result.path else "image"
    written = []
    if isinstance(result, VolumeAssessment):
        by_index = _by_index(result)
        for index in result.summary.worst_slices:
            shown = image.slice(index)
            written.append(save_heatmap_png(shown, local_noise_map(shown),
                                            folder / f"{stem}_slice{index:04d}_heatmap.png",
                                            assessment=by_index[index]))
        written.append(save_volume_plot(result, plot))
    else:
        written.append(save_heatmap_png(image, local_noise_map(image), folder / f"{stem}_heatmap.png",
                                        assessment=result))
    return written
