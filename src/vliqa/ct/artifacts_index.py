"""Reference-free indices of streak and ring artefacts, calibrated against the slice's own noise.

Both work on the high-pass image g = hu - Gaussian(hu, 2 px), restricted to the
inside of the body in the soft-tissue range and clipped at +-4 robust sigma, so
that anatomical edges (which survive the high-pass as thin, strong lines) count
no more than noise-level detail:

- streak_index: line integrals of g (a Radon transform computed with the
  Fourier-slice theorem) compared with what isotropic noise gives along the
  same line. For noise, p^2 / E[p^2] is chi-square with 1 DOF; long straight
  streaks give line integrals many times larger. The index is the excess line
  energy above a 5-sigma threshold, summed over lines, per projection angle.
- ring_index: the azimuthal mean of g on circles around the rotation centre.
  Rings are constant along a circle, so their azimuthal mean stands out of the
  azimuthal scatter; the index is the excess of (mean^2 / its noise
  expectation) above a 5-sigma threshold, per radius.

Both expectations are scaled by a factor fitted as the median over all lines
(radii), so spatially correlated noise of any texture reads ~0, and only
line (ring) energy well above the noise makes the indices grow.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from vliqa.io.image import CTImage

#: HU range of the region the indices look at (soft tissue and fat, after 3 px smoothing).
REGION_HU = (-400.0, 500.0)
#: HU (after 3 px smoothing) between fat and soft tissue; the two are eroded separately.
FAT_SOFT_HU = -40.0
#: Erosion of each tissue class (px).
EROSION_PX = 8
#: Threshold on z^2 (chi-square with 1 DOF): 25 is 5 sigma, so pure noise almost never exceeds it.
Z2_THRESHOLD = 25.0
#: Projection angles of the Radon transform over 180 degrees.
N_ANGLES = 360
#: Median of chi-square with 1 DOF.
_CHI2_1_MEDIAN = 0.4549


def highpass_region(hu: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Gives the clipped high-pass image (zero outside the region) and the region mask."""
    hu = np.asarray(hu, dtype=np.float32)
    low2 = ndimage.gaussian_filter(hu, 2.0)
    # Gaussian 3 px = Gaussian 2 px followed by Gaussian sqrt(5) px.
    smooth = ndimage.gaussian_filter(low2, np.sqrt(5.0))
    # Fat and soft tissue are eroded separately, 8 px past the reach of the high-pass (3 x 2 px),
    # so the body outline, skin, fascia, the scalp and bone edges leave no trace.
    fat = (smooth > REGION_HU[0]) & (smooth < FAT_SOFT_HU)
    soft = (smooth >= FAT_SOFT_HU) & (smooth < REGION_HU[1])
    size = 2 * EROSION_PX + 1
    region = (ndimage.uniform_filter(fat.astype(np.float32), size) > 0.999) | (
        ndimage.uniform_filter(soft.astype(np.float32), size) > 0.999
    )
    g = hu - low2
    if region.sum() < 64:
        return np.zeros_like(g), region
    vals = g[region]
    sigma = 1.4826 * float(np.median(np.abs(vals - np.median(vals))))
    if sigma <= 0:
        return np.zeros_like(g), region
    g = np.clip(g, -4 * sigma, 4 * sigma) * region
    return g.astype(np.float64), region


