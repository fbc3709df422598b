"""DICOM files to HU: reading headers, checking what the object holds, decoding pixels (any transfer syntax).

One file gives a `CTImage` (single frame) or a `CTVolume` (multi-frame / enhanced CT with per-frame
rescale and positions). Folders of files are grouped into series in `vliqa.io.dicom_series`.

Padding: pixels equal to PixelPaddingValue (or inside the PixelPaddingRangeLimit range), and any
pixel below -1500 HU (scanners fill outside the field of view with -1500, -2000 or -3024 HU), are set
to -1024 HU (air). Real air (about -1000 HU, with noise) is left as it is. The count of replaced pixels
is recorded as a 'padding_to_air' step in the image history, not as a warning.

Damaged headers give CorruptFileError naming the file and the element: an unknown value representation (a
flipped byte turns 'DS' into 'XX') is found when the file is read, one inside a sequence item when the item is
first used; an image object whose pixel data was lost in a misread header is corrupt, not a report.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pydicom
from pydicom.datadict import keyword_for_tag
from pydicom.dataelem import RawDataElement
from pydicom.dataset import Dataset
from pydicom.errors import BytesLengthException, InvalidDicomError
from pydicom.sequence import Sequence
from pydicom.tag import Tag
from pydicom.uid import UID
from pydicom.values import converters

from vliqa.core import CTImage, CTVolume
from vliqa.errors import (
    CorruptFileError,
    InvalidImageError,
    MissingPixelDataError,
    NotCTError,
    PermissionDeniedError,
    UnsupportedFormatError,
)
from vliqa.io import dicom_meta as meta
from vliqa.io.common import AIR_HU, PADDING_FLOOR_HU, check_header_size, spacing_warnings

#: Elements larger than this are read from disk only when the pixels are decoded.
DEFER_SIZE_BYTES = 4096
PIXEL_KEYWORDS = ("PixelData", "FloatPixelData", "DoubleFloatPixelData")


def read_header(path: str | Path, *, defer_pixels: bool = True) -> Dataset:
    """Gives the dataset of a DICOM file, its pixel bytes deferred unless asked; raises CorruptFileError if unreadable.

    Deferring keeps memory flat over many files but costs a second open per file when the pixels are decoded;
    for one series that fits in memory, reading everything at once is as fast as a bare pydicom loop.
    """
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            ds = pydicom.dcmread(str(path), defer_size=DEFER_SIZE_BYTES if defer_pixels else None, force=True)
        except (InvalidDicomError, EOFError, ValueError, KeyError, IndexError, OverflowError, TypeError) as exc:
            raise CorruptFileError(
                f"{path}: cannot be parsed as DICOM ({exc})", path=path, hint="the file is damaged; export it again"
            ) from exc
        except PermissionError as exc:
            raise PermissionDeniedError(
                f"{path}: permission denied", path=path, hint="change its permissions or run as a user who may read it"
            ) from exc
        except OSError as exc:
            raise CorruptFileError(
                f"{path}: cannot be read ({exc})", path=path, hint="export or copy it again"
            ) from exc
    for w in caught:
        text = str(w.message)
        if "End of file" in text or "truncated" in text.lower():
            raise CorruptFileError(
                f"{path}: the DICOM file is truncated ({text})",
                path=path,
                hint="the file was cut short (interrupted copy or download); copy it again",
            )
    if not any(k in ds for k in ("SOPClassUID", "Modality", "Rows", *PIXEL_KEYWORDS)):
        # force=True parses almost any bytes; without these elements it was not DICOM to begin with
        raise CorruptFileError(
            f"{path}: not a DICOM file (no SOP class, modality or image elements)",
            path=path,
            hint="check the file; vliqa reads DICOM, NIfTI, MetaImage, NumPy, PNG, JPEG and TIFF",
        )
    check_value_representations(ds, str(path))
    return ds


def _element_name(tag: int) -> str:
    """Gives '(gggg,eeee) Keyword' of a tag (the keyword only when the dictionary knows it), for messages."""
    tag = Tag(tag)
    keyword = keyword_for_tag(tag)
    return f"{tag}{' ' + keyword if keyword else ''}"


def damaged_element_error(source: str | None, detail: str) -> CorruptFileError:
    """Gives the CorruptFileError of a DICOM header element that cannot be decoded (unknown VR, wrong length)."""
    return CorruptFileError(
        f"{source or 'dataset'}: damaged DICOM header: {detail}",
        path=source,
        hint="the file was altered or corrupted in transfer; copy or export it again from the scanner or PACS",
    )


def check_value_representations(ds: Dataset, source: str | None) -> None:
    """Raises CorruptFileError naming the first element whose value representation (VR) pydicom cannot decode.

    A flipped byte in an explicit-VR header gives a VR such as 'XX' that pydicom only trips over when the element
    is read (NotImplementedError 'Unknown Value Representation'), so every element read so far is checked now,
    without decoding any value. Items of sequences already parsed are checked too; sequences still held as raw
    bytes are decoded only when used, under `reading_elements`.
    """
    for tag in ds.keys():
        elem = ds.get_item(tag, keep_deferred=True)
        if isinstance(elem, RawDataElement):
            if elem.VR is not None and elem.VR not in converters:
                shown = elem.VR if elem.VR.isprintable() else elem.VR.encode("latin-1", "replace").hex(" ")
                raise damaged_element_error(
                    source, f"element {_element_name(tag)} has the unknown value representation '{shown}'"
                )
        elif elem is not None and isinstance(elem.value, Sequence):
            for item in elem.value:
                check_value_representations(item, source)


@contextmanager
def reading_elements(source: str | None) -> Iterator[None]:
    """Gives a context in which pydicom's errors on a damaged header element (met on first read) are
    CorruptFileError."""
    try:
        yield
    except NotImplementedError as exc:
        if "Value Representation" not in str(exc):  # "Unknown Value Representation 'XX' in tag (0028,0010)"
            raise
        raise damaged_element_error(source, f"an element cannot be decoded ({exc})") from exc
    except BytesLengthException as exc:  # a binary value whose length is not a whole number of values
        raise damaged_element_error(source, f"an element cannot be decoded ({exc})") from exc


def has_pixels(ds: Dataset) -> bool:
    """Gives True when the dataset holds an image (integer or float pixel data)."""
    return any(k in ds for k in PIXEL_KEYWORDS)


def _sop_class(ds: Dataset) -> UID | None:
    """Gives the SOP class UID of the dataset, else of its file meta information, or None."""
    sop = ds.get("SOPClassUID")
    file_meta = getattr(ds, "file_meta", None)
    if not sop and file_meta is not None:
        sop = file_meta.get("MediaStorageSOPClassUID")
    return sop or None


def describe_object(ds: Dataset) -> str:
    """Gives a short name of what a DICOM object is (its modality and SOP class), for messages."""
    sop = _sop_class(ds)
    name = getattr(sop, "name", None) or (str(sop) if sop else "unknown SOP class")
    return f"{ds.get('Modality', '?')} / {name}"


def missing_pixels_error(ds: Dataset, source: str | None) -> CorruptFileError | MissingPixelDataError:
    """Gives the error for a dataset without pixel data: corrupt when its SOP class is an image, else MissingPixelData.

    An image object (an image SOP class, modality CT, or image rows) must hold pixels; without them its header was
    misread after a damaged byte, or the file was cut short. Reports, structure sets and similar objects hold no
    image by design.
    """
    where = source or "dataset"
    image_class = "Image Storage" in str(getattr(_sop_class(ds), "name", ""))
    if image_class or str(ds.get("Modality") or "").upper() == "CT" or "Rows" in ds:
        return CorruptFileError(
            f"{where}: {describe_object(ds)} object without pixel data: its header is damaged or the file was cut "
            "short",
            path=source,
            hint="copy or export it again from the scanner or PACS",
        )
    return MissingPixelDataError(
        f"{where}: DICOM object without pixel data ({describe_object(ds)})",
        path=source,
        hint="structured reports, RT structure sets and similar objects hold no image; pass the CT image files",
    )


def check_dataset(ds: Dataset, source: str | None, *, allow_non_ct: bool) -> list[str]:
    """Gives warnings for a dataset that may be read; raises the typed error when it may not."""
    if not has_pixels(ds):
        raise missing_pixels_error(ds, source)
    rows, cols = int(ds.get("Rows") or 0), int(ds.get("Columns") or 0)
    check_header_size(rows, cols, source)
    if int(ds.get("SamplesPerPixel") or 1) != 1:
        raise InvalidImageError(
            f"{source or 'dataset'}: colour DICOM ({ds.get('PhotometricInterpretation')}) is not a CT slice",
            path=source,
            hint="this is a screenshot or secondary capture; export the original CT series",
        )
    found: list[str] = []
    modality = str(ds.get("Modality") or "").upper()
    if modality != "CT":
        shown = modality or "missing"
        if not allow_non_ct:
            raise NotCTError(
                f"{source or 'dataset'}: modality is {shown}, not CT",
                path=source,
                hint="vliqa assesses CT; pass allow_non_ct=True (CLI: --allow-non-ct) to read it anyway",
            )
        found.append(
            f"{source or 'dataset'}: modality is {shown}, not CT; read anyway (allow_non_ct) — scores are not "
            "calibrated for it"
        )
    return found


def decode_raw(ds: Dataset, source: str | None) -> np.ndarray:
    """Gives the stored pixel values (frames first for multi-frame) with typed errors for undecodable data."""
    try:
        return ds.pixel_array
    except (NotImplementedError, RuntimeError) as exc:
        text = str(exc)
        if "plugin" in text.lower() or "decoder" in text.lower() or "not supported" in text.lower():
            ts = getattr(ds.get("file_meta", Dataset()).get("TransferSyntaxUID"), "name", "unknown")
            raise UnsupportedFormatError(
                f"{source or 'dataset'}: no decoder for transfer syntax {ts} ({text.splitlines()[0]})",
                path=source,
                hint="install pylibjpeg, pylibjpeg-libjpeg and pylibjpeg-openjpeg, or decompress it with "
                     "dcmdjpeg/gdcmconv",
            ) from exc
        raise CorruptFileError(
            f"{source or 'dataset'}: pixel data cannot be decoded ({text.splitlines()[0] if text else exc!r})",
            path=source,
            hint="the file is damaged or truncated; export it again",
        ) from exc
    except (ValueError, EOFError, OSError, KeyError, IndexError, AttributeError, TypeError) as exc:
        raise CorruptFileError(
            f"{source or 'dataset'}: pixel data cannot be decoded ({exc})",
            path=source,
            hint="the file is damaged or truncated; export it again",
        ) from exc


def padding_mask(raw: np.ndarray, ds: Dataset) -> np.ndarray | None:
    """Gives the mask of stored values marked as padding by PixelPaddingValue (and range limit), or None."""
    pad = ds.get("PixelPaddingValue")
    if pad is None or raw.dtype.kind not in "iu":
        return None
    pad = int(meta.first_value(pad))
    limit = ds.get("PixelPaddingRangeLimit")
    if limit is None:
        mask = raw == pad
    else:
        low, high = sorted((pad, int(meta.first_value(limit))))
        mask = (raw >= low) & (raw <= high)
    return mask if mask.any() else None


def raw_to_hu(raw: np.ndarray, slope: float, intercept: float, out: np.ndarray, pad: np.ndarray | None) -> int:
    """Writes HU of one frame into `out` (float32) and gives the number of padding pixels set to air."""
    np.multiply(raw, np.float32(slope), out=out, casting="unsafe")
    if intercept:
        out += np.float32(intercept)
    # most slices have no padding: one min over the stored integers is cheaper than a float mask
    if pad is None and slope > 0 and raw.size and float(raw.min()) * slope + intercept >= PADDING_FLOOR_HU:
        return 0
    low = out < PADDING_FLOOR_HU
    if pad is not None:
        low |= pad
    n = int(np.count_nonzero(low))
    if n:
        out[low] = AIR_HU
    return n


def padding_step(n_pixels: int) -> tuple[dict, ...]:
    """Gives the history entry recording how many padding pixels were set to air (empty when none)."""
    if not n_pixels:
        return ()
    return ({"name": "padding_to_air", "air_hu": AIR_HU, "below_hu": PADDING_FLOOR_HU, "n_pixels": n_pixels},)


def frame_count(ds: Dataset) -> int:
    """Gives NumberOfFrames (1 for classic single-frame objects)."""
    try:
        return max(1, int(ds.get("NumberOfFrames") or 1))
    except (TypeError, ValueError):
        return 1


def dataset_to_image(ds: Dataset, source: str | None = None, *, allow_non_ct: bool = False) -> CTImage | CTVolume:
    """Gives the CTImage (one frame) or CTVolume (multi-frame, sorted by position) held by one DICOM dataset.

    Raises CorruptFileError when a header element it reads is damaged (unknown VR, impossible length).
    """
    with reading_elements(source):
        return _dataset_to_image(ds, source, allow_non_ct=allow_non_ct)


def _dataset_to_image(ds: Dataset, source: str | None, *, allow_non_ct: bool) -> CTImage | CTVolume:
    notes = check_dataset(ds, source, allow_non_ct=allow_non_ct)
    n_frames = frame_count(ds)
    raw = decode_raw(ds, source)
    rows, cols = int(ds.Rows), int(ds.Columns)
    raw = raw.reshape(n_frames, rows, cols)
    acquisition = meta.acquisition_from_dataset(ds)
    spacing = meta.pixel_spacing(ds)
    thickness = meta.slice_thickness(ds)
    hu = np.empty((n_frames, rows, cols), dtype=np.float32)
    n_pad = 0
    for i in range(n_frames):
        slope, intercept = meta.rescale(ds, i)
        if raw.dtype.kind == "f":  # float pixel data: check before rescaling, as NaN would pass through
            _check_finite(raw[i], source)
        n_pad += raw_to_hu(raw[i], slope, intercept, hu[i], padding_mask(raw[i], ds))
    if n_frames == 1:
        pos = meta.position(ds)
        return CTImage(
            hu=hu[0],
            pixel_spacing_mm=spacing,
            slice_thickness_mm=thickness,
            position_mm=tuple(float(v) for v in pos) if pos is not None else None,
            acquisition=acquisition,
            source=source,
            history=padding_step(n_pad),
            warnings=tuple(notes),
        )
    positions = [meta.position(ds, i) for i in range(n_frames)]
    slice_positions = None
    if all(p is not None for p in positions):
        normal = meta.slice_normal(meta.orientation(ds, 0))
        proj = np.array([float(np.dot(p, normal)) for p in positions])
        order = np.argsort(proj, kind="stable")
        hu = hu[order]
        slice_positions = tuple(float(v) for v in proj[order])
        notes += spacing_warnings(proj[order], source)
    return CTVolume(
        hu=hu,
        pixel_spacing_mm=spacing,
        slice_thickness_mm=thickness,
        slice_positions_mm=slice_positions,
        acquisition=acquisition,
        source=source,
        history=padding_step(n_pad),
        warnings=tuple(notes),
    )


def _check_finite(values: np.ndarray, source: str | None) -> None:
    bad = ~np.isfinite(values)
    if bad.any():
        raise InvalidImageError(
            f"{source or 'dataset'}: {int(bad.sum())} pixels are NaN or infinite",
            path=source,
            hint="replace them (e.g. with -1024 HU for air) before assessing",
        )


def read_dicom_file(path: str | Path, *, allow_non_ct: bool = False) -> CTImage | CTVolume:
    """Gives the image held by one DICOM file (CTImage, or CTVolume for multi-frame files)."""
    ds = read_header(path)
    return dataset_to_image(ds, str(path), allow_non_ct=allow_non_ct)
