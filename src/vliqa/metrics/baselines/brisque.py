"""BRISQUE, the Blind/Referenceless Image Spatial Quality Evaluator (Mittal, Moorthy & Bovik 2012), lower is better.

36 features (GGD fit of the MSCN coefficients, AGGD fits of their four
neighbour products, at full and half scale) are scaled to [-1, 1] and mapped
to a DMOS-like score by an RBF epsilon-SVR trained on the LIVE database. The
features follow the paper and the LIVE MATLAB reference (`brisque_feature.m`:
zero-padded local filters, circular neighbour shifts, grid-search moment
matching); the SVR and its feature ranges are the LIVE model as shipped in the
`brisque` 0.2.0 wheel (vendored in `data/`, Apache-2.0). The SVR is evaluated
here in numpy, so neither libsvm nor OpenCV is needed.

The whole slice is used, air included, as the method prescribes. A constant
image has no MSCN statistics and raises InvalidImageError.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import numpy as np

from vliqa.errors import ImageSizeError, InvalidImageError
from vliqa.metrics.baselines.nss import aggd_mean, fit_aggd, fit_ggd, half_size, mscn, paired_products
from vliqa.metrics.baselines.registry import register_baseline

_MODEL = Path(__file__).with_name("data") / "brisque_live_svr.npz"
#: Smallest side (pixels) for which the half-scale 7x7 statistics still mean something.
BRISQUE_MIN_SIDE_PX = 32


@lru_cache(maxsize=1)
def _svr() -> dict[str, np.ndarray]:
    """Gives the LIVE BRISQUE SVR: support vectors, dual coefficients, gamma, rho, and feature ranges."""
    with np.load(_MODEL) as data:
        return {k: data[k].copy() for k in data.files}


def _scale_features(coeffs: np.ndarray, *, zero_is_right: bool = False) -> list[float]:
    """Gives the 18 BRISQUE features of one scale's MSCN coefficients."""
    if zero_is_right:
        # The brisque package fits an AGGD to the MSCN coefficients too, and averages the side variances.
        a, left, right = fit_aggd(coeffs.ravel(), zero_is_right=True)
        alpha, var = a, (left**2 + right**2) / 2.0
    else:
        alpha, var = fit_ggd(coeffs.ravel())
    feats = [float(alpha[0]), float(var[0])]
    for product in paired_products(coeffs):
        a, left, right = fit_aggd(product.ravel(), zero_is_right=zero_is_right)
        feats += [float(a[0]), float(aggd_mean(a, left, right)[0]), float(left[0] ** 2), float(right[0] ** 2)]
    return feats


def brisque_features(display: np.ndarray, *, zero_is_right: bool = False) -> np.ndarray:
    """Gives the 36 BRISQUE features of a display image in [0, 1] (NaN where a fit is undefined).

    `zero_is_right=True` reproduces the brisque 0.2.0 package, which counts
    exact zeros (the air around a patient after windowing) as positive values
    and fits an AGGD to the MSCN coefficients; the default follows the paper.
    """
    img = np.asarray(display, dtype=np.float64) * 255.0
    if min(img.shape) < BRISQUE_MIN_SIDE_PX:
        raise ImageSizeError(f"BRISQUE needs images of at least {BRISQUE_MIN_SIDE_PX} px a side, got {img.shape}")
    full, _ = mscn(img, mode="constant")
    half, _ = mscn(half_size(img), mode="constant")
    features = _scale_features(full, zero_is_right=zero_is_right) + _scale_features(half, zero_is_right=zero_is_right)
    return np.array(features, dtype=np.float64)


def brisque_score_from_features(features: np.ndarray) -> float:
    """Gives the SVR prediction for 36 BRISQUE features (features scaled to [-1, 1] with the LIVE ranges)."""
    m = _svr()
    lo, hi = m["feature_min"], m["feature_max"]
    x = -1.0 + 2.0 * (np.asarray(features, dtype=np.float64) - lo) / (hi - lo)
    sq_dist = np.sum((m["support_vectors"] - x) ** 2, axis=1)
    return float(m["dual_coef"] @ np.exp(-float(m["gamma"]) * sq_dist) - float(m["rho"]))


def brisque(display: np.ndarray, *, zero_is_right: bool = False) -> float:
    """Gives the BRISQUE score of a display image in [0, 1] (lower is better; about 0-100 on natural images)."""
    feats = brisque_features(display, zero_is_right=zero_is_right)
    if not np.all(np.isfinite(feats)):
        raise InvalidImageError(
            "BRISQUE is undefined for an image without texture (its MSCN coefficients are all zero)",
            hint="a constant image has no natural-scene statistics; check the window and the pixel data",
        )
    return brisque_score_from_features(feats)


@register_baseline(
    "brisque",
    higher_is_better=False,
    description="BRISQUE: LIVE-trained SVR on natural-scene statistics of MSCN coefficients (DMOS-like)",
    reference="Mittal, Moorthy & Bovik, IEEE Transactions on Image Processing 21(12), 2012",
)
def brisque_baseline(display: np.ndarray) -> float:
    """Gives the BRISQUE score of a display image (lower is better)."""
    return brisque(display)
