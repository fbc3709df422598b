"""Denoiser and reconstruction looks: classical smoothers, a small MSE CNN, IR texture, detail loss, residual streaks.

Quality is not "less noise is better": readers mark over-smoothed, waxy or
plastic images down as much as noisy ones. These functions make images of each
kind a denoising or iterative-reconstruction benchmark meets, with the
parameters recorded so that labels can relate the look to its cause.

Every smoother takes `strength` in [0, 1] (0 = the input unchanged, 1 = far
too strong) and maps it to the method's own parameters, documented per
function. Parameters that depend on the image (most are scaled by its noise
level, estimated by `estimate_noise_sigma_hu`) are recorded too and can be
passed back explicitly to reproduce a result on another image.
"""

from __future__ import annotations

import importlib.util
from typing import Any

import numpy as np
from scipy import ndimage

from vliqa.core import CTImage
from vliqa.errors import InvalidParameterError
from vliqa.simulate.image_domain import (
    DependencyUnavailableError,
    bilateral_hu,
    estimate_noise_sigma_hu,
    gaussian_mm,
    spacing_mm,
)
from vliqa.simulate.registry import register

DENOISE_ASPECTS = ("texture", "sharpness", "contrast")


def _strength_for_severity(s: float, rng: np.random.Generator) -> dict[str, Any]:
    return {"strength": float(np.clip(round(s * rng.uniform(0.92, 1.08), 3), 0.0, 1.0))}


def _check_strength(strength: float) -> float:
    strength = float(strength)
    if not np.isfinite(strength) or not 0.0 <= strength <= 1.0:
        raise InvalidParameterError(f"strength={strength} is out of range", hint="use a value in [0, 1]")
    return strength


def _noise(image: CTImage, noise_sigma_hu: float | None) -> float:
    # a Python float, not np.float64: numpy would otherwise promote float32 maths to float64,
    # and a replay with the recorded value would differ in the last bits
    return float(noise_sigma_hu) if noise_sigma_hu is not None else float(round(estimate_noise_sigma_hu(image.hu), 2))


def _tv_hu(hu: np.ndarray, weight_hu: float, n_iter: int) -> np.ndarray:
    """Gives Chambolle TV denoising of `hu` after exactly `n_iter` iterations."""
    from skimage.restoration import denoise_tv_chambolle  # lazy: imports skimage

    # eps=0: scikit-image's stopping test compares successive energies, which can
    # pass through equality early for large weights and stop after a few
    # iterations (then more weight gave *less* smoothing); a fixed count is monotone.
    out = denoise_tv_chambolle(hu.astype(np.float32) / 1000.0, weight=weight_hu / 1000.0, max_num_iter=int(n_iter),
                               eps=0.0)
    return (out * 1000.0).astype(np.float32)


# ---------------------------------------------------------------- classical smoothers


@register("smooth_gaussian", params_for_severity=_strength_for_severity, aspects=DENOISE_ASPECTS, kind="denoise")
def smooth_gaussian(image: CTImage, *, seed: int = 0, strength: float = 0.5, sigma_mm: float | None = None) -> CTImage:
    """Gives the image smoothed by a Gaussian low-pass: sigma_mm = 2.0 * strength (blurs edges and noise alike)."""
    strength = _check_strength(strength)
    sigma_mm = float(sigma_mm) if sigma_mm is not None else 2.0 * strength
    out = gaussian_mm(image.hu, sigma_mm, spacing_mm(image))
    return image.with_step("smooth_gaussian", {"strength": strength, "sigma_mm": sigma_mm}, out)


