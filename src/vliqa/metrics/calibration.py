"""Calibration of predicted uncertainty: do the Gaussian intervals a model claims cover the truth as often as they say?

A model that predicts a mean score and a standard deviation per image implies, for every level p,
a central interval mean ± z_p · std with z_p = Φ⁻¹((1 + p) / 2). If the std is honest, the true score
falls inside it for a fraction p of images. We report that coverage at a grid of levels, its mean
absolute gap to nominal (the interval calibration error), and the Spearman correlation between
|error| and std (does the model know *which* images it gets wrong?).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
from scipy import stats

from vliqa.errors import InvalidParameterError
from vliqa.metrics.agreement import _json_number, check_pair

#: Levels whose coverage every calibration result names explicitly.
NAMED_LEVELS = (0.5, 0.8, 0.9, 0.95)


@dataclass(frozen=True)
class CalibrationResult:
    """How well predicted standard deviations match the observed errors.

    `ece` is the mean |observed - nominal| coverage over `levels` (0 is perfect, 0.5 the worst);
    `coverage` maps each of 0.5/0.8/0.9/0.95 to its observed coverage; `error_std_srcc` is the
    Spearman correlation of |pred - target| with std (NaN when std is constant).
    """

    ece: float
    coverage: dict[float, float]
    levels: tuple[float, ...]
    observed: tuple[float, ...]
    error_std_srcc: float
    mean_std: float
    n: int

    def to_dict(self) -> dict[str, object]:
        """Gives the result as JSON-ready data (NaN as None, coverage keys as strings like '0.9')."""
        return {
            "ece": _json_number(self.ece),
            "coverage": {f"{k:g}": _json_number(v) for k, v in self.coverage.items()},
            "levels": [float(v) for v in self.levels],
            "observed": [float(v) for v in self.observed],
            "error_std_srcc": _json_number(self.error_std_srcc),
            "mean_std": _json_number(self.mean_std),
            "n": self.n,
        }


def _coverage(abs_error: np.ndarray, std: np.ndarray, levels: np.ndarray) -> np.ndarray:
    half_width = stats.norm.ppf(0.5 + levels / 2.0)[:, None] * std[None, :]
    return np.mean(abs_error[None, :] <= half_width, axis=1)


def calibration(pred: object, std: object, target: object, bins: int = 10) -> CalibrationResult:
    """Gives the interval calibration of Gaussian predictions (mean `pred`, deviation `std`) against `target`.

    The error is averaged over `bins` nominal levels at the bin centres (0.05, 0.15, ..., 0.95 for 10).
    `std` must be finite and >= 0; a zero std makes a zero-width interval that covers only exact hits.
    """
    p, t = check_pair(pred, target)
    s, _ = check_pair(std, t, names=("std", "target"))
    if (s < 0).any():
        raise InvalidParameterError(f"std holds {int((s < 0).sum())} negative value(s)",
                                    hint="pass standard deviations, not variances or signed errors")
    if int(bins) != bins or bins < 1:
        raise InvalidParameterError(f"bins must be a positive integer, got {bins!r}")
    abs_error = np.abs(p - t)
    levels = (np.arange(int(bins)) + 0.5) / int(bins)
    observed = _coverage(abs_error, s, levels)
    named = _coverage(abs_error, s, np.asarray(NAMED_LEVELS))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # constant std: correlation undefined, NaN is the answer
        error_std_srcc = float(stats.spearmanr(abs_error, s).statistic)
    return CalibrationResult(
        ece=float(np.mean(np.abs(observed - levels))),
        coverage={lvl: float(v) for lvl, v in zip(NAMED_LEVELS, named, strict=True)},
        levels=tuple(float(v) for v in levels),
        observed=tuple(float(v) for v in observed),
        error_std_srcc=error_std_srcc,
        mean_std=float(s.mean()),
        n=int(p.size),
    )
