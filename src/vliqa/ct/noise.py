"""Noise level of a CT slice in HU, measured in automatically found homogeneous regions.

Method (in the spirit of AAPM TG-233 and the "global noise level" of
Christianson et al. 2015, adapted to small ROIs on patient images):

1. Square ROIs are placed where the tissue is flat: every window must lie in a
   soft-tissue HU range (no air, lung, bone) and its *low-pass* detrended
   variance (structure) must be among the smallest of the slice. Ranking on the
   low-pass image rather than the raw image keeps the selection almost blind to
   the noise itself, so choosing the flattest windows does not bias sigma low.
2. Each ROI is detrended with a least-squares plane; sigma is the median of the
   ROI residual standard deviations.
3. Detrending removes the noise power that a plane can express. For white noise
   that is 3 degrees of freedom, for correlated CT noise it is more (a plane
   absorbs the low-frequency part of the NPS). The lost share is estimated from
   the noise autocorrelation measured in the ROIs themselves and divided out,
   which keeps the estimate unbiased for white and for correlated noise.

Everything is vectorised: window statistics come from integral images, so a
512x512 slice takes a few milliseconds.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
from scipy import ndimage

from vliqa.io.image import CTImage

#: Pixel spacing assumed when an image carries none (mm); typical of a 350 mm field of view.
DEFAULT_PIXEL_SPACING_MM = 0.7

#: Tissue classes by ROI mean HU: (upper bound exclusive, name). Brain replaces soft tissue on head images.
TISSUE_CLASSES: tuple[tuple[float, str], ...] = (
    (-30.0, "fat"),
    (15.0, "fluid"),
    (100.0, "soft tissue"),
    (np.inf, "enhanced tissue"),
)

_HEAD_WORDS = ("HEAD", "BRAIN", "SKULL", "CRAN", "NEURO")


def pixel_spacing_mm(image: CTImage) -> tuple[float, float]:
    """Gives the (row, col) pixel spacing in mm, or the default when the image has none."""
    if image.pixel_spacing_mm is None:
        return (DEFAULT_PIXEL_SPACING_MM, DEFAULT_PIXEL_SPACING_MM)
    row, col = (float(v) for v in image.pixel_spacing_mm)
    if not (np.isfinite(row) and np.isfinite(col) and row > 0 and col > 0):
        return (DEFAULT_PIXEL_SPACING_MM, DEFAULT_PIXEL_SPACING_MM)
    return (row, col)


def is_head_image(image: CTImage) -> bool:
    """Gives True when the metadata say the slice is of the head (so soft tissue near 20-45 HU is brain)."""
    acq = image.acquisition
    text = " ".join(str(v) for v in (acq.body_part, acq.series_description) if v).upper()
    return any(word in text for word in _HEAD_WORDS)


def tissue_from_hu(mean_hu: float, *, head: bool = False) -> str:
    """Gives the tissue class name of a region with the given mean HU."""
    for upper, name in TISSUE_CLASSES:
        if mean_hu < upper:
            if head and name == "soft tissue" and mean_hu < 60.0:
                return "brain"
            return name
    return "enhanced tissue"  # pragma: no cover - the last bound is inf


@dataclass(frozen=True)
class ROI:
    """A square region of interest: top-left corner (row, col), side in pixels, and its statistics."""

    row: int
    col: int
    size_px: int
    mean_hu: float
    #: Standard deviation of the plane-detrended pixels (ddof = 3), before any correlation correction.
    std_hu: float
    tissue: str

    @property
    def slices(self) -> tuple[slice, slice]:
        """Gives the (row, col) slices that cut this ROI out of the image array."""
        return (slice(self.row, self.row + self.size_px), slice(self.col, self.col + self.size_px))

    @property
    def center_rc(self) -> tuple[float, float]:
        """Gives the ROI centre as (row, col) in pixel coordinates."""
        half = (self.size_px - 1) / 2.0
        return (self.row + half, self.col + half)

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["center_rc"] = list(self.center_rc)
        return out


@dataclass(frozen=True)
class NoiseEstimate:
    """Noise standard deviation in HU, per tissue, and how it was measured."""

    sigma_hu: float
    per_tissue: dict[str, float] = field(default_factory=dict)
    n_rois: int = 0
    method: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "sigma_hu": float(self.sigma_hu),
            "per_tissue": {k: float(v) for k, v in self.per_tissue.items()},
            "n_rois": int(self.n_rois),
            "method": self.method,
        }


# --------------------------------------------------------------------------- window statistics


def _box_sum(integral: np.ndarray, n: int) -> np.ndarray:
    """Gives the sums over all n x n windows (indexed by top-left corner) from a zero-padded integral image."""
    return integral[n:, n:] - integral[:-n, n:] - integral[n:, :-n] + integral[:-n, :-n]


def _integral(a: np.ndarray) -> np.ndarray:
    out = np.zeros((a.shape[0] + 1, a.shape[1] + 1), dtype=np.float64)
    np.cumsum(np.cumsum(a, axis=0, dtype=np.float64), axis=1, out=out[1:, 1:])
    return out


def detrended_window_stats(a: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Gives (mean, residual sum of squares after a plane fit) for every n x n window of `a`.

    A plane fit over a square window separates into the mean and two centred
    ramps, which are orthogonal, so the residual is the total sum of squares
    minus the three projections; each projection is a box sum of `a` times a
    coordinate, which integral images give for all windows at once.
    """
    a = np.asarray(a, dtype=np.float64)
    offset = float(np.median(a))  # improves the conditioning of the squared sums
    a = a - offset
    rows, cols = np.indices(a.shape, dtype=np.float64)
    s0 = _box_sum(_integral(a), n)
    s2 = _box_sum(_integral(a * a), n)
    sr = _box_sum(_integral(a * rows), n)
    sc = _box_sum(_integral(a * cols), n)
    count = float(n * n)
    centre = (n - 1) / 2.0
    top = np.arange(s0.shape[0], dtype=np.float64)[:, None] + centre
    left = np.arange(s0.shape[1], dtype=np.float64)[None, :] + centre
    ramp_norm = n * n * (n * n - 1) / 12.0  # sum of the squared centred coordinate over the window
    sy = sr - top * s0
    sx = sc - left * s0
    ss_res = s2 - s0 * s0 / count - (sy * sy + sx * sx) / ramp_norm
    return s0 / count + offset, np.maximum(ss_res, 0.0)


