"""Natural-scene statistics shared by BRISQUE, NIQE and PIQE: MSCN coefficients and (A)GGD fits.

MSCN (mean-subtracted contrast-normalised) coefficients are
(I - mu) / (sigma + C) with mu and sigma local Gaussian-weighted moments over a
7x7 window (sigma 7/6 px) on an 8-bit-scaled image (C = 1), as in Mittal et al.
2012. The generalised Gaussian (GGD) and asymmetric GGD (AGGD) shape parameters
are found by the moment-matching grid search of the LIVE reference code
(shape grid 0.2:0.001:10).
"""

from __future__ import annotations

import numpy as np
from PIL import Image
from scipy import ndimage
from scipy.special import gamma as gamma_fn

#: Shape grid of the LIVE reference code (0.2, 0.201, ..., 9.999).
SHAPE_GRID = np.arange(0.2, 10.0, 0.001)
#: Gamma(2/a)^2 / (Gamma(1/a) Gamma(3/a)); increases monotonically with the shape a.
_RHO_AGGD = gamma_fn(2.0 / SHAPE_GRID) ** 2 / (gamma_fn(1.0 / SHAPE_GRID) * gamma_fn(3.0 / SHAPE_GRID))

_RHO_GGD_REVERSED = (1.0 / _RHO_AGGD)[::-1]


def gaussian_weights_1d(half_width: int = 3, sigma: float = 7.0 / 6.0) -> np.ndarray:
    """Gives the normalised 1-D Gaussian whose outer product is MATLAB's fspecial('gaussian', 7, 7/6)."""
    x = np.arange(-half_width, half_width + 1, dtype=np.float64)
    w = np.exp(-0.5 * x * x / (sigma * sigma))
    return w / w.sum()


def mscn(image_255: np.ndarray, *, c: float = 1.0, mode: str = "constant") -> tuple[np.ndarray, np.ndarray]:
    """Gives (MSCN coefficients, local sigma) of an image on the 0-255 scale.

    `mode` is the border rule of the local filters: "constant" (zeros, MATLAB
    filter2 as in BRISQUE and scikit-video) or "nearest" (MATLAB imfilter
    'replicate' as in NIQE and PIQE).
    """
    img = np.asarray(image_255, dtype=np.float64)
    w = gaussian_weights_1d()
    mu = ndimage.correlate1d(ndimage.correlate1d(img, w, axis=0, mode=mode), w, axis=1, mode=mode)
    m2 = ndimage.correlate1d(ndimage.correlate1d(img * img, w, axis=0, mode=mode), w, axis=1, mode=mode)
    sigma = np.sqrt(np.abs(m2 - mu * mu))
    return (img - mu) / (sigma + c), sigma


def half_size(image: np.ndarray) -> np.ndarray:
    """Gives the image downscaled by 2 with antialiased bicubic interpolation (as MATLAB imresize(I, 0.5))."""
    h, w = image.shape
    pil = Image.fromarray(np.asarray(image, dtype=np.float32), mode="F")
    return np.asarray(pil.resize((max(w // 2, 1), max(h // 2, 1)), Image.Resampling.BICUBIC), dtype=np.float64)


def paired_products(coeffs: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Gives the horizontal, vertical, main- and anti-diagonal neighbour products (circular shifts, as circshift)."""
    h = coeffs * np.roll(coeffs, 1, axis=1)
    v = coeffs * np.roll(coeffs, 1, axis=0)
    d1 = coeffs * np.roll(coeffs, (1, 1), axis=(0, 1))
    d2 = coeffs * np.roll(coeffs, (1, -1), axis=(0, 1))
    return h, v, d1, d2


def _nearest_on_grid(table: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Gives, per value, the index of the closest entry of the increasing `table` (argmin |table - v|)."""
    idx = np.clip(np.searchsorted(table, values), 1, table.size - 1)
    left_closer = np.abs(values - table[idx - 1]) <= np.abs(table[idx] - values)
    return np.where(left_closer, idx - 1, idx)


def fit_ggd(samples: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Gives (shape alpha, variance) of a zero-mean GGD fitted to each row of `samples` (NaN where undefined).

    Moment matching as in the LIVE reference `estimateggdparam`: the ratio
    E[x^2] / E[|x|]^2 picks alpha on the grid; the variance is E[x^2].
    """
    x = np.atleast_2d(np.asarray(samples, dtype=np.float64))
    sigma_sq = np.mean(x * x, axis=1)
    e_abs = np.mean(np.abs(x), axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        rho = sigma_sq / (e_abs * e_abs)
        # The GGD ratio table Gamma(1/a) Gamma(3/a) / Gamma(2/a)^2 decreases with a: search it reversed.
        rev = _RHO_GGD_REVERSED.size - 1 - _nearest_on_grid(_RHO_GGD_REVERSED, np.nan_to_num(rho, nan=0.0, posinf=0.0))
        alpha = SHAPE_GRID[rev]
    alpha = np.where(np.isfinite(rho) & (e_abs > 0), alpha, np.nan)
    return alpha, sigma_sq


def fit_aggd(samples: np.ndarray, *, zero_is_right: bool = False) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Gives (shape alpha, left std, right std) of an AGGD fitted to each row of `samples` (NaN where undefined).

    Moment matching as in the LIVE reference `estimateaggdparam`. Rows without
    negative or without positive values (flat regions, e.g. the air around a
    patient) have no AGGD: their parameters are NaN. `zero_is_right` counts
    exact zeros on the right side, as scikit-video does.
    """
    x = np.atleast_2d(np.asarray(samples, dtype=np.float64))
    sq = x * x
    left = x < 0
    right = x >= 0 if zero_is_right else x > 0
    n_left, n_right = left.sum(axis=1), right.sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        left_std = np.sqrt(np.where(left, sq, 0.0).sum(axis=1) / n_left)
        right_std = np.sqrt(np.where(right, sq, 0.0).sum(axis=1) / n_right)
        if zero_is_right:
            # scikit-video treats an empty side as spread 0 rather than undefined.
            left_std = np.where(n_left > 0, left_std, 0.0)
            n_left = np.maximum(n_left, 1)
        gamma_hat = left_std / right_std
        r_hat = np.mean(np.abs(x), axis=1) ** 2 / np.mean(sq, axis=1)
        r_hat_norm = r_hat * (gamma_hat**3 + 1.0) * (gamma_hat + 1.0) / (gamma_hat**2 + 1.0) ** 2
    ok = np.isfinite(r_hat_norm) & (n_left > 0) & (n_right > 0) & (right_std > 0)
    alpha = SHAPE_GRID[_nearest_on_grid(_RHO_AGGD, np.where(ok, r_hat_norm, 0.0))]
    nan = np.full_like(alpha, np.nan)
    return np.where(ok, alpha, nan), np.where(ok, left_std, nan), np.where(ok, right_std, nan)


def aggd_mean(alpha: np.ndarray, left_std: np.ndarray, right_std: np.ndarray) -> np.ndarray:
    """Gives the AGGD mean parameter eta = (beta_r - beta_l) Gamma(2/a) / Gamma(1/a) from the side std's."""
    scale = np.sqrt(gamma_fn(1.0 / alpha) / gamma_fn(3.0 / alpha))
    return (right_std - left_std) * scale * gamma_fn(2.0 / alpha) / gamma_fn(1.0 / alpha)
