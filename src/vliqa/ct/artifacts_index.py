"""Reference-free indices of streak and ring artefacts, in HU.

Both work on the high-pass image g = hu - Gaussian(hu, 2 px) inside the body's
soft tissue and fat (`highpass_region`). The region is found on a median-filtered
copy of the slice, so thin streaks and rings do not punch holes in it (a region
found on the raw slice loses exactly the pixels a strong metal streak crosses),
and it leaves out a margin around metal. g is clipped at +-6 robust sigma so a
few hot pixels cannot dominate.

- streak_index: the RMS (HU) of the *anisotropic* part of g's fine-scale power.
  Streaks are straight lines, so their power sits on lines through the origin of
  the 2-D spectrum (perpendicular to the streaks), while noise and soft-tissue
  texture spread their power evenly over directions. On a polar grid of the power
  spectrum (720 directions, 0.08-0.45 cycles/px), averaged over 31 neighbouring
  frequencies, the isotropic floor of each frequency is the lower quartile over
  directions; the power above 2 x that floor, integrated over the band, is the
  streak variance. Dense sparse-view streaks, metal streaks and photon-starvation
  streaks add to it; rings do not, and smoothing lowers it (it removes streaky noise).
- ring_index: the RMS (HU) of the azimuthal mean of g on circles around the
  rotation centre, less what the same profile gives around eight centres shifted
  by 12 px (where rings no longer line up with the circles, but noise and anatomy
  give the same azimuthal means), less twice the spread of those eight.

An earlier version scored lines and circles against the slice's own noise level;
dense artefacts (sparse view, many detector rings) raised that level with them and
the indices fell as the artefacts grew (BENCHMARKS.md, "Streak and ring indices", and its history in git).
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from vliqa.core import CTImage

#: HU range of the region the indices look at (soft tissue and fat, after median filtering and smoothing).
REGION_HU = (-400.0, 500.0)
#: HU (after smoothing) between fat and soft tissue; the two are eroded separately.
FAT_SOFT_HU = -40.0
#: Erosion of each tissue class (px).
EROSION_PX = 8
#: HU above which a pixel is metal; the region keeps `METAL_MARGIN_PX` away from it.
METAL_HU = 2000.0
METAL_MARGIN_PX = 12
#: Clip of g in robust sigma.
CLIP_SIGMA = 6.0
#: Frequency band (cycles/px) and directions of the streak spectrum.
STREAK_BAND = (0.08, 0.45)
STREAK_DIRECTIONS = 720
#: Neighbouring frequencies (polar samples along k) averaged before the floor is taken.
STREAK_FREQ_AVERAGE = 31
#: Power of a direction above this multiple of the isotropic floor counts as streak power.
STREAK_EXCESS = 2.0
#: Shift (px) of the null centres of the ring index, and how many.
RING_NULL_SHIFT_PX = 12.0
RING_NULL_CENTRES = 8
#: Minimum region size (px) for either index; smaller gives NaN.
MIN_REGION_PX = 1024
#: Samples per circle of the ring index.
RING_SAMPLES = 128


def _robust_smooth(hu: np.ndarray) -> np.ndarray:
    """Gives hu median-filtered over ~5 px and smoothed by ~3 px (at half resolution: a quarter of the cost)."""
    rows, cols = hu.shape
    if min(rows, cols) < 64:
        return ndimage.gaussian_filter(ndimage.median_filter(hu, size=5), 3.0)
    half = hu[: rows // 2 * 2, : cols // 2 * 2].reshape(rows // 2, 2, cols // 2, 2).mean(axis=(1, 3))
    half = ndimage.gaussian_filter(ndimage.median_filter(half, size=3), 1.5)
    full = np.repeat(np.repeat(half, 2, axis=0), 2, axis=1)
    return np.pad(full, ((0, rows - full.shape[0]), (0, cols - full.shape[1])), mode="edge")


def highpass_region(hu: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Gives the clipped high-pass image (zero outside the region) and the region mask."""
    hu = np.asarray(hu, dtype=np.float32)
    smooth = _robust_smooth(hu)
    fat = (smooth > REGION_HU[0]) & (smooth < FAT_SOFT_HU)
    soft = (smooth >= FAT_SOFT_HU) & (smooth < REGION_HU[1])
    size = 2 * EROSION_PX + 1
    region = (ndimage.uniform_filter(fat.astype(np.float32), size) > 0.999) | (
        ndimage.uniform_filter(soft.astype(np.float32), size) > 0.999
    )
    metal = hu > METAL_HU
    if metal.any():
        region &= ndimage.distance_transform_edt(~metal) > METAL_MARGIN_PX
    g = hu - ndimage.gaussian_filter(hu, 2.0)
    if region.sum() < 64:
        return np.zeros_like(g, dtype=np.float64), region
    vals = g[region]
    sigma = 1.4826 * float(np.median(np.abs(vals - np.median(vals))))
    if sigma <= 0:
        return np.zeros_like(g, dtype=np.float64), region
    g = np.clip(g, -CLIP_SIGMA * sigma, CLIP_SIGMA * sigma) * region
    return g.astype(np.float64), region


