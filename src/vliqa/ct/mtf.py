"""In-plane MTF of a CT slice from a high-contrast edge found automatically (body/air, lung/tissue).

Method (edge method of IEC 61223-3-5 / ISO 12233, adapted to curved patient edges):

1. The iso-contour halfway between air and soft tissue (-500 HU) is traced on a
   lightly smoothed copy of the slice; contour pieces next to field-of-view
   padding are dropped.
2. The contour is cut into segments of about 40 px. Each segment gets a
   quadratic fit v = a + b u + c u^2 in its own (tangent u, normal v) frame,
   which follows gently curved edges (a disc, a body outline) as well as
   straight ones.
3. Pixels within +-W of the segment are binned by their signed distance to the
   fitted curve at 1/4 px (oversampling). A segment is kept when the fit is
   tight, both sides are flat plateaus far from the edge, and the contrast is
   high; the best segments are pooled after normalising each to 0..1.
4. ESF -> LSF (central difference) -> Tukey window (flat over the middle half)
   -> |FFT| -> MTF, corrected for the finite difference and the bin width.

MTF50 / MTF10 are the first crossings of 0.5 / 0.1, reported in lp/cm
(1 cycle/mm = 10 lp/cm). The result is the system MTF at that edge, including
whatever the skin or the lung boundary adds; on patient images it is an
estimate, not a phantom measurement.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import ndimage
from skimage.measure import find_contours

from vliqa.core import CTImage
from vliqa.ct.noise import pixel_spacing_mm

#: HU level of the traced edge: halfway between air (-1000) and soft tissue (0).
EDGE_LEVEL_HU = -500.0
#: Values below this are field-of-view padding, not air.
PADDING_HU = -1100.0
#: Segment length along the edge (px).
SEGMENT_PX = 40
#: ESF bin width (px): 4x oversampling.
BIN_PX = 0.25
#: Fewest pixels per ESF bin on average for a segment to count.
MIN_PER_BIN = 2.0
#: Most contour segments examined (bounds the run time).
MAX_CANDIDATES = 48
#: Most segments pooled.
MAX_SEGMENTS = 8


@dataclass(frozen=True)
class MTFResult:
    """An edge-based MTF: curve, MTF50/MTF10, 10-90 % edge width, and how it was found."""

    mtf50_lp_per_cm: float
    mtf10_lp_per_cm: float
    freqs_per_mm: np.ndarray
    mtf: np.ndarray
    edge_width_mm: float
    method: str
    n_segments: int = 0
    contrast_hu: float = float("nan")

    def to_dict(self) -> dict[str, Any]:
        return {
            "mtf50_lp_per_cm": float(self.mtf50_lp_per_cm),
            "mtf10_lp_per_cm": float(self.mtf10_lp_per_cm),
            "freqs_per_mm": [float(v) for v in self.freqs_per_mm],
            "mtf": [float(v) for v in self.mtf],
            "edge_width_mm": float(self.edge_width_mm),
            "method": self.method,
            "n_segments": int(self.n_segments),
            "contrast_hu": float(self.contrast_hu),
        }


def _no_edge(reason: str) -> MTFResult:
    nan = float("nan")
    return MTFResult(nan, nan, np.empty(0), np.empty(0), nan, f"no usable edge: {reason}")


@dataclass(frozen=True)
class EdgeSegment:
    """One clean stretch of edge: signed distances (px) of its pixels to the fitted edge, their HU, plateaus."""

    distances_px: np.ndarray
    values_hu: np.ndarray
    low_hu: float
    high_hu: float
    quality: float


def _segment_profile(hu: np.ndarray, points: np.ndarray, half_width_px: float) -> EdgeSegment | None:
    """Gives the edge profile samples of one contour segment, or None when it is not a clean edge."""
    centre = points.mean(axis=0)
    _, _, vt = np.linalg.svd(points - centre, full_matrices=False)
    tangent, normal = vt[0], vt[1]
    u = (points - centre) @ tangent
    v = (points - centre) @ normal
    if np.ptp(u) < 0.6 * SEGMENT_PX:
        return None  # the contour folds back: not a locally straight edge
    design = np.stack([np.ones_like(u), u, u * u], axis=1)
    coef, *_ = np.linalg.lstsq(design, v, rcond=None)
    if np.sqrt(np.mean((v - design @ coef) ** 2)) > 0.35:
        return None
    half_len = 0.5 * np.ptp(u)
    # Pixels of the oriented box around the segment.
    reach = half_len + half_width_px + 2
    r0, c0 = int(np.floor(centre[0] - reach)), int(np.floor(centre[1] - reach))
    r1, c1 = int(np.ceil(centre[0] + reach)) + 1, int(np.ceil(centre[1] + reach)) + 1
    if r0 < 0 or c0 < 0 or r1 > hu.shape[0] or c1 > hu.shape[1]:
        return None
    rr, cc = np.mgrid[r0:r1, c0:c1]
    rel = np.stack([rr.ravel() - centre[0], cc.ravel() - centre[1]], axis=1).astype(np.float64)
    pu = rel @ tangent
    pv = rel @ normal
    a, b, c = coef
    slope = b + 2 * c * pu
    dist = (pv - (a + b * pu + c * pu * pu)) / np.sqrt(1 + slope * slope)
    keep = (np.abs(pu - np.mean(u)) <= half_len * 0.9) & (np.abs(dist) <= half_width_px)
    dist, vals = dist[keep], hu[rr.ravel()[keep], cc.ravel()[keep]].astype(np.float64)
    if vals.size < 2 * half_width_px / BIN_PX * MIN_PER_BIN or np.any(vals < PADDING_HU):
        return None
    far_a = vals[dist < -0.5 * half_width_px]
    far_b = vals[dist > 0.5 * half_width_px]
    if far_a.size < 20 or far_b.size < 20:
        return None
    if np.median(far_a) > np.median(far_b):
        dist = -dist
        far_a, far_b = far_b, far_a
    low, high = float(np.median(far_a)), float(np.median(far_b))
    contrast = high - low
    if contrast < 300:
        return None
    # Plateau flatness: robust spread of each far side relative to the contrast.
    spread = (1.4826 * np.median(np.abs(far_a - low)) + 1.4826 * np.median(np.abs(far_b - high))) / contrast
    # Trend across each plateau (shading, a second edge nearby) also disqualifies.
    trend = abs(np.mean(far_b[: far_b.size // 2]) - np.mean(far_b[far_b.size // 2 :])) / contrast
    if spread > 0.15 or trend > 0.05:
        return None
    return EdgeSegment(dist, vals, low, high, quality=spread)


def _crossing(freqs: np.ndarray, curve: np.ndarray, level: float) -> float:
    """Gives the first frequency where `curve` falls below `level` (linear interpolation), NaN if never."""
    below = np.flatnonzero(curve < level)
    if below.size == 0 or below[0] == 0:
        return float("nan")
    i = below[0]
    f0, f1, m0, m1 = freqs[i - 1], freqs[i], curve[i - 1], curve[i]
    return float(f0 + (m0 - level) * (f1 - f0) / (m0 - m1))


def edge_half_width_px(spacing_mm: float) -> float:
    """Gives the half width (px) of the edge profile: 8 mm, at least 10 px."""
    return max(10.0, 8.0 / spacing_mm)


def edge_segments(hu: np.ndarray, smooth: np.ndarray, spacing_mm: float, *,
                  level_hu: float = EDGE_LEVEL_HU) -> list[EdgeSegment]:
    """Gives the clean edge segments of a slice along the `level_hu` contour of `smooth` (its Gaussian-1-px copy)."""
    half_width_px = edge_half_width_px(spacing_mm)
    candidates = [
        contour[start : start + SEGMENT_PX]
        for contour in find_contours(smooth, level_hu)
        if contour.shape[0] >= SEGMENT_PX
        for start in range(0, contour.shape[0] - SEGMENT_PX + 1, SEGMENT_PX)
    ]
    if len(candidates) > MAX_CANDIDATES:
        # Evenly spaced along all contours keeps the cost bounded and the edges spread over the slice.
        pick = np.linspace(0, len(candidates) - 1, MAX_CANDIDATES).round().astype(int)
        candidates = [candidates[i] for i in pick]
    return [seg for pts in candidates if (seg := _segment_profile(hu, pts, half_width_px)) is not None]


def mtf_edge(image: CTImage, *, level_hu: float = EDGE_LEVEL_HU) -> MTFResult:
    """Gives the edge-based MTF of a slice from its best high-contrast edge segments, NaN when none is usable."""
    hu = image.hu
    if min(hu.shape) < 2 * SEGMENT_PX:
        return _no_edge("image too small")
    spacing = spacing_of(image)
    segments = edge_segments(hu, ndimage.gaussian_filter(hu, 1.0), spacing, level_hu=level_hu)
    return mtf_from_segments(segments, spacing, level_hu=level_hu)


def spacing_of(image: CTImage) -> float:
    """Gives the pixel spacing (mm) the edge method uses: the geometric mean of rows and columns."""
    dy, dx = pixel_spacing_mm(image)
    return float(np.sqrt(dy * dx))  # edges run at all angles; anisotropic pixels are rare in CT


def mtf_from_segments(segments: list[EdgeSegment], spacing_mm: float, *, level_hu: float = EDGE_LEVEL_HU) -> MTFResult:
    """Gives the MTF from the best `MAX_SEGMENTS` edge segments (by plateau flatness), pooled after normalising."""
    if not segments:
        return _no_edge("no straight, high-contrast edge with flat sides")
    half_width_px = edge_half_width_px(spacing_mm)
    segments = sorted(segments, key=lambda s: s.quality)[:MAX_SEGMENTS]
    dist = np.concatenate([s.distances_px for s in segments])
    esf_norm = np.concatenate([(s.values_hu - s.low_hu) / (s.high_hu - s.low_hu) for s in segments])
    n_bins = int(round(2 * half_width_px / BIN_PX))
    idx = np.clip(((dist + half_width_px) / BIN_PX).astype(int), 0, n_bins - 1)
    counts = np.bincount(idx, minlength=n_bins)
    sums = np.bincount(idx, weights=esf_norm, minlength=n_bins)
    centres = -half_width_px + (np.arange(n_bins) + 0.5) * BIN_PX
    filled = counts > 0
    if filled.sum() < 0.8 * n_bins:
        return _no_edge("too few samples across the edge")
    esf = np.interp(centres, centres[filled], sums[filled] / counts[filled])
    lsf = np.gradient(esf)
    # Tukey window centred on the LSF peak: flat over the middle half, cosine tails to suppress noise.
    peak = centres[int(np.argmax(np.abs(lsf)))]
    x = np.abs(centres - peak) / half_width_px
    window = np.where(x <= 0.5, 1.0, np.where(x < 1.0, 0.5 * (1 + np.cos(np.pi * (x - 0.5) / 0.5)), 0.0))
    lsf = lsf * window
    pad = 1 << int(np.ceil(np.log2(8 * n_bins)))
    spectrum = np.abs(np.fft.rfft(lsf, n=pad))
    if spectrum[0] <= 0:
        return _no_edge("flat edge spread function")
    bin_mm = BIN_PX * spacing_mm
    freqs = np.fft.rfftfreq(pad, d=bin_mm)
    mtf = spectrum / spectrum[0]
    # Undo the central difference (sinc over 2 bins) and the bin averaging (sinc over 1 bin).
    correction = np.sinc(2 * freqs * bin_mm) * np.sinc(freqs * bin_mm)
    nyquist = 0.5 / spacing_mm
    keep = freqs <= nyquist
    freqs, mtf = freqs[keep], mtf[keep] / correction[keep]
    mtf50 = _crossing(freqs, mtf, 0.5)
    mtf10 = _crossing(freqs, mtf, 0.1)
    lo10 = _crossing(centres, -esf, -0.1)
    hi90 = _crossing(centres, -esf, -0.9)
    width_mm = (hi90 - lo10) * spacing_mm if np.isfinite(lo10) and np.isfinite(hi90) else float("nan")
    contrast = float(np.median([s.high_hu - s.low_hu for s in segments]))
    return MTFResult(
        mtf50_lp_per_cm=10.0 * mtf50,
        mtf10_lp_per_cm=10.0 * mtf10,
        freqs_per_mm=freqs,
        mtf=mtf,
        edge_width_mm=float(width_mm),
        method=(
            f"edge method on {len(segments)} segments of the {level_hu:.0f} HU contour "
            f"(ESF binned at {BIN_PX} px, +-{half_width_px:.0f} px, Tukey-windowed LSF)"
        ),
        n_segments=len(segments),
        contrast_hu=contrast,
    )
