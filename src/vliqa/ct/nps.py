"""Noise power spectrum (NPS) of a CT slice from homogeneous ROIs, as in AAPM TG-233 / ICRU 87.

NPS(fx, fy) = dx dy / (Nx Ny) * < |DFT[roi - plane fit]|^2 >  over ROIs, in HU^2 mm^2,
frequencies in cycles/mm. No apodisation window is applied (TG-233 practice);
each ROI is zero-padded to at least 64 samples, which interpolates the
spectrum without changing its integral. The integral of the 2-D NPS equals the
mean variance of the detrended ROIs (Parseval), i.e. sigma^2 up to the small
share of low-frequency noise that the detrending removes.

Detrending is by a 2nd-order polynomial (as in patient-image NPS work, e.g.
Solomon et al. 2015): on anatomy a plane leaves organ shading that piles up in
the lowest frequency bins. The NPS of patient images still holds some
anatomical texture at the lowest frequencies, so peak and mean frequency are
lower than those of a water phantom scanned with the same kernel.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from vliqa.core import CTImage
from vliqa.ct.noise import ROI, find_rois_px, pixel_spacing_mm, roi_size_px, scan_windows
from vliqa.errors import InvalidParameterError

#: ROI sides (mm) tried when none are given, largest first (finer frequency sampling, less detrending
#: loss); a fixed physical size keeps spectra of different pixel sizes comparable.
NPS_ROI_SIZES_MM = (24.0, 16.0, 12.0)
#: Bounds of the ROI side in pixels.
NPS_ROI_PX_RANGE = (16, 64)
#: Fewest ROIs for an NPS from automatically found ROIs.
MIN_NPS_ROIS = 4
#: Most ROIs averaged.
MAX_NPS_ROIS = 32


@dataclass(frozen=True)
class NPSResult:
    """A noise power spectrum: radial profile, 2-D spectrum, and its summary frequencies."""

    #: Radial bin centres in cycles/mm.
    freqs_per_mm: np.ndarray
    #: Radially averaged NPS in HU^2 mm^2.
    nps_1d: np.ndarray
    #: 2-D NPS in HU^2 mm^2, fftshifted (zero frequency in the middle).
    nps_2d: np.ndarray
    #: Frequency axes of `nps_2d` (rows, cols) in cycles/mm, fftshifted.
    freqs_2d_per_mm: tuple[np.ndarray, np.ndarray]
    peak_freq_per_mm: float
    #: NPS-weighted mean frequency of the radial profile (TG-233 f_av).
    mean_freq_per_mm: float
    #: Integral of the 2-D NPS: the detrended noise variance in HU^2.
    variance_hu2: float
    n_rois: int
    roi_size_px: int
    method: str = ""
    rois: tuple[ROI, ...] = field(default=(), repr=False)

    def to_dict(self) -> dict[str, Any]:
        return {
            "freqs_per_mm": [float(v) for v in self.freqs_per_mm],
            "nps_1d": [float(v) for v in self.nps_1d],
            "peak_freq_per_mm": float(self.peak_freq_per_mm),
            "mean_freq_per_mm": float(self.mean_freq_per_mm),
            "variance_hu2": float(self.variance_hu2),
            "n_rois": int(self.n_rois),
            "roi_size_px": int(self.roi_size_px),
            "method": self.method,
        }


def quadratic_residuals(image: CTImage, rois: list[ROI]) -> np.ndarray:
    """Gives the pixels of equal-size ROIs minus their least-squares 2nd-order polynomial, (n_rois, n, n)."""
    n = rois[0].size_px
    coords = np.arange(n, dtype=np.float64) - (n - 1) / 2.0
    rr, cc = (a.ravel() for a in np.meshgrid(coords, coords, indexing="ij"))
    basis = np.stack([np.ones(n * n), rr, cc, rr * rr, cc * cc, rr * cc], axis=1)
    stack = np.stack([image.hu[roi.slices] for roi in rois]).reshape(len(rois), -1).astype(np.float64)
    # One pseudo-inverse serves every ROI.
    fitted = (stack @ np.linalg.pinv(basis).T) @ basis.T
    return (stack - fitted).reshape(len(rois), n, n)


def empty_nps(reason: str) -> NPSResult:
    """Gives the all-NaN NPS result, `method` saying why."""
    nan = float("nan")
    return NPSResult(
        freqs_per_mm=np.empty(0),
        nps_1d=np.empty(0),
        nps_2d=np.empty((0, 0)),
        freqs_2d_per_mm=(np.empty(0), np.empty(0)),
        peak_freq_per_mm=nan,
        mean_freq_per_mm=nan,
        variance_hu2=nan,
        n_rois=0,
        roi_size_px=0,
        method=reason,
    )


def auto_nps_rois(image: CTImage) -> list[ROI]:
    """Gives the ROIs `nps` uses when none are given: the largest size with at least 4 homogeneous ROIs."""
    best: list[ROI] = []
    lo, hi = NPS_ROI_PX_RANGE
    for size_mm in NPS_ROI_SIZES_MM:
        n = min(max(roi_size_px(image, size_mm), lo), hi)
        if min(image.shape) < 2 * n:
            continue
        rois = find_rois_px(image, n, max_rois=MAX_NPS_ROIS, scan=scan_windows(image, n))
        if len(rois) >= MIN_NPS_ROIS:
            return rois
        best = best or rois
    return best


def nps(image: CTImage, rois: list[ROI] | None = None) -> NPSResult:
    """Gives the 2-D and radial noise power spectrum averaged over equal-size ROIs (found automatically if None).

    Frequencies are in cycles/mm and the NPS in HU^2 mm^2; each ROI is
    detrended by a 2nd-order polynomial, not windowed. Returns an all-NaN result (method says why)
    when no homogeneous ROI exists.
    """
    if rois is None:
        rois = auto_nps_rois(image)
    if not rois:
        return empty_nps("no homogeneous ROI found")
    sizes = {roi.size_px for roi in rois}
    if len(sizes) != 1:
        raise InvalidParameterError(
            f"NPS ROIs must all have the same size, got sizes {sorted(sizes)} px",
            hint="pass ROIs from one find_homogeneous_rois call",
        )
    return nps_from_residuals(quadratic_residuals(image, rois), pixel_spacing_mm(image), rois=tuple(rois))


def nps_from_residuals(residuals: np.ndarray, spacing_mm: tuple[float, float], *,
                       rois: tuple[ROI, ...] = ()) -> NPSResult:
    """Gives the NPS of detrended equal-size ROIs, (n_rois, n, n), possibly pooled from several slices of a series."""
    n_rois, n, _ = residuals.shape
    dy, dx = spacing_mm
    pad = max(64, 1 << int(np.ceil(np.log2(2 * n))))
    power = np.abs(np.fft.fft2(residuals, s=(pad, pad))) ** 2
    nps_2d = np.fft.fftshift(power.mean(axis=0)) * (dy * dx) / (n * n)
    fy = np.fft.fftshift(np.fft.fftfreq(pad, d=dy))
    fx = np.fft.fftshift(np.fft.fftfreq(pad, d=dx))
    variance = float(nps_2d.sum() / (pad * dy * pad * dx))

    # Radial average in bins of the native frequency resolution 1/(n d), up to the lower Nyquist.
    radius = np.hypot(fy[:, None], fx[None, :])
    d_mean = 0.5 * (dy + dx)
    bin_width = 1.0 / (n * d_mean)
    nyquist = 0.5 / max(dy, dx)
    n_bins = max(1, int(np.floor(nyquist / bin_width)))
    bins = np.floor(radius / bin_width + 0.5).astype(int)  # bin k is centred on k * bin_width
    inside = bins <= n_bins
    counts = np.bincount(bins[inside], minlength=n_bins + 1)
    sums = np.bincount(bins[inside], weights=nps_2d[inside], minlength=n_bins + 1)
    nps_1d = sums / np.maximum(counts, 1)
    freqs = np.arange(n_bins + 1) * bin_width
    total = float(nps_1d.sum())
    mean_freq = float(np.sum(freqs * nps_1d) / total) if total > 0 else float("nan")
    # The zero-frequency bin is emptied by the detrending; the peak is sought above it.
    peak_freq = float(freqs[1 + int(np.argmax(nps_1d[1:]))]) if total > 0 and n_bins >= 1 else float("nan")
    return NPSResult(
        freqs_per_mm=freqs,
        nps_1d=nps_1d,
        nps_2d=nps_2d,
        freqs_2d_per_mm=(fy, fx),
        peak_freq_per_mm=peak_freq,
        mean_freq_per_mm=mean_freq,
        variance_hu2=variance,
        n_rois=n_rois,
        roi_size_px=n,
        method=f"{n_rois} {n}x{n} px ROIs detrended by a 2nd-order polynomial, no window, zero-padded to "
               f"{pad}x{pad}",
        rois=rois,
    )
