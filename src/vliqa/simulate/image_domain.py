"""Image-domain degradations: blur, thick slices, resampling, lossy compression, bit depth, bad export window.

Each function works on HU, is pure and seeded, and records every parameter it
used (including the ones it derived) so that calling it again with the recorded
parameters gives the same pixels. Physical sizes are in mm; an image without
pixel spacing is taken to have 0.7 mm pixels (`DEFAULT_PIXEL_SPACING_MM`).

Compression and bit-depth steps work on a display image (a window mapped to
8 bits), as an export to a PACS viewer, a slide or a web page would. By default
only the error the export makes is added back onto the original HU
(`keep_out_of_window=True`) so values outside the window (bone, air) survive for
later steps; `keep_out_of_window=False` gives the faithful clipped export.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from typing import Any

import numpy as np
from PIL import Image, features
from scipy import ndimage

from vliqa.core import CTImage, Window
from vliqa.errors import DependencyUnavailableError, InvalidParameterError  # noqa: F401 - DependencyUnavailableError is re-exported
from vliqa.simulate.registry import register

#: Pixel size assumed when an image does not say (a typical 350 mm field of view at 512 px).
DEFAULT_PIXEL_SPACING_MM = 0.7


# ---------------------------------------------------------------- shared helpers


def spacing_mm(image: CTImage) -> tuple[float, float]:
    """Gives the (row, col) pixel spacing in mm, or the default when the image has none."""
    if image.pixel_spacing_mm is None:
        return (DEFAULT_PIXEL_SPACING_MM, DEFAULT_PIXEL_SPACING_MM)
    row, col = image.pixel_spacing_mm
    return (float(row) if row and row > 0 else DEFAULT_PIXEL_SPACING_MM,
            float(col) if col and col > 0 else DEFAULT_PIXEL_SPACING_MM)


def gaussian_mm(hu: np.ndarray, sigma_mm: float | tuple[float, float], spacing: tuple[float, float]) -> np.ndarray:
    """Gives `hu` smoothed by a Gaussian whose sigma is given in mm (per axis if a pair)."""
    sig = (sigma_mm, sigma_mm) if np.isscalar(sigma_mm) else sigma_mm
    sigma_px = (float(sig[0]) / spacing[0], float(sig[1]) / spacing[1])  # type: ignore[index]
    if max(sigma_px) <= 0:
        return np.asarray(hu, dtype=np.float32).copy()
    return ndimage.gaussian_filter(np.asarray(hu, dtype=np.float32), sigma_px, mode="nearest")


def estimate_noise_sigma_hu(hu: np.ndarray, window_px: int = 15) -> float:
    """Gives a robust estimate of the pixel noise standard deviation (HU) in soft tissue.

    The 30th percentile of the local standard deviation in `window_px` windows
    that lie wholly in soft tissue (-200..300 HU): flat regions dominate the low
    percentiles, edges the high ones. Unlike a residual to a 3x3 mean, this sees
    the low-frequency part of CT's correlated noise (within 10 % of a flat liver
    ROI's std on the bundled slices, with and without added CT-like noise).
    """
    hu = np.asarray(hu, dtype=np.float64)
    mean = ndimage.uniform_filter(hu, window_px, mode="nearest")
    var = np.maximum(ndimage.uniform_filter(hu * hu, window_px, mode="nearest") - mean * mean, 0.0)
    flat = (ndimage.minimum_filter(hu, window_px) > -200) & (ndimage.maximum_filter(hu, window_px) < 300)
    if flat.sum() < 500:  # no soft tissue (phantom, lung only): every window that is not air
        flat = ndimage.minimum_filter(hu, window_px) > -900
    if flat.sum() < 100:
        flat = np.ones_like(hu, dtype=bool)
    return max(1.0, float(np.sqrt(np.percentile(var[flat], 30))))


def bilateral_hu(hu: np.ndarray, sigma_spatial_px: float, sigma_range_hu: float) -> np.ndarray:
    """Gives the bilateral filter of `hu` (Gaussian spatial and range weights), vectorised over shifts."""
    hu = np.asarray(hu, dtype=np.float32)
    if sigma_spatial_px <= 0 or sigma_range_hu <= 0:
        return hu.copy()
    radius = max(1, int(np.ceil(2.0 * sigma_spatial_px)))
    pad = np.pad(hu, radius, mode="edge")
    num = np.zeros_like(hu)
    den = np.zeros_like(hu)
    inv_r = np.float32(-0.5 / sigma_range_hu**2)
    h, w = hu.shape
    for dy in range(-radius, radius + 1):
        for dx in range(-radius, radius + 1):
            ws = np.float32(np.exp(-0.5 * (dy * dy + dx * dx) / sigma_spatial_px**2))
            if ws < 1e-3:
                continue
            shifted = pad[radius + dy : radius + dy + h, radius + dx : radius + dx + w]
            diff = shifted - hu
            wgt = ws * np.exp(diff * diff * inv_r)
            num += wgt * shifted
            den += wgt
    return num / den


def _display_window(level_hu: float, width_hu: float) -> Window:
    if not np.isfinite(width_hu) or width_hu <= 0:
        raise InvalidParameterError(f"window width {width_hu} HU is invalid",
                                    hint="give a positive width in HU, e.g. 400")
    return Window(level=float(level_hu), width=float(width_hu))


def _to_8bit(hu: np.ndarray, window: Window) -> np.ndarray:
    disp = np.clip((hu - window.low_hu) / window.width, 0.0, 1.0)
    return np.round(disp * 255.0).astype(np.uint8)


def _from_8bit(raw: np.ndarray, window: Window) -> np.ndarray:
    return (raw.astype(np.float32) / 255.0) * np.float32(window.width) + np.float32(window.low_hu)


def _export_error_back(hu: np.ndarray, decoded_hu: np.ndarray, window: Window, keep_out_of_window: bool) -> np.ndarray:
    """Gives the HU image after an export through `window`: decoded values, or the original plus the export error."""
    if not keep_out_of_window:
        return decoded_hu
    clipped = np.clip(hu, window.low_hu, window.high_hu)
    return hu + (decoded_hu - clipped)


def _check_range(name: str, value: float, low: float, high: float) -> float:
    value = float(value)
    if not np.isfinite(value) or value < low or value > high:
        raise InvalidParameterError(f"{name}={value} is out of range", hint=f"use a value in [{low}, {high}]")
    return value


# ---------------------------------------------------------------- sharpness


@register(
    "blur",
    params_for_severity=lambda s, rng: {"sigma_mm": float(round(2.8 * s * rng.uniform(0.9, 1.1), 3))},
    aspects=("sharpness",),
    kind="image",
)
def blur(image: CTImage, *, seed: int = 0, sigma_mm: float = 1.0) -> CTImage:
    """Gives the image blurred by a Gaussian system PSF of `sigma_mm` (a soft reconstruction kernel look).

    FWHM = 2.355 sigma; MTF50 of a Gaussian PSF is 0.187 / sigma cycles/mm.
    """
    sigma_mm = _check_range("sigma_mm", sigma_mm, 0.0, 20.0)
    out = gaussian_mm(image.hu, sigma_mm, spacing_mm(image))
    return image.with_step("blur", {"sigma_mm": sigma_mm}, out)


def _slope_field(shape: tuple[int, int], spacing: tuple[float, float], rng: np.random.Generator,
                 max_slope: float) -> np.ndarray:
    """Gives a smooth random in-plane displacement per mm of z (2, H, W): how boundaries tilt through the slab."""
    corr_px = (30.0 / spacing[0], 30.0 / spacing[1])  # organ boundaries tilt coherently over ~3 cm
    field = np.stack([ndimage.gaussian_filter(rng.standard_normal(shape), corr_px, mode="wrap") for _ in range(2)])
    field /= np.max(np.abs(field)) + 1e-12
    # a radial part: cross-sections grow or shrink along z (the body is not a cylinder)
    rows, cols = np.indices(shape, dtype=np.float64)
    rows = (rows - shape[0] / 2) / shape[0]
    cols = (cols - shape[1] / 2) / shape[1]
    radial = np.stack([rows, cols]) * rng.choice([-1.0, 1.0])
    return (0.6 * field + 0.8 * radial) * max_slope


@register(
    "thick_slice",
    params_for_severity=lambda s, rng: {"thickness_mm": float(round(1.0 + 9.0 * s * rng.uniform(0.9, 1.1), 2))},
    aspects=("sharpness",),
    kind="image",
)
def thick_slice(
    image: CTImage,
    *,
    seed: int = 0,
    thickness_mm: float = 5.0,
    neighbours: Sequence[np.ndarray] | None = None,
    max_slope: float = 1.0,
    n_virtual: int = 7,
    original_thickness_mm: float | None = None,
) -> CTImage:
    """Gives the image as a thicker slab would show it (partial volume averaging through z).

    With `neighbours` (HU slices of the same size around this one, in any order)
    the slab is the plain mean of this slice and its neighbours: a rectangular
    slice sensitivity profile; `thickness_mm` is then only recorded.

    Without neighbours the slab is approximated from this slice alone: the
    structure (an edge-preserving smooth of the slice) is averaged over
    `n_virtual` virtual neighbours at z offsets across the slab, each a copy
    warped by z times a smooth random slope field (tilted boundaries move in
    plane as z changes, up to `max_slope` mm per mm). This blurs edges
    anisotropically, along the tilt, as partial volume does, and shrinks small
    structures' contrast. The noise (slice minus structure) is kept but scaled
    by sqrt(original / new thickness), as averaging independent slices does.
    The original thickness is `original_thickness_mm`, else the image's
    `slice_thickness_mm`, else 1 mm; a slab no thicker changes nothing.
    """
    if neighbours:
        stack = [np.asarray(image.hu, dtype=np.float32)]
        for i, nb in enumerate(neighbours):
            nb = np.asarray(nb, dtype=np.float32)
            if nb.shape != image.shape:
                raise InvalidParameterError(
                    f"neighbour slice {i} has shape {nb.shape}, the image {image.shape}",
                    path=image.source,
                    hint="pass neighbouring slices of the same series",
                )
            stack.append(nb)
        out = np.mean(stack, axis=0)
        params = {"thickness_mm": float(thickness_mm), "n_neighbours": len(neighbours)}
        return image.with_step("thick_slice", params, out, slice_thickness_mm=float(thickness_mm))

    thickness_mm = _check_range("thickness_mm", thickness_mm, 0.0, 50.0)
    max_slope = _check_range("max_slope", max_slope, 0.0, 3.0)
    n_virtual = int(_check_range("n_virtual", n_virtual, 1, 64))
    base_mm = float(original_thickness_mm or image.slice_thickness_mm or 1.0)
    params: dict[str, Any] = {"thickness_mm": thickness_mm, "max_slope": max_slope, "n_virtual": n_virtual,
                              "original_thickness_mm": base_mm}
    if thickness_mm <= base_mm:
        return image.with_step("thick_slice", params, image.hu.copy())
    sp = spacing_mm(image)
    rng = np.random.default_rng(seed)
    hu = image.hu.astype(np.float32)
    structure = bilateral_hu(hu, 1.5, 3.0 * estimate_noise_sigma_hu(hu))
    noise = hu - structure
    slope = _slope_field(image.shape, sp, rng, max_slope)
    rows, cols = np.indices(image.shape, dtype=np.float32)
    # extra thickness beyond the original slab is what gets averaged
    half = 0.5 * (thickness_mm - base_mm)
    acc = np.zeros_like(hu)
    for z in np.linspace(-half, half, n_virtual):
        coords = np.stack([rows + z * slope[0] / sp[0], cols + z * slope[1] / sp[1]])
        acc += ndimage.map_coordinates(structure, coords, order=1, mode="nearest")
    out = acc / n_virtual + noise * np.float32(np.sqrt(base_mm / thickness_mm))
    return image.with_step("thick_slice", params, out, slice_thickness_mm=thickness_mm)


_INTERP_ORDER = {"nearest": 0, "linear": 1, "cubic": 3}


@register(
    "resample",
    params_for_severity=lambda s, rng: {
        "factor": float(round(1.0 + 3.0 * s * rng.uniform(0.9, 1.1), 3)),
        "interpolation": str(rng.choice(["nearest", "linear", "cubic"])),
    },
    aspects=("sharpness",),
    kind="image",
)
def resample(image: CTImage, *, seed: int = 0, factor: float = 2.0, interpolation: str = "linear") -> CTImage:
    """Gives the image downsampled by `factor` (area-averaged) and upsampled back with `interpolation`.

    'nearest' gives blocky pixels, 'linear' and 'cubic' a soft image; the grid
    and spacing stay those of the input.
    """
    from skimage.transform import resize  # lazy: imports skimage

    factor = _check_range("factor", factor, 1.0, 16.0)
    if interpolation not in _INTERP_ORDER:
        raise InvalidParameterError(f"unknown interpolation '{interpolation}'",
                                    hint=f"use one of {', '.join(_INTERP_ORDER)}")
    h, w = image.shape
    small_shape = (max(4, int(round(h / factor))), max(4, int(round(w / factor))))
    small = resize(image.hu, small_shape, order=1, anti_aliasing=True, preserve_range=True)
    out = resize(small, (h, w), order=_INTERP_ORDER[interpolation], anti_aliasing=False, preserve_range=True,
                 mode="edge")
    return image.with_step("resample", {"factor": factor, "interpolation": interpolation}, out)


# ---------------------------------------------------------------- compression and export


def _pillow_roundtrip(raw: np.ndarray, fmt: str, **save_kwargs: Any) -> np.ndarray:
    if fmt == "JPEG2000" and not features.check("jpg_2000"):
        raise DependencyUnavailableError(
            "Pillow on this machine has no JPEG 2000 codec",
            hint="install a Pillow wheel built with OpenJPEG (the PyPI wheels are)"
        )
    buf = io.BytesIO()
    Image.fromarray(raw).save(buf, fmt, **save_kwargs)
    buf.seek(0)
    with Image.open(buf) as im:
        return np.asarray(im)


@register(
    "jpeg",
    params_for_severity=lambda s, rng: {"quality": int(np.clip(round(95 - 90 * s**0.7 + rng.integers(-2, 3)), 2, 95))},
    aspects=("artifacts", "texture"),
    kind="image",
)
def jpeg(
    image: CTImage,
    *,
    seed: int = 0,
    quality: int = 50,
    window_level_hu: float = 40.0,
    window_width_hu: float = 400.0,
    keep_out_of_window: bool = True,
) -> CTImage:
    """Gives the image after a lossy baseline JPEG export at `quality` of its 8-bit windowed display image.

    8x8 blocking and ringing; HU come back through the same window (see the
    module note on `keep_out_of_window`).
    """
    quality = int(_check_range("quality", quality, 1, 100))
    window = _display_window(window_level_hu, window_width_hu)
    raw = _to_8bit(image.hu, window)
    decoded = _from_8bit(_pillow_roundtrip(raw, "JPEG", quality=quality, subsampling=0), window)
    out = _export_error_back(image.hu, decoded, window, keep_out_of_window)
    params = {"quality": quality, "window_level_hu": float(window_level_hu), "window_width_hu": float(window_width_hu),
              "keep_out_of_window": bool(keep_out_of_window)}
    return image.with_step("jpeg", params, out)


@register(
    "jpeg2000",
    params_for_severity=lambda s, rng: {
        "compression_ratio": float(round(2.0 * (150.0 / 2.0) ** (s * rng.uniform(0.95, 1.05)), 1))},
    aspects=("artifacts", "texture", "sharpness"),
    kind="image",
)
def jpeg2000(image: CTImage, *, seed: int = 0, compression_ratio: float = 20.0, hu_offset: float = 1024.0) -> CTImage:
    """Gives the image after lossy JPEG 2000 (9/7 wavelet) at `compression_ratio` of its 16-bit stored values.

    This is the lossy DICOM transfer syntax a PACS uses: HU + `hu_offset` are
    stored as unsigned 16-bit (no window), so nothing is clipped except below
    -offset. The ratio is against 16 bits per pixel; smoothing of fine texture
    and ringing at edges grow with it.
    """
    if not features.check("jpg_2000"):
        raise DependencyUnavailableError("Pillow on this machine has no JPEG 2000 codec",
                                         hint="install a Pillow wheel built with OpenJPEG")
    compression_ratio = _check_range("compression_ratio", compression_ratio, 1.0, 1000.0)
    stored = np.clip(np.round(image.hu + hu_offset), 0, 65535).astype(np.uint16)
    decoded = _pillow_roundtrip(stored, "JPEG2000", quality_mode="rates", quality_layers=[compression_ratio],
                                irreversible=True)
    out = decoded.astype(np.float32) - np.float32(hu_offset)
    return image.with_step("jpeg2000", {"compression_ratio": compression_ratio, "hu_offset": float(hu_offset)}, out)


@register(
    "quantise",
    params_for_severity=lambda s, rng: {"bits": int(np.clip(round(8 - 5.0 * s + rng.uniform(-0.3, 0.3)), 3, 8))},
    aspects=("artifacts", "texture"),
    kind="image",
)
def quantise(
    image: CTImage,
    *,
    seed: int = 0,
    bits: int = 5,
    window_level_hu: float = 40.0,
    window_width_hu: float = 400.0,
    keep_out_of_window: bool = True,
) -> CTImage:
    """Gives the image with its windowed display image reduced to `bits` bits (posterisation, banding).

    The window is cut into 2**bits equal steps; each pixel takes its step's centre.
    """
    bits = int(_check_range("bits", bits, 1, 16))
    window = _display_window(window_level_hu, window_width_hu)
    levels = 2**bits
    disp = np.clip((image.hu - window.low_hu) / window.width, 0.0, 1.0)
    step = np.minimum(np.floor(disp * levels), levels - 1)
    decoded = ((step + 0.5) / levels * window.width + window.low_hu).astype(np.float32)
    out = _export_error_back(image.hu, decoded, window, keep_out_of_window)
    params = {"bits": bits, "window_level_hu": float(window_level_hu), "window_width_hu": float(window_width_hu),
              "keep_out_of_window": bool(keep_out_of_window)}
    return image.with_step("quantise", params, out)


def _wrong_window_params(s: float, rng: np.random.Generator) -> dict[str, Any]:
    mode = str(rng.choice(["narrow", "wide", "shifted"]))
    level, width = 40.0, 400.0
    if mode == "narrow":
        width = 400.0 / (1.0 + 5.0 * s)
    elif mode == "wide":
        width = 400.0 * (1.0 + 7.0 * s)
    else:
        level = 40.0 + float(rng.choice([-1.0, 1.0])) * 300.0 * s
    return {"level_hu": round(level, 1), "width_hu": round(width, 1)}


@register("wrong_window", params_for_severity=_wrong_window_params, aspects=("contrast",), kind="image")
def wrong_window(
    image: CTImage,
    *,
    seed: int = 0,
    level_hu: float = 40.0,
    width_hu: float = 1200.0,
    reference_level_hu: float = 40.0,
    reference_width_hu: float = 400.0,
) -> CTImage:
    """Gives the image as read back from an 8-bit export made with a bad window, taken to be the reference window.

    A secondary capture exported with window (`level_hu`, `width_hu`) and read
    as if it had the reference window: a too narrow window clips tissue outside
    it and stretches contrast, a too wide one crushes contrast (and coarsens the
    grey steps), a shifted level brightens or darkens everything. All output
    values lie inside the reference window.
    """
    bad = _display_window(level_hu, width_hu)
    ref = _display_window(reference_level_hu, reference_width_hu)
    out = _from_8bit(_to_8bit(image.hu, bad), ref)
    params = {"level_hu": float(level_hu), "width_hu": float(width_hu), "reference_level_hu": float(reference_level_hu),
              "reference_width_hu": float(reference_width_hu)}
    return image.with_step("wrong_window", params, out)