def _radon_fourier(image: np.ndarray, n_angles: int) -> np.ndarray:
    """Gives projections (n_angles x P) of `image` through its centre by the Fourier-slice theorem.

    Linear in the image, so a complex image a + ib gives Radon(a) + i Radon(b): two real
    images are transformed for the price of one.
    """
    rows, cols = image.shape
    size = 2 * int(2 ** np.ceil(np.log2(max(rows, cols))))  # zero padding x2 limits wrap-around
    padded = np.zeros((size, size), dtype=np.complex128)
    r0, c0 = (size - rows) // 2, (size - cols) // 2
    padded[r0 : r0 + rows, c0 : c0 + cols] = image
    spectrum = np.fft.fftshift(np.fft.fft2(np.fft.ifftshift(padded)))
    theta = np.arange(n_angles) * np.pi / n_angles
    k = np.arange(size) - size // 2
    coords = np.stack(
        [(size // 2 + np.outer(np.sin(theta), k)).ravel(), (size // 2 + np.outer(np.cos(theta), k)).ravel()]
    )
    slices = ndimage.map_coordinates(spectrum.real, coords, order=1) + 1j * ndimage.map_coordinates(
        spectrum.imag, coords, order=1
    )
    slices = slices.reshape(n_angles, size)
    return np.fft.fftshift(np.fft.ifft(np.fft.ifftshift(slices, axes=1), axis=1), axes=1)


def _block_mean(a: np.ndarray, factor: int) -> np.ndarray:
    rows, cols = (a.shape[0] // factor) * factor, (a.shape[1] // factor) * factor
    return a[:rows, :cols].reshape(rows // factor, factor, cols // factor, factor).mean(axis=(1, 3))


def streak_index(image: CTImage) -> float:
    """Gives the streak index: line energy of the high-pass image above the isotropic-noise level (0 = none).

    Units: excess z^2 summed over all lines, divided by the number of
    projection angles (360 over 180 degrees). A straight streak crossing L
    pixels at amplitude a over noise sigma adds roughly (a/sigma)^2 L / 2.
    NaN when the slice holds too little soft tissue to judge.
    """
    return streak_index_from(*highpass_region(image.hu))


def streak_index_from(g: np.ndarray, region: np.ndarray) -> float:
    """Gives `streak_index` from a precomputed `highpass_region` result."""
    if region.sum() < 1024 or not np.any(g):
        return float("nan")
    # Streaks are long; halving the resolution keeps a line's SNR and quarters the cost.
    factor = 2 if min(g.shape) >= 256 else 1
    g_small = _block_mean(g, factor)
    mask_small = _block_mean(region.astype(np.float64), factor)
    both = _radon_fourier(g_small + 1j * mask_small, N_ANGLES)
    proj, length = both.real, both.imag
    # Noise expectation of p^2 along a line is proportional to the region length it crosses.
    var_g = float(np.mean(g_small[mask_small > 0.5] ** 2))
    valid = length > 16
    if valid.sum() < 100 or var_g <= 0:
        return float("nan")
    ratio = proj[valid] ** 2 / (var_g * length[valid])
    # For isotropic noise E[p^2] = var_g * L * kappa, kappa = the sum of the noise autocorrelation
    # along a line. kappa comes from short lags only (radius <= 4 px), where noise texture dominates
    # and streaks — long-range, line-like correlation — hardly contribute; a median over lines
    # would instead be raised by dense streaks (sparse-view) and hide them.
    scale = _line_correlation_sum(g_small, mask_small > 0.5, max_lag=4)
    if not np.isfinite(scale) or scale <= 0:
        return float("nan")
    z2 = ratio / scale
    return float(np.sum(np.maximum(z2 - Z2_THRESHOLD, 0.0)) / N_ANGLES)


def _line_correlation_sum(g: np.ndarray, mask: np.ndarray, max_lag: int) -> float:
    """Gives 1 + 2 sum_{d=1..max_lag} rho(d): the 1-D sum of the radially averaged autocorrelation of g in mask."""
    rows, cols = g.shape
    size = (2 * rows, 2 * cols)
    values = np.where(mask, g, 0.0)
    acov = np.fft.irfft2(np.abs(np.fft.rfft2(values, s=size)) ** 2, s=size)
    pairs = np.fft.irfft2(np.abs(np.fft.rfft2(mask.astype(np.float64), s=size)) ** 2, s=size)
    lags = np.arange(-max_lag, max_lag + 1)
    rr, cc = np.meshgrid(lags, lags, indexing="ij")
    acov_local = acov[rr % size[0], cc % size[1]] / np.maximum(pairs[rr % size[0], cc % size[1]], 1.0)
    if acov_local[max_lag, max_lag] <= 0:
        return float("nan")
    rho = acov_local / acov_local[max_lag, max_lag]
    dist = np.rint(np.hypot(rr, cc)).astype(int)
    radial = np.array([rho[dist == d].mean() for d in range(1, max_lag + 1)])
    return float(1.0 + 2.0 * np.sum(radial))


def ring_index(image: CTImage, center: tuple[float, float] | None = None) -> float:
    """Gives the ring index: excess azimuthal-mean energy of the high-pass image around `center` (0 = none).

    `center` is (row, col) of the rotation centre, the image centre by default.
    Units: excess z^2 summed over radii (0.5 px apart), divided by the number of
    radii with enough samples. A full ring of amplitude a over noise sigma at
    radius r adds roughly (a/sigma)^2 pi r / (number of radii). NaN when the
    slice holds too little soft tissue.
    """
    return ring_index_from(*highpass_region(image.hu), center=center)


def ring_index_from(g: np.ndarray, region: np.ndarray, center: tuple[float, float] | None = None) -> float:
    """Gives `ring_index` from a precomputed `highpass_region` result."""
    if region.sum() < 1024 or not np.any(g):
        return float("nan")
    rows, cols = g.shape
    cr, cc = center if center is not None else ((rows - 1) / 2.0, (cols - 1) / 2.0)
    max_r = float(np.hypot(max(cr, rows - 1 - cr), max(cc, cols - 1 - cc)))
    radii = np.arange(2.0, max_r, 0.5)
    n_phi = 360
    phi = np.arange(n_phi) * 2 * np.pi / n_phi
    rr = cr + np.outer(radii, np.sin(phi))
    cc_ = cc + np.outer(radii, np.cos(phi))
    vals = ndimage.map_coordinates(g, np.stack([rr.ravel(), cc_.ravel()]), order=1, cval=0.0).reshape(rr.shape)
    ri, ci = np.rint(rr).astype(int), np.rint(cc_).astype(int)
    on_image = (ri >= 0) & (ri < rows) & (ci >= 0) & (ci < cols)
    inside = np.zeros(rr.shape, dtype=bool)
    inside[on_image] = region[ri[on_image], ci[on_image]]
    count = inside.sum(axis=1)
    # Samples closer than a pixel apart along the circle are not independent: use the arc length in px.
    n_eff = np.minimum(count, count * 2 * np.pi * radii / n_phi)
    ok = n_eff >= 16
    if ok.sum() < 10:
        return float("nan")
    vals = np.where(inside, vals, 0.0)[ok]
    cnt = count[ok]
    mean = vals.sum(axis=1) / cnt
    var = np.sum(vals**2, axis=1) / cnt - mean**2
    ratio = mean**2 * n_eff[ok] / np.maximum(var, 1e-12)
    scale = float(np.median(ratio)) / _CHI2_1_MEDIAN
    if scale <= 0:
        return float("nan")
    z2 = ratio / scale
    return float(np.sum(np.maximum(z2 - Z2_THRESHOLD, 0.0)) / ok.sum())
