"""Fixed features of a photograph (RGB in [0, 1]) that the photo model scores: no-reference and full-reference.

`photo_features(rgb)` gives one vector per photo (`PHOTO_FEATURES`, in that order):
- natural-scene statistics: BRISQUE-like statistics of the mean-subtracted contrast-normalised (MSCN) luminance
  at two scales (spread, shape, tails, neighbour correlations), which noise, blur and compression all bend;
- noise: the wavelet (MAD) estimate of the noise sigma (as `skimage.restoration.estimate_sigma`) of the luminance and
  of the red-green difference, where colour noise shows and scene detail mostly does not;
- sharpness: Laplacian variance, gradient magnitude, the gradient lost to a slight blur, the steepest edges;
- compression and pixelation: 8x8 blockiness, the strongest column/row period, runs of equal neighbours;
- colour: colourfulness (Hasler-Suesstrunk), saturation, colour cast;
- exposure and contrast: clipped fractions, luminance percentiles, RMS and local contrast, grey levels used.

Distortions live at the pixel grid, so local statistics are measured at native resolution on a central crop
of at most `LOCAL_PX` (its corner on the 16 px grid, so JPEG blocks stay aligned); global statistics use the
whole photo, strided down to at most `GLOBAL_PX` a side.
`photo_pair_features(rgb, reference)` gives the full-reference vector (`PHOTO_PAIR_FEATURES`).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy import ndimage as ndi

from vliqa.core import unit_rgb
from vliqa.errors import ImageSizeError, InvalidImageError

LUMA = np.array([0.299, 0.587, 0.114], np.float32)
#: Side of the central crop the local statistics are measured on (native pixels).
LOCAL_PX = 512
#: Global statistics see the photo strided down to at most this many pixels a side.
GLOBAL_PX = 1024
#: Smallest side a photo may have.
MIN_PHOTO_PX = 32
_MSCN_SIGMA = 7 / 6
_MSCN_C = 1 / 255

_MSCN = ("mscn_var", "mscn_shape", "mscn_kurt", "pair_h", "pair_v", "pair_d")
#: The no-reference features, in the order the photo model reads them.
PHOTO_FEATURES: tuple[str, ...] = (
    *(f"{k}{s}" for s in (1, 2) for k in _MSCN),
    "noise_sigma", "noise_sigma_rg",
    "lap_var", "grad_mean", "grad_kept_blur", "edge_p99",
    "block8", "period_peak", "flat_h", "flat_v",
    "colourfulness", "sat_mean", "sat_std", "colour_cast",
    "clip_hi", "clip_lo", "luma_mean", "luma_p05", "luma_p50", "luma_p95",
    "rms_contrast", "local_contrast", "grey_levels", "colour_count",
)
#: The full-reference features of a photo against its clean reference.
PHOTO_PAIR_FEATURES: tuple[str, ...] = (
    "psnr", "ssim", "gms_mean", "gmsd", "delta_e_mean", "delta_e_p95", "luma_shift", "contrast_ratio",
    "chroma_ratio", "detail_ratio",
)


def as_photo_rgb(image: Any) -> np.ndarray:
    """Gives the pixels of a PhotoImage, an (H, W, 3) array or anything `vliqa.core.unit_rgb` takes, as float32
    RGB in [0, 1]; raises for CT images and photos smaller than MIN_PHOTO_PX."""
    if getattr(image, "domain", None) == "ct":
        raise InvalidImageError(f"{getattr(image, 'source', None) or 'image'} is CT, not a photograph",
                                hint="score CT with a CT model (e.g. 'reader'), or load it with domain='photo'")
    pixels = getattr(image, "rgb", image)
    arr = np.asarray(pixels)
    rgb = arr if arr.dtype == np.float32 and arr.ndim == 3 and arr.shape[-1] == 3 else unit_rgb(arr)
    if min(rgb.shape[:2]) < MIN_PHOTO_PX:
        raise ImageSizeError(f"photo is {rgb.shape[0]}x{rgb.shape[1]} px; the photo model needs at least "
                             f"{MIN_PHOTO_PX} px a side", path=getattr(image, "source", None),
                             hint="pass the full-size photo, not a thumbnail")
    return rgb


def _central_crop(rgb: np.ndarray, px: int = LOCAL_PX) -> np.ndarray:
    rows, cols = rgb.shape[:2]
    top = max(0, (rows - px) // 2) // 16 * 16
    left = max(0, (cols - px) // 2) // 16 * 16
    return rgb[top:top + px, left:left + px]


def _strided(rgb: np.ndarray, px: int = GLOBAL_PX) -> np.ndarray:
    step = int(np.ceil(max(rgb.shape[:2]) / px))
    return rgb[::step, ::step] if step > 1 else rgb


def _mscn(luma: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Gives the MSCN coefficients of `luma` and its local standard deviation."""
    mu = ndi.gaussian_filter(luma, _MSCN_SIGMA, mode="reflect")
    var = ndi.gaussian_filter(luma * luma, _MSCN_SIGMA, mode="reflect") - mu * mu
    sigma = np.sqrt(np.abs(var))
    return (luma - mu) / (sigma + _MSCN_C), sigma


