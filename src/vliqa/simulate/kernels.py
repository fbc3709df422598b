"""Reconstruction-kernel texture: clinical kernel names -> FBP apodisation, and fitting it to a measured NPS.

The added noise of a lower-dose simulation must have the texture of the source image's kernel. We
describe every kernel by one number, the cutoff of a Hann apodisation on the ramp filter
(`vliqa.simulate.tomo.apodization`), chosen so that the peak of the noise power spectrum (NPS)
falls where the kernel's does. For FBP of white sinogram noise the radial NPS is
NPS(f) ~ f * W(f)^2 * sinc^4(f) (ramp squared over the 1/f polar density, W the apodisation, sinc^2
the linear interpolation of the back-projector), and for a Hann window with cutoff fc its peak is at
0.306 fc (the table maps a peak to fc = peak / 0.306; the sinc and Nyquist then shape the realised NPS).

Two sources for the cutoff: a table of approximate NPS peak frequencies for common kernel names
(hand-set, approximate; see docs/simulation.md), or a fit to the NPS measured in flat regions of the
image itself (`fit_kernel_cutoff`), which also absorbs what the table cannot know (detector blur,
rebinning, iterative reconstruction).
"""

from __future__ import annotations

import re

import numpy as np
from scipy import ndimage

from vliqa.simulate import tomo

#: Approximate NPS peak frequency (1/mm) by kernel sharpness number (Siemens B/Br/I/H/Hr/Q kernels).
_SIEMENS_PEAK = {10: 0.10, 20: 0.15, 30: 0.22, 40: 0.28, 50: 0.38, 60: 0.48, 70: 0.60, 80: 0.75}
#: Approximate NPS peak frequency (1/mm) of named kernels of other vendors (upper-case keys).
_NAMED_PEAK = {
    # GE
    "SOFT": 0.17, "STANDARD": 0.24, "STND": 0.24, "STD": 0.24, "STD+": 0.27, "STANDARD+": 0.27,
    "DETAIL": 0.30, "CHEST": 0.30, "LUNG": 0.55, "BONE": 0.50, "BONE+": 0.60, "BONEPLUS": 0.60, "EDGE": 0.70,
    # Philips
    "A": 0.20, "B": 0.25, "C": 0.30, "D": 0.40, "E": 0.50, "L": 0.55, "YA": 0.20, "YB": 0.25, "YC": 0.30,
    # Canon / Toshiba
    "FC01": 0.20, "FC03": 0.22, "FC07": 0.25, "FC13": 0.26, "FC18": 0.30, "FC30": 0.45, "FC51": 0.55,
    # generic names
    "SMOOTH": 0.17, "SHARP": 0.45, "ULTRASHARP": 0.65,
}
#: Kernel assumed when neither the header nor the image tells (a standard soft-tissue kernel).
DEFAULT_KERNEL = "STANDARD"
_SIEMENS_RE = re.compile(r"^(?:B|Br|Bf|Bv|I|Ir|H|Hr|Hf|Q|Qr|J|Jr|D|T|Tr)(\d{2})[a-z]?\b", re.ASCII)


def kernel_peak_per_mm(kernel: str | None) -> float | None:
    """Gives the approximate NPS peak frequency (1/mm) of a named clinical kernel, or None if unknown."""
    if not kernel:
        return None
    for token in _kernel_tokens(str(kernel)):
        peak = _single_kernel_peak(token)
        if peak is not None:
            return peak
    return None


def _single_kernel_peak(name: str) -> float | None:
    """Gives the table NPS peak (1/mm) of one kernel token, or None."""
    m = _SIEMENS_RE.match(name)
    if m:
        num = int(m.group(1))
        keys = sorted(_SIEMENS_PEAK)
        return float(np.interp(num, keys, [_SIEMENS_PEAK[k] for k in keys]))
    key = name.upper().replace(" ", "").split("\\")[0]
    return _NAMED_PEAK.get(key)


def _kernel_tokens(kernel: str) -> list[str]:
    """Gives the candidate names in a kernel field ("B30f", "['Br38f', '3']", "STANDARD\\...")."""
    return [t for t in re.split(r"[\\\[\]'\",\s]+", kernel) if t]


