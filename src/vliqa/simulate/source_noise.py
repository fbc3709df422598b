"""The noise a real image already carries, measured in its flattest soft tissue: band power and texture.

`low_dose` inserts the noise of a lower dose into a real (noisy) image, so it must know how strong the
image's own quantum noise is and what texture (reconstruction kernel) it has. Both are read from the
image, not from its header, so that PNGs and unknown scanners work too:

- windows: the homogeneous windows of `vliqa.ct.noise.scan_windows` (about 17 mm), of which the flattest
  quarter by their low-pass (anatomical) structure is kept;
- each window is detrended by a 2nd-order polynomial (as `vliqa.ct.nps`) and its periodogram taken;
  only frequencies from BAND_LOW_PER_MM to the Nyquist frequency are used: below that, organ texture
  outweighs the noise of smooth kernels on low-noise slices;
- level: the median band variance over the windows (a median, so a few windows with structure do not
  count);
- texture: the ring-weighted mean frequency of the band, matched by stationary FBP-like noise
  (radial NPS f W(f)^2 G(f)^2, W a Hann window, G the source blur below) measured in windows of the
  same size with the same detrending.

The source blur G(f) = exp(-2 pi^2 s^2 f^2): on real full/quarter-dose pairs the image's own noise is a
little coarser than the noise a projection-domain insertion adds (detector cross-talk and the
scanner's low-signal filters act on the measured data, not on inserted noise). The blur s is
calibrated on real pairs (bench/calibrate_dose.py); the inserted noise is reconstructed without it.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from vliqa.core import CTImage
from vliqa.ct.noise import scan_windows

#: Side of the noise windows (mm), first choice and fallback; bounded by NOISE_WINDOW_PX_RANGE.
NOISE_WINDOW_MM = (17.0, 11.0)
NOISE_WINDOW_PX_RANGE = (12, 32)
#: Share of the accepted windows kept, flattest first by the structure of a low-pass copy.
FLAT_WINDOW_SHARE = 0.25
#: Fewest windows for an image-based noise measurement.
MIN_NOISE_WINDOWS = 4
#: Lowest frequency (cycles/mm) of the band in which level and texture are measured.
BAND_LOW_PER_MM = 0.2
#: Hann cutoffs (cycles/pixel) the texture fit tries; the largest is practically a plain ramp.
_CUTOFFS_PX = np.geomspace(0.08, 6.0, 40)
#: Side of the synthetic noise field (in windows) the texture fit measures, and its seed.
_FIELD_WINDOWS = 10
_FIELD_SEED = 20240501
#: Pixel sizes are rounded to this (mm) for the cached table of the texture fit (one table per size).
_PIXEL_STEP_MM = 0.005


@dataclass(frozen=True)
class SourceNoise:
    """The image's own noise in its flattest windows: where, how strong in the band, and its texture statistic."""

    rows: np.ndarray
    cols: np.ndarray
    window_px: int
    pixel_mm: float
    #: Band variance (HU^2, BAND_LOW_PER_MM to Nyquist) of each window.
    band_variances_hu2: np.ndarray
    #: Ring-weighted mean frequency (cycles/mm) of the band of the mean periodogram.
    band_mean_freq_per_mm: float

    @property
    def band_variance_hu2(self) -> float:
        """Gives the median band variance over the windows (HU^2)."""
        return float(np.median(self.band_variances_hu2))

    @property
    def n_windows(self) -> int:
        """Gives the number of windows measured."""
        return int(self.rows.size)


def window_px(pixel_mm: float, size_mm: float) -> int:
    """Gives the even window side in pixels for a physical size, within NOISE_WINDOW_PX_RANGE."""
    lo, hi = NOISE_WINDOW_PX_RANGE
    return int(np.clip(2 * round(size_mm / pixel_mm / 2.0), lo, hi))


def flat_windows(image: CTImage, pixel_mm: float) -> tuple[np.ndarray, np.ndarray, int] | None:
    """Gives (rows, cols, side) of the flattest homogeneous windows of the image, or None with too few."""
    for size_mm in NOISE_WINDOW_MM:
        n = window_px(pixel_mm, size_mm)
        if min(image.shape) < 2 * n:
            continue
        scan = scan_windows(image, n)
        idx = np.flatnonzero(scan.accepted)
        if idx.size < MIN_NOISE_WINDOWS:
            continue
        keep = max(MIN_NOISE_WINDOWS, int(np.ceil(FLAT_WINDOW_SHARE * idx.size)))
        idx = idx[np.argsort(scan.ss_lowpass[idx], kind="stable")[:keep]]
        return scan.rows[idx].astype(int), scan.cols[idx].astype(int), n
    return None


@lru_cache(maxsize=4)
def _quadratic_basis(n: int) -> tuple[np.ndarray, np.ndarray]:
    """Gives the 2nd-order polynomial basis of an n x n window (n^2 x 6) and its pseudo-inverse (6 x n^2)."""
    c = np.arange(n, dtype=np.float64) - (n - 1) / 2.0
    rr, cc = (a.ravel() for a in np.meshgrid(c, c, indexing="ij"))
    basis = np.stack([np.ones(n * n), rr, cc, rr * rr, cc * cc, rr * cc], axis=1)
    return basis, np.linalg.pinv(basis)