@register("smooth_bilateral", params_for_severity=_strength_for_severity, aspects=DENOISE_ASPECTS, kind="denoise")
def smooth_bilateral(
    image: CTImage,
    *,
    seed: int = 0,
    strength: float = 0.5,
    sigma_spatial_mm: float | None = None,
    sigma_range_hu: float | None = None,
    noise_sigma_hu: float | None = None,
) -> CTImage:
    """Gives the image after an edge-preserving bilateral filter.

    sigma_spatial_mm = 0.5 + 1.0 * strength; sigma_range_hu = 5.0 * strength *
    noise sigma: edges well above the noise survive, texture and faint
    structures below a few noise sigmas are flattened (cartoon-like patches).
    """
    strength = _check_strength(strength)
    noise = _noise(image, noise_sigma_hu)
    sigma_spatial_mm = float(sigma_spatial_mm) if sigma_spatial_mm is not None else 0.5 + 1.0 * strength
    sigma_range_hu = float(sigma_range_hu) if sigma_range_hu is not None else 5.0 * strength * noise
    sp = spacing_mm(image)
    out = bilateral_hu(image.hu, sigma_spatial_mm / float(np.mean(sp)), sigma_range_hu)
    params = {"strength": strength, "sigma_spatial_mm": sigma_spatial_mm, "sigma_range_hu": sigma_range_hu,
              "noise_sigma_hu": noise}
    return image.with_step("smooth_bilateral", params, out)


@register("smooth_nlm", params_for_severity=_strength_for_severity, aspects=DENOISE_ASPECTS, kind="denoise")
def smooth_nlm(
    image: CTImage,
    *,
    seed: int = 0,
    strength: float = 0.5,
    h_hu: float | None = None,
    patch_sigma_hu: float | None = None,
    noise_sigma_hu: float | None = None,
    patch_size: int = 5,
    patch_distance: int = 5,
) -> CTImage:
    """Gives the image after non-local means (scikit-image, fast mode, 5x5 patches in an 11x11 search window).

    h_hu = 1.2 * strength * noise sigma is the filter parameter and
    patch_sigma_hu = 0.6 * strength * noise sigma the `sigma` scikit-image
    subtracts from patch distances (patches closer than that count as equal):
    texture is averaged into smooth, slightly blotchy patches. About 0.3 s on 512x512.
    """
    from skimage.restoration import denoise_nl_means  # lazy: imports skimage

    strength = _check_strength(strength)
    noise = _noise(image, noise_sigma_hu)
    h_hu = float(h_hu) if h_hu is not None else 1.2 * strength * noise
    patch_sigma_hu = float(patch_sigma_hu) if patch_sigma_hu is not None else 0.6 * strength * noise
    params = {"strength": strength, "h_hu": h_hu, "patch_sigma_hu": patch_sigma_hu, "noise_sigma_hu": noise,
              "patch_size": int(patch_size), "patch_distance": int(patch_distance)}
    if h_hu <= 0:
        return image.with_step("smooth_nlm", params, image.hu.copy())
    # scaled to ~unit range: the fast-mode integral images are more accurate there
    out = denoise_nl_means(image.hu / 1000.0, patch_size=int(patch_size), patch_distance=int(patch_distance),
                           h=h_hu / 1000.0, sigma=patch_sigma_hu / 1000.0, fast_mode=True)
    return image.with_step("smooth_nlm", params, out * 1000.0)


@register("smooth_tv", params_for_severity=_strength_for_severity, aspects=DENOISE_ASPECTS, kind="denoise")
def smooth_tv(
    image: CTImage,
    *,
    seed: int = 0,
    strength: float = 0.5,
    weight_hu: float | None = None,
    noise_sigma_hu: float | None = None,
    n_iter: int = 80,
) -> CTImage:
    """Gives the image after total-variation denoising (Chambolle), piecewise flat with a cartoon, plastic look.

    weight_hu = 2.5 * strength * noise sigma (the TV weight, in HU because the
    fidelity term is in HU), `n_iter` iterations: flat patches with sharp
    steps, fine texture gone.
    """
    strength = _check_strength(strength)
    noise = _noise(image, noise_sigma_hu)
    weight_hu = float(weight_hu) if weight_hu is not None else 2.5 * strength * noise
    params = {"strength": strength, "weight_hu": weight_hu, "noise_sigma_hu": noise, "n_iter": int(n_iter)}
    if weight_hu <= 0:
        return image.with_step("smooth_tv", params, image.hu.copy())
    return image.with_step("smooth_tv", params, _tv_hu(image.hu, weight_hu, n_iter))


#: degradations registered only when their optional package is installed: excluding them is never an error
OPTIONAL_DEGRADATIONS = ("smooth_bm3d",)


def bm3d_available() -> bool:
    """Gives True when the optional `bm3d` package (free for non-commercial use only) is installed."""
    return importlib.util.find_spec("bm3d") is not None


