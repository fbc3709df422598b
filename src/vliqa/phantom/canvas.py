"""The drawing surface of a phantom: an HU image, a label map, and painter's-order compositing.

Shapes are defined in the body frame (mm, origin at the body centre, x to the
patient's left = image right, y posterior = image down). The canvas places the
body in the field of view with a shift and a small rotation, and evaluates each
shape only inside its bounding box so small structures (vessels, ribs) cost
little.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache

import numpy as np

from vliqa.phantom.core import LABEL_IDS
from vliqa.phantom.shapes import GridShape, _angle_index, coverage
from vliqa.phantom.texture import make_field

AIR_HU = -1000.0

HUValue = float | Callable[[np.ndarray, np.ndarray], np.ndarray]


@lru_cache(maxsize=8)
def _pixel_centres(size_px: int) -> np.ndarray:
    """Gives pixel-centre offsets from the image centre, in pixels (shared by rows and columns)."""
    return (np.arange(size_px, dtype=np.float32) - (size_px - 1) / 2.0).astype(np.float32)


class Canvas:
    """An HU image and label map being drawn, with the body-frame coordinates of every pixel."""

    def __init__(self, size_px: int, fov_mm: float, seed: int, *, shift_mm: tuple[float, float] = (0.0, 0.0),
                 angle_rad: float = 0.0):
        self.size_px = size_px
        self.pixel_mm = fov_mm / size_px
        self.seed = seed
        self.shift_mm = shift_mm
        self.angle_rad = angle_rad
        self.hu = np.full((size_px, size_px), AIR_HU, dtype=np.float32)
        self.labels = np.zeros((size_px, size_px), dtype=np.int16)
        self.organ_hu: dict[str, float] = {}
        #: organs whose inside is not one tissue (kidney cortex and medulla): no lesion goes there
        self.heterogeneous: set[str] = set()
        self._fields: dict[str, np.ndarray] = {}
        self._polar: tuple[np.ndarray, np.ndarray] | None = None
        off = _pixel_centres(size_px) * np.float32(self.pixel_mm)
        xi = off[None, :] - np.float32(shift_mm[0])
        yi = off[:, None] - np.float32(shift_mm[1])
        c, s = np.float32(np.cos(angle_rad)), np.float32(np.sin(angle_rad))
        self.x = c * xi + s * yi  # body-frame x of every pixel
        self.y = c * yi - s * xi

    # geometry -----------------------------------------------------------------------------------
    def to_pixel(self, x_mm: float, y_mm: float) -> tuple[float, float]:
        """Gives the (row, col) pixel position of a body-frame point."""
        c, s = np.cos(self.angle_rad), np.sin(self.angle_rad)
        xi = self.shift_mm[0] + c * x_mm - s * y_mm
        yi = self.shift_mm[1] + s * x_mm + c * y_mm
        centre = (self.size_px - 1) / 2.0
        return (yi / self.pixel_mm + centre, xi / self.pixel_mm + centre)

    def to_body(self, row: float, col: float) -> tuple[float, float]:
        """Gives the body-frame (x, y) in mm of a pixel position (inverse of `to_pixel`)."""
        centre = (self.size_px - 1) / 2.0
        xi = (col - centre) * self.pixel_mm - self.shift_mm[0]
        yi = (row - centre) * self.pixel_mm - self.shift_mm[1]
        c, s = np.cos(self.angle_rad), np.sin(self.angle_rad)
        return float(c * xi + s * yi), float(c * yi - s * xi)

    def slices(self, bbox: tuple[float, float, float, float], margin_px: int = 2) -> tuple[slice, slice] | None:
        """Gives the pixel window covering a body-frame bounding box, or None when it is outside the image."""
        x0, x1, y0, y1 = bbox
        corners = [self.to_pixel(x, y) for x in (x0, x1) for y in (y0, y1)]
        rows = [p[0] for p in corners]
        cols = [p[1] for p in corners]
        r0 = max(int(np.floor(min(rows))) - margin_px, 0)
        r1 = min(int(np.ceil(max(rows))) + margin_px + 1, self.size_px)
        c0 = max(int(np.floor(min(cols))) - margin_px, 0)
        c1 = min(int(np.ceil(max(cols))) + margin_px + 1, self.size_px)
        if r0 >= r1 or c0 >= c1:
            return None
        return (slice(r0, r1), slice(c0, c1))

    def polar_origin(self) -> tuple[np.ndarray, np.ndarray]:
        """Gives the radius (mm) and StarShape angle index of every pixel about the body centre, computed once."""
        if self._polar is None:
            self._polar = (np.sqrt(self.x * self.x + self.y * self.y), _angle_index(np.arctan2(self.y, self.x)))
        return self._polar

    def field(self, name: str) -> np.ndarray:
        """Gives a named texture field (see vliqa.phantom.texture.FIELDS), drawn once per canvas."""
        if name not in self._fields:
            self._fields[name] = make_field(name, self.seed, self.size_px, self.pixel_mm)
        return self._fields[name]

    # drawing ------------------------------------------------------------------------------------
    def cover(self, shape: GridShape) -> np.ndarray:
        """Gives the full-size coverage of a shape (for clipping organs to a container)."""
        out = np.zeros_like(self.hu)
        sl = self.slices(shape.bbox())
        if sl is not None:
            out[sl] = coverage(shape.sdf_on(self, sl), self.pixel_mm)
        return out

    def paint(
        self,
        shape: GridShape,
        hu: HUValue,
        label: str | None = None,
        *,
        texture_hu: float = 0.0,
        texture: str = "fine",
        coarse_hu: float = 0.0,
        within: np.ndarray | None = None,
        add: bool = False,
        nominal: bool = True,
        edge_mm: float | None = None,
    ) -> tuple[tuple[slice, slice], np.ndarray] | None:
        """Draws `shape` over what is there (or adds to it) and gives its pixel window and coverage.

        hu: the tissue value (a number, or a function of body-frame x, y for gradients).
        texture_hu / coarse_hu: std of the fine / slow texture added to the tissue, in HU.
        within: full-size coverage of a container; the shape is clipped to it.
        add: add `hu` times coverage instead of replacing (lesions that keep the organ texture).
        edge_mm: width of the edge ramp (default one pixel: a sharp, anti-aliased edge); wider gives a soft margin.
        Labels are written where at least half of a pixel is covered.
        """
        sl = self.slices(shape.bbox())
        if sl is None:
            return None
        x, y = self.x[sl], self.y[sl]
        cov = coverage(shape.sdf_on(self, sl), max(self.pixel_mm, edge_mm or 0.0))
        if within is not None:
            cov *= within[sl]
        value = hu(x, y) if callable(hu) else np.float32(hu)
        if texture_hu:
            value = value + np.float32(texture_hu) * self.field(texture)[sl]
        if coarse_hu:
            value = value + np.float32(coarse_hu) * self.field("coarse")[sl]
        region = self.hu[sl]
        if add:
            region += cov * value
        else:
            region += cov * (value - region)
        if label is not None:
            self.labels[sl][cov >= 0.5] = LABEL_IDS[label]
            if nominal and not callable(hu) and not add:
                self.organ_hu.setdefault(label, float(hu))
        return sl, cov
