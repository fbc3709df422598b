"""The machinery of `measures.measure_series`: the `measure_all` keys for every slice of a series, at archive speed.

Slices are grouped into series by shape, pixel spacing, series UID and kernel.
What is a fact of the reconstruction is measured once per series, on a few
spread-out sample slices (`series_samples`), and given to each of its slices:
the edge MTF (segments pooled over the samples), the NPS (ROIs pooled) and the
noise correlation that corrects the plane-detrended window variances
(`noise_model.detrend_model`). Noise sigma, the number of noise windows, and
the streak and ring indices are per slice, computed on batches of slices with
the kernels of `vliqa.ct.batched`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from scipy import ndimage

from vliqa.core import CTImage
from vliqa.ct import batched
from vliqa.ct.mtf import MTFResult, edge_segments, mtf_from_segments, spacing_of
from vliqa.ct.noise import (
    MAX_NOISE_WINDOW_PX,
    MIN_NOISE_ROIS,
    NOISE_ROI_SIZES_MM,
    WindowScan,
    find_rois_px,
    immerkaer_sigma_hu,
    noise_band,
    pixel_spacing_mm,
    plane_residuals,
    roi_size_px,
    window_variances,
)
from vliqa.ct.noise_model import DetrendModel, detrend_model
from vliqa.ct.nps import (
    MAX_NPS_ROIS,
    MIN_NPS_ROIS,
    NPS_ROI_PX_RANGE,
    NPS_ROI_SIZES_MM,
    NPSResult,
    empty_nps,
    nps_from_residuals,
    quadratic_residuals,
)

#: Slices per batch of the per-slice kernels (bounds memory: ~10 full-size float32 arrays per slice).
BATCH_SLICES = 8
#: One sample slice for the series facts per this many slices, at most `MAX_SAMPLES`.
SLICES_PER_SAMPLE = 32
MAX_SAMPLES = 4
#: Extra slices tried for the MTF when the samples hold no usable edge.
MTF_EXTRA_TRIES = 2
#: Smallest slice side measured (px); smaller slices give NaN.
MIN_SIDE_PX = 64
#: Noise windows: HU range of the (lightly smoothed) pixels.
NOISE_HU_RANGE = (-150.0, 250.0)
#: Gaussian sigma (half-res px) of the range test's blur: with the 2x2 mean, about the reference's 1 px.
RANGE_BLUR_HALF_PX = 0.43


@dataclass(frozen=True)
class SeriesFacts:
    """What `measure_series` measures once per series: edge MTF, NPS, and the noise correlation per window size."""

    mtf: MTFResult
    nps: NPSResult
    detrend: dict[int, DetrendModel]
    samples: tuple[int, ...]


def is_measurable(image: CTImage) -> bool:
    """Gives False for slices no measure applies to: tiny, not finite, constant, or with almost no body tissue."""
    hu = np.asarray(image.hu)
    if hu.ndim != 2 or min(hu.shape) < MIN_SIDE_PX:
        return False
    coarse = hu[::4, ::4]
    if not np.all(np.isfinite(coarse)) or float(np.ptp(coarse)) < 1.0:
        return False
    lo, hi = NOISE_HU_RANGE
    return float(np.mean((coarse >= lo) & (coarse <= hi))) >= 0.01


def series_key(image: CTImage) -> tuple:
    """Gives what slices of one series share: shape, pixel spacing, series UID and kernel."""
    acq = image.acquisition
    spacing = tuple(round(v, 4) for v in pixel_spacing_mm(image))
    return (tuple(np.shape(image.hu)), spacing, acq.series_uid, acq.kernel)


def series_samples(n_slices: int) -> list[int]:
    """Gives the positions of the sample slices of a series: one per `SLICES_PER_SAMPLE`, spread, middle first."""
    k = min(n_slices, MAX_SAMPLES, 1 + n_slices // SLICES_PER_SAMPLE)
    picks = [int((j + 0.5) * n_slices / k) for j in range(k)]
    return sorted(picks, key=lambda i: abs(i - (n_slices - 1) / 2))


# --------------------------------------------------------------------------- one series


def noise_window_px(image: CTImage, size_mm: float, min_px: int) -> int:
    """Gives the noise window side `noise_sigma_hu` uses for `size_mm`."""
    return min(max(roi_size_px(image, size_mm), min_px), MAX_NOISE_WINDOW_PX)


def _stack(images: Sequence[CTImage]) -> torch.Tensor:
    return torch.from_numpy(np.stack([np.asarray(im.hu, dtype=np.float32) for im in images]))


def _scans(hu: torch.Tensor, half: torch.Tensor, n: int, low: torch.Tensor | None = None) -> list[WindowScan]:
    """Gives the noise-window scan (`noise.scan_windows`) of each slice of a stack for windows of n px.

    `half` is `batched.half_resolution(hu)`, `low` its `batched.lowpass2` (computed when None). The range
    test reads a light blur of `half` (about the reference's Gaussian of 1 px), the structure test `low`;
    with an even half-window both run at half resolution, a quarter of the pixels.
    """
    step = n // 2
    if min(hu.shape[-2:]) < 2 * n:
        empty = np.empty(0)
        return [WindowScan(n, empty.astype(int), empty.astype(int), empty, empty, empty, empty.astype(bool))
                for _ in range(hu.shape[0])]
    mean, ss_res = (t.numpy() for t in batched.window_stats(hu, step))
    light = batched.blur3(half, RANGE_BLUR_HALF_PX)
    low = batched.lowpass2(half) if low is None else low
    if step % 2 == 0 and hu.shape[-2] % 2 == 0 and hu.shape[-1] % 2 == 0:
        in_range = batched.windows_in_range(light, step // 2, NOISE_HU_RANGE).numpy()
        ss_low = batched.window_stats(low, step // 2)[1].numpy()
    else:
        shape = tuple(hu.shape[-2:])
        in_range = batched.windows_in_range(batched.upsample2(light, shape), step, NOISE_HU_RANGE).numpy()
        ss_low = batched.window_stats(batched.upsample2(low, shape), step)[1].numpy()
    scans = []
    for i in range(hu.shape[0]):
        gr, gc = np.nonzero(in_range[i])
        res, res_low = ss_res[i, gr, gc], ss_low[i, gr, gc]
        accepted = noise_band(res) & noise_band(res_low) if gr.size else np.zeros(0, dtype=bool)
        scans.append(WindowScan(n, gr * step, gc * step, mean[i, gr, gc], res, res_low, accepted))
    return scans


def measure_group(images: list[CTImage]) -> list[dict[str, float]]:
    """Gives the `measure_all` keys of each slice of one series (measurable slices of one `series_key`)."""
    shape = images[0].hu.shape
    n12 = noise_window_px(images[0], NOISE_ROI_SIZES_MM[0], 16)
    scans: list[WindowScan] = []
    streak, ring = [], []
    for start in range(0, len(images), BATCH_SLICES):
        hu = _stack(images[start : start + BATCH_SLICES])
        half = batched.half_resolution(hu)
        low = batched.lowpass2(half)
        highpass = batched.clipped_highpass(hu, batched.upsample2(low, shape), *batched.artefact_region(hu, half))
        streak.append(batched.streak_rms(highpass))
        ring.append(batched.ring_rms(highpass))
        scans.extend(_scans(hu, half, n12, low))
    facts = series_facts(images, scans)
    sigma, n_rois = _noise(images, scans, facts)
    streak_all, ring_all = np.concatenate(streak), np.concatenate(ring)
    return [
        {
            "noise_sigma_hu": sigma[i],
            "noise_n_rois": n_rois[i],
            "nps_peak_freq_per_mm": facts.nps.peak_freq_per_mm,
            "nps_mean_freq_per_mm": facts.nps.mean_freq_per_mm,
            "mtf50_lp_per_cm": facts.mtf.mtf50_lp_per_cm,
            "mtf10_lp_per_cm": facts.mtf.mtf10_lp_per_cm,
            "edge_width_mm": facts.mtf.edge_width_mm,
            "streak_rms_hu": streak_all[i],
            "ring_rms_hu": ring_all[i],
        }
        for i in range(len(images))
    ]


def _sigma(scan: WindowScan, model: DetrendModel) -> float:
    """Gives sigma from a scan's accepted windows, as `noise.noise_from_scan`."""
    return float(np.sqrt(np.median(window_variances(scan.ss_res[scan.accepted], scan.size_px, model))))


def _detrend_for(images: Sequence[CTImage], scans: Sequence[WindowScan], candidates: Sequence[int]) -> DetrendModel:
    """Gives the noise correlation model from up to 64 windows per slice, pooled over `candidates`."""
    n = scans[candidates[0]].size_px
    residuals = [plane_residuals(images[i], rois) for i in candidates
                 if (rois := find_rois_px(images[i], n, max_rois=64, scan=scans[i]))]
    return detrend_model(np.concatenate(residuals))


def _noise(images: list[CTImage], scans: list[WindowScan], facts: SeriesFacts) -> tuple[list[float], list[float]]:
    """Gives noise sigma and the number of accepted windows per slice, with `noise_sigma_hu`'s fallbacks."""
    sigma, n_rois = [math.nan] * len(images), [0.0] * len(images)
    pending = []
    for i, scan in enumerate(scans):
        count = int(scan.accepted.sum())
        if count >= MIN_NOISE_ROIS and scan.size_px in facts.detrend:
            sigma[i], n_rois[i] = _sigma(scan, facts.detrend[scan.size_px]), float(count)
        else:
            pending.append(i)
    if not pending:
        return sigma, n_rois
    # Smaller windows for the slices with too few (the reference's second size), then the global fallback.
    n8 = noise_window_px(images[0], NOISE_ROI_SIZES_MM[1], 8)
    hu = _stack([images[i] for i in pending])
    small = _scans(hu, batched.half_resolution(hu), n8)
    ok = [j for j, scan in enumerate(small) if int(scan.accepted.sum()) >= MIN_NOISE_ROIS]
    model = _detrend_for([images[i] for i in pending], small, _spread(ok)) if ok else None
    for j, i in enumerate(pending):
        if model is not None and j in ok:
            sigma[i], n_rois[i] = _sigma(small[j], model), float(small[j].accepted.sum())
        else:
            sigma[i], n_rois[i] = immerkaer_sigma_hu(images[i].hu), 0.0
    return sigma, n_rois


def _spread(positions: Sequence[int]) -> list[int]:
    return [positions[j] for j in series_samples(len(positions))]


# --------------------------------------------------------------------------- per-series facts


def series_facts(images: list[CTImage], scans: list[WindowScan]) -> SeriesFacts:
    """Gives the MTF, NPS and noise correlation of one series from its sample slices."""
    samples = series_samples(len(images))
    noisy = [i for i, scan in enumerate(scans) if int(scan.accepted.sum()) >= MIN_NOISE_ROIS]
    detrend = {scans[0].size_px: _detrend_for(images, scans, _spread(noisy))} if noisy else {}
    hu = _stack([images[i] for i in samples])
    return SeriesFacts(
        mtf=_series_mtf(images, samples),
        nps=_series_nps([images[i] for i in samples], hu),
        detrend=detrend,
        samples=tuple(samples),
    )


def _series_mtf(images: list[CTImage], samples: list[int]) -> MTFResult:
    """Gives the edge MTF from the segments of the sample slices pooled (more slices tried when they hold none)."""
    spacing = spacing_of(images[0])
    others = [i for i in np.linspace(0, len(images) - 1, MTF_EXTRA_TRIES + 2).round().astype(int)[1:-1]
              if i not in samples]
    segments: list = []
    for i in samples + others:
        if segments and i in others:
            break
        hu = np.asarray(images[i].hu, dtype=np.float32)
        segments += edge_segments(hu, ndimage.gaussian_filter(hu, 1.0), spacing)
    return mtf_from_segments(segments, spacing)


def _series_nps(images: list[CTImage], hu: torch.Tensor) -> NPSResult:
    """Gives the NPS from the homogeneous ROIs of the sample slices pooled, largest ROI size with enough of them."""
    lo, hi = NPS_ROI_PX_RANGE
    best: list[np.ndarray] = []
    for size_mm in NPS_ROI_SIZES_MM:
        n = min(max(roi_size_px(images[0], size_mm), lo), hi)
        if min(hu.shape[-2:]) < 2 * n:
            continue
        residuals = []
        for image, scan in zip(images, _scans(hu, batched.half_resolution(hu), n), strict=True):
            rois = find_rois_px(image, n, max_rois=MAX_NPS_ROIS, scan=scan)
            if rois:
                residuals.append(quadratic_residuals(image, rois))
        if sum(r.shape[0] for r in residuals) >= MIN_NPS_ROIS * len(images):
            best = residuals
            break
        best = best or residuals
    if not best:
        return empty_nps("no homogeneous ROI found in the sample slices")
    return nps_from_residuals(np.concatenate(best), pixel_spacing_mm(images[0]))