def smooth_bm3d(
    image: CTImage, *, seed: int = 0, strength: float = 0.5, sigma_hu: float | None = None,
    noise_sigma_hu: float | None = None
) -> CTImage:
    """Gives the image after BM3D (Tampere `bm3d` package, both stages): very clean, slightly waxy flat regions.

    sigma_hu = 2.0 * strength * noise sigma is the noise level BM3D is told
    (over-estimating it over-smooths). Needs `pip install bm3d`, whose licence
    allows non-commercial use only, which is why vliqa does not depend on it;
    about 5-10 s per 512x512 slice on 2 cores. Registered only when installed.
    """
    if not bm3d_available():
        raise DependencyUnavailableError(
            "smooth_bm3d needs the optional 'bm3d' package, which is not installed",
            hint="pip install bm3d (free for non-commercial use only), or use smooth_nlm / smooth_cnn",
        )
    import bm3d  # lazy: optional dependency, not installed by default

    strength = _check_strength(strength)
    noise = _noise(image, noise_sigma_hu)
    sigma_hu = float(sigma_hu) if sigma_hu is not None else 2.0 * strength * noise
    params = {"strength": strength, "sigma_hu": sigma_hu, "noise_sigma_hu": noise}
    if sigma_hu <= 0:
        return image.with_step("smooth_bm3d", params, image.hu.copy())
    out = bm3d.bm3d(image.hu / 1000.0, sigma_psd=sigma_hu / 1000.0) * 1000.0
    return image.with_step("smooth_bm3d", params, out)


if bm3d_available():  # the dataset sampler only sees what can run here
    register("smooth_bm3d", params_for_severity=_strength_for_severity, aspects=DENOISE_ASPECTS,
             kind="denoise")(smooth_bm3d)


#: smooth_cnn: strength 1 means this many passes of the network
CNN_MAX_PASSES = 2


@register("smooth_cnn", params_for_severity=_strength_for_severity, aspects=DENOISE_ASPECTS, kind="denoise")
def smooth_cnn(image: CTImage, *, seed: int = 0, strength: float = 0.5, checkpoint: str | None = None) -> CTImage:
    """Gives the image after the shipped tiny MSE-trained CNN denoiser: the waxy deep-learning look.

    strength * 2 = number of network passes, the fractional part blended with
    the previous pass: 0.25 is the input plus half of what one pass removes,
    0.5 one pass, 0.75 half-way between one and two passes, 1 two passes. Each pass takes about 0.1 s on a 512x512
    slice (2 threads).
    `checkpoint` is a folder with config.json + model.safetensors (default: shipped).
    """
    from vliqa.simulate.cnn_denoiser import denoise_hu  # lazy: imports torch

    strength = _check_strength(strength)
    amount = strength * CNN_MAX_PASSES
    passes = int(np.ceil(amount))
    params = {"strength": strength, "checkpoint": checkpoint}
    if passes == 0:
        return image.with_step("smooth_cnn", params, image.hu.copy())
    outs = denoise_hu(image.hu, passes=passes, path=checkpoint)
    before = outs[-2] if passes > 1 else image.hu
    frac = np.float32(amount - (passes - 1))
    out = before + frac * (outs[-1] - before)
    return image.with_step("smooth_cnn", params, out)


# ---------------------------------------------------------------- reconstruction textures


@register("ir_texture", params_for_severity=_strength_for_severity, aspects=("texture", "sharpness", "noise"),
          kind="denoise")