def _mscn_stats(luma: np.ndarray) -> tuple[list[float], np.ndarray]:
    """Gives the six MSCN statistics of `luma` (log spread, shape, log kurtosis, three neighbour correlations) and
    its local standard deviation."""
    m, sigma = _mscn(luma)
    second = float(np.mean(m * m)) + 1e-8
    shape = float(np.mean(np.abs(m))) ** 2 / second
    kurt = float(np.log(np.mean(m ** 4) / second ** 2 + 1e-8))
    pairs = [float(np.mean(a * b)) / second for a, b in ((m[:, :-1], m[:, 1:]), (m[:-1], m[1:]),
                                                         (m[:-1, :-1], m[1:, 1:]))]
    return [float(np.log(second)), shape, kurt, *pairs], sigma


def _noise_sigma(channel: np.ndarray) -> float:
    """Gives log of Donoho's wavelet noise estimate, median(|HH|) / 0.6745 of the finest diagonal subband: the
    estimator of `skimage.restoration.estimate_sigma`, on the Haar wavelet so it needs no PyWavelets."""
    c = channel[: channel.shape[0] // 2 * 2, : channel.shape[1] // 2 * 2]
    hh = (c[0::2, 0::2] - c[0::2, 1::2] - c[1::2, 0::2] + c[1::2, 1::2]) / 2.0
    return float(np.log(float(np.median(np.abs(hh))) / 0.6745 + 1e-4))


def _gradient(luma: np.ndarray) -> np.ndarray:
    return np.hypot(ndi.sobel(luma, axis=1, mode="reflect"), ndi.sobel(luma, axis=0, mode="reflect")) / 8.0


def _blockiness(luma: np.ndarray) -> tuple[float, float]:
    """Gives (log ratio of the differences across 8 px block edges to those inside, log peak-to-median of the
    mean column/row difference over periods 2-8 px)."""
    out = []
    peaks = []
    for axis in (1, 0):
        d = np.abs(np.diff(luma, axis=axis)).mean(axis=1 - axis)  # mean difference per column (row) boundary
        n = d.size - d.size % 8
        if n < 16:
            out.append(0.0)
            peaks.append(0.0)
            continue
        phases = d[:n].reshape(-1, 8).mean(axis=0)  # boundary k sits between pixel k and k+1 of a block
        out.append(float(np.log((phases[7] + 1e-5) / (np.median(phases[:7]) + 1e-5))))
        best = 0.0
        for period in range(2, 9):
            m = d.size - d.size % period
            ph = d[:m].reshape(-1, period).mean(axis=0)
            best = max(best, float(np.log((ph.max() + 1e-5) / (np.median(ph) + 1e-5))))
        peaks.append(best)
    return float(np.mean(out)), float(np.mean(peaks))


def photo_features(image: Any) -> np.ndarray:
    """Gives the no-reference feature vector (float32, `PHOTO_FEATURES` order) of one photograph.

    `image`: a PhotoImage or RGB pixels (H, W, 3), 8-bit or float in [0, 1].
    """
    rgb = as_photo_rgb(image)
    local = _central_crop(rgb)
    luma = local @ LUMA
    half = luma[: luma.shape[0] // 2 * 2, : luma.shape[1] // 2 * 2]
    half = half.reshape(half.shape[0] // 2, 2, half.shape[1] // 2, 2).mean(axis=(1, 3))
    fine, local_sigma = _mscn_stats(luma)
    feats: list[float] = [*fine, *_mscn_stats(half)[0]]
    feats += [_noise_sigma(luma), _noise_sigma(local[..., 0] - local[..., 1])]

    grad = _gradient(luma)
    grad_blur = _gradient(ndi.gaussian_filter(luma, 1.0, mode="reflect"))
    feats += [float(np.log(np.var(ndi.laplace(luma, mode="reflect")) + 1e-8)),
              float(np.log(grad.mean() + 1e-6)),
              float(np.log((grad_blur.mean() + 1e-6) / (grad.mean() + 1e-6))),
              float(np.log(np.percentile(grad, 99) + 1e-6))]
    block8, period = _blockiness(luma)
    q = np.rint(luma * 255)
    feats += [block8, period, float(np.mean(q[:, 1:] == q[:, :-1])), float(np.mean(q[1:] == q[:-1]))]

    whole = _strided(rgb)
    r, g, b = whole[..., 0], whole[..., 1], whole[..., 2]
    rg, yb = r - g, 0.5 * (r + g) - b
    colourfulness = float(np.hypot(rg.std(), yb.std()) + 0.3 * np.hypot(rg.mean(), yb.mean()))
    high, low = whole.max(axis=-1), whole.min(axis=-1)
    saturation = (high - low) / (high + 1e-3)
    feats += [colourfulness, float(saturation.mean()), float(saturation.std()),
              float(np.hypot(rg.mean(), yb.mean()))]

    wl = whole @ LUMA
    p05, p50, p95 = (float(v) for v in np.percentile(wl, (5, 50, 95)))
    levels = int(np.count_nonzero(np.bincount(np.rint(wl * 255).astype(np.intp).ravel(), minlength=256)))
    # distinct colours at 6 bits a channel (a bincount, not a sort: the sort cost more than all other features)
    codes = (np.rint(whole * 63).astype(np.intp) * np.array([4096, 64, 1], np.intp)).sum(axis=-1)
    colours = int(np.count_nonzero(np.bincount(codes.ravel(), minlength=1 << 18)))
    feats += [float(np.mean(high >= 0.99)), float(np.mean(high <= 0.02)), float(wl.mean()), p05, p50, p95,
              float(wl.std()), float(np.log(local_sigma.mean() + 1e-4)), levels / 256.0,
              float(np.log(colours) / np.log(min(wl.size, 1 << 18)))]
    return np.asarray(feats, dtype=np.float32)


def _lab(rgb: np.ndarray) -> np.ndarray:
    from skimage.color import rgb2lab  # lazy: skimage.color is only needed for the full-reference features

    return rgb2lab(rgb)


def photo_pair_features(image: Any, reference: Any) -> np.ndarray:
    """Gives the full-reference feature vector (float32, `PHOTO_PAIR_FEATURES` order) of a photo against its
    clean reference of the same size: PSNR, SSIM, gradient-magnitude similarity (mean and GMSD), colour
    difference (CIE76 Delta E, mean and 95th percentile), and changes of brightness, contrast, colour and detail.
    """
    from skimage.metrics import structural_similarity  # lazy: as in _lab

    img, ref = as_photo_rgb(image), as_photo_rgb(reference)
    if img.shape != ref.shape:
        raise InvalidImageError(f"the reference is {ref.shape[1]}x{ref.shape[0]} px but the photo is "
                                f"{img.shape[1]}x{img.shape[0]}", hint="give the clean photo at the same size")
    img, ref = _central_crop(img), _central_crop(ref)
    li, lr = img @ LUMA, ref @ LUMA
    mse = float(np.mean((img - ref) ** 2))
    psnr = min(60.0, 10 * np.log10(1.0 / max(mse, 1e-10)))
    ssim = float(structural_similarity(li, lr, data_range=1.0))
    gi, gr = _gradient(li), _gradient(lr)
    c = 170 / 255 ** 2
    gms = (2 * gi * gr + c) / (gi ** 2 + gr ** 2 + c)
    delta_e = np.linalg.norm(_lab(img) - _lab(ref), axis=-1)

    def chroma(x: np.ndarray) -> float:
        return float(np.mean(x.max(axis=-1) - x.min(axis=-1))) + 1e-3

    return np.asarray([
        psnr, ssim, float(gms.mean()), float(gms.std()), float(delta_e.mean()), float(np.percentile(delta_e, 95)),
        float(li.mean() - lr.mean()), float(np.log((li.std() + 1e-3) / (lr.std() + 1e-3))),
        float(np.log(chroma(img) / chroma(ref))), float(np.log((gi.mean() + 1e-5) / (gr.mean() + 1e-5))),
    ], dtype=np.float32)
