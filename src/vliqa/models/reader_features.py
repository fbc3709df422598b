"""What a reader sees, measured: the display image of a slice and the texture features the reader model scores.

A reader judges the image on the screen, so the features are measured on a display image, not on HU:
- raster exports (PNG/JPEG/TIFF) are their own display: the values as exported, with the grey of the air
  (a denoiser's output rendered with air slightly above -1000 HU) taken as black, so a lifted background
  changes nothing;
- CT in HU (DICOM, NIfTI, arrays) is shown in the window a reader would use: the brain window for a slice
  through the cranial vault, the soft-tissue window otherwise;
- every display is brought to 512 px on its long side before measuring, so a 256 or 1024 px export of a
  slice gives the features of the 512 px one.

The features are scale-space texture statistics of the displayed tissue: noise energy per Haar level in
flat tissue (residual noise, and its absence in over-smoothed "waxy" output), the energy ratios between
levels (the grain of the texture: natural full-dose FBP noise is fine, denoiser residue is blotchy), edge
energy against noise (structure preservation), the patchiness of local noise and the displayed contrast.
All are logs of ratios or of display amplitudes, so a linear change of the display (another window of
the same slice) moves them by constants the model can learn to read through.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from scipy import ndimage as ndi

from vliqa.core import PRESETS, CTImage, apply_window
from vliqa.core.memo import IMAGE_MEMO
from vliqa.ct.anatomy import fill_holes, halved, is_brain_slice
from vliqa.errors import InvalidImageError

#: The side, in pixels, every display is measured at.
MEASURE_PX = 256
#: Haar levels measured (level k has a cell of 2**(k+1) pixels).
HAAR_LEVELS = 4
#: The no-reference features, in the order the model reads them.
NR_FEATURES = ("ln0", "ln1", "ln2", "ln0c", "ln1c", "r01", "r12", "r23", "dr01", "e0", "e1", "er01", "er12",
               "snr_e1", "edge_g", "patch", "lcon", "clip_lo", "clip_hi", "tissue_level")
#: The full-reference features: the image's features minus the reference's, their absolute values (a departure
#: from the reference either way costs: more noise, or waxy smoothing), and two similarity indices.
FR_FEATURES = tuple(f"d_{k}" for k in NR_FEATURES) + tuple(f"a_{k}" for k in NR_FEATURES) + ("ssim", "gms")
#: Body pixels are those brighter than this (display units) after the air is taken as black.
BODY_THRESHOLD = 0.04
#: A display value within this of 0 or 1 counts as clipped by the window.
CLIP_MARGIN = 0.03


def air_grey(display: np.ndarray) -> float:
    """Gives the display grey of the air: the median of the image border, capped at the 5th percentile."""
    d = display
    border = np.concatenate([d[:6].ravel(), d[-6:].ravel(), d[:, :6].ravel(), d[:, -6:].ravel()])
    return float(min(np.median(border), np.percentile(d, 5)))


def _resize(display: np.ndarray, px: int = MEASURE_PX) -> np.ndarray:
    """Gives the display with its long side at `px` (area averaging down, bilinear up), aspect kept."""
    h, w = display.shape
    scale = px / max(h, w)
    if abs(scale - 1.0) < 1e-6:
        return display.astype(np.float32, copy=False)
    size = (max(8, round(h * scale)), max(8, round(w * scale)))
    t = torch.from_numpy(np.ascontiguousarray(display, dtype=np.float32))[None, None]
    mode = "area" if scale < 1 else "bilinear"
    out = F.interpolate(t, size=size, mode=mode, **({} if mode == "area" else {"align_corners": False}))
    return out[0, 0].numpy()


def reading_window_of(image: CTImage):
    """Gives the window a reader reads a CT slice in HU with: brain for the cranial vault, soft tissue otherwise."""
    return IMAGE_MEMO.get(image, "reading_window", lambda: _reading_window(image))


#: Slices this large (px, short side) are judged brain or not at half resolution (`halved`): same answers, faster.
BRAIN_CHECK_HALVED_FROM = 384


def _reading_window(image: CTImage):
    try:
        brain = is_brain_slice(halved(image) if min(image.shape) >= BRAIN_CHECK_HALVED_FROM else image)
    except (ValueError, InvalidImageError):
        brain = False
    return PRESETS["brain"] if brain else PRESETS["soft_tissue"]


def reading_display(image: CTImage, px: int = MEASURE_PX) -> np.ndarray:
    """Gives the display image a reader judges, in [0, 1], air black, long side `px` (read-only; computed once per
    image and size, `vliqa.core.memo`)."""
    return IMAGE_MEMO.get(image, ("reading_display", px), lambda: _reading_display(image, px))


def image_nr_features(image: CTImage, px: int = MEASURE_PX) -> np.ndarray:
    """Gives `nr_features` of the reading display of `image` (computed once per image and size)."""
    return IMAGE_MEMO.get(image, ("nr_features", px), lambda: nr_features(reading_display(image, px)))


def _reading_display(image: CTImage, px: int) -> np.ndarray:
    if image.display_window is not None:
        display = apply_window(image.hu, image.display_window)
    else:
        display = apply_window(image.hu, reading_window_of(image))
    display = np.nan_to_num(display, nan=0.0)
    bg = air_grey(display)
    display = np.clip((display - bg) / max(1e-3, 1.0 - bg), 0.0, 1.0).astype(np.float32)
    return _resize(display, px)


def _haar(x: np.ndarray, levels: int) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Gives (diagonal, horizontal, vertical) detail bands of an orthonormal-scaled Haar pyramid, finest first."""
    out, cur = [], x
    for _ in range(levels):
        h, w = cur.shape[0] // 2 * 2, cur.shape[1] // 2 * 2
        c = cur[:h, :w]
        a, b, cc, dd = c[0::2, 0::2], c[0::2, 1::2], c[1::2, 0::2], c[1::2, 1::2]
        out.append(((a - b - cc + dd) / 2, (a + b - cc - dd) / 2, (a - b + cc - dd) / 2))
        cur = (a + b + cc + dd) / 4
    return out