def _window_all_true(mask: np.ndarray, n: int) -> np.ndarray:
    """Gives, for every n x n window, whether `mask` is true on all of its pixels."""
    return _box_sum(_integral(mask.astype(np.float64)), n) > n * n - 0.5


def roi_size_px(image: CTImage, roi_size_mm: float) -> int:
    """Gives the ROI side in pixels for a physical size, at least 5 pixels."""
    spacing = min(pixel_spacing_mm(image))
    return max(5, int(round(roi_size_mm / spacing)))


def find_rois_px(
    image: CTImage,
    n: int,
    *,
    max_rois: int = 16,
    hu_range: tuple[float, float] = (-150.0, 250.0),
    lowpass_sigma_px: float = 2.0,
) -> list[ROI]:
    """Gives up to `max_rois` non-overlapping flat n x n ROIs, flattest first (see `find_homogeneous_rois`)."""
    hu = image.hu
    if min(hu.shape) < n + 2:
        return []
    lo, hi = hu_range
    # Range test on a lightly smoothed image so that single noisy pixels in fat do not veto a window.
    smooth = ndimage.gaussian_filter(hu, 1.0)
    in_range = _window_all_true((smooth >= lo) & (smooth <= hi), n)
    if not in_range.any():
        return []
    lowpass = ndimage.gaussian_filter(hu, lowpass_sigma_px)
    _, structure_ss = detrended_window_stats(lowpass, n)
    mean, ss_res = detrended_window_stats(hu, n)
    score = np.where(in_range, structure_ss, np.inf)
    finite = score[np.isfinite(score)]
    # Only windows whose structure is close to the flattest ones are acceptable: on a uniform
    # object all pass; on anatomy this drops windows across organ boundaries and vessels.
    limit = 4.0 * max(float(np.percentile(finite, 5)), 1e-9)
    # Visit candidates on a grid of n/3 so the greedy pass below stays short.
    step = max(1, n // 3)
    cand_r, cand_c = np.meshgrid(np.arange(0, score.shape[0], step), np.arange(0, score.shape[1], step), indexing="ij")
    cand_r, cand_c = cand_r.ravel(), cand_c.ravel()
    cand_score = score[cand_r, cand_c]
    keep = cand_score <= limit
    cand_r, cand_c, cand_score = cand_r[keep], cand_c[keep], cand_score[keep]
    order = np.argsort(cand_score, kind="stable")
    head = is_head_image(image)
    chosen: list[ROI] = []
    taken_r = np.empty(0, dtype=np.int64)
    taken_c = np.empty(0, dtype=np.int64)
    for idx in order:
        r, c = int(cand_r[idx]), int(cand_c[idx])
        if taken_r.size and np.any((np.abs(taken_r - r) < n) & (np.abs(taken_c - c) < n)):
            continue
        m = float(mean[r, c])
        std = float(np.sqrt(ss_res[r, c] / (n * n - 3)))
        chosen.append(ROI(row=r, col=c, size_px=n, mean_hu=m, std_hu=std, tissue=tissue_from_hu(m, head=head)))
        taken_r = np.append(taken_r, r)
        taken_c = np.append(taken_c, c)
        if len(chosen) >= max_rois:
            break
    return chosen


def find_homogeneous_rois(
    image: CTImage,
    *,
    roi_size_mm: float = 8.0,
    max_rois: int = 16,
    hu_range: tuple[float, float] = (-150.0, 250.0),
) -> list[ROI]:
    """Gives up to `max_rois` non-overlapping flat square ROIs inside the body, flattest first.

    A window qualifies when all its (lightly smoothed) pixels lie in `hu_range`
    (so no air, lung, bone or field-of-view padding) and the plane-detrended
    variance of a low-pass (Gaussian, 2 px) copy of the image — the anatomical
    structure, almost free of noise — is at most 4x the 5th percentile over all
    qualifying windows. ROIs are then taken greedily from the flattest, without
    overlap. `row`, `col` are the top-left corner; `std_hu` is the plane-detrended
    standard deviation of the raw pixels.
    """
    return find_rois_px(image, roi_size_px(image, roi_size_mm), max_rois=max_rois, hu_range=hu_range)


# --------------------------------------------------------------------------- noise sigma


def plane_residuals(image: CTImage, rois: list[ROI]) -> np.ndarray:
    """Gives the plane-detrended pixels of equal-size ROIs as an array (n_rois, n, n)."""
    n = rois[0].size_px
    stack = np.stack([image.hu[roi.slices].astype(np.float64) for roi in rois])
    coords = (np.arange(n, dtype=np.float64) - (n - 1) / 2.0)
    basis = np.stack([np.ones((n, n)), np.repeat(coords[:, None], n, 1), np.repeat(coords[None, :], n, 0)]).reshape(3, -1)
    flat = stack.reshape(len(rois), -1)
    coef, *_ = np.linalg.lstsq(basis.T, flat.T, rcond=None)
    return (flat - (basis.T @ coef).T).reshape(stack.shape)


def detrend_dof_loss(residuals: np.ndarray) -> float:
    """Gives the expected number of noise degrees of freedom a plane fit removes from one ROI.

    For stationary noise with normalised autocorrelation rho, the plane (basis
    b_k, orthonormal) removes sum_k sum_{p,q} b_k(p) b_k(q) rho(p - q) of the n^2
    pixel variances: 3 for white noise, more for correlated noise. rho is taken
    from the residuals' mean autocorrelation; since detrending also narrows the
    measured rho, the loss is solved as a fixed point (two iterations suffice).
    """
    k, n, _ = residuals.shape
    size = 2 * n
    spec = np.abs(np.fft.rfft2(residuals, s=(size, size))) ** 2
    acov = np.fft.irfft2(spec.mean(axis=0), s=(size, size))
    counts = np.fft.irfft2(np.abs(np.fft.rfft2(np.ones((n, n)), s=(size, size))) ** 2, s=(size, size))
    acov = acov / np.maximum(counts, 1.0)  # unbiased per-lag autocovariance
    # Lags beyond a quarter of the ROI are dominated by estimation noise; taper them out.
    lag = np.fft.fftfreq(size, d=1.0 / size)
    radius = np.hypot(lag[:, None], lag[None, :])
    cut = max(2.0, n / 4.0)
    taper = np.where(radius <= cut, 0.5 * (1 + np.cos(np.pi * radius / cut)), 0.0)
    coords = (np.arange(n, dtype=np.float64) - (n - 1) / 2.0)
    basis = [np.ones((n, n)) / n, np.repeat(coords[:, None], n, 1), np.repeat(coords[None, :], n, 0)]
    basis = [b / np.linalg.norm(b) for b in basis]
    # sum_{p,q} b(p) b(q) rho(p-q) = sum_lag rho(lag) * autocorrelation of b at that lag.
    b_acorr = sum(np.fft.irfft2(np.abs(np.fft.rfft2(b, s=(size, size))) ** 2, s=(size, size)) for b in basis)
    if acov[0, 0] <= 0:
        return 3.0
    rho = acov * taper / acov[0, 0]
    loss = 3.0
    for _ in range(3):
        # The measured residual variance is low by (n^2 - loss)/n^2; rescale rho(0) accordingly.
        # The removed plane also lowers the covariance at small lags by about sigma^2 * loss / n^2.
        rho_true = (rho * (n * n - loss) + loss * taper) / (n * n)
        rho_true[0, 0] = 1.0
        loss = float(np.sum(rho_true * b_acorr))
    return float(np.clip(loss, 3.0, 0.5 * n * n))


def immerkaer_sigma_hu(hu: np.ndarray) -> float:
    """Gives a global noise sigma from the median absolute Laplacian-difference filter (Immerkaer 1996).

    The filter [[1,-2,1],[-2,4,-2],[1,-2,1]] cancels planes and most smooth
    structure; for white Gaussian noise its output has standard deviation 6
    sigma. The median (x 1.4826) instead of Immerkaer's mean makes it robust to
    edges. Correlated (smoothed) noise is underestimated, which is why this is
    only the fallback when no homogeneous ROI exists.
    """
    kernel = np.array([[1, -2, 1], [-2, 4, -2], [1, -2, 1]], dtype=np.float64)
    if min(hu.shape) < 3:
        return float("nan")
    response = ndimage.correlate(np.asarray(hu, dtype=np.float64), kernel, mode="nearest")[1:-1, 1:-1]
    return float(1.4826 * np.median(np.abs(response)) / 6.0)


def noise_sigma_from_rois(image: CTImage, rois: list[ROI]) -> NoiseEstimate:
    """Gives the noise estimate from given equal-size ROIs (see module docstring)."""
    residuals = plane_residuals(image, rois)
    n = rois[0].size_px
    loss = detrend_dof_loss(residuals)
    ss = np.sum(residuals.reshape(len(rois), -1) ** 2, axis=1)
    sigma = np.sqrt(ss / (n * n - loss))
    per_tissue: dict[str, list[float]] = {}
    for roi, s in zip(rois, sigma, strict=True):
        per_tissue.setdefault(roi.tissue, []).append(float(s))
    method = (
        f"median of {len(rois)} plane-detrended {n}x{n} px ROIs, "
        f"correlation-corrected (plane removes {loss:.1f} of {n * n} DOF)"
    )
    return NoiseEstimate(
        sigma_hu=float(np.median(sigma)),
        per_tissue={k: float(np.median(v)) for k, v in sorted(per_tissue.items())},
        n_rois=len(rois),
        method=method,
    )


#: ROI sides (mm) tried for the noise estimate, largest first; larger ROIs lose less noise to the plane fit.
NOISE_ROI_SIZES_MM = (12.0, 8.0)
#: Fewest ROIs accepted for an ROI-based estimate.
MIN_NOISE_ROIS = 3


def noise_sigma_hu(image: CTImage) -> NoiseEstimate:
    """Gives the noise standard deviation in HU measured in homogeneous ROIs, with a global fallback.

    ROIs of 12 mm (at least 16 px) are tried first, then 8 mm; with fewer than 3
    ROIs the median-absolute-Laplacian estimator (`immerkaer_sigma_hu`) over the
    whole image is used and `method` says so.
    """
    for size_mm in NOISE_ROI_SIZES_MM:
        n = max(roi_size_px(image, size_mm), 16 if size_mm >= 12 else 8)
        rois = find_rois_px(image, n)
        if len(rois) >= MIN_NOISE_ROIS:
            return noise_sigma_from_rois(image, rois)
    sigma = immerkaer_sigma_hu(image.hu)
    return NoiseEstimate(
        sigma_hu=sigma,
        per_tissue={},
        n_rois=0,
        method="fallback: no homogeneous ROI found; median absolute Laplacian (Immerkaer) over the whole image, "
        "biased low for correlated noise",
    )
