"""DICOM series from many files: read each header once, group by series, sort slices, decode into one volume.

Each file is parsed once. When the files of a folder fit in memory (`IN_MEMORY_BYTES`) their pixel bytes are
read with the header; above that they are deferred (read again only for the chosen series). Pixels are decoded
once, straight into the float32 HU volume. Slices are ordered by ImagePositionPatient projected on
the slice normal (InstanceNumber, then file name, when positions are missing). Missing slices, uneven
spacing and gantry tilt are reported in `CTVolume.warnings`; the volume is stacked as acquired, not resampled.

A series whose slices differ in size raises InconsistentSeriesError (no silent split): the message lists the
sizes and example files so the user can move the odd slices out. Localizer (scout) images are kept apart
from the axial slices of the same series.
"""

from __future__ import annotations

import dataclasses
import os
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from pydicom.dataset import Dataset

from vliqa.core import CTImage, CTVolume
from vliqa.errors import (
    CorruptFileError,
    EmptyInputError,
    InconsistentSeriesError,
    InvalidParameterError,
    NotCTError,
)
from vliqa.io import dicom_meta as meta
from vliqa.io.common import spacing_warnings
from vliqa.io.dicom import (
    PIXEL_KEYWORDS,
    check_dataset,
    dataset_to_image,
    decode_raw,
    frame_count,
    has_pixels,
    missing_pixels_error,
    padding_mask,
    padding_step,
    raw_to_hu,
    read_header,
    reading_elements,
)

#: Up to this many bytes of DICOM files, a folder is read in one pass (pixels with headers).
IN_MEMORY_BYTES = 1 << 30
#: Angle (degrees) between the slice normal and the stacking direction above which gantry tilt is reported.
TILT_WARN_DEG = 0.5


@dataclass
class SliceHeader:
    """One DICOM file's header, with what grouping and sorting need."""

    path: str
    ds: Dataset
    series_uid: str
    rows: int
    cols: int
    n_frames: int
    modality: str
    localizer: bool


@dataclass
class DicomSeries:
    """The files of one series (or one multi-frame file), in file order until sorted."""

    key: str
    series_uid: str
    slices: list[SliceHeader] = field(default_factory=list)

    @property
    def n_images(self) -> int:
        return sum(s.n_frames for s in self.slices)

    @property
    def modality(self) -> str:
        return self.slices[0].modality if self.slices else ""

    def label(self) -> str:
        """Gives 'UID (description, N images, modality)' for messages."""
        desc = meta.as_text(self.slices[0].ds.get("SeriesDescription")) if self.slices else None
        kind = "localizer, " if self.slices and self.slices[0].localizer else ""
        return f"{self.series_uid} ({kind}{desc or 'no description'}, {self.n_images} images, {self.modality or '?'})"


def header_of(path: str, *, defer_pixels: bool = True) -> SliceHeader | None:
    """Gives the SliceHeader of one file, or None when the object holds no image by design (report, RT structure set).

    Raises CorruptFileError when the header is damaged, or an image object (CT Image Storage, ...) has no pixels.
    """
    ds = read_header(path, defer_pixels=defer_pixels)
    with reading_elements(path):
        return _slice_header(path, ds)


def _slice_header(path: str, ds: Dataset) -> SliceHeader | None:
    if not has_pixels(ds):
        error = missing_pixels_error(ds, path)
        if isinstance(error, CorruptFileError):
            raise error
        return None
    image_type = [str(v).upper() for v in (ds.get("ImageType") or [])]
    return SliceHeader(
        path=path,
        ds=ds,
        # without a SeriesInstanceUID (anonymisers drop it), study + series number still separate series
        series_uid=str(
            ds.get("SeriesInstanceUID")
            or f"{ds.get('StudyInstanceUID', 'unknown-study')}/series-{ds.get('SeriesNumber', '?')}"
        ),
        rows=int(ds.get("Rows") or 0),
        cols=int(ds.get("Columns") or 0),
        n_frames=frame_count(ds),
        modality=str(ds.get("Modality") or "").upper(),
        localizer="LOCALIZER" in image_type,
    )


