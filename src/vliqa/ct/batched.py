"""Batched per-slice kernels of `measure_series`: shared blurs, window statistics, artefact region, streak and ring.

Every function takes a stack of equal-size slices (torch, float32, (B, H, W))
and follows the single-slice reference in `vliqa.ct.noise` and
`vliqa.ct.artifacts_index`, with these documented shortcuts:

- the Gaussian low-pass (sigma 2 px) is computed at half resolution (2x2 mean,
  Gaussian of 0.88 half-px by FFT, bilinear back up): its response matches the
  full-resolution Gaussian within 0.005 up to Nyquist;
- the range test of the noise windows uses that low-pass (sigma 2) instead of a
  separate sigma-1 blur;
- the median (3x3) and erosion of the artefact region are exact, at half
  resolution as in `artifacts_index._robust_smooth`;
- the ring index samples the circles with precomputed sparse matrices, and the
  streak index its polar spectrum likewise (built once per image shape);
- the clip level of the high-pass image comes from every 4th pixel of the region.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import torch
import torch.nn.functional as F
from scipy import ndimage, sparse

from vliqa.ct import artifacts_index as ai

#: Spacing (frequency px) of the polar samples of the streak spectrum; the reference takes every one.
STREAK_K_STEP = 1
#: Weight of each neighbouring circle in the radial blur that stands in for bilinear sampling.
RING_RADIAL_BLUR = 0.1
#: Gaussian (half-res px) that, with the 2x2 mean before and bilinear upsampling after, makes sigma 2 px.
_LOWPASS_HALF_SIGMA = float(np.sqrt((4.0 - 0.25 - 2.0 / 3.0) / 4.0))


def half_resolution(hu: torch.Tensor) -> torch.Tensor:
    """Gives the 2x2 block means of a stack (odd last row/column dropped)."""
    h, w = hu.shape[-2] // 2 * 2, hu.shape[-1] // 2 * 2
    hu = hu[:, :h, :w]
    return (hu[:, 0::2, 0::2] + hu[:, 1::2, 0::2] + hu[:, 0::2, 1::2] + hu[:, 1::2, 1::2]) * 0.25


@lru_cache(maxsize=16)
def _gaussian_response(h: int, w: int, sigma: float) -> torch.Tensor:
    fy = torch.fft.fftfreq(h, dtype=torch.float64)[:, None]
    fx = torch.fft.rfftfreq(w, dtype=torch.float64)[None, :]
    return torch.exp(-2.0 * np.pi**2 * sigma**2 * (fy * fy + fx * fx)).float()


def gaussian_fft(x: torch.Tensor, sigma: float) -> torch.Tensor:
    """Gives a stack Gaussian-filtered by FFT (circular boundary: CT borders are air or padding on all sides)."""
    h, w = x.shape[-2:]
    return torch.fft.irfft2(torch.fft.rfft2(x) * _gaussian_response(h, w, float(sigma)), s=(h, w))


def power_spectrum(x: torch.Tensor, n: int) -> torch.Tensor:
    """Gives |rfft2(x, n x n)|^2 of a stack."""
    spectrum = torch.view_as_real(torch.fft.rfft2(x, s=(n, n)))
    return spectrum[..., 0].square() + spectrum[..., 1].square()


def upsample2(x: torch.Tensor, shape: tuple[int, int], mode: str = "bilinear") -> torch.Tensor:
    """Gives a half-resolution stack brought back to full `shape` (edge rows/columns repeated for odd sizes)."""
    kwargs = {"align_corners": False} if mode == "bilinear" else {}
    up = F.interpolate(x[:, None], scale_factor=2, mode=mode, **kwargs)[:, 0]
    dh, dw = shape[0] - up.shape[-2], shape[1] - up.shape[-1]
    if dh or dw:
        up = F.pad(up[:, None], (0, dw, 0, dh), mode="replicate")[:, 0]
    return up


def upsample2_nearest(mask: torch.Tensor, shape: tuple[int, int]) -> torch.Tensor:
    """Gives a half-resolution mask with each pixel repeated 2x2, padded (False) to the full `shape`."""
    b, h, w = mask.shape
    up = mask[:, :, None, :, None].expand(b, h, 2, w, 2).reshape(b, 2 * h, 2 * w)
    if up.shape[-2:] != shape:
        up = F.pad(up, (0, shape[1] - 2 * w, 0, shape[0] - 2 * h))
    return up


def lowpass2(half: torch.Tensor) -> torch.Tensor:
    """Gives the sigma-2-px Gaussian low-pass of slices, at half resolution, from their half-resolution means.

    `upsample2` of it is the full-resolution low-pass.
    """
    return gaussian_fft(half, _LOWPASS_HALF_SIGMA)


def blur3(x: torch.Tensor, sigma: float) -> torch.Tensor:
    """Gives a stack blurred by the 3-tap kernel [w, 1 - 2w, w] per axis of variance sigma^2 (sigma <= 0.7)."""
    w = 0.5 * sigma * sigma
    xp = F.pad(x[:, None], (1, 1, 1, 1), mode="replicate")[:, 0]
    x = (1 - 2 * w) * xp[:, 1:-1] + w * (xp[:, :-2] + xp[:, 2:])
    return (1 - 2 * w) * x[:, :, 1:-1] + w * (x[:, :, :-2] + x[:, :, 2:])


def median3(x: torch.Tensor) -> torch.Tensor:
    """Gives the exact 3x3 median of a stack (edge pixels repeated, as `scipy.ndimage.median_filter`'s reflect)."""
    xp = F.pad(x[:, None], (1, 1, 1, 1), mode="replicate")[:, 0]
    h = x.shape[-2]
    # Sort each vertical triple once; the 3x3 median is then the median of (the largest of the three column
    # minima, the median of the column medians, the smallest of the column maxima).
    a, b, c = xp[:, 0:h], xp[:, 1 : h + 1], xp[:, 2 : h + 2]
    lo, hi = torch.minimum(a, b), torch.maximum(a, b)
    mid = torch.maximum(lo, torch.minimum(hi, c))
    lo, hi = torch.minimum(lo, c), torch.maximum(hi, c)
    w = x.shape[-1]

    def cols(t: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        return t[..., 0:w], t[..., 1 : w + 1], t[..., 2 : w + 2]

    lo3, mid3, hi3 = cols(lo), cols(mid), cols(hi)
    max_lo = torch.maximum(torch.maximum(lo3[0], lo3[1]), lo3[2])
    min_hi = torch.minimum(torch.minimum(hi3[0], hi3[1]), hi3[2])
    return _median_of_three(max_lo, _median_of_three(*mid3), min_hi)


def _median_of_three(a: torch.Tensor, b: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
    return torch.maximum(torch.minimum(a, b), torch.minimum(torch.maximum(a, b), c))


# --------------------------------------------------------------------------- noise windows


def window_stats(a: torch.Tensor, step: int, offset: float = 50.0) -> tuple[torch.Tensor, torch.Tensor]:
    """Gives (mean, plane-detrended residual SS) of the 2*step windows on a grid of `step`, for a stack.

    The batched form of `noise.grid_window_stats`: block sums of x, x^2 and x
    times the block-local row and column, with x = a - offset (an offset in the
    soft-tissue range keeps float32 sums exact enough for the windows that matter).
    """
    b, h, w = a.shape
    nr, nc = h // step, w // step
    x = a[:, : nr * step, : nc * step] - offset
    local = torch.arange(step, dtype=a.dtype)
    # Sums along the columns of each block first (full size), then along its rows (1/step the size).
    col_sum = x.reshape(b, nr * step, nc, step)
    s0c = col_sum.sum(-1)
    s2c = (x * x).reshape(b, nr * step, nc, step).sum(-1)
    scc = (col_sum * local).sum(-1)

    def rows_of(t: torch.Tensor, weight: torch.Tensor | None = None) -> torch.Tensor:
        t = t.reshape(b, nr, step, nc)
        t = t * weight[:, None] if weight is not None else t
        return t.sum(2).double()

    s0b, s2b, scb, srb = rows_of(s0c), rows_of(s2c), rows_of(scc), rows_of(s0c, local)

    def pairs(t: torch.Tensor) -> torch.Tensor:
        return t[:, :-1, :-1] + t[:, 1:, :-1] + t[:, :-1, 1:] + t[:, 1:, 1:]

    n = 2 * step
    count = float(n * n)
    s0, s2 = pairs(s0b), pairs(s2b)
    # Block-local coordinates plus the block's offset inside the window (0 or step).
    sr = pairs(srb) + step * (s0b[:, 1:, :-1] + s0b[:, 1:, 1:])
    sc = pairs(scb) + step * (s0b[:, :-1, 1:] + s0b[:, 1:, 1:])
    centre = (n - 1) / 2.0
    ramp_norm = n * n * (n * n - 1) / 12.0
    sy = sr - centre * s0
    sx = sc - centre * s0
    ss_res = s2 - s0 * s0 / count - (sy * sy + sx * sx) / ramp_norm
    return s0 / count + offset, torch.clamp(ss_res, min=0.0)


def windows_in_range(lowpass: torch.Tensor, step: int, hu_range: tuple[float, float]) -> torch.Tensor:
    """Gives which 2*step windows on the `step` grid hold only low-passed pixels inside `hu_range`."""
    b, h, w = lowpass.shape
    nr, nc = h // step, w // step
    x = lowpass[:, : nr * step, : nc * step]
    out = ((x < hu_range[0]) | (x > hu_range[1])).to(torch.float32)
    blocks = out.reshape(b, nr * step, nc, step).sum(-1).reshape(b, nr, step, nc).sum(2)
    window_out = blocks[:, :-1, :-1] + blocks[:, 1:, :-1] + blocks[:, :-1, 1:] + blocks[:, 1:, 1:]
    return window_out < 0.5


# --------------------------------------------------------------------------- artefact region and high-pass image


@dataclass(frozen=True)
class HighPass:
    """The clipped high-pass image g of a stack inside its artefact region, with what the indices need of it."""

    g: torch.Tensor
    region: torch.Tensor
    #: The region's taper (Gaussian 3 px of the region, inside it): what the streak spectrum is weighted by.
    taper: torch.Tensor
    #: Which slices have enough region and a non-zero g for the indices (`MIN_REGION_PX`).
    valid: np.ndarray


def artefact_region(hu: torch.Tensor, half: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Gives the soft-tissue-and-fat region of `artifacts_index.highpass_region` (bool, full size) and its taper."""
    smooth = gaussian_fft(median3(half), 1.5)
    # Fat counts 1 and soft tissue 1000 (exact in float32 box sums): a pixel survives the erosion when its
    # 9x9 half-res box (= the 17x17 full-res box of a 2x2-block mask) is all fat or all soft tissue.
    fat = (smooth > ai.REGION_HU[0]) & (smooth < ai.FAT_SOFT_HU)
    soft = (smooth >= ai.FAT_SOFT_HU) & (smooth < ai.REGION_HU[1])
    k = ai.EROSION_PX + 1
    pad = k // 2
    # Repeating the edge keeps the reference's reflected box (both see only pixels of the clipped box).
    box = F.pad((fat.to(torch.float32) + 1000.0 * soft.to(torch.float32))[:, None], (pad, pad, pad, pad),
                mode="replicate")[:, 0]
    box = F.pad(box, (1, 0, 1, 0))
    box = box.cumsum(1)
    box = box[:, k:] - box[:, :-k]
    box = box.cumsum(2)
    box = box[:, :, k:] - box[:, :, :-k]
    full = float(k * k)
    region_half = ((box - full).abs() < 0.5) | ((box - 1000.0 * full).abs() < 0.5)
    shape = tuple(hu.shape[-2:])
    region = upsample2_nearest(region_half, shape)
    peaks = hu.amax(dim=(1, 2)).numpy()
    for i in np.flatnonzero(peaks > ai.METAL_HU):
        far = ndimage.distance_transform_edt((hu[i] <= ai.METAL_HU).numpy()) > ai.METAL_MARGIN_PX
        region[i] &= torch.from_numpy(far)
    region_half = region_half.to(torch.float32)
    # Gaussian 1.5 half-res px of the half-res mask, brought up bilinearly: Gaussian 3 px of the region.
    taper = upsample2(gaussian_fft(region_half, 1.5), shape) * region
    return region, taper


def clipped_highpass(hu: torch.Tensor, lowpass: torch.Tensor, region: torch.Tensor, taper: torch.Tensor) -> HighPass:
    """Gives g = hu - low-pass, clipped at 6 robust sigma and zero outside the region (as `highpass_region`)."""
    g = hu - lowpass
    out = torch.zeros_like(g)
    valid = np.zeros(g.shape[0], dtype=bool)
    counts = region.sum(dim=(1, 2)).numpy()
    for i in range(g.shape[0]):
        vals = g[i, ::4, ::4][region[i, ::4, ::4]]
        if counts[i] < ai.MIN_REGION_PX or vals.numel() < 16:
            continue
        med = vals.median()
        sigma = 1.4826 * float((vals - med).abs().median())
        if sigma > 0:
            limit = ai.CLIP_SIGMA * sigma
            out[i] = torch.clamp(g[i], -limit, limit) * region[i]
            valid[i] = True
    return HighPass(out, region, taper, valid)


# --------------------------------------------------------------------------- streak index


@lru_cache(maxsize=4)
def _polar_sampler(n: int) -> tuple[sparse.csr_matrix, np.ndarray]:
    """Gives the sparse bilinear map from an n x n rfft2 power spectrum to the streak polar grid, and its k."""
    theta = np.arange(ai.STREAK_DIRECTIONS) * np.pi / ai.STREAK_DIRECTIONS
    k = np.arange(int(ai.STREAK_BAND[0] * n), int(ai.STREAK_BAND[1] * n), STREAK_K_STEP)
    ky = np.outer(k, np.sin(theta)).ravel()
    kx = np.outer(k, np.cos(theta)).ravel()
    y0, x0 = np.floor(ky), np.floor(kx)
    ty, tx = ky - y0, kx - x0
    rows, cols, weights = [], [], []
    sample = np.arange(ky.size)
    half = n // 2 + 1
    for dy, dx, wgt in ((0, 0, (1 - ty) * (1 - tx)), (1, 0, ty * (1 - tx)), (0, 1, (1 - ty) * tx), (1, 1, ty * tx)):
        fy, fx = (y0 + dy).astype(int), (x0 + dx).astype(int)
        # The spectrum of a real image is symmetric: a negative column is read at (-row, -col).
        neg = fx < 0
        fy = np.where(neg, -fy, fy) % n
        fx = np.abs(fx)
        inside = fx < half
        rows.append(sample[inside])
        cols.append(fy[inside] * half + fx[inside])
        weights.append(wgt[inside])
    matrix = sparse.csr_matrix((np.concatenate(weights), (np.concatenate(rows), np.concatenate(cols))),
                               shape=(ky.size, n * half))
    return matrix.astype(np.float32), k.astype(np.float64)


def _lower_quartile(x: np.ndarray) -> np.ndarray:
    """Gives np.percentile(x, 25, axis=-1, keepdims=True) (linear interpolation) by one partition."""
    m = x.shape[-1]
    pos = 0.25 * (m - 1)
    lo = int(np.floor(pos))
    part = np.partition(x, lo, axis=-1)
    below = part[..., lo : lo + 1]
    above = part[..., lo + 1 :].min(axis=-1, keepdims=True) if lo + 1 < m else below
    return below + (pos - lo) * (above - below)


def streak_rms(hp: HighPass) -> np.ndarray:
    """Gives `artifacts_index.streak_index_from` for a stack (NaN where the region is too small)."""
    b, h, w = hp.g.shape
    n = int(2 ** np.ceil(np.log2(max(h, w))))
    norm = hp.taper.square().sum(dim=(1, 2)).double().numpy()
    power = power_spectrum(hp.g * hp.taper, n)
    matrix, k = _polar_sampler(n)
    # Rows of the sampler run over (k, direction), so the quantile over directions reads contiguous memory.
    flat = power.reshape(b, -1).numpy()
    polar = np.stack([matrix @ flat[i] for i in range(b)]).reshape(b, k.size, -1)
    smooth = ndimage.uniform_filter1d(polar, ai.STREAK_FREQ_AVERAGE // STREAK_K_STEP, axis=1, mode="nearest")
    # The floor varies slowly along k after the averaging: every other k, interpolated, is enough.
    even = _lower_quartile(smooth[:, ::2])
    floor = np.repeat(even, 2, axis=1)[:, : k.size]
    floor[:, 1 : 2 * even.shape[1] - 1 : 2] = 0.5 * (even[:, :-1] + even[:, 1:])
    excess = np.maximum(smooth - ai.STREAK_EXCESS * floor, 0.0)
    variance = 2.0 * STREAK_K_STEP * (excess * k[:, None]).sum(axis=(1, 2)) * (np.pi / ai.STREAK_DIRECTIONS) / n**2
    out = np.sqrt(np.maximum(variance, 0.0) / np.maximum(norm, 1e-12))
    return np.where(hp.valid, out, np.nan)


# --------------------------------------------------------------------------- ring index


@lru_cache(maxsize=4)
def _ring_sampler(h: int, w: int) -> tuple[sparse.csr_matrix, np.ndarray]:
    """Gives the sparse map from an h x w image to the circle sums of `_azimuthal_means` for the 9 ring centres.

    Rows are (centre, radius); each of the 128 samples of a circle reads its
    nearest pixel.
    """
    c0 = ((h - 1) / 2.0, (w - 1) / 2.0)
    angles = np.arange(ai.RING_NULL_CENTRES) * 2 * np.pi / ai.RING_NULL_CENTRES
    centres = [c0] + [(c0[0] + ai.RING_NULL_SHIFT_PX * np.sin(a), c0[1] + ai.RING_NULL_SHIFT_PX * np.cos(a))
                      for a in angles]
    radii = np.arange(10.0, 0.5 * min(h, w), 1.0)
    phi = np.arange(ai.RING_SAMPLES) * 2 * np.pi / ai.RING_SAMPLES
    rows, cols = [], []
    for ci, (cy, cx) in enumerate(centres):
        ri = np.rint(cy + np.outer(radii, np.sin(phi))).astype(int).ravel()
        cj = np.rint(cx + np.outer(radii, np.cos(phi))).astype(int).ravel()
        row_id = ci * radii.size + np.repeat(np.arange(radii.size), ai.RING_SAMPLES)
        on = (ri >= 0) & (ri < h) & (cj >= 0) & (cj < w)
        rows.append(row_id[on])
        cols.append(ri[on] * w + cj[on])
    rows_a, cols_a = np.concatenate(rows), np.concatenate(cols)
    matrix = sparse.csr_matrix((np.ones(rows_a.size, dtype=np.float32), (rows_a, cols_a)),
                               shape=(len(centres) * radii.size, h * w))
    return matrix, radii


def ring_rms(hp: HighPass) -> np.ndarray:
    """Gives `artifacts_index.ring_index_from` (image-centre rings) for a stack (NaN where not computable).

    The circles are sampled at their nearest pixels where the reference
    interpolates bilinearly (benchmarked in bench/measures_bench.py).
    """
    b, h, w = hp.g.shape
    matrix, radii = _ring_sampler(h, w)
    flat_g, flat_region = hp.g.reshape(b, -1).numpy(), hp.region.reshape(b, -1).to(torch.float32).numpy()
    n_centres = ai.RING_NULL_CENTRES + 1
    sums = np.stack([matrix @ flat_g[i] for i in range(b)]).astype(np.float64).reshape(b, n_centres, radii.size)
    count = np.stack([matrix @ flat_region[i] for i in range(b)]).astype(np.float64).reshape(b, n_centres, -1)
    means = sums / np.maximum(count, 1.0)
    # Bilinear sampling blurs the samples by about [1/8, 3/4, 1/8] per axis; across concentric circles that is
    # a radial blur of their means (RING_RADIAL_BLUR matches the reference on thin rings within 10 %, see tests).
    c = RING_RADIAL_BLUR
    means = np.concatenate([means[..., :1], (1 - 2 * c) * means[..., 1:-1] + c * (means[..., :-2] + means[..., 2:]),
                            means[..., -1:]], axis=-1)
    n_eff = np.minimum(count, count * 2 * np.pi * radii / ai.RING_SAMPLES)
    ok = n_eff >= 32
    n_ok = ok.sum(axis=2)
    power = np.where(n_ok >= 10, np.where(ok, means * means, 0.0).sum(axis=2) / np.maximum(n_ok, 1), np.nan)
    out = np.full(b, np.nan)
    for i in range(b):
        nulls = power[i, 1:][np.isfinite(power[i, 1:])]
        if hp.valid[i] and np.isfinite(power[i, 0]) and nulls.size >= 3:
            out[i] = np.sqrt(max(power[i, 0] - nulls.mean() - 2.0 * nulls.std(), 0.0))
    return out
