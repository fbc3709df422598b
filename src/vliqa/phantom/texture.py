"""Seeded smooth random fields: parenchymal texture, fat septa, trabecular bone.

Real organs are not flat: liver and spleen show a faint mottle of a few HU with
a correlation length of a few millimetres, fat carries thin fibrous septa, and
cancellous bone a fine trabecular pattern. The fields here are unit-variance
Gaussian noise low-pass filtered to a given correlation length; drawing them on
a coarse grid and upsampling keeps them cheap at 512x512.
"""

from __future__ import annotations

import numpy as np


def smooth_noise(rng: np.random.Generator, size_px: int, corr_px: float) -> np.ndarray:
    """Gives a (size_px, size_px) float32 field of unit std whose correlation length is ~corr_px pixels.

    The field is white noise through a Gaussian low-pass of std corr_px,
    drawn directly in the Fourier domain: only the frequencies the filter
    passes are drawn, then one inverse real FFT (single-threaded, a few ms).
    """
    corr_px = max(float(corr_px), 0.5)
    # frequencies where the filter is below 1e-4 of its peak add nothing visible
    f_cut = np.sqrt(np.log(1e4) / (2.0 * np.pi**2)) / corr_px
    k_max = int(min(np.ceil(f_cut * size_px) + 1, size_px // 2))
    rows = np.r_[0:k_max, size_px - k_max + 1 : size_px]
    fy = np.fft.fftfreq(size_px)[rows][:, None]
    fx = np.fft.rfftfreq(size_px)[None, :k_max]
    transfer = np.exp(-2.0 * np.pi**2 * corr_px**2 * (fx * fx + fy * fy)).astype(np.float32)
    draw = rng.standard_normal((2, len(rows), k_max), dtype=np.float32)
    spec = np.zeros((size_px, size_px // 2 + 1), dtype=np.complex64)
    spec[rows, :k_max] = (draw[0] + 1j * draw[1]) * transfer
    field = np.fft.irfft2(spec, s=(size_px, size_px)).astype(np.float32)
    field -= field.mean()
    field /= field.std() + 1e-12
    return field


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