def group_series(files: list[str], *, defer_pixels: bool = True) -> tuple[list[DicomSeries], list[str]]:
    """Gives the series found in `files` (multi-frame files on their own) and the files without pixel data."""
    groups: dict[str, DicomSeries] = {}
    no_pixels: list[str] = []
    for path in files:
        header = header_of(path, defer_pixels=defer_pixels)
        if header is None:
            no_pixels.append(path)
            continue
        if header.n_frames > 1:
            key = f"{header.series_uid}:{path}"
        elif header.localizer:
            key = f"{header.series_uid}:localizer"
        else:
            key = header.series_uid
        groups.setdefault(key, DicomSeries(key=key, series_uid=header.series_uid)).slices.append(header)
    return list(groups.values()), no_pixels


def choose_series(
    series: list[DicomSeries], where: str, *, series_uid: str | None, allow_non_ct: bool
) -> tuple[DicomSeries, list[str]]:
    """Gives the series to load (the asked one, else the largest CT series) and warnings naming the others."""
    if series_uid is not None:
        chosen = [s for s in series if s.series_uid == series_uid]
        if not chosen:
            raise InvalidParameterError(
                f"{where}: no series with SeriesInstanceUID {series_uid}",
                path=where,
                hint="series found: " + "; ".join(s.label() for s in series),
            )
        pick = max(chosen, key=lambda s: s.n_images)
    else:
        candidates = [s for s in series if s.modality == "CT" and not s.slices[0].localizer]
        candidates = candidates or [s for s in series if s.modality == "CT"]
        if not candidates:
            if not allow_non_ct:
                raise NotCTError(
                    f"{where}: no CT series; found " + "; ".join(s.label() for s in series),
                    path=where,
                    hint="pass allow_non_ct=True (CLI: --allow-non-ct) to read a non-CT series anyway",
                )
            candidates = series
        pick = max(candidates, key=lambda s: s.n_images)
    others = [s for s in series if s is not pick]
    notes: list[str] = []
    if others:
        notes.append(
            f"{where}: holds {len(series)} series; loaded the largest, {pick.label()}; also found: "
            + "; ".join(s.label() for s in others)
            + " — pass series_uid= (CLI: --series) to choose another, or use load_all to read them all"
        )
    return pick, notes


def _sort(slices: list[SliceHeader]) -> tuple[list[SliceHeader], np.ndarray | None, list[str]]:
    """Gives the slices in stacking order, their positions along the normal (mm) and orientation warnings."""
    notes: list[str] = []
    positions = [meta.position(s.ds) for s in slices]
    orientations = [meta.orientation(s.ds) for s in slices]
    if all(p is not None for p in positions) and orientations[0] is not None:
        normal = meta.slice_normal(orientations[0])
        proj = np.array([float(np.dot(p, normal)) for p in positions])
        order = np.argsort(proj, kind="stable")
        if any(o is None or np.abs(o - orientations[0]).max() > 1e-3 for o in orientations):
            notes.append(
                "slice orientation (ImageOrientationPatient) differs between slices; stacked by position anyway"
            )
        ordered = [slices[i] for i in order]
        tilt = meta.tilt_angle_deg(normal, np.array([positions[i] for i in order]))
        tag = meta.as_float(ordered[0].ds.get("GantryDetectorTilt"))
        if tilt > TILT_WARN_DEG or (tag is not None and abs(tag) > TILT_WARN_DEG):
            shown = tag if tag is not None else tilt
            notes.append(
                f"gantry tilt of {shown:.1f} degrees: slices are sheared relative to each other; "
                "the volume is stacked as acquired (not corrected), so 3-D geometry is approximate"
            )
        return ordered, proj[order], notes
    instances = [meta.as_float(s.ds.get("InstanceNumber")) for s in slices]
    if all(v is not None for v in instances):
        ordered = [s for _, s in sorted(zip(instances, slices, strict=True), key=lambda t: t[0])]
        notes.append("slices have no ImagePositionPatient; ordered by InstanceNumber, positions unknown")
    else:
        ordered = sorted(slices, key=lambda s: s.path)
        notes.append("slices have neither positions nor instance numbers; ordered by file name")
    return ordered, None, notes