def streak_index(image: CTImage) -> float:
    """Gives the streak index: RMS (HU) of the anisotropic fine-scale power in soft tissue (0 = none).

    Routine scans read a few HU to ~15 HU (more where real photon-starvation
    streaks cross the shoulders or pelvis); NaN when the slice holds too little
    soft tissue to judge.
    """
    return streak_index_from(*highpass_region(image.hu))


def streak_index_from(g: np.ndarray, region: np.ndarray) -> float:
    """Gives `streak_index` from a precomputed `highpass_region` result."""
    if region.sum() < MIN_REGION_PX or not np.any(g):
        return float("nan")
    # A soft taper at the region's edge keeps its outline from leaking power into every direction.
    taper = ndimage.gaussian_filter(region.astype(np.float64), 3.0) * region
    weighted = g * taper
    n = int(2 ** np.ceil(np.log2(max(g.shape))))
    power = np.fft.fftshift(np.abs(np.fft.fft2(weighted, s=(n, n))) ** 2) / float(np.sum(taper**2))
    theta = np.arange(STREAK_DIRECTIONS) * np.pi / STREAK_DIRECTIONS
    k = np.arange(int(STREAK_BAND[0] * n), int(STREAK_BAND[1] * n))
    rows = n // 2 + np.outer(np.sin(theta), k)
    cols = n // 2 + np.outer(np.cos(theta), k)
    polar = ndimage.map_coordinates(power, [rows.ravel(), cols.ravel()], order=1).reshape(rows.shape)
    # Averaging over neighbouring frequencies first keeps the periodogram's scatter (exponential at each
    # point) from reading as excess; a streak's power is spread over all frequencies along its direction.
    smooth = ndimage.uniform_filter1d(polar, STREAK_FREQ_AVERAGE, axis=1, mode="nearest")
    floor = np.percentile(smooth, 25, axis=0)  # isotropic power per frequency
    excess = np.maximum(smooth - STREAK_EXCESS * floor, 0.0)
    # Excess power integrated over the half-plane band (k dk dtheta, both half-planes) is a variance in HU^2.
    variance = 2.0 * float(np.sum(excess * k) * (np.pi / STREAK_DIRECTIONS)) / n**2
    return float(np.sqrt(variance))


def ring_index(image: CTImage, center: tuple[float, float] | None = None) -> float:
    """Gives the ring index: RMS (HU) of concentric structure around `center` beyond what shifted centres see.

    `center` is (row, col) of the rotation centre, the image centre by default.
    Routine scans read 0; NaN when the slice holds too little soft tissue.
    """
    return ring_index_from(*highpass_region(image.hu), center=center)


def _azimuthal_means(g: np.ndarray, region: np.ndarray, center: tuple[float, float],
                     radii: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Gives the mean of g over the region on each circle and the circle's effective sample count."""
    rows, cols = g.shape
    phi = np.arange(RING_SAMPLES) * 2 * np.pi / RING_SAMPLES
    rr = center[0] + np.outer(radii, np.sin(phi))
    cc = center[1] + np.outer(radii, np.cos(phi))
    vals = ndimage.map_coordinates(g, [rr.ravel(), cc.ravel()], order=1, cval=0.0).reshape(rr.shape)
    ri, ci = np.rint(rr).astype(int), np.rint(cc).astype(int)
    on_image = (ri >= 0) & (ri < rows) & (ci >= 0) & (ci < cols)
    inside = np.zeros(rr.shape, dtype=bool)
    inside[on_image] = region[ri[on_image], ci[on_image]]
    count = inside.sum(axis=1)
    # Samples closer than a pixel apart along the circle are not independent: use the arc length in px.
    n_eff = np.minimum(count, count * 2 * np.pi * radii / RING_SAMPLES)
    means = np.where(inside, vals, 0.0).sum(axis=1) / np.maximum(count, 1)
    return means, n_eff


def ring_index_from(g: np.ndarray, region: np.ndarray, center: tuple[float, float] | None = None) -> float:
    """Gives `ring_index` from a precomputed `highpass_region` result."""
    if region.sum() < MIN_REGION_PX or not np.any(g):
        return float("nan")
    rows, cols = g.shape
    c0 = center if center is not None else ((rows - 1) / 2.0, (cols - 1) / 2.0)
    radii = np.arange(10.0, 0.5 * min(rows, cols), 1.0)

    def ring_power(c: tuple[float, float]) -> float:
        means, n_eff = _azimuthal_means(g, region, c, radii)
        ok = n_eff >= 32
        return float(np.mean(means[ok] ** 2)) if ok.sum() >= 10 else float("nan")

    observed = ring_power(c0)
    if not np.isfinite(observed):
        return float("nan")
    angles = np.arange(RING_NULL_CENTRES) * 2 * np.pi / RING_NULL_CENTRES
    nulls = np.array([ring_power((c0[0] + RING_NULL_SHIFT_PX * np.sin(a), c0[1] + RING_NULL_SHIFT_PX * np.cos(a)))
                      for a in angles])
    nulls = nulls[np.isfinite(nulls)]
    if nulls.size < 3:
        return float("nan")
    return float(np.sqrt(max(observed - nulls.mean() - 2.0 * nulls.std(), 0.0)))
