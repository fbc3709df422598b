"""Statistical helpers of the noise estimate: a robust mode, and what plane detrending does to correlated noise."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np


def half_sample_mode(values: np.ndarray) -> float:
    """Gives the half-sample mode (Bickel & Fruehwirth 2006) of `values`: a bandwidth-free, robust mode."""
    x = np.sort(np.asarray(values, dtype=np.float64))
    while x.size > 3:
        half = (x.size + 1) // 2
        widths = x[half - 1 :] - x[: x.size - half + 1]
        start = int(np.argmin(widths))
        x = x[start : start + half]
    if x.size == 3:
        # Of three points keep the closer pair, as in the original algorithm.
        x = x[:2] if x[1] - x[0] < x[2] - x[1] else (x[1:] if x[1] - x[0] > x[2] - x[1] else x[1:2])
    return float(np.mean(x))


@lru_cache(maxsize=8)
def _detrend_response(n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Gives, for an n x n window and isotropic noise covariance shells, what plane detrending leaves.

    Shell j is the covariance that is 1 at lags of rounded length j (j = 0..n/2)
    and 0 elsewhere; R_j = (I - P) shell_j (I - P) is what remains after the
    plane fit. Returned: the lag-averaged autocovariance of each R_j
    (J x (2n-1)^2), tr R_j (J), the Gram matrix <R_j, R_k> (J x J), and the
    number of pixel pairs per lag.
    """
    coords = np.arange(n, dtype=np.float64) - (n - 1) / 2.0
    rr, cc = np.meshgrid(coords, coords, indexing="ij")
    basis = np.stack([np.ones(n * n), rr.ravel(), cc.ravel()], axis=1)
    basis /= np.linalg.norm(basis, axis=0)
    ir, ic = np.meshgrid(np.arange(n), np.arange(n), indexing="ij")
    dr = ir.ravel()[:, None] - ir.ravel()[None, :]
    dc = ic.ravel()[:, None] - ic.ravel()[None, :]
    lag_id = ((dr + n - 1) * (2 * n - 1) + (dc + n - 1)).ravel()
    n_lags = (2 * n - 1) ** 2
    counts = np.bincount(lag_id, minlength=n_lags).astype(np.float64)
    shell_pair = np.rint(np.hypot(dr, dc)).astype(np.int32)
    n_shells = n // 2 + 1
    responses = np.zeros((n_shells, n_lags))
    residuals = []
    for j in range(n_shells):
        full = (shell_pair == j).astype(np.float64)
        # P = B B^T has rank 3, so (I - P) S (I - P) costs O(N^2).
        sb = full @ basis
        resid = full - basis @ sb.T - sb @ basis.T + basis @ (basis.T @ sb) @ basis.T
        responses[j] = np.bincount(lag_id, weights=resid.ravel(), minlength=n_lags)
        residuals.append(resid.ravel().astype(np.float32))
    traces = np.array([float(np.sum(r[:: n * n + 1])) for r in residuals])
    stacked = np.stack(residuals)
    gram = (stacked @ stacked.T).astype(np.float64)
    return responses / np.maximum(counts, 1.0), traces, gram, counts


@dataclass(frozen=True)
class DetrendModel:
    """What plane detrending does to noise of the measured correlation in one window."""

    #: Expected share of the noise variance that survives the plane fit, E[residual SS] / (N sigma^2).
    kept_fraction: float
    #: Effective degrees of freedom of the residual sum of squares (for chi-square corrections).
    dof: float


def detrend_model(residuals: np.ndarray) -> DetrendModel:
    """Gives the variance share kept by plane detrending and the residual DOF, for the noise in `residuals`.

    The residual covariance of a window is R = (I - P) S (I - P), with P the
    plane projector and S the noise covariance. Only the residuals' lag-averaged
    autocovariance can be measured, and a plane fit cannot tell long-range
    correlation from a random offset, so S is modelled as isotropic and zero
    beyond half the window: S = sum_j c_j shell_j, with c_j fitted by weighted
    least squares to the measured residual autocovariance. Then
    E[SS] = tr R and Var[SS] = 2 tr R^2 for Gaussian noise.
    """
    k, n, _ = residuals.shape
    size = 2 * n
    spec = np.abs(np.fft.rfft2(residuals, s=(size, size))) ** 2
    circ = np.fft.irfft2(spec.sum(axis=0), s=(size, size))
    # Reorder circular lags (-(n-1)..n-1) into the (2n-1)^2 grid used by _detrend_response.
    idx = np.r_[np.arange(size - n + 1, size), np.arange(0, n)]
    responses, traces, gram, counts = _detrend_response(n)
    measured = circ[np.ix_(idx, idx)].ravel() / (np.maximum(counts, 1.0) * k)
    weights = np.sqrt(counts)
    design = (responses * weights).T
    try:
        coef = np.linalg.solve(design.T @ design, design.T @ (measured * weights))
    except np.linalg.LinAlgError:
        coef = np.full(responses.shape[0], np.nan)
    sigma2 = float(coef[0])
    if not np.isfinite(sigma2) or sigma2 <= 0:
        return DetrendModel(kept_fraction=1.0 - 3.0 / (n * n), dof=n * n - 3.0)
    trace = float(coef @ traces)
    kept = trace / (n * n * sigma2)
    dof = trace**2 / max(float(coef @ gram @ coef), 1e-12)
    return DetrendModel(kept_fraction=float(np.clip(kept, 0.3, 1.0)), dof=float(max(dof, 1.0)))
