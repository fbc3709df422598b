"""Noise-free synthetic CT slices for the projection-domain tests: a water ellipse with a few inserts."""

from __future__ import annotations

import numpy as np

from vliqa.core import CTImage


def ellipse_phantom(size_px: int = 256, *, half_width_px: float = 110.0, half_height_px: float = 80.0,
                    spacing_mm: float = 1.2) -> CTImage:
    """Gives a noise-free slice (history starts with 'phantom'): water ellipse, bone, fat, lesion and air inserts."""
    c = (size_px - 1) / 2.0
    yy, xx = np.mgrid[:size_px, :size_px] - c
    hu = np.full((size_px, size_px), -1000.0, dtype=np.float32)
    hu[(xx / half_width_px) ** 2 + (yy / half_height_px) ** 2 <= 1] = 0.0
    inserts = [(-0.5, 0.0, 0.12, 700.0), (0.45, 0.1, 0.1, -100.0), (0.0, -0.45, 0.08, 60.0), (0.1, 0.45, 0.06, -1000.0)]
    for fx, fy, fr, value in inserts:
        r = fr * half_height_px
        hu[(xx - fx * half_width_px) ** 2 + (yy - fy * half_height_px) ** 2 <= r**2] = value
    return CTImage(hu=hu, pixel_spacing_mm=(spacing_mm, spacing_mm), slice_thickness_mm=3.0,
                   history=({"name": "phantom"},))
