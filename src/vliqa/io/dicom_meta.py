"""DICOM metadata to vliqa types: acquisition parameters and slice geometry, for classic and enhanced CT."""

from __future__ import annotations

from typing import Any

import numpy as np
from pydicom.dataset import Dataset

from vliqa.core import Acquisition


def first_value(value: Any) -> Any:
    """Gives the first item of a multi-valued DICOM element, or the value itself."""
    if value is None:
        return None
    if isinstance(value, (list, tuple)) or type(value).__name__ == "MultiValue":
        return value[0] if len(value) else None
    return value


def as_float(value: Any) -> float | None:
    """Gives the (first) value as a float, or None when absent or not a number."""
    value = first_value(value)
    if value is None or value == "":
        return None
    try:
        out = float(value)
    except (TypeError, ValueError):
        return None
    return out if np.isfinite(out) else None


def as_text(value: Any, *, join: str = ", ") -> str | None:
    """Gives a DICOM string element as text, multi-valued ones joined, or None when empty."""
    if value is None:
        return None
    if isinstance(value, (list, tuple)) or type(value).__name__ == "MultiValue":
        parts = [str(v).strip() for v in value if str(v).strip()]
        return join.join(parts) if parts else None
    text = str(value).strip()
    return text or None


def _iso_date(value: Any) -> str | None:
    text = as_text(value)
    if text and len(text) == 8 and text.isdigit():
        return f"{text[:4]}-{text[4:6]}-{text[6:]}"
    return text


def _group_item(ds: Dataset, group: str, frame: int | None = None) -> Dataset | None:
    """Gives item 0 of functional group sequence `group` for a frame (per-frame first, then shared), or None."""
    if frame is not None and "PerFrameFunctionalGroupsSequence" in ds:
        per_frame = ds.PerFrameFunctionalGroupsSequence
        if frame < len(per_frame):
            seq = per_frame[frame].get(group)
            if seq:
                return seq[0]
    shared = ds.get("SharedFunctionalGroupsSequence")
    if shared:
        seq = shared[0].get(group)
        if seq:
            return seq[0]
    return None


def _lookup(ds: Dataset, keyword: str, groups: tuple[str, ...] = (), frame: int | None = 0) -> Any:
    """Gives `keyword` from the top level, else from the named functional groups (enhanced objects)."""
    value = ds.get(keyword)
    if value is not None and value != "":
        return value
    for group in groups:
        item = _group_item(ds, group, frame)
        if item is not None:
            value = item.get(keyword)
            if value is not None and value != "":
                return value
    return None


def acquisition_from_dataset(ds: Dataset) -> Acquisition:
    """Gives the Acquisition metadata of a classic or enhanced CT dataset (absent tags stay None)."""
    exposure = ("CTExposureSequence",)
    recon = ("CTReconstructionSequence",)
    current = as_float(_lookup(ds, "XRayTubeCurrent")) or as_float(_lookup(ds, "XRayTubeCurrentInmA", exposure))
    mas = as_float(_lookup(ds, "Exposure")) or as_float(_lookup(ds, "ExposureInmAs", exposure))
    kernel = as_text(_lookup(ds, "ConvolutionKernel", recon))
    method = as_text(_lookup(ds, "ReconstructionAlgorithm", recon)) or as_text(ds.get("ReconstructionMethod"))
    voi = ("FrameVOILUTSequence",)
    return Acquisition(
        modality=as_text(ds.get("Modality")),
        manufacturer=as_text(ds.get("Manufacturer")),
        model=as_text(ds.get("ManufacturerModelName")),
        kvp=as_float(_lookup(ds, "KVP", ("CTXRayDetailsSequence",))),
        tube_current_ma=current,
        exposure_mas=mas,
        ctdi_vol_mgy=as_float(_lookup(ds, "CTDIvol", exposure)),
        kernel=kernel,
        reconstruction_method=method,
        body_part=as_text(ds.get("BodyPartExamined")),
        series_description=as_text(ds.get("SeriesDescription")),
        series_uid=as_text(ds.get("SeriesInstanceUID")),
        study_date=_iso_date(ds.get("StudyDate")),
        window_center=as_float(_lookup(ds, "WindowCenter", voi)),
        window_width=as_float(_lookup(ds, "WindowWidth", voi)),
    )


def pixel_spacing(ds: Dataset) -> tuple[float, float] | None:
    """Gives the (row, column) pixel spacing in mm from PixelSpacing or the pixel-measures group."""
    value = _lookup(ds, "PixelSpacing", ("PixelMeasuresSequence",))
    if value is None or len(value) < 2:
        return None
    row, col = as_float(value[0]), as_float(value[1])
    if row is None or col is None or row <= 0 or col <= 0:
        return None
    return (row, col)


def slice_thickness(ds: Dataset) -> float | None:
    """Gives the nominal slice thickness in mm, or None."""
    value = as_float(_lookup(ds, "SliceThickness", ("PixelMeasuresSequence",)))
    return value if value is not None and value > 0 else None


def _finite_vector(ds: Dataset, keyword: str, sequence: str, frame: int | None, length: int) -> np.ndarray | None:
    """Gives a multi-valued tag as `length` finite floats (per frame in enhanced objects), or None."""
    value = _lookup(ds, keyword, (sequence,), frame)
    if value is None or len(value) != length:
        return None
    try:
        out = np.array([float(v) for v in value], dtype=np.float64)
    except (TypeError, ValueError):
        return None
    return out if np.all(np.isfinite(out)) else None


def orientation(ds: Dataset, frame: int | None = 0) -> np.ndarray | None:
    """Gives the 6 direction cosines (row then column direction), or None."""
    return _finite_vector(ds, "ImageOrientationPatient", "PlaneOrientationSequence", frame, 6)


def position(ds: Dataset, frame: int | None = 0) -> np.ndarray | None:
    """Gives ImagePositionPatient (x, y, z in mm) of the frame, or None."""
    return _finite_vector(ds, "ImagePositionPatient", "PlanePositionSequence", frame, 3)


def slice_normal(iop: np.ndarray | None) -> np.ndarray:
    """Gives the unit normal of the slice plane (row x column direction); axial (0, 0, 1) when unknown."""
    if iop is None:
        return np.array([0.0, 0.0, 1.0])
    normal = np.cross(iop[:3], iop[3:])
    norm = np.linalg.norm(normal)
    return normal / norm if norm > 1e-6 else np.array([0.0, 0.0, 1.0])


def rescale(ds: Dataset, frame: int | None = 0) -> tuple[float, float]:
    """Gives (slope, intercept) of the frame, from the pixel-value-transformation group or the top level."""
    groups = ("PixelValueTransformationSequence",)
    slope = as_float(_lookup(ds, "RescaleSlope", groups, frame))
    intercept = as_float(_lookup(ds, "RescaleIntercept", groups, frame))
    return (1.0 if slope is None else slope, 0.0 if intercept is None else intercept)


def tilt_angle_deg(normal: np.ndarray, positions: np.ndarray) -> float:
    """Gives the angle in degrees between the slice normal and the line through the first and last slice."""
    if len(positions) < 2:
        return 0.0
    direction = positions[-1] - positions[0]
    norm = np.linalg.norm(direction)
    if norm < 1e-6:
        return 0.0
    cos = abs(float(np.dot(direction / norm, normal)))
    return float(np.degrees(np.arccos(min(1.0, cos))))
