"""Synthetic CT slices with known noise, blur, streaks and rings for the measure tests."""

from __future__ import annotations

import numpy as np
from scipy import ndimage, special

from vliqa.core import CTImage

SIZE = 512
SPACING_MM = 0.7


def noise_field(sigma_hu: float, kind: str = "white", seed: int = 0, size: int = SIZE) -> np.ndarray:
    """Gives stationary Gaussian noise of exactly `sigma_hu` std with a given texture.

    kinds: "white"; "gauss<s>" (Gaussian-smoothed, s px, like iterative reconstruction);
    "ramp" (ramp x Gaussian apodisation, like filtered back-projection).
    """
    rng = np.random.default_rng(seed)
    field = rng.normal(size=(size, size))
    if kind.startswith("gauss"):
        field = ndimage.gaussian_filter(field, float(kind[5:]))
    elif kind == "ramp":
        f = np.fft.fftfreq(size)
        radius = np.hypot(f[:, None], f[None, :])
        field = np.fft.ifft2(np.fft.fft2(field) * radius * np.exp(-((radius / 0.2) ** 2))).real
    elif kind != "white":
        raise ValueError(kind)
    return field / field.std() * sigma_hu


def water_disc(sigma_hu: float = 20.0, kind: str = "white", seed: int = 0) -> CTImage:
    """Gives a 512x512 water disc (0 HU, radius 215 px) in air with noise of known sigma and texture."""
    yy, xx = np.mgrid[:SIZE, :SIZE]
    r = np.hypot(yy - SIZE / 2, xx - SIZE / 2)
    hu = np.where(r < 0.42 * SIZE, 0.0, -1000.0) + noise_field(sigma_hu, kind, seed)
    return CTImage(hu=hu, pixel_spacing_mm=(SPACING_MM, SPACING_MM))


def blurred_disc(blur_sigma_mm: float, noise_hu: float = 10.0, seed: int = 0) -> CTImage:
    """Gives a large water disc in air whose edge is blurred by a Gaussian of `blur_sigma_mm` (analytic ESF)."""
    yy, xx = np.mgrid[:SIZE, :SIZE]
    r_mm = np.hypot(yy - SIZE / 2 + 0.3, xx - SIZE / 2 + 0.1) * SPACING_MM
    radius_mm = 0.4 * SIZE * SPACING_MM
    hu = -1000.0 + 1000.0 * 0.5 * special.erfc((r_mm - radius_mm) / (np.sqrt(2) * blur_sigma_mm))
    hu += np.random.default_rng(seed).normal(0, noise_hu, hu.shape)
    return CTImage(hu=hu, pixel_spacing_mm=(SPACING_MM, SPACING_MM))


def phantom_body(seed: int = 0, noise_hu: float = 15.0) -> np.ndarray:
    """Gives a soft-tissue disc with an insert and correlated noise, in HU (the base for artefacts)."""
    yy, xx = np.mgrid[:SIZE, :SIZE]
    hu = np.where(np.hypot(yy - 255.5, xx - 255.5) < 200, 40.0, -1000.0)
    hu += np.where(np.hypot(yy - 200, xx - 300) < 40, 60.0, 0.0)
    return hu + noise_field(noise_hu, "gauss1.0", seed)


def streaks(amplitude_hu: float, n_lines: int = 5, through: tuple[float, float] = (260, 240)) -> np.ndarray:
    """Gives thin (1 px) straight lines of `amplitude_hu` through one point at evenly spread angles."""
    yy, xx = np.mgrid[:SIZE, :SIZE]
    out = np.zeros((SIZE, SIZE))
    for angle in np.linspace(0, np.pi, n_lines, endpoint=False) + 0.3:
        d = np.abs((yy - through[0]) * np.cos(angle) - (xx - through[1]) * np.sin(angle))
        out += amplitude_hu * np.clip(1 - d, 0, 1)
    return out


def rings(amplitude_hu: float, radii_px: tuple[float, ...] = (40, 75, 110, 150)) -> np.ndarray:
    """Gives thin (1 px) rings of `amplitude_hu` centred on the image centre."""
    yy, xx = np.mgrid[:SIZE, :SIZE]
    r = np.hypot(yy - 255.5, xx - 255.5)
    return sum(amplitude_hu * np.clip(1 - np.abs(r - rad), 0, 1) for rad in radii_px)