def ir_texture(
    image: CTImage,
    *,
    seed: int = 0,
    strength: float = 0.5,
    noise_sigma_hu: float | None = None,
    base_weight_hu: float | None = None,
    high_freq_gain: float | None = None,
    mottle_gain: float | None = None,
    mottle_sigma_mm: float | None = None,
) -> CTImage:
    """Gives the image with an iterative-reconstruction texture: fine noise removed, coarse blotchy mottle kept.

    Aggressive ASIR/SAFIRE/ADMIRE levels move the noise power spectrum to low
    frequencies: the noise std falls but what is left is coarse, blotchy and
    "plastic". Here: an edge-preserving base (TV, weight base_weight_hu = 1.5 *
    strength * noise sigma), the image's own noise n = image - base; n's
    spectrum is multiplied by high_freq_gain = 1 - 0.9 * strength at high
    frequencies and by mottle_gain = 1 + 2.5 * strength inside a Gaussian
    low-pass of sigma mottle_sigma_mm = 1.2 + 1.5 * strength, then added back.
    At strength 0.9 the noise std falls by about 30-40 %, as at high IR levels.
    Near strong edges the mottle boost is faded out so edges do not get halos.
    """
    strength = _check_strength(strength)
    noise = _noise(image, noise_sigma_hu)
    base_weight_hu = float(base_weight_hu) if base_weight_hu is not None else 1.5 * strength * noise
    high_freq_gain = float(high_freq_gain) if high_freq_gain is not None else 1.0 - 0.9 * strength
    mottle_gain = float(mottle_gain) if mottle_gain is not None else 1.0 + 2.5 * strength
    mottle_sigma_mm = float(mottle_sigma_mm) if mottle_sigma_mm is not None else 1.2 + 1.5 * strength
    params = {
        "strength": strength,
        "noise_sigma_hu": noise,
        "base_weight_hu": base_weight_hu,
        "high_freq_gain": high_freq_gain,
        "mottle_gain": mottle_gain,
        "mottle_sigma_mm": mottle_sigma_mm,
    }
    hu = image.hu.astype(np.float32)
    if base_weight_hu <= 0:
        return image.with_step("ir_texture", params, hu.copy())
    sp = spacing_mm(image)
    base = _tv_hu(hu, base_weight_hu, 80)
    resid = hu - base
    low = gaussian_mm(resid, mottle_sigma_mm, sp)
    # fade the boost where the base has edges stronger than ~3 noise sigmas per mm
    grad = np.hypot(*np.gradient(gaussian_mm(base, 0.7, sp), sp[0], sp[1]))
    calm = np.exp(-((grad / (3.0 * noise)) ** 2))
    out = base + high_freq_gain * (resid - low) + (1.0 + (mottle_gain - 1.0) * calm) * low
    return image.with_step("ir_texture", params, out)


@register("detail_loss", params_for_severity=_strength_for_severity, aspects=("contrast", "sharpness"), kind="denoise")
def detail_loss(
    image: CTImage,
    *,
    seed: int = 0,
    strength: float = 0.5,
    size_mm: float | None = None,
    contrast_hu: float | None = None,
    fine_sigma_mm: float = 0.6,
) -> CTImage:
    """Gives the image with small low-contrast features erased while most of the fine noise grain stays.

    The detail between two scales (a difference of Gaussians with sigmas
    fine_sigma_mm and size_mm = 2 + 6 * strength) is removed where its local
    amplitude is below contrast_hu = 30 * strength (weight 1 / (1 +
    (amplitude / contrast_hu)**4)) and kept where it is well above. Features smaller than size_mm and fainter than
    contrast_hu,
    the lesions a reader hunts for, fade into the background; large organs,
    strong edges and the finest band (most of the noise) are untouched.
    """
    strength = _check_strength(strength)
    size_mm = float(size_mm) if size_mm is not None else 2.0 + 6.0 * strength
    contrast_hu = float(contrast_hu) if contrast_hu is not None else 30.0 * strength
    params = {"strength": strength, "size_mm": size_mm, "contrast_hu": contrast_hu,
              "fine_sigma_mm": float(fine_sigma_mm)}
    hu = image.hu.astype(np.float32)
    if contrast_hu <= 0 or size_mm <= fine_sigma_mm:
        return image.with_step("detail_loss", params, hu.copy())
    sp = spacing_mm(image)
    coarse_sigma_mm = float(size_mm)  # a spot of diameter size_mm keeps little of its contrast at this scale
    # the bands between the finest and the coarsest scale, gated by their joint local amplitude:
    # an organ boundary has a large amplitude in every band and survives; a faint spot does not
    detail = gaussian_mm(hu, fine_sigma_mm, sp) - gaussian_mm(hu, coarse_sigma_mm, sp)
    amplitude = np.sqrt(gaussian_mm(detail * detail, coarse_sigma_mm, sp))
    out = hu - detail / (1.0 + (amplitude / contrast_hu) ** 4)
    return image.with_step("detail_loss", params, out)