def band_stats(
    hu: np.ndarray, rows: np.ndarray, cols: np.ndarray, n: int, pixel_mm: float, low_per_mm: float = BAND_LOW_PER_MM
) -> tuple[np.ndarray, float]:
    """Gives each window's band variance (HU^2) and the band's ring-weighted mean frequency (cycles/mm).

    Windows are detrended by a 2nd-order polynomial and not tapered; the band runs from `low_per_mm`
    to the Nyquist frequency (the corners of the 2-D spectrum beyond it are left out).
    """
    stack = np.stack([hu[r : r + n, c : c + n] for r, c in zip(rows, cols, strict=True)]).astype(np.float64)
    basis, pinv = _quadratic_basis(n)
    flat = stack.reshape(len(stack), -1)
    resid = (flat - (flat @ pinv.T) @ basis.T).reshape(stack.shape)
    power = np.abs(np.fft.fft2(resid)) ** 2 / float(n**4)
    f = np.fft.fftfreq(n, d=pixel_mm)
    rad = np.hypot(f[:, None], f[None, :])
    band = (rad >= low_per_mm) & (rad <= 0.5 / pixel_mm)
    per_window = (power * band).sum(axis=(1, 2))
    mean_power = power.mean(axis=0) * band
    total = float(mean_power.sum())
    mean_freq = float((mean_power * rad).sum() / total) if total > 0 else float("nan")
    return per_window, mean_freq


def measure(image: CTImage, pixel_mm: float) -> SourceNoise | None:
    """Gives the image's own noise in its flattest windows, or None when it has too few homogeneous windows."""
    found = flat_windows(image, pixel_mm)
    if found is None:
        return None
    rows, cols, n = found
    per_window, mean_freq = band_stats(image.hu, rows, cols, n, pixel_mm)
    if not np.isfinite(mean_freq) or float(np.median(per_window)) <= 0:
        return None
    return SourceNoise(rows, cols, n, float(pixel_mm), per_window, mean_freq)


def blur_transfer(freq_per_mm: np.ndarray, blur_mm: float) -> np.ndarray:
    """Gives the amplitude transfer exp(-2 pi^2 s^2 f^2) of the source blur of width s = `blur_mm`."""
    return np.exp(-2.0 * np.pi**2 * blur_mm**2 * np.asarray(freq_per_mm, dtype=np.float64) ** 2)


def blur(hu: np.ndarray, pixel_mm: float, blur_mm: float) -> np.ndarray:
    """Gives the image filtered by the source blur (isotropic Gaussian transfer, see module docstring)."""
    if blur_mm <= 0:
        return np.asarray(hu, dtype=np.float64)
    fy = np.fft.fftfreq(hu.shape[0], d=pixel_mm)
    fx = np.fft.rfftfreq(hu.shape[1], d=pixel_mm)
    transfer = blur_transfer(np.hypot(fy[:, None], fx[None, :]), blur_mm)
    return np.fft.irfft2(np.fft.rfft2(np.asarray(hu, dtype=np.float64)) * transfer, s=hu.shape)


def hann_noise_field(size_px: int, cutoff_px: float, pixel_mm: float, blur_mm: float,
                     seed: int = _FIELD_SEED) -> np.ndarray:
    """Gives stationary noise with the NPS of FBP noise, f W(f)^2 G(f)^2 up to the Nyquist radius (W: Hann)."""
    z = np.fft.fft2(np.random.default_rng(seed).standard_normal((size_px, size_px)))
    f = np.fft.fftfreq(size_px)
    rad = np.hypot(f[:, None], f[None, :])
    hann = np.where(rad < cutoff_px, 0.5 * (1.0 + np.cos(np.pi * rad / cutoff_px)), 0.0) * (rad <= 0.5)
    amp = np.sqrt(rad) * hann * blur_transfer(rad / pixel_mm, blur_mm)
    return np.real(np.fft.ifft2(z * amp))


@lru_cache(maxsize=32)
def _model_mean_freqs(n: int, pixel_mm: float, blur_mm: float, low_per_mm: float) -> np.ndarray:
    """Gives the band mean frequency of Hann FBP noise for every cutoff in _CUTOFFS_PX, measured as `band_stats`."""
    size = _FIELD_WINDOWS * n
    grid = np.arange(_FIELD_WINDOWS) * n
    rows, cols = (a.ravel() for a in np.meshgrid(grid, grid, indexing="ij"))
    out = []
    for cut in _CUTOFFS_PX:
        field = hann_noise_field(size, float(cut), pixel_mm, blur_mm)
        out.append(band_stats(field, rows, cols, n, pixel_mm, low_per_mm)[1])
    return np.asarray(out)


def fit_cutoff(source: SourceNoise, blur_mm: float) -> float:
    """Gives the Hann cutoff (cycles/pixel) whose FBP noise, blurred by the source blur, has the image's band texture.

    The band mean frequency falls at first as the cutoff grows from the smallest (where the band holds
    only the window's spectral leakage), then rises monotonically; the fit uses the rising branch and
    stays at its ends when the image lies outside it.
    """
    px = max(_PIXEL_STEP_MM, round(source.pixel_mm / _PIXEL_STEP_MM) * _PIXEL_STEP_MM)
    means = _model_mean_freqs(source.window_px, round(px, 6), round(float(blur_mm), 6), BAND_LOW_PER_MM)
    start = int(np.argmin(means))
    rising = np.maximum.accumulate(means[start:])
    return float(np.exp(np.interp(source.band_mean_freq_per_mm, rising, np.log(_CUTOFFS_PX[start:]))))
