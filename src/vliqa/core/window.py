"""Display windows: the `Window` type, the presets, windows from DICOM tags, and HU -> display image in [0, 1].

The display image (float32 in [0, 1]) is the model input convention of vliqa:
every scorer and vision-language model sees a windowed slice, never raw HU.
Readers of display-windowed rasters (PNG/JPEG/TIFF) record the window they assumed, so the
type and its arithmetic sit here, below `vliqa.io`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from vliqa.errors import InvalidImageError, UnknownNameError

if TYPE_CHECKING:  # annotations only: vliqa.core.image imports this module
    from vliqa.core.image import CTImage


@dataclass(frozen=True)
class Window:
    """A display window: level (centre) and width in HU."""

    level: float
    width: float
    name: str = "custom"

    def __post_init__(self) -> None:
        if not np.isfinite(self.level) or not np.isfinite(self.width) or self.width <= 0:
            raise InvalidImageError(
                f"window level={self.level} width={self.width} is invalid",
                hint="the width must be a positive number of HU",
            )

    @property
    def low_hu(self) -> float:
        return self.level - self.width / 2.0

    @property
    def high_hu(self) -> float:
        return self.level + self.width / 2.0

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "level": float(self.level), "width": float(self.width)}


#: Standard presets (width, level in HU) as used by radiologists and the LDCTIQAC 2023 challenge.
PRESETS: dict[str, Window] = {
    "abdomen": Window(level=40, width=400, name="abdomen"),
    "soft_tissue": Window(level=40, width=400, name="soft_tissue"),
    "ldctiqac": Window(level=40, width=350, name="ldctiqac"),
    "liver": Window(level=30, width=150, name="liver"),
    "lung": Window(level=-600, width=1500, name="lung"),
    "mediastinum": Window(level=50, width=350, name="mediastinum"),
    "bone": Window(level=400, width=1800, name="bone"),
    "brain": Window(level=40, width=80, name="brain"),
}

#: The window assumed for display-windowed rasters when the user names none.
DEFAULT_RASTER_WINDOW = "ldctiqac"


def get_window(spec: str | Window | tuple[float, float]) -> Window:
    """Gives a Window from a preset name, a Window, or a (level, width) pair."""
    if isinstance(spec, Window):
        return spec
    if isinstance(spec, tuple):
        level, width = spec
        return Window(level=float(level), width=float(width))
    key = str(spec).strip().lower()
    key = key if "," in key else key.replace("-", "_")
    if key in PRESETS:
        return PRESETS[key]
    if "," in key:  # "40,400" on the command line: level,width
        try:
            level, width = (float(v) for v in key.split(","))
        except ValueError:
            pass
        else:
            return Window(level=level, width=width)
    raise UnknownNameError(
        f"unknown window '{spec}'",
        hint=f"use one of {', '.join(sorted(PRESETS))}, 'dicom', or LEVEL,WIDTH such as 40,400",
    )


def window_from_tags(image: CTImage) -> Window | None:
    """Gives the window stored in the image's DICOM tags, or None if it has none."""
    acq = image.acquisition
    if acq.window_center is None or acq.window_width is None or acq.window_width <= 0:
        return None
    return Window(level=acq.window_center, width=acq.window_width, name="dicom")


def resolve_window(image: CTImage, spec: str | Window | tuple[float, float] | None) -> Window:
    """Gives the window to display `image` with: the named one, its tags ('dicom'), or the default."""
    if spec is None:
        return image.display_window or PRESETS[DEFAULT_RASTER_WINDOW]
    if isinstance(spec, str) and spec.lower() == "dicom":
        return window_from_tags(image) or image.display_window or PRESETS[DEFAULT_RASTER_WINDOW]
    return get_window(spec)


def apply_window(hu: np.ndarray, window: Window) -> np.ndarray:
    """Gives the HU array mapped linearly to [0, 1] through `window` (clipped), as float32."""
    out = (np.asarray(hu, dtype=np.float32) - np.float32(window.low_hu)) / np.float32(window.width)
    return np.clip(out, 0.0, 1.0, out=out)


def to_display(image: CTImage, window: str | Window | tuple[float, float] | None = None) -> np.ndarray:
    """Gives the display image of `image` in [0, 1] under `window` (see `resolve_window`)."""
    return apply_window(image.hu, resolve_window(image, window))


def display_to_hu(display: np.ndarray, window: Window) -> np.ndarray:
    """Gives HU values for display values in [0, 1] that were windowed with `window`."""
    return (np.asarray(display, dtype=np.float32) * np.float32(window.width)
            + np.float32(window.low_hu)).astype(np.float32)
