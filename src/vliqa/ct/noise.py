"""Noise level of a CT slice in HU, measured in automatically found homogeneous windows.

Method (after the "global noise level" of Christianson et al. 2015 and AAPM
TG-233 ROI practice, adapted to patient images):

1. Square windows on a half-window grid are kept when all their (lightly
   smoothed) pixels lie in a soft-tissue HU range: no air, lung, bone, padding.
2. Each window is detrended with a least-squares plane. The log residual
   variances of noise-only windows form the lowest mode of their distribution;
   windows across boundaries form a higher tail. Windows in the band around that
   mode (for the raw and for a low-pass copy alike) are accepted. Nothing ranks
   windows by their own noise, so accepting them does not bias sigma low.
3. sigma^2 is the median accepted residual variance, divided by the share of
   variance a plane fit keeps for noise of the measured correlation and by the
   chi-square median/mean ratio (`vliqa.ct.noise_model`). This keeps the
   estimate unbiased for white and for correlated noise.

Window statistics come from block sums, so a 512x512 slice takes tens of ms.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
from scipy import ndimage

from vliqa.core import CTImage
from vliqa.ct.noise_model import DetrendModel, detrend_model, half_sample_mode

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


def _block_sums(a: np.ndarray, step: int) -> np.ndarray:
    """Gives the sums of `a` over non-overlapping step x step blocks (the image cropped to whole blocks)."""
    nr, nc = a.shape[0] // step, a.shape[1] // step
    return a[: nr * step, : nc * step].reshape(nr, step, nc, step).sum(axis=(1, 3))


def _pairs(blocks: np.ndarray) -> np.ndarray:
    """Gives the sums over 2 x 2 neighbouring blocks, i.e. over windows of twice the block side."""
    return blocks[:-1, :-1] + blocks[1:, :-1] + blocks[:-1, 1:] + blocks[1:, 1:]


def grid_window_stats(a: np.ndarray, step: int) -> tuple[np.ndarray, np.ndarray]:
    """Gives (mean, residual sum of squares after a plane fit) of the 2*step-sided windows on a grid of `step`.

    Window (i, j) covers a[i*step : i*step + 2*step, j*step : j*step + 2*step].
    A plane fit over a square window separates into the mean and two centred
    ramps, which are orthogonal, so the residual is the total sum of squares
    minus the three projections; all come from block sums, so every window of
    the slice costs a few array operations in total.
    """
    a = np.asarray(a, dtype=np.float64)
    offset = float(np.median(a[::7, ::7]))
    a = a - offset  # conditions the squared sums; the variance does not change
    n = 2 * step
    rows = np.arange(a.shape[0], dtype=np.float64)[:, None]
    cols = np.arange(a.shape[1], dtype=np.float64)[None, :]
    s0 = _pairs(_block_sums(a, step))
    s2 = _pairs(_block_sums(a * a, step))
    sr = _pairs(_block_sums(a * rows, step))
    sc = _pairs(_block_sums(a * cols, step))
    count = float(n * n)
    centre = (n - 1) / 2.0
    top = np.arange(s0.shape[0], dtype=np.float64)[:, None] * step + centre
    left = np.arange(s0.shape[1], dtype=np.float64)[None, :] * step + centre
    ramp_norm = n * n * (n * n - 1) / 12.0  # sum of a squared centred coordinate over the window
    sy = sr - top * s0
    sx = sc - left * s0
    ss_res = s2 - s0 * s0 / count - (sy * sy + sx * sx) / ramp_norm
    return s0 / count + offset, np.maximum(ss_res, 0.0)


def roi_size_px(image: CTImage, roi_size_mm: float) -> int:
    """Gives the ROI side in pixels for a physical size: even (windows lie on a half-size grid), at least 6."""
    spacing = min(pixel_spacing_mm(image))
    return max(6, 2 * int(round(roi_size_mm / spacing / 2.0)))


@dataclass(frozen=True)
class WindowScan:
    """Statistics of all n x n candidate windows of a slice on a grid of n/2 (internal to the measures)."""

    size_px: int
    rows: np.ndarray
    cols: np.ndarray
    mean_hu: np.ndarray
    #: Plane-detrended residual sum of squares of the raw pixels.
    ss_res: np.ndarray
    #: Plane-detrended residual sum of squares of the low-pass (Gaussian 2 px) image: anatomical structure.
    ss_lowpass: np.ndarray
    #: Windows consistent with pure noise (see `scan_windows`).
    accepted: np.ndarray


def scan_windows(image: CTImage, n: int, hu_range: tuple[float, float] = (-150.0, 250.0)) -> WindowScan:
    """Gives the statistics of every in-range n x n window on a grid of n/2 and which ones look like pure noise.

    A window is in range when all its lightly smoothed pixels lie in `hu_range`.
    Among those, the residual variances of noise-only windows form the main
    mode of their (log) distribution, while windows crossing structure form a
    long upper tail. The mode (half-sample mode of log variance; for pure noise
    the mode of log(chi2_k / k) is exactly 0, so it sits at sigma^2 for any
    correlation) and the spread below it define a band; windows inside the band,
    for the raw and for the low-pass image alike, are accepted. Nothing ranks
    windows by their own noise, so accepting them does not bias sigma.
    """
    hu = image.hu
    n = max(2, n - n % 2)
    step = n // 2
    lo, hi = hu_range
    empty = np.empty(0)
    if min(hu.shape) < 2 * n:
        return WindowScan(n, empty.astype(int), empty.astype(int), empty, empty, empty, empty.astype(bool))
    # Range test on a lightly smoothed image so that single noisy pixels in fat do not veto a window.
    smooth = ndimage.gaussian_filter(hu, 1.0)
    in_range_px = (smooth >= lo) & (smooth <= hi)
    in_range = _pairs(_block_sums(in_range_px.astype(np.float32), step)) > n * n - 0.5
    gr, gc = np.nonzero(in_range)
    if gr.size == 0:
        return WindowScan(n, gr, gc, empty, empty, empty, empty.astype(bool))
    mean, ss_res = grid_window_stats(hu, step)
    _, ss_low = grid_window_stats(ndimage.gaussian_filter(hu, 2.0), step)
    mean, ss_res, ss_low = mean[gr, gc], ss_res[gr, gc], ss_low[gr, gc]
    accepted = noise_band(ss_res) & noise_band(ss_low)
    return WindowScan(n, gr * step, gc * step, mean, ss_res, ss_low, accepted)


def noise_band(ss: np.ndarray) -> np.ndarray:
    """Gives which values lie in the noise band around the mode of log(ss) (all of them when too few to tell)."""
    positive = ss > 0
    if positive.sum() < 8:
        return positive
    log_ss = np.log(np.where(positive, ss, 1.0))
    # Noise-only windows are the *lowest* population; windows across boundaries can outnumber them
    # and form a second, higher mode. The mode is therefore sought in the lower half only.
    values = log_ss[positive]
    mode = half_sample_mode(values[values <= np.median(values)])
    below = log_ss[positive & (log_ss <= mode)]
    # Root-mean-square distance below the mode: the width of the noise-only population (the upper
    # side is contaminated by structure). log(chi2_k/k) is skewed low, so 3 of these on the high
    # side keep practically every noise-only window.
    spread = float(np.sqrt(np.mean((below - mode) ** 2))) if below.size >= 4 else 0.5
    spread = max(spread, 0.05)
    return positive & (log_ss <= mode + 3.0 * spread) & (log_ss >= mode - 5.0 * spread)


def find_rois_px(
    image: CTImage,
    n: int,
    *,
    max_rois: int = 16,
    hu_range: tuple[float, float] = (-150.0, 250.0),
    scan: WindowScan | None = None,
) -> list[ROI]:
    """Gives up to `max_rois` non-overlapping accepted n x n ROIs spread over the slice (see `scan_windows`)."""
    scan = scan if scan is not None else scan_windows(image, n, hu_range)
    idx = np.flatnonzero(scan.accepted)
    if idx.size == 0:
        return []
    # A fixed pseudo-random visiting order spreads the ROIs over all flat tissue without
    # preferring windows whose noise happens to be low (ranking would bias sigma and the NPS).
    order = idx[np.random.default_rng(0).permutation(idx.size)]
    head = is_head_image(image)
    chosen: list[ROI] = []
    taken = np.empty((0, 2), dtype=np.int64)
    for i in order:
        r, c = int(scan.rows[i]), int(scan.cols[i])
        if taken.size and np.any((np.abs(taken[:, 0] - r) < n) & (np.abs(taken[:, 1] - c) < n)):
            continue
        m = float(scan.mean_hu[i])
        std = float(np.sqrt(scan.ss_res[i] / (n * n - 3)))
        chosen.append(ROI(row=r, col=c, size_px=n, mean_hu=m, std_hu=std, tissue=tissue_from_hu(m, head=head)))
        taken = np.vstack([taken, [r, c]])
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
    """Gives up to `max_rois` non-overlapping flat square ROIs inside the body (fat, muscle, organs, brain, water).

    A window qualifies when all its (lightly smoothed) pixels lie in `hu_range`
    (so no air, lung, bone or field-of-view padding), and both its plane-detrended
    variance and that of a low-pass (Gaussian 2 px) copy — the anatomical
    structure — lie within the noise-only band of the slice (`scan_windows`):
    edges, vessels and organ boundaries fall in the upper tail and are dropped.
    ROIs are spread over the slice without overlap. `row`, `col` are the
    top-left corner; `std_hu` is the plane-detrended standard deviation (ddof 3).
    """
    return find_rois_px(image, roi_size_px(image, roi_size_mm), max_rois=max_rois, hu_range=hu_range)


# --------------------------------------------------------------------------- noise sigma


def plane_residuals(image: CTImage, rois: list[ROI]) -> np.ndarray:
    """Gives the plane-detrended pixels of equal-size ROIs as an array (n_rois, n, n)."""
    n = rois[0].size_px
    stack = np.stack([image.hu[roi.slices] for roi in rois]).astype(np.float64)
    coords = np.arange(n, dtype=np.float64) - (n - 1) / 2.0
    ramp_norm = n * n * (n * n - 1) / 12.0
    # The constant and the two centred ramps are orthogonal: project on each separately.
    mean = stack.mean(axis=(1, 2), keepdims=True)
    slope_r = np.einsum("kij,i->k", stack, coords)[:, None, None] / ramp_norm
    slope_c = np.einsum("kij,j->k", stack, coords)[:, None, None] / ramp_norm
    return stack - mean - slope_r * coords[None, :, None] - slope_c * coords[None, None, :]


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


def window_variances(ss_res: np.ndarray, n: int, model: DetrendModel) -> np.ndarray:
    """Gives the noise variance each n x n window's plane-detrended residual SS stands for, scaled so that their
    median estimates sigma^2: residual variances are chi-square-like with `model.dof` degrees of freedom, their
    median sits at (1 - 2/(9 dof))^3 of the mean (Wilson-Hilferty), and the plane keeps `kept_fraction` of sigma^2."""
    median_factor = (1.0 - 2.0 / (9.0 * model.dof)) ** 3
    return ss_res / (n * n * model.kept_fraction * median_factor)


def noise_from_scan(image: CTImage, scan: WindowScan) -> NoiseEstimate:
    """Gives the noise estimate from the accepted windows of a scan (see module docstring)."""
    idx = np.flatnonzero(scan.accepted)
    n = scan.size_px
    # The autocorrelation needed for the detrending correction comes from up to 64 spread-out windows.
    sample = find_rois_px(image, n, max_rois=64, scan=scan)
    model = detrend_model(plane_residuals(image, sample))
    variances = window_variances(scan.ss_res[idx], n, model)
    head = is_head_image(image)
    tissues = np.array([tissue_from_hu(float(m), head=head) for m in scan.mean_hu[idx]])
    per_tissue = {str(t): float(np.sqrt(np.median(variances[tissues == t]))) for t in sorted(set(tissues.tolist()))}
    method = (
        f"median of {idx.size} plane-detrended {n}x{n} px windows in the noise-only band, "
        f"corrected for the noise correlation (the plane keeps {model.kept_fraction:.3f} of the variance; "
        f"{model.dof:.0f} effective DOF per window)"
    )
    return NoiseEstimate(
        sigma_hu=float(np.sqrt(np.median(variances))), per_tissue=per_tissue, n_rois=int(idx.size), method=method
    )


#: ROI sides (mm) tried for the noise estimate, largest first; larger ROIs lose less noise to the plane fit.
NOISE_ROI_SIZES_MM = (12.0, 8.0)
#: Largest noise window side (px): bounds the one-off cost of the detrending model (O(side^4)).
MAX_NOISE_WINDOW_PX = 20
#: Fewest accepted windows for a window-based estimate.
MIN_NOISE_ROIS = 3


def noise_sigma_hu(image: CTImage) -> NoiseEstimate:
    """Gives the noise standard deviation in HU measured in homogeneous windows, with a global fallback.

    Windows of 12 mm (at least 16 px) are tried first, then 8 mm (at least 8
    px); with fewer than 3 accepted windows the median-absolute-Laplacian
    estimator (`immerkaer_sigma_hu`) over the whole image is used and `method`
    says so.
    """
    for size_mm, min_px in zip(NOISE_ROI_SIZES_MM, (16, 8), strict=True):
        scan = scan_windows(image, min(max(roi_size_px(image, size_mm), min_px), MAX_NOISE_WINDOW_PX))
        if int(scan.accepted.sum()) >= MIN_NOISE_ROIS:
            return noise_from_scan(image, scan)
    return NoiseEstimate(
        sigma_hu=immerkaer_sigma_hu(image.hu),
        per_tissue={},
        n_rois=0,
        method="fallback: no homogeneous ROI found; median absolute Laplacian (Immerkaer) over the whole image, "
        "biased low for correlated noise",
    )