def predicted_nps(freq_cycles_per_px: np.ndarray, cutoff_cycles_per_px: float) -> np.ndarray:
    """Gives the (unnormalised) radial NPS of FBP noise at the given frequencies for a Hann cutoff."""
    f = np.asarray(freq_cycles_per_px, dtype=np.float64)
    w = tomo.apodization(f, cutoff_cycles_per_px=cutoff_cycles_per_px)
    return np.where(f <= 0.5, f * w**2 * np.sinc(f) ** 4, 0.0)


#: Peak of f W(f)^2 for a Hann window W of cutoff fc sits at HANN_PEAK_RATIO fc (x tan x = 1/4, x = 0.4801).
HANN_PEAK_RATIO = 2 * 0.4801 / np.pi


def cutoff_for_peak(peak_per_mm: float, pixel_mm: float) -> float:
    """Gives the Hann cutoff (cycles/pixel) of a kernel whose ramp x Hann NPS peaks at `peak_per_mm`."""
    return float(peak_per_mm / HANN_PEAK_RATIO * pixel_mm)


def find_flat_rois(hu: np.ndarray, roi_px: int = 32, hu_range: tuple[float, float] = (-150.0, 250.0),
                   max_rois: int = 40) -> list[tuple[int, int]]:
    """Gives top-left corners of flat soft-tissue ROIs (all pixels in `hu_range`, least structure first)."""
    rows, cols = hu.shape
    smooth = ndimage.gaussian_filter(hu.astype(np.float64), 2.0)  # structure, nearly blind to the noise
    cands: list[tuple[float, int, int]] = []
    step = roi_px // 2
    for r in range(0, rows - roi_px + 1, step):
        for c in range(0, cols - roi_px + 1, step):
            win = hu[r : r + roi_px, c : c + roi_px]
            if win.min() < hu_range[0] or win.max() > hu_range[1]:
                continue
            cands.append((float(_detrend(smooth[r : r + roi_px, c : c + roi_px]).std()), r, c))
    cands.sort()
    chosen: list[tuple[int, int]] = []
    for _, r, c in cands[: max(1, len(cands) // 2)]:  # the flatter half: organs and fat, not edges
        if all(abs(r - r2) >= roi_px or abs(c - c2) >= roi_px for r2, c2 in chosen):
            chosen.append((r, c))
        if len(chosen) >= max_rois:
            break
    # Drop ROIs much rougher than the typical one: they hold an edge or a vessel, not just noise.
    rough = np.array([_detrend(hu[r : r + roi_px, c : c + roi_px]).std() for r, c in chosen])
    if rough.size >= 4:
        chosen = [rc for rc, s in zip(chosen, rough, strict=True) if s <= 1.4 * np.median(rough)]
    return chosen


def _detrend(win: np.ndarray) -> np.ndarray:
    """Gives the residual of a least-squares plane fit over a square window."""
    n = win.shape[0]
    yy, xx = np.mgrid[:n, :n].astype(np.float64)
    a = np.stack([np.ones(n * n), yy.ravel(), xx.ravel()], axis=1)
    coef, *_ = np.linalg.lstsq(a, win.ravel().astype(np.float64), rcond=None)
    return (win.ravel() - a @ coef).reshape(n, n)


def roi_noise_sigma_hu(hu: np.ndarray, rois: list[tuple[int, int]], roi_px: int = 32) -> float:
    """Gives the noise sigma (HU): root mean of the plane-detrended ROI variances."""
    if not rois:
        return float("nan")
    var = [_detrend(hu[r : r + roi_px, c : c + roi_px]).var(ddof=3) for r, c in rois]
    return float(np.sqrt(np.mean(var)))


def roi_nps(hu: np.ndarray, rois: list[tuple[int, int]], pixel_mm: float,
            roi_px: int = 32) -> tuple[np.ndarray, np.ndarray]:
    """Gives (frequency 1/mm, radial NPS HU^2 mm^2) averaged over the ROIs (ICRU 87 style, plane-detrended)."""
    acc = np.zeros((roi_px, roi_px))
    for r, c in rois:
        acc += np.abs(np.fft.fft2(_detrend(hu[r : r + roi_px, c : c + roi_px]))) ** 2
    nps2d = np.fft.fftshift(acc / max(len(rois), 1)) * pixel_mm**2 / roi_px**2
    fy, fx = np.meshgrid(*(np.fft.fftshift(np.fft.fftfreq(roi_px, d=pixel_mm)),) * 2, indexing="ij")
    radius = np.hypot(fx, fy)
    df = 1.0 / (roi_px * pixel_mm)
    bins = np.round(radius / df).astype(int)
    nyq_bins = roi_px // 2
    radial = np.bincount(bins.ravel(),
                         nps2d.ravel())[: nyq_bins + 1] / np.maximum(np.bincount(bins.ravel())[: nyq_bins + 1], 1)
    return np.arange(nyq_bins + 1) * df, radial


#: NPS below this frequency (1/mm) is left out of texture fits: on patient images it holds anatomy
#: (organ texture, perfusion, plane-fit leftovers) as much as noise.
NPS_FIT_LOW_PER_MM = 0.1


def nps_mean_frequency(freq: np.ndarray, nps: np.ndarray, low_per_mm: float = 0.0) -> float:
    """Gives the NPS-weighted mean frequency (1/mm) of a radial NPS over f >= low_per_mm (rings weighted by f)."""
    w = np.where(freq >= low_per_mm, nps * freq, 0.0)
    return float((freq * w).sum() / max(w.sum(), 1e-30))


def nps_band_power(freq: np.ndarray, nps: np.ndarray, low_per_mm: float = NPS_FIT_LOW_PER_MM) -> float:
    """Gives the noise power (HU^2) of a radial NPS over f >= low_per_mm (2-D integral in rings)."""
    df = freq[1] - freq[0]
    keep = freq >= low_per_mm
    return float((2 * np.pi * freq[keep] * nps[keep]).sum() * df)


def nps_peak_frequency(freq: np.ndarray, nps: np.ndarray) -> float:
    """Gives the frequency (1/mm) where the radial NPS is largest (parabolic refinement around the maximum)."""
    i = int(np.argmax(nps))
    if 0 < i < len(nps) - 1:
        a, b, c = nps[i - 1], nps[i], nps[i + 1]
        denom = a - 2 * b + c
        shift = 0.5 * (a - c) / denom if denom != 0 else 0.0
        return float(freq[i] + shift * (freq[1] - freq[0]))
    return float(freq[i])


def fit_kernel_cutoff(hu: np.ndarray, pixel_mm: float, *, seed: int = 0, roi_px: int = 32) -> tuple[float, dict]:
    """Gives the Hann cutoff (cycles/pixel) whose FBP noise matches the image's NPS mean frequency, and fit details.

    Candidate cutoffs reconstruct one white-noise sinogram; their NPS is measured in the same ROIs with
    the same detrending as the image, so the ROI size and the plane fit bias both sides alike.
    """
    rois = find_flat_rois(hu, roi_px)
    if len(rois) < 6:
        return float("nan"), {"n_rois": len(rois)}
    freq, nps = roi_nps(hu, rois, pixel_mm, roi_px)
    target = nps_mean_frequency(freq, nps, NPS_FIT_LOW_PER_MM)
    sq, _ = tomo.to_square(np.zeros(hu.shape, np.float32))
    geom = tomo.parallel_geometry(sq.shape[0], 360)
    z = np.random.default_rng(seed).standard_normal((geom.n_views, geom.n_det))
    cutoffs = np.geomspace(0.08, 4.0, 14)
    means = []
    for cut in cutoffs:
        noise = tomo.fbp(z, geom, cutoff_cycles_per_px=float(cut))[: hu.shape[0], : hu.shape[1]]
        means.append(nps_mean_frequency(*roi_nps(noise, rois, pixel_mm, roi_px), NPS_FIT_LOW_PER_MM))
    means_arr = np.maximum.accumulate(np.asarray(means))  # monotone for interpolation
    cutoff = float(np.exp(np.interp(target, means_arr, np.log(cutoffs))))
    return cutoff, {"n_rois": len(rois), "nps_mean_freq_per_mm": target,
                    "nps_peak_freq_per_mm": nps_peak_frequency(freq, nps)}
