"""Contrast-to-noise ratios and full-reference metrics (RMSE, PSNR, SSIM) against a clean reference slice."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from scipy import ndimage
from skimage.metrics import structural_similarity

from vliqa.core import CTImage, Window, resolve_window
from vliqa.ct.noise import pixel_spacing_mm
from vliqa.errors import InvalidParameterError

#: Pixels of the reference above this HU form the body mask for RMSE (air and padding are left out).
BODY_THRESHOLD_HU = -500.0
#: Smallest body mask (share of the image) used; below it all pixels are used.
MIN_BODY_FRACTION = 0.01


def _check_mask(image: CTImage, mask: np.ndarray, name: str) -> np.ndarray:
    mask = np.asarray(mask, dtype=bool)
    if mask.shape != image.shape:
        raise InvalidParameterError(
            f"{name} has shape {mask.shape} but the image is {image.shape}",
            path=image.source,
            hint="pass a boolean mask of the same size as the slice",
        )
    if not mask.any():
        raise InvalidParameterError(
            f"{name} is empty", path=image.source, hint="the mask must select at least one pixel"
        )
    return mask


def cnr(image: CTImage, roi_mask: np.ndarray, background_mask: np.ndarray) -> float:
    """Gives the contrast-to-noise ratio |mean_roi - mean_bg| / std_bg (NaN when the background is flat)."""
    roi = image.hu[_check_mask(image, roi_mask, "roi_mask")]
    bg = image.hu[_check_mask(image, background_mask, "background_mask")]
    std_bg = float(np.std(bg, ddof=1)) if bg.size > 1 else 0.0
    if std_bg <= 0:
        return float("nan")
    return float(abs(float(np.mean(roi)) - float(np.mean(bg))) / std_bg)


def lesion_cnr(image: CTImage, lesion_mask: np.ndarray, *, ring_mm: float = 5.0, gap_mm: float = 1.0) -> float:
    """Gives the CNR of a lesion against an annulus around it: `gap_mm` away, `ring_mm` wide."""
    lesion = _check_mask(image, lesion_mask, "lesion_mask")
    if ring_mm <= 0 or gap_mm < 0:
        raise InvalidParameterError(f"ring_mm={ring_mm} and gap_mm={gap_mm} must be positive", path=image.source)
    # Distance (mm) of every pixel from the lesion, honouring anisotropic pixels.
    distance = ndimage.distance_transform_edt(~lesion, sampling=pixel_spacing_mm(image))
    annulus = (distance > gap_mm) & (distance <= gap_mm + ring_mm)
    if annulus.sum() < 2:
        return float("nan")
    return cnr(image, lesion, annulus)


@dataclass(frozen=True)
class ReferenceMetrics:
    """Full-reference agreement with a clean slice: RMSE over the body (HU), PSNR (dB), SSIM."""

    rmse_hu: float
    psnr_db: float
    ssim: float
    #: The data range (HU) PSNR used: the window width, or the reference's HU range (whole slice).
    data_range_hu: float
    window: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def reference_metrics(
    image: CTImage, reference: CTImage, *, window: str | Window | tuple[float, float] | None = None
) -> ReferenceMetrics:
    """Gives RMSE (HU), PSNR (dB) and SSIM of `image` against a clean `reference` of the same size.

    - RMSE is over the body: pixels where the reference is above -500 HU (all
      pixels when that is under 1 % of the image).
    - PSNR: with a window, both images are clipped to it and the data range is
      its width; without, the data range is the reference's HU range (max - min
      over the whole slice) and the RMSE is the body HU RMSE above.
    - SSIM: skimage's structural_similarity on both images windowed to [0, 1]
      (the given window, or the reference's display default), data_range=1.
    """
    if image.shape != reference.shape:
        raise InvalidParameterError(
            f"image {image.shape} and reference {reference.shape} differ in size",
            path=image.source,
            hint="compare a degraded slice with the clean slice it came from",
        )
    test, ref = image.hu.astype(np.float64), reference.hu.astype(np.float64)
    body = ref > BODY_THRESHOLD_HU
    if body.mean() < MIN_BODY_FRACTION:
        body = np.ones_like(body)
    rmse = float(np.sqrt(np.mean((test[body] - ref[body]) ** 2)))
    if window is not None:
        win = resolve_window(reference, window)
        clipped = np.clip(test, win.low_hu, win.high_hu) - np.clip(ref, win.low_hu, win.high_hu)
        psnr_rmse = float(np.sqrt(np.mean(clipped[body] ** 2)))
        data_range = float(win.width)
    else:
        psnr_rmse = rmse
        data_range = float(np.ptp(ref))
    psnr = (
        float("inf")
        if psnr_rmse == 0
        else float(20 * np.log10(data_range / psnr_rmse))
        if data_range > 0
        else float("nan")
    )
    display_window = resolve_window(reference, window)
    lo, width = display_window.low_hu, display_window.width
    ssim = (
        float(
            structural_similarity(np.clip((test - lo) / width, 0, 1), np.clip((ref - lo) / width, 0, 1), data_range=1.0)
        )
        if min(image.shape) >= 7
        else float("nan")
    )
    return ReferenceMetrics(
        rmse_hu=rmse,
        psnr_db=psnr,
        ssim=ssim,
        data_range_hu=data_range,
        window=display_window.to_dict(),
    )