def _check_sizes(slices: list[SliceHeader], where: str) -> None:
    sizes = Counter((s.rows, s.cols) for s in slices)
    if len(sizes) > 1:
        examples = {}
        for s in slices:
            examples.setdefault((s.rows, s.cols), Path(s.path).name)
        shown = "; ".join(f"{r}x{c}: {n} slices (e.g. {examples[(r, c)]})" for (r, c), n in sizes.most_common())
        raise InconsistentSeriesError(
            f"{where}: slices of one series differ in size: {shown}",
            path=where,
            hint="move the odd slices to another folder, or load the files one by one",
        )


def load_series(series: DicomSeries, where: str, *, allow_non_ct: bool = False) -> CTImage | CTVolume:
    """Gives the series as a CTVolume (a lone multi-frame file gives what that file holds).

    Raises CorruptFileError naming the folder when a header element of one of its files is damaged.
    """
    with reading_elements(where):
        return _load_series(series, where, allow_non_ct=allow_non_ct)


def _load_series(series: DicomSeries, where: str, *, allow_non_ct: bool) -> CTImage | CTVolume:
    if len(series.slices) == 1 and series.slices[0].n_frames > 1:
        only = series.slices[0]
        return dataset_to_image(only.ds, only.path, allow_non_ct=allow_non_ct)
    _check_sizes(series.slices, where)
    first = series.slices[0]
    notes = check_dataset(first.ds, first.path, allow_non_ct=allow_non_ct)
    ordered, positions, order_notes = _sort(series.slices)
    notes += [f"{where}: {n}" for n in order_notes]
    if positions is not None:
        notes += spacing_warnings(positions, where)
    hu = np.empty((len(ordered), first.rows, first.cols), dtype=np.float32)
    n_pad = 0
    for i, s in enumerate(ordered):
        raw = decode_raw(s.ds, s.path)
        if raw.shape != (first.rows, first.cols):
            raise InconsistentSeriesError(
                f"{s.path}: decoded pixels are {raw.shape}, header says {first.rows}x{first.cols}",
                path=s.path,
                hint="the file is damaged; export the series again",
            )
        slope, intercept = meta.rescale(s.ds)
        n_pad += raw_to_hu(raw, slope, intercept, hu[i], padding_mask(raw, s.ds))
        for keyword in PIXEL_KEYWORDS:  # frees the bytes and the cached array: a long series is not held twice
            if keyword in s.ds:
                delattr(s.ds, keyword)
    head = ordered[0].ds
    return CTVolume(
        hu=hu,
        pixel_spacing_mm=meta.pixel_spacing(head),
        slice_thickness_mm=meta.slice_thickness(head),
        slice_positions_mm=tuple(float(v) for v in positions) if positions is not None else None,
        acquisition=meta.acquisition_from_dataset(head),
        source=where,
        slice_sources=tuple(s.path for s in ordered),
        history=padding_step(n_pad),
        warnings=tuple(notes),
    )


def load_dicom_files(
    files: list[str], where: str, *, series_uid: str | None = None, allow_non_ct: bool = False
) -> CTImage | CTVolume:
    """Gives one series read from `files` (found under folder `where`), choosing as `choose_series` does."""
    total_bytes = sum(os.path.getsize(f) for f in files)
    series, no_pixels = group_series(files, defer_pixels=total_bytes > IN_MEMORY_BYTES)
    if not series:
        raise EmptyInputError(
            f"{where}: {len(no_pixels)} DICOM file(s) found but none holds an image "
            f"(e.g. {Path(no_pixels[0]).name}: structured report, RT structure set, ...)",
            path=where,
            hint="point vliqa at the folder of the CT image series",
        )
    pick, notes = choose_series(series, where, series_uid=series_uid, allow_non_ct=allow_non_ct)
    image = load_series(pick, where, allow_non_ct=allow_non_ct)
    if notes:
        image = dataclasses.replace(image, warnings=tuple(notes) + image.warnings)
    return image
