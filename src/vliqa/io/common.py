"""Shared pieces of the readers: format detection, file checks, header size checks, slice-gap reports."""

from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np

from vliqa.errors import CorruptFileError, InputNotFoundError, InvalidImageError, PermissionDeniedError
from vliqa.io.image import check_header_size  # noqa: F401 - the readers import it from here

#: HU of air; padding outside the field of view is mapped here.
AIR_HU = -1024.0
#: Below this HU a pixel cannot be tissue or noisy air; scanners use such values (-1500, -2000, -3024) as padding.
PADDING_FLOOR_HU = -1500.0

#: Format name by file suffix (lower case). DICOM files often have no suffix; they are found by their magic bytes.
SUFFIX_FORMATS: dict[str, str] = {
    ".dcm": "dicom",
    ".dicom": "dicom",
    ".ima": "dicom",
    ".nii": "nifti",
    ".nii.gz": "nifti",
    ".mhd": "metaimage",
    ".mha": "metaimage",
    ".npy": "npy",
    ".png": "raster",
    ".jpg": "raster",
    ".jpeg": "raster",
    ".tif": "raster",
    ".tiff": "raster",
}
#: Human-readable list of what is read, for error messages.
READ_EXTENSIONS = (
    "DICOM (.dcm or no extension), NIfTI (.nii, .nii.gz), MetaImage (.mhd, .mha), NumPy (.npy), PNG, JPEG, TIFF"
)

#: Files that are never images, skipped quietly when scanning folders.
_SKIP_NAMES = {"dicomdir", "license", "license.txt", "readme", "readme.md", "readme.txt", ".ds_store", "thumbs.db"}
#: Suffixes that are part of an image but not one on their own (MetaImage data files), or plainly not images.
_SKIP_SUFFIXES = {".raw", ".zraw", ".txt", ".md", ".json", ".csv", ".xml", ".html", ".py", ".yaml", ".yml", ".log"}


def path_suffix(path: str | Path) -> str:
    """Gives the lower-case suffix of `path`, with '.nii.gz' kept whole."""
    name = Path(path).name.lower()
    if name.endswith(".nii.gz"):
        return ".nii.gz"
    return Path(name).suffix


def has_dicom_magic(path: str | Path) -> bool:
    """Gives True when the file carries the DICOM Part 10 marker 'DICM' at byte 128."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(132)
    except OSError:
        return False
    return len(head) == 132 and head[128:132] == b"DICM"


def detect_format(path: str | Path, *, sniff: bool = True) -> str | None:
    """Gives the format name of a file ('dicom', 'nifti', ...) from its suffix or DICOM magic, or None."""
    fmt = SUFFIX_FORMATS.get(path_suffix(path))
    if fmt is not None:
        return fmt
    name = Path(path).name.lower()
    if name in _SKIP_NAMES or path_suffix(path) in _SKIP_SUFFIXES or name.startswith("."):
        return None
    if sniff and has_dicom_magic(path):
        return "dicom"
    return None


def check_readable(path: str | Path) -> Path:
    """Gives `path` as a Path after checking it exists, may be read, and (for files) is not empty."""
    p = Path(path)
    if not p.exists():
        raise InputNotFoundError(
            f"{p}: no such file or folder", path=p, hint="check the spelling and the current working directory"
        )
    if not os.access(p, os.R_OK) or (p.is_dir() and not os.access(p, os.X_OK)):
        raise PermissionDeniedError(
            f"{p}: permission denied (the current user may not read it)",
            path=p,
            hint="change its permissions (chmod +r) or run as a user who may read it",
        )
    if p.is_file() and p.stat().st_size == 0:
        raise CorruptFileError(f"{p}: the file is empty (0 bytes)", path=p, hint="copy or export it again")
    return p


_DIGITS = re.compile(r"(\d+)")


def natural_key(path: str | Path) -> tuple:
    """Gives a sort key that orders 'slice2' before 'slice10' (numbers compared as numbers)."""
    parts = _DIGITS.split(str(path).lower())
    return tuple((0, int(p), "") if p.isdigit() else (1, 0, p) for p in parts)


def _steps_text(positions_mm: np.ndarray, steps: np.ndarray, index: np.ndarray, extra=None) -> str:
    shown = [
        f"{positions_mm[i]:.2f} to {positions_mm[i + 1]:.2f} mm" + (extra(i) if extra else f" ({abs(steps[i]):.2f} mm)")
        for i in index[:8]
    ]
    more = f" and {index.size - 8} more" if index.size > 8 else ""
    return "; ".join(shown) + more


def spacing_warnings(positions_mm: np.ndarray, source: str | None) -> list[str]:
    """Gives warnings (with positions) about missing slices, uneven spacing and duplicates in a sorted stack."""
    positions_mm = np.asarray(positions_mm, dtype=np.float64)
    if len(positions_mm) < 3:
        return []
    steps = np.diff(positions_mm)
    where = source or "the series"
    out: list[str] = []
    size = np.abs(steps)
    dup = np.flatnonzero(size < 1e-3)
    if dup.size:
        at = ", ".join(f"{positions_mm[i]:.2f}" for i in dup[:5])
        out.append(f"{where}: {dup.size} slice(s) share a position with their neighbour (at {at} mm); duplicates kept")
    real = size[size >= 1e-3]
    if real.size == 0:
        return out
    typical = float(np.median(real))
    ratio = size / typical
    # a gap of about a whole number of steps means slices are missing; other odd steps are uneven sampling
    missing = np.flatnonzero((ratio >= 1.5) & (np.abs(ratio - np.rint(ratio)) <= 0.2))
    if missing.size:
        text = _steps_text(positions_mm, steps, missing, lambda i: f" (about {int(np.rint(ratio[i])) - 1} missing)")
        out.append(f"{where}: slices seem to be missing (typical spacing {typical:.2f} mm) between {text}")
    odd = np.flatnonzero((np.abs(size - typical) > max(0.01 * typical, 0.05)) & (size >= 1e-3))
    odd = np.setdiff1d(odd, missing)
    if odd.size:
        out.append(
            f"{where}: uneven slice spacing, {real.min():.2f} to {real.max():.2f} mm (median {typical:.2f} mm), "
            f"irregular steps at {_steps_text(positions_mm, steps, odd)}; slices are kept as acquired, not resampled"
        )
    return out


def check_hu_range(hu: np.ndarray, source: str | None) -> list[str]:
    """Gives warnings when HU values do not look like HU; raises InvalidImageError on NaN or inf.

    One min and one max pass serve both checks: NaN propagates through min/max, inf shows as an extreme.
    """
    low, high = float(np.min(hu)), float(np.max(hu))
    if not (np.isfinite(low) and np.isfinite(high)):
        bad = int(np.count_nonzero(~np.isfinite(hu)))
        raise InvalidImageError(
            f"{source or 'array'}: {bad} pixels are NaN or infinite",
            path=source,
            hint="replace them (e.g. with -1024 HU for air) before assessing",
        )
    where = source or "array"
    if low >= 0.0 and high <= 1.0:
        return [
            f"{where}: values lie within [0, 1]; arrays are always read as HU, so this is nearly uniform "
            "water — if it is a display image, save it as PNG/TIFF or convert it with vliqa.core.display_to_hu"
        ]
    if low >= 0.0 and 1.0 < high <= 255.0:
        return [f"{where}: values lie within [0, 255] — they look like 8-bit display values, not HU"]
    return []
