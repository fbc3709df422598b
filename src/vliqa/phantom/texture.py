"""Seeded smooth random fields: parenchymal texture, fat septa, trabecular bone.

Real organs are not flat: liver and spleen show a faint mottle of a few HU with
a correlation length of a few millimetres, fat carries thin fibrous septa, and
cancellous bone a fine trabecular pattern. The fields here are unit-variance
Gaussian noise low-pass filtered to a given correlation length; drawing them on
a coarse grid and upsampling keeps them cheap at 512x512.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage


def smooth_noise(rng: np.random.Generator, size_px: int, corr_px: float) -> np.ndarray:
    """Gives a (size_px, size_px) float32 field of unit std whose correlation length is ~corr_px pixels."""
    corr_px = max(float(corr_px), 0.5)
    # a coarse grid with ~2 cells per correlation length is enough; upsampling is linear
    step = max(1, int(corr_px // 2))
    coarse = -(-size_px // step) + 2
    white = rng.standard_normal((coarse, coarse)).astype(np.float32)
    field = ndimage.gaussian_filter(white, sigma=corr_px / step, mode="wrap")
    if step > 1:
        field = ndimage.zoom(field, step, order=1, grid_mode=False)
    field = field[:size_px, :size_px]
    field -= field.mean()
    field /= field.std() + 1e-6
    return np.ascontiguousarray(field, dtype=np.float32)


def septa(rng: np.random.Generator, size_px: int, corr_px: float, width: float = 0.08) -> np.ndarray:
    """Gives a field in [0, 1] that is 1 on thin curvy lines (zero crossings of smooth noise): fat septa."""
    n = smooth_noise(rng, size_px, corr_px)
    return np.exp(-((n / width) ** 2)).astype(np.float32)


#: Named fields a canvas can draw: (correlation length in mm, kind).
FIELDS: dict[str, tuple[float, str]] = {
    "fine": (2.5, "noise"),  # parenchymal mottle
    "coarse": (14.0, "noise"),  # slow shading across an organ
    "septa": (7.0, "septa"),  # fibrous strands in fat
    "trabecular": (0.9, "noise"),  # cancellous bone
    "folia": (3.0, "noise"),  # warps the cerebellar folia and cortical sulci
}


def make_field(name: str, seed: int, size_px: int, pixel_mm: float) -> np.ndarray:
    """Gives the named texture field for a phantom seed; each name has its own stream so draw order does not matter."""
    corr_mm, kind = FIELDS[name]
    rng = np.random.default_rng([seed, sorted(FIELDS).index(name), 0x7E47])
    corr_px = corr_mm / pixel_mm
    if kind == "septa":
        return septa(rng, size_px, corr_px)
    return smooth_noise(rng, size_px, corr_px)