def _streaks_only(before: CTImage, after: CTImage) -> np.ndarray:
    """Gives the streaks residual_streaks added (smoothed as the image was): after - smooth(before).

    The step's smoothing of the whole image is denoiser look (texture, sharpness), not artifact: counted as
    artifact it made every bone edge the blur moved into an "artifact" of hundreds of HU.
    """
    params = after.history[-1]
    if params["amplitude_hu"] <= 0 or params["n_angles"] <= 0:  # the step returned its input unchanged
        return np.zeros(after.shape, np.float32)
    sigma = float(params["smooth_sigma_mm"])
    return after.hu.astype(np.float32) - gaussian_mm(before.hu.astype(np.float32), sigma, spacing_mm(before))


@register("residual_streaks", params_for_severity=_strength_for_severity, aspects=("artifacts", "texture"),
          kind="denoise", artifact_part=_streaks_only)
def residual_streaks(
    image: CTImage,
    *,
    seed: int = 0,
    strength: float = 0.5,
    amplitude_hu: float | None = None,
    n_angles: int | None = None,
    angles_deg: list[float] | None = None,
    dense_threshold_hu: float = 250.0,
    width_mm: float = 0.8,
    smooth_sigma_mm: float | None = None,
) -> CTImage:
    """Gives the image with faint, smoothed streaks through dense structures, as left over after denoising.

    Streak patterns of few-view or photon-starved scans survive denoisers that
    remove the fine noise. For each of n_angles = 2 + round(4 * strength)
    seeded angles (or the given angles_deg), the dense part of the image (HU above dense_threshold_hu) is
    projected along that angle, high-pass filtered and smeared back: thin
    bright/dark lines tangent to bone and contrast, running across the whole
    slice. Their sum is scaled so its peak is amplitude_hu = 70 * strength,
    blurred across by width_mm, added, and the whole image is then
    smoothed with smooth_sigma_mm = 0.8 * strength (the denoiser's look).
    """
    strength = _check_strength(strength)
    amplitude_hu = float(amplitude_hu) if amplitude_hu is not None else 70.0 * strength
    if angles_deg is not None:
        angles = [float(a) for a in angles_deg]
        n_angles = len(angles)
    else:
        n_angles = int(n_angles) if n_angles is not None else 2 + int(round(4 * strength))
        angles = sorted(float(a) for a in np.round(np.random.default_rng(seed).uniform(0.0, 180.0, n_angles), 2))
    smooth_sigma_mm = float(smooth_sigma_mm) if smooth_sigma_mm is not None else 0.8 * strength
    params = {
        "strength": strength,
        "amplitude_hu": amplitude_hu,
        "n_angles": n_angles,
        "angles_deg": angles,
        "dense_threshold_hu": float(dense_threshold_hu),
        "width_mm": float(width_mm),
        "smooth_sigma_mm": smooth_sigma_mm,
    }
    hu = image.hu.astype(np.float32)
    sp = spacing_mm(image)
    if amplitude_hu <= 0 or n_angles <= 0:
        return image.with_step("residual_streaks", params, hu.copy())
    dense = np.clip(hu - dense_threshold_hu, 0.0, 1500.0)
    # pad to the diagonal so rotated projections cover the whole slice
    diag = int(np.ceil(np.hypot(*hu.shape)))
    pr, pc = (diag - hu.shape[0]) // 2 + 1, (diag - hu.shape[1]) // 2 + 1
    dense_pad = np.pad(dense, ((pr, pr), (pc, pc)))
    streaks = np.zeros_like(dense_pad)
    signs = np.random.default_rng([seed, 1]).choice([-1.0, 1.0], n_angles)  # own stream: replays with angles_deg match
    for angle, sign in zip(angles, signs, strict=True):
        proj = ndimage.rotate(dense_pad, angle, reshape=False, order=1).sum(axis=0)
        high = proj - ndimage.gaussian_filter1d(proj, 3.0)
        streaks += sign * ndimage.rotate(np.broadcast_to(high, dense_pad.shape), -angle, reshape=False, order=1)
    streaks = streaks[pr : pr + hu.shape[0], pc : pc + hu.shape[1]]
    scale = float(np.abs(streaks).max())
    if scale > 0:
        streaks = gaussian_mm(streaks * np.float32(amplitude_hu / scale), width_mm * 0.5, sp)
    out = gaussian_mm(hu + streaks, smooth_sigma_mm, sp)
    return image.with_step("residual_streaks", params, out)
