"""In-memory arrays and NumPy .npy files to HU.

HU convention: the values of an array (and of a .npy file) ARE Hounsfield units — air about -1000, water 0.
No guessing: a float array within [0, 1] is not taken for a display image (a warning says it looks like one).
2-D gives a CTImage, 3-D a CTVolume (slices, rows, cols). Spacing is unknown (None) unless given.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from vliqa.core import CTImage, CTVolume
from vliqa.errors import CorruptFileError, InvalidImageError
from vliqa.io.common import check_header_size, check_hu_range
from vliqa.io.image import check_pixels


def from_array(
    hu: np.ndarray,
    *,
    source: str | None = None,
    pixel_spacing_mm: tuple[float, float] | None = None,
    copy: bool = True,
) -> CTImage | CTVolume:
    """Gives a CTImage (2-D) or CTVolume (3-D) from an array of HU values."""
    arr = np.asarray(hu)
    if arr.ndim not in (2, 3):
        raise InvalidImageError(
            f"{source or 'array'}: array has shape {arr.shape}; expected 2-D (rows, cols) or 3-D (slices, rows, cols)",
            path=source,
            hint="squeeze channel axes or pick one volume of a 4-D array",
        )
    check_header_size(arr.shape[-2], arr.shape[-1], source)
    if arr.dtype.kind == "b":
        raise InvalidImageError(f"{source or 'array'}: boolean array (a mask?) is not a CT image", path=source)
    values = check_pixels(arr, source, allow_nonfinite=True)
    if copy and values is arr:  # never alias the caller's array: CTImage is immutable by convention
        values = values.copy()
    notes = tuple(check_hu_range(values, source))
    if values.ndim == 2:
        return CTImage(hu=values, pixel_spacing_mm=pixel_spacing_mm, source=source, warnings=notes)
    return CTVolume(hu=values, pixel_spacing_mm=pixel_spacing_mm, source=source, warnings=notes)


def read_npy(path: str | Path) -> CTImage | CTVolume:
    """Gives a .npy file of HU values as a CTImage (2-D) or CTVolume (3-D); the shape is checked before reading."""
    source = str(path)
    try:
        mapped = np.load(source, mmap_mode="r", allow_pickle=False)
    except (ValueError, OSError, EOFError) as exc:
        raise CorruptFileError(
            f"{source}: cannot be read as .npy ({exc})",
            path=source,
            hint="the file is truncated or holds Python objects; save a plain array with numpy.save(path, arr)",
        ) from exc
    if mapped.ndim in (2, 3):
        check_header_size(mapped.shape[-2], mapped.shape[-1], source)
    return from_array(np.array(mapped), source=source, copy=False)
