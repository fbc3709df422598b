"""Size and value checks every reader applies before it builds a `CTImage` / `CTVolume` (types in `vliqa.core`)."""

from __future__ import annotations

import numpy as np

from vliqa.errors import ImageSizeError, InvalidImageError

#: Smallest side (pixels) of an image vliqa treats as a CT slice.
MIN_SIDE_PX = 16
#: Largest side (pixels); CT slices are 512-1024 px, 4096 leaves room for micro-CT and upsampled exports.
MAX_SIDE_PX = 4096
#: Largest side (pixels) of a photograph (a 24-megapixel camera gives 6000 x 4000).
PHOTO_MAX_SIDE_PX = 8192


def check_header_size(rows: int, cols: int, source: str | None, *, max_side_px: int = MAX_SIDE_PX) -> None:
    """Raises ImageSizeError when a slice (or a header announcing one) is outside the size limits.

    Readers call it on the header before any pixels are decoded, so a 10,000 x 10,000 claim
    is refused without allocating it. `max_side_px`: a photograph may be larger than a CT slice
    (PHOTO_MAX_SIDE_PX).
    """
    if min(rows, cols) < MIN_SIDE_PX:
        raise ImageSizeError(
            f"image is {rows}x{cols} pixels; vliqa needs at least {MIN_SIDE_PX} pixels on each side",
            path=source,
            hint="this looks like a thumbnail or a downsized test file, not a CT slice",
        )
    if max(rows, cols) > max_side_px:
        raise ImageSizeError(
            f"image is {rows}x{cols} pixels; vliqa reads at most {max_side_px} pixels on a side",
            path=source,
            hint="downsample it first (CT slices are usually 512x512)",
        )


def check_pixels(hu: np.ndarray, source: str | None = None, *, allow_nonfinite: bool = False) -> np.ndarray:
    """Gives `hu` as float32 after checking size and finiteness; raises a clear error otherwise."""
    arr = np.asarray(hu)
    if arr.ndim not in (2, 3):
        raise InvalidImageError(f"expected a 2-D slice or 3-D volume, got shape {arr.shape}", path=source)
    check_header_size(*arr.shape[-2:], source)
    if not np.issubdtype(arr.dtype, np.number) or np.iscomplexobj(arr):
        raise InvalidImageError(f"pixel type {arr.dtype} is not a real number type", path=source)
    arr = arr.astype(np.float32, copy=False)
    if not allow_nonfinite:
        bad = ~np.isfinite(arr)
        if bad.any():
            raise InvalidImageError(
                f"{int(bad.sum())} pixels are NaN or infinite",
                path=source,
                hint="replace them (e.g. with -1024 HU for air) before assessing",
            )
    return arr
