"""JPEG quality baseline: the no-reference blockiness model of Wang, Sheikh & Bovik (2002), higher is better.

Along rows and columns, the differences between neighbouring pixels give a
blockiness term B (mean |difference| across 8-pixel block boundaries), an
activity term A (mean |difference| inside blocks minus B, divided by 7) and a
zero-crossing rate Z. The paper's fit to JPEG subjective scores is
S = -245.9 + 261.9 * B^-0.0240 * A^0.0160 * Z^0.0064 (about 1 = bad, 10 = excellent).
Only compression that lines up with the 8x8 grid moves B; on CT it mostly
reflects lossy JPEG exports. A constant image (B = A = Z = 0) has no score and
raises InvalidImageError.
"""

from __future__ import annotations

import numpy as np

from vliqa.errors import InvalidImageError
from vliqa.metrics.baselines.registry import register_baseline

JPEG_BLOCK_PX = 8
_ALPHA, _BETA = -245.9, 261.9
_GAMMA_B, _GAMMA_A, _GAMMA_Z = -0.0240, 0.0160, 0.0064


def _terms_along_rows(img: np.ndarray) -> tuple[float, float, float]:
    """Gives (blockiness, activity, zero-crossing rate) of horizontal neighbour differences."""
    d = np.diff(img, axis=1)  # d[:, j] = x[:, j+1] - x[:, j]
    n_cols = img.shape[1]
    boundary = np.arange(JPEG_BLOCK_PX - 1, n_cols - 1, JPEG_BLOCK_PX)  # differences across 8-px block edges
    b = float(np.mean(np.abs(d[:, boundary]))) if boundary.size else 0.0
    a = (JPEG_BLOCK_PX * float(np.mean(np.abs(d))) - b) / (JPEG_BLOCK_PX - 1)
    # A zero crossing: neighbouring differences of opposite sign.
    z = float(np.mean(d[:, :-1] * d[:, 1:] < 0))
    return b, a, z


def jpeg_quality_terms(display: np.ndarray) -> tuple[float, float, float]:
    """Gives (B, A, Z) of the paper, averaged over the horizontal and vertical directions, on the 8-bit scale."""
    img = np.round(np.asarray(display, dtype=np.float64) * 255.0)
    bh, ah, zh = _terms_along_rows(img)
    bv, av, zv = _terms_along_rows(img.T)
    return (bh + bv) / 2.0, (ah + av) / 2.0, (zh + zv) / 2.0


def jpeg_quality(display: np.ndarray) -> float:
    """Gives the predicted JPEG quality score of a display image (higher is better, about 1-10)."""
    b, a, z = jpeg_quality_terms(display)
    if b <= 0 or a <= 0 or z <= 0:
        raise InvalidImageError(
            f"the JPEG quality model is undefined for an image without texture (B={b:.3g}, A={a:.3g}, Z={z:.3g})",
            hint="it needs pixel differences both across and inside 8x8 blocks; a constant image has none",
        )
    return float(_ALPHA + _BETA * b**_GAMMA_B * a**_GAMMA_A * z**_GAMMA_Z)


@register_baseline(
    "jpeg_quality",
    higher_is_better=True,
    description="JPEG blockiness model: 8x8 boundary vs in-block differences and zero crossings (about 1-10)",
    reference="Wang, Sheikh & Bovik, ICIP 2002",
)
def jpeg_quality_baseline(display: np.ndarray) -> float:
    """Gives the JPEG quality score of a display image (higher is better)."""
    return jpeg_quality(display)