def _rms_abs(values: np.ndarray) -> float:
    """Gives sqrt(pi/2) * mean |v|: the sigma of zero-mean Gaussian values, robust and free of 8-bit steps."""
    return float(np.mean(np.abs(values)) * np.sqrt(np.pi / 2)) if values.size else 0.0


def _body(d: np.ndarray) -> np.ndarray:
    """Gives the body mask of a display image: pixels above the air, opened and hole-filled."""
    return fill_holes(ndi.binary_opening(d > BODY_THRESHOLD, iterations=3))


def _masks(d: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Gives (body, unclipped body, flat tissue, strong edges, gradient magnitude) of a display image."""
    body = _body(d)
    unclipped = body & (d > CLIP_MARGIN) & (d < 1 - CLIP_MARGIN)
    tissue = ndi.binary_erosion(unclipped, iterations=3)
    if tissue.sum() < 500:
        tissue = unclipped
    if tissue.sum() < 100:
        raise InvalidImageError("the image shows too little unclipped tissue to judge its texture",
                                hint="pass a CT slice with the body in view, in a window that shows soft tissue")
    grad = ndi.gaussian_gradient_magnitude(d, 2.0)
    gt = grad[tissue]
    flat = tissue & (grad <= np.percentile(gt, 30))
    edge = tissue & (grad >= np.percentile(gt, 95))
    return body, unclipped, flat, edge, grad


def raw_measures(display: np.ndarray) -> dict[str, float]:
    """Gives the display-domain amplitudes the features are made of (noise, detail and edge energy per level)."""
    d = np.asarray(display, dtype=np.float32)
    body, unclipped, flat, edge, grad = _masks(d)
    m: dict[str, float] = {}
    for k, (hh, lh, hl) in enumerate(_haar(d, HAAR_LEVELS)):
        step = 2 ** (k + 1)
        mflat = flat[::step, ::step][:hh.shape[0], :hh.shape[1]]
        medge = edge[::step, ::step][:hh.shape[0], :hh.shape[1]]
        detail = np.hypot(lh, hl)
        m[f"n{k}"] = _rms_abs(hh[mflat]) + 1e-4
        m[f"d{k}"] = _rms_abs(detail[mflat]) + 1e-4
        m[f"e{k}"] = _rms_abs(detail[medge]) + 1e-4
    smooth = ndi.gaussian_filter(d, 2.0)[unclipped]
    m["contrast"] = float(np.percentile(smooth, 90) - np.percentile(smooth, 10)) + 1e-3
    m["edge_g"] = float(np.percentile(grad[unclipped], 99)) + 1e-4
    local_sd = np.sqrt(np.maximum(ndi.uniform_filter(d * d, 7) - ndi.uniform_filter(d, 7) ** 2, 0.0))[flat]
    m["patch_cv"] = float(np.std(local_sd) / (np.mean(local_sd) + 1e-6)) if local_sd.size else 0.0
    # how the window shows the body: what it clips dark and bright, and where the tissue sits in grey
    inside = ndi.binary_erosion(body, iterations=2)
    shown = d[inside] if inside.sum() > 100 else d[unclipped]
    m["clip_lo"] = float(np.mean(shown <= CLIP_MARGIN))
    m["clip_hi"] = float(np.mean(shown >= 1 - CLIP_MARGIN))
    m["tissue_level"] = float(np.median(d[unclipped]))
    return m


def nr_features(display: np.ndarray) -> np.ndarray:
    """Gives the no-reference feature vector (NR_FEATURES order) of a reading display."""
    m = raw_measures(display)
    log = np.log
    values = {
        "ln0": log(m["n0"]), "ln1": log(m["n1"]), "ln2": log(m["n2"]),
        "ln0c": log(m["n0"] / m["contrast"]), "ln1c": log(m["n1"] / m["contrast"]),
        "r01": log(m["n0"] / m["n1"]), "r12": log(m["n1"] / m["n2"]), "r23": log(m["n2"] / m["n3"]),
        "dr01": log(m["d0"] / m["d1"]),
        "e0": log(m["e0"] / m["contrast"]), "e1": log(m["e1"] / m["contrast"]),
        "er01": log(m["e0"] / m["e1"]), "er12": log(m["e1"] / m["e2"]),
        "snr_e1": log(m["e1"] / m["n1"]), "edge_g": log(m["edge_g"] / m["contrast"]),
        "patch": m["patch_cv"], "lcon": log(m["contrast"]),
        "clip_lo": m["clip_lo"], "clip_hi": m["clip_hi"], "tissue_level": m["tissue_level"],
    }
    return np.array([values[k] for k in NR_FEATURES], dtype=np.float32)


def _similarity(d: np.ndarray, ref: np.ndarray) -> tuple[float, float]:
    """Gives (SSIM, gradient-magnitude similarity) of two reading displays of one slice, over the reference's body."""
    from skimage.metrics import structural_similarity  # lazy: imports skimage

    _, ssim_map = structural_similarity(ref, d, data_range=1.0, full=True)
    body = fill_holes(ref > BODY_THRESHOLD)
    g1, g2 = ndi.gaussian_gradient_magnitude(d, 1.0), ndi.gaussian_gradient_magnitude(ref, 1.0)
    c = 1e-4
    gms = (2 * g1 * g2 + c) / (g1 ** 2 + g2 ** 2 + c)
    if body.sum() < 100:
        body = np.ones_like(body)
    return float(ssim_map[body].mean()), float(gms[body].mean())


def fr_features(display: np.ndarray, reference_display: np.ndarray,
                reference_nr: np.ndarray | None = None) -> np.ndarray:
    """Gives the full-reference feature vector (FR_FEATURES order) of a display against its reference's display.

    `reference_nr`, when the caller has it (one reference, many images), is `nr_features(reference_display)`.
    """
    if display.shape != reference_display.shape:
        raise InvalidImageError(
            f"the image ({display.shape[1]}x{display.shape[0]} px as measured) and its reference "
            f"({reference_display.shape[1]}x{reference_display.shape[0]}) differ in shape",
            hint="the reference must be the same slice at the same size (e.g. the full-dose image)")
    ref_nr = nr_features(reference_display) if reference_nr is None else reference_nr
    ssim, gms = _similarity(display, reference_display)
    diff = nr_features(display) - ref_nr
    return np.concatenate([diff, np.abs(diff), np.array([ssim, gms], dtype=np.float32)])
