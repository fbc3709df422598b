"""Sharpness baselines on the display image: variance of the Laplacian (higher is sharper).

The variance of the Laplacian (Pech-Pacheco et al. 2000) is the classical
focus measure: blur removes the high frequencies it responds to. It responds
to noise as well, so on CT it rises with dose reduction too; that is the point
of having it as a baseline (a model should separate the two). Only pixels of
the patient count, so the field of view (how much air the slice holds) does
not change the score.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from vliqa.metrics.baselines.registry import register_baseline

#: Display value above which a pixel belongs to the patient, not the air (0 is -135 HU in the ldctiqac window).
BODY_DISPLAY_THRESHOLD = 0.02


def body_mask(display: np.ndarray) -> np.ndarray:
    """Gives the pixels off the black air background (display value above the threshold), slightly eroded."""
    mask = np.asarray(display) > BODY_DISPLAY_THRESHOLD
    # Erode so the body outline, a sharp edge whatever the image quality, does not dominate.
    return ndimage.binary_erosion(mask, iterations=2)


def laplacian_variance(display: np.ndarray) -> float:
    """Gives the variance of the 8-bit-scaled Laplacian over the patient (the whole image when no patient is found)."""
    img = np.asarray(display, dtype=np.float64) * 255.0
    lap = ndimage.laplace(img, mode="nearest")
    mask = body_mask(display)
    if mask.sum() < 64:
        mask = np.ones_like(mask)
    return float(lap[mask].var())


@register_baseline(
    "laplacian_variance",
    higher_is_better=True,
    description="sharpness: variance of the Laplacian over the patient (rises with sharpness, but also with noise)",
    reference="Pech-Pacheco et al., ICPR 2000",
)
def laplacian_variance_baseline(display: np.ndarray) -> float:
    """Gives the variance of the Laplacian of a display image (higher is sharper)."""
    return laplacian_variance(display)
