"""Photographs, the second image domain: `PhotoImage` (RGB in [0, 1]) and `detect_domain`, which tells them from CT.

A CT image holds Hounsfield units; a photograph holds display colours and has no HU. `detect_domain` decides
for a raster or an array: greyscale, grey saved as RGB, and CT renders with a colour overlay (a PET/CT fusion,
coloured annotations) are CT; an image coloured over most of its area, not mostly black air, is a photograph.
A photo turned grey (fully desaturated) or nearly black (badly underexposed) looks like a CT export: pass
`domain="photo"` then (of 500 distorted val/test crops, 6 % read as CT under "auto", nearly all underexposed).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from vliqa.errors import InvalidImageError, InvalidParameterError

#: The image domains: CT (HU) and photographs (RGB colours). "auto" asks `detect_domain`.
DOMAINS = ("ct", "photo")
DOMAIN_CHOICES = ("auto", *DOMAINS)
#: A pixel whose channels spread by more than this (on 0-1) is coloured (a grey export saved as JPEG: below 0.01).
COLOUR_CHROMA = 0.03
#: A photograph is coloured over at least this fraction of its pixels (the skimage photos: 0.64-0.99).
PHOTO_MIN_COLOUR_FRACTION = 0.25
#: A CT render is mostly air: at least this fraction of near-black pixels (the 270 PET/CT fusion renders of the
#: PET-CT-IQA-DS reader study: 0.56-0.85; the skimage photos, the deep-sky one aside: below 0.2).
CT_MIN_DARK_FRACTION = 0.5
#: A pixel whose brightest channel is below this (on 0-1) is near black.
DARK_LEVEL = 0.15


def check_domain(domain: str) -> str:
    """Gives `domain` ("auto", "ct" or "photo") lower-cased; raises InvalidParameterError for anything else."""
    value = str(domain).strip().lower()
    if value not in DOMAIN_CHOICES:
        raise InvalidParameterError(f"unknown image domain '{domain}'",
                                    hint=f"use one of {', '.join(DOMAIN_CHOICES)}")
    return value


def unit_rgb(values: Any, source: str | None = None) -> np.ndarray:
    """Gives pixels as float32 RGB in [0, 1], (H, W, 3): grey is repeated, alpha dropped, 8/16-bit scaled.

    Floats are taken as 0-1 colours, or as 0-255 when their maximum is above 1; a float image outside 0-255
    (HU, say) raises InvalidImageError.
    """
    arr = np.asarray(values)
    if arr.ndim == 3 and arr.shape[-1] in (1, 2):  # grey or grey + alpha
        arr = arr[..., 0]
    if arr.ndim == 2:
        arr = np.repeat(arr[..., None], 3, axis=-1)
    if arr.ndim != 3 or arr.shape[-1] not in (3, 4):
        raise InvalidImageError(f"{source or 'image'}: shape {arr.shape} is no photograph",
                                path=source, hint="a photograph is (rows, cols, 3) RGB or (rows, cols) grey")
    arr = arr[..., :3]
    if arr.dtype == np.uint8:
        return arr.astype(np.float32) * np.float32(1 / 255)
    if arr.dtype == np.uint16:
        return arr.astype(np.float32) * np.float32(1 / 65535)
    if arr.dtype.kind == "b":
        return arr.astype(np.float32)
    if arr.dtype.kind not in "uif":
        raise InvalidImageError(f"{source or 'image'}: pixel type {arr.dtype} is not a colour", path=source)
    rgb = arr.astype(np.float32)
    if not np.isfinite(rgb).all():
        raise InvalidImageError(f"{source or 'image'}: NaN or infinite pixels", path=source,
                                hint="replace them before assessing")
    low, high = float(rgb.min(initial=0.0)), float(rgb.max(initial=0.0))
    if low < 0.0 or high > 255.0:
        raise InvalidImageError(f"{source or 'image'}: values {low:.4g}..{high:.4g} are no colours (0-1 or 0-255)",
                                path=source, hint="if they are HU, read the image as CT (domain='ct')")
    return rgb / np.float32(255.0) if high > 1.0 else rgb


def detect_domain(values: Any) -> str:
    """Gives "photo" for an image coloured over much of its area and not mostly black, else "ct".

    `values`: an array (rows, cols) or (rows, cols, 3|4) of 8/16-bit or float pixels, a PhotoImage, a CTImage or
    CTVolume. Arrays with negative values or values above 255 are HU, hence CT.
    """
    domain = getattr(values, "domain", None)
    if domain in DOMAINS:
        return domain
    arr = np.asarray(values)
    if arr.ndim != 3 or arr.shape[-1] not in (3, 4) or arr.shape[0] < 2 or arr.shape[1] < 2:
        return "ct"
    try:
        rgb = unit_rgb(arr)
    except InvalidImageError:
        return "ct"
    chroma = rgb.max(axis=-1) - rgb.min(axis=-1)
    coloured = float(np.mean(chroma > COLOUR_CHROMA))
    dark = float(np.mean(rgb.max(axis=-1) < DARK_LEVEL))
    return "photo" if coloured >= PHOTO_MIN_COLOUR_FRACTION and dark < CT_MIN_DARK_FRACTION else "ct"


@dataclass(frozen=True)
class PhotoImage:
    """One photograph: RGB float32 in [0, 1], (rows, cols, 3), where it came from, and what was done to it."""

    rgb: np.ndarray
    source: str | None = None
    #: Each processing step applied (distortions, crops), in order, with parameters.
    history: tuple[dict[str, Any], ...] = ()
    warnings: tuple[str, ...] = ()
    domain: ClassVar[str] = "photo"
    #: A photograph is no slice of a series.
    slice_index: ClassVar[None] = None

    def __post_init__(self) -> None:
        rgb = np.asarray(self.rgb)
        if rgb.ndim != 3 or rgb.shape[-1] != 3:
            raise InvalidImageError(f"a photograph is (rows, cols, 3) RGB, got shape {rgb.shape}", path=self.source,
                                    hint="build it with vliqa.core.unit_rgb(pixels)")
        if rgb.dtype != np.float32:
            rgb = rgb.astype(np.float32)
        object.__setattr__(self, "rgb", rgb)

    @classmethod
    def from_pixels(cls, values: Any, **fields: Any) -> PhotoImage:
        """Gives a PhotoImage of grey or RGB(A) pixels (8/16-bit or float), scaled by `unit_rgb`."""
        return cls(unit_rgb(values, fields.get("source")), **fields)

    @property
    def shape(self) -> tuple[int, int]:
        return self.rgb.shape[:2]  # type: ignore[return-value]

    def replace(self, **changes: Any) -> PhotoImage:
        """Gives a copy with the named fields changed."""
        return dataclasses.replace(self, **changes)

    def with_step(self, name: str, params: dict[str, Any], rgb: np.ndarray) -> PhotoImage:
        """Gives a new photo with `rgb` as pixels and the step appended to the history."""
        return dataclasses.replace(self, rgb=np.asarray(rgb, np.float32), history=self.history + ({"name": name,
                                                                                                    **params},))

    def summary(self) -> dict[str, Any]:
        """Gives a JSON-ready description of the photo (no pixels)."""
        return {"source": self.source, "domain": self.domain, "shape": list(self.shape),
                "mean_rgb": [float(v) for v in self.rgb.reshape(-1, 3).mean(0)],
                "history": list(self.history), "warnings": list(self.warnings)}
