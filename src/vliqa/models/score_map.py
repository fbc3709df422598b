"""A monotone map from a scorer's raw overall score to the label scale, fitted on validation data.

An ordinal head read out as an expected value shrinks toward the middle of the scale: a clean full-dose
slice whose aspects all read 3.9 gets an overall of 2.8, because the predicted distribution keeps mass
on the low bins. Correlations do not care, a reader does. The fix is the one the VQEG convention applies
before PLCC: map predictions onto the target scale with a monotone function fitted on held-out data —
here on the validation split at the end of training, stored in the checkpoint's config as knots and
applied by `predict` (training and the validation metric see the raw score).

The map is strictly increasing, so rankings — SRCC, KRCC, pairwise accuracy — are unchanged except
where it clips at 0 or 4; it is piecewise linear between its knots. Two kinds:

- "linear" (the default): least squares of target on raw score, two knots. With the ~100 validation rows
  a training run has, a monotone fit with more freedom is noisy, and a steep stretch of it would magnify
  small input differences: the default MedQM-I's isotonic map rose 0.95 points over 0.3 raw points near
  the top of the scale, which would turn a 0.11 DICOM-vs-PNG difference into 0.3.
- "isotonic": pool-adjacent-violators on equal-count bins, then a minimal step between knots.
"""

from __future__ import annotations

import numpy as np

from vliqa.errors import InvalidParameterError

#: Smallest rise between neighbouring knots, so the map never creates ties.
MIN_STEP = 1e-3
#: Fewest validation items per knot.
MIN_PER_KNOT = 8


def _pool_adjacent_violators(y: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Gives the weighted least-squares non-decreasing fit to y."""
    blocks: list[list[float]] = []  # [mean, weight, count]
    for value, weight in zip(y.tolist(), w.tolist(), strict=True):
        blocks.append([value, weight, 1])
        while len(blocks) > 1 and blocks[-2][0] > blocks[-1][0]:
            m2, w2, c2 = blocks.pop()
            m1, w1, c1 = blocks.pop()
            blocks.append([(m1 * w1 + m2 * w2) / (w1 + w2), w1 + w2, c1 + c2])
    return np.concatenate([np.full(int(c), m) for m, _, c in blocks])


def fit_score_map(raw: np.ndarray, target: np.ndarray, *, kind: str = "linear", n_knots: int = 8,
                  low: float = 0.0, high: float = 4.0) -> tuple[tuple[float, float], ...]:
    """Gives knots (raw, mapped) of a strictly increasing map of `raw` predictions onto `target` (see the module doc).

    The identity (no knots) when the data cannot support a map: fewer than 2 * MIN_PER_KNOT items, constant
    predictions, or a fitted line that does not increase.
    """
    if kind not in ("linear", "isotonic"):
        raise InvalidParameterError(f"unknown score map kind '{kind}'", hint="use linear or isotonic")
    raw, target = np.asarray(raw, dtype=np.float64), np.asarray(target, dtype=np.float64)
    ok = np.isfinite(raw) & np.isfinite(target)
    raw, target = raw[ok], target[ok]
    n_knots = min(n_knots, raw.size // MIN_PER_KNOT)
    if n_knots < 2 or np.ptp(raw) == 0:
        return ()
    if kind == "linear":
        slope, intercept = np.polyfit(raw, target, 1)
        if slope <= 0:
            return ()
        return ((low, float(intercept + slope * low)), (high, float(intercept + slope * high)))
    order = np.argsort(raw, kind="stable")
    bins = np.array_split(order, n_knots)
    x = np.array([raw[b].mean() for b in bins])
    y = _pool_adjacent_violators(np.array([target[b].mean() for b in bins]), np.array([float(b.size) for b in bins]))
    y = np.clip(y, low, high)
    for k in range(1, len(y)):  # strictly increasing: no ties made
        y[k] = max(y[k], y[k - 1] + MIN_STEP)
    # the ends: the raw scale's ends map to the target's, keeping the outer slopes positive
    xs = [min(low, x[0] - MIN_STEP), *x.tolist(), max(high, x[-1] + MIN_STEP)]
    ys = [min(y[0] - MIN_STEP, max(low, y[0] - (x[0] - low))), *y.tolist(),
          max(y[-1] + MIN_STEP, min(high + MIN_STEP, y[-1] + (high - x[-1])))]
    return tuple((float(a), float(b)) for a, b in zip(xs, ys, strict=True))


def check_score_map(knots: tuple[tuple[float, float], ...]) -> None:
    """Raises InvalidParameterError unless `knots` is empty or strictly increasing in both coordinates."""
    if not knots:
        return
    arr = np.asarray(knots, dtype=np.float64)
    if arr.ndim != 2 or arr.shape[1] != 2 or len(arr) < 2 or not np.all(np.isfinite(arr)):
        raise InvalidParameterError("overall_calibration must be a list of at least two [raw, mapped] pairs")
    if np.any(np.diff(arr[:, 0]) <= 0) or np.any(np.diff(arr[:, 1]) <= 0):
        raise InvalidParameterError("overall_calibration knots must increase strictly in raw and mapped score")


def apply_score_map(raw: np.ndarray, knots: tuple[tuple[float, float], ...], std: np.ndarray | None = None,
                    *, low: float = 0.0, high: float = 4.0) -> tuple[np.ndarray, np.ndarray | None]:
    """Gives (mapped scores clipped to low..high, std scaled by the map's local slope) — unchanged without knots."""
    raw = np.asarray(raw, dtype=np.float64)
    if not knots:
        return raw, std
    arr = np.asarray(knots, dtype=np.float64)
    xs, ys = arr[:, 0], arr[:, 1]
    mapped = np.clip(np.interp(raw, xs, ys), low, high)
    if std is None:
        return mapped, None
    segment = np.clip(np.searchsorted(xs, raw) - 1, 0, len(xs) - 2)
    slope = (ys[segment + 1] - ys[segment]) / (xs[segment + 1] - xs[segment])
    return mapped, np.asarray(std, dtype=np.float64) * slope
