"""Agreement between predicted and true quality scores: correlations, fitted PLCC, bootstrap CIs, 2AFC.

Everything takes two 1-D arrays of equal length (predictions first, targets second), on the 0-4
LDCTIQAC scale or any other. Inputs with fewer than 3 items, of unequal length or holding NaN/inf
raise `InvalidParameterError`. Constant predictions (or targets) are legal: the correlations are
then undefined and returned as NaN rather than raising, so a collapsed model shows up in a report
instead of crashing the evaluation.

PLCC comes in two flavours:
- `plcc`: plain Pearson correlation of the raw predictions — what the LDCTIQAC 2023 challenge used
  in its overall score |PLCC| + |SRCC| + |KRCC| (`ldctiqac_score`, the default here);
- `plcc_logistic`: Pearson correlation after the VQEG 4-parameter logistic mapping
  f(x) = (b1 - b2) / (1 + exp(-(x - b3) / |b4|)) + b2, the usual IQA convention that forgives a
  monotone but non-linear scale (`ldctiqac_score(..., logistic=True)`).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np
from scipy import optimize, special, stats

from vliqa.errors import InvalidParameterError

try:  # scipy's own Cython discordant-pair counter: makes the KRCC bootstrap ~5x faster; private, so optional
    from scipy.stats._stats import _kendall_dis
except ImportError:  # pragma: no cover - depends on the scipy build
    _kendall_dis = None

MetricFn = Callable[[np.ndarray, np.ndarray], float]

# bootstrap resamples are drawn in blocks of about this many indices, bounding memory for large n
_BOOT_BLOCK_ITEMS = 2_000_000


def check_pair(pred: object, target: object, *, names: tuple[str, str] = ("pred", "target"),
               min_items: int = 3) -> tuple[np.ndarray, np.ndarray]:
    """Gives `pred` and `target` as float64 1-D arrays after checking length, size and finiteness."""
    arrays = []
    for value, name in zip((pred, target), names, strict=True):
        try:
            arr = np.asarray(value, dtype=np.float64)
        except (TypeError, ValueError) as exc:
            raise InvalidParameterError(f"{name} must be numbers, got {type(value).__name__} ({exc})") from exc
        if arr.ndim != 1:
            raise InvalidParameterError(f"{name} must be a 1-D array of scores, got shape {arr.shape}",
                                        hint="flatten it or pass one score per item")
        arrays.append(arr)
    a, b = arrays
    if a.size != b.size:
        raise InvalidParameterError(f"{names[0]} has {a.size} items but {names[1]} has {b.size}",
                                    hint="pass one prediction per target, in the same order")
    if a.size < min_items:
        raise InvalidParameterError(f"need at least {min_items} items to compute agreement, got {a.size}")
    for arr, name in zip(arrays, names, strict=True):
        bad = ~np.isfinite(arr)
        if bad.any():
            raise InvalidParameterError(
                f"{name} holds {int(bad.sum())} NaN/inf value(s), first at index {int(np.argmax(bad))}",
                hint="drop or repair those items before scoring")
    return a, b


def _quiet_corr(fn: Callable[..., object], a: np.ndarray, b: np.ndarray) -> float:
    # scipy warns (ConstantInputWarning) and returns NaN for constant input; NaN is the documented answer
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return float(fn(a, b).statistic)


def srcc(pred: object, target: object) -> float:
    """Gives Spearman's rank correlation (ties get average ranks); NaN when either side is constant."""
    p, t = check_pair(pred, target)
    return _quiet_corr(stats.spearmanr, p, t)


def krcc(pred: object, target: object) -> float:
    """Gives Kendall's tau-b (tie-corrected); NaN when either side is constant."""
    p, t = check_pair(pred, target)
    return _quiet_corr(stats.kendalltau, p, t)


def plcc(pred: object, target: object) -> float:
    """Gives the plain Pearson correlation of raw predictions and targets; NaN when either is constant."""
    p, t = check_pair(pred, target)
    return _quiet_corr(stats.pearsonr, p, t)


def rmse(pred: object, target: object) -> float:
    """Gives the root mean squared error of the raw predictions, in target units."""
    p, t = check_pair(pred, target)
    return float(np.sqrt(np.mean((p - t) ** 2)))


def logistic4(x: np.ndarray, b1: float, b2: float, b3: float, b4: float) -> np.ndarray:
    """Gives the VQEG 4-parameter logistic (b1 - b2) / (1 + exp(-(x - b3) / |b4|)) + b2."""
    # expit is the overflow-free form of 1 / (1 + exp(-z)); the epsilon keeps a collapsed b4 finite
    return (b1 - b2) * special.expit((np.asarray(x) - b3) / (abs(b4) + 1e-12)) + b2


@dataclass(frozen=True)
class LogisticFit:
    """A monotone mapping from predictions to the target scale: the 4-parameter logistic or its fallback.

    `method` is "logistic" when the fit converged and beat a straight line, "linear" when it failed
    (then `params` are (slope, intercept) and `note` says why), "constant" for constant predictions.
    """

    method: str
    params: tuple[float, ...]
    note: str = ""

    def predict(self, x: object) -> np.ndarray:
        """Gives the fitted target-scale values for predictions `x`."""
        xs = np.asarray(x, dtype=np.float64)
        if self.method == "logistic":
            return logistic4(xs, *self.params)
        if self.method == "linear":
            return self.params[0] * xs + self.params[1]
        return np.full_like(xs, self.params[0])

    def to_dict(self) -> dict[str, object]:
        """Gives the fit as JSON-ready data."""
        return {"method": self.method, "params": [float(v) for v in self.params], "note": self.note}


def fit_logistic(pred: object, target: object) -> LogisticFit:
    """Gives the VQEG logistic fit of targets on predictions, falling back to a line when it fails."""
    x, y = check_pair(pred, target)
    if np.ptp(x) == 0:
        return LogisticFit("constant", (float(y.mean()),), "predictions are constant; no mapping can be fitted")
    slope, intercept = np.polyfit(x, y, 1)
    linear_sse = float(np.sum((slope * x + intercept - y) ** 2))
    b1, b2 = float(y.max()), float(y.min())
    if _quiet_corr(stats.spearmanr, x, y) < 0:  # a decreasing relation starts from the mirrored curve
        b1, b2 = b2, b1
    p0 = (b1, b2, float(x.mean()), float(x.std()) / 4.0)
    if x.size <= len(p0):  # four parameters through four points or fewer: no fit, an interpolation
        return LogisticFit("linear", (float(slope), float(intercept)),
                           f"{x.size} points are too few for the 4-parameter logistic; used a line")
    try:
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore")  # OptimizeWarning: covariance unknown — we use the parameters only
            params, _ = optimize.curve_fit(logistic4, x, y, p0=p0, maxfev=10_000)
    except (RuntimeError, ValueError, optimize.OptimizeWarning) as exc:
        return LogisticFit("linear", (float(slope), float(intercept)), f"logistic fit failed ({exc}); used a line")
    if not np.all(np.isfinite(params)):
        return LogisticFit("linear", (float(slope), float(intercept)), "logistic fit diverged; used a line")
    logistic_sse = float(np.sum((logistic4(x, *params) - y) ** 2))
    # the logistic family nearly contains lines, so a worse fit means a bad local optimum
    if logistic_sse > linear_sse * (1 + 1e-6) + 1e-12:
        return LogisticFit("linear", (float(slope), float(intercept)),
                           "logistic fit ended worse than a line (local optimum); used a line")
    return LogisticFit("logistic", tuple(float(v) for v in params))


def plcc_logistic(pred: object, target: object) -> float:
    """Gives the Pearson correlation between the logistic-mapped predictions and the targets."""
    p, t = check_pair(pred, target)
    return _quiet_corr(stats.pearsonr, fit_logistic(p, t).predict(p), t)


def rmse_logistic(pred: object, target: object) -> float:
    """Gives the RMSE between the logistic-mapped predictions and the targets, in target units."""
    p, t = check_pair(pred, target)
    return float(np.sqrt(np.mean((fit_logistic(p, t).predict(p) - t) ** 2)))


def ldctiqac_score(pred: object, target: object, *, logistic: bool = False) -> float:
    """Gives the LDCTIQAC 2023 overall metric |PLCC| + |SRCC| + |KRCC| (maximum 3).

    The challenge used the plain Pearson PLCC (the default); `logistic=True` uses the PLCC after the
    4-parameter logistic fit instead. NaN when either side is constant.
    """
    p, t = check_pair(pred, target)
    linear = plcc_logistic(p, t) if logistic else _quiet_corr(stats.pearsonr, p, t)
    return abs(linear) + abs(_quiet_corr(stats.spearmanr, p, t)) + abs(_quiet_corr(stats.kendalltau, p, t))


# --- bootstrap -------------------------------------------------------------------------------------------------------


def _rowwise_pearson(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a = a - a.mean(axis=1, keepdims=True)
    b = b - b.mean(axis=1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        r = np.sum(a * b, axis=1) / np.sqrt(np.sum(a * a, axis=1) * np.sum(b * b, axis=1))
    # a resample that is constant on one side has no correlation; rounding can also push |r| past 1
    r[~np.isfinite(r)] = np.nan
    return np.clip(r, -1.0, 1.0)


def _resampled_ranks(values: np.ndarray, idx: np.ndarray) -> np.ndarray:
    """Gives the average (tie-aware) ranks of values[idx] within each row, as scipy's rankdata would."""
    # every resample draws from the same distinct values, so one bincount per block replaces a sort per row
    distinct, codes = np.unique(values, return_inverse=True)
    drawn = codes[idx]
    counts = np.bincount((np.arange(idx.shape[0])[:, None] * distinct.size + drawn).ravel(),
                         minlength=idx.shape[0] * distinct.size).reshape(idx.shape[0], distinct.size)
    average_rank = np.cumsum(counts, axis=1) - counts + (counts + 1) / 2.0
    return np.take_along_axis(average_rank, drawn, axis=1)


def _rowwise_plcc(p: np.ndarray, t: np.ndarray, idx: np.ndarray) -> np.ndarray:
    return _rowwise_pearson(p[idx], t[idx])


def _rowwise_srcc(p: np.ndarray, t: np.ndarray, idx: np.ndarray) -> np.ndarray:
    return _rowwise_pearson(_resampled_ranks(p, idx), _resampled_ranks(t, idx))


def _pairs_within_runs(sorted_rows: np.ndarray) -> np.ndarray:
    """Gives, per row of an axis-1-sorted array, the number of pairs of equal values (sum of c(c-1)/2 over runs)."""
    n = sorted_rows.shape[1]
    new_run = np.ones(sorted_rows.shape, dtype=bool)
    new_run[:, 1:] = sorted_rows[:, 1:] != sorted_rows[:, :-1]
    run_start = np.maximum.accumulate(np.where(new_run, np.arange(n), 0), axis=1)
    # position j has j - run_start equal values before it in its run
    return np.sum(np.arange(n) - run_start, axis=1, dtype=np.int64)


def _rowwise_krcc(p: np.ndarray, t: np.ndarray, idx: np.ndarray) -> np.ndarray:
    if _kendall_dis is None:  # scipy moved its private helper: one public call per resample, ~2x slower
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return np.array([stats.kendalltau(p[i], t[i]).statistic for i in idx], dtype=np.float64)
    # tau-b as scipy computes it (Knight's O(n log n) algorithm), with the sorting and tie counting done for
    # the whole block at once and only the Fenwick-tree count of discordant pairs left per row
    code_x = np.unique(p, return_inverse=True)[1].astype(np.intp)
    code_y = np.unique(t, return_inverse=True)[1].astype(np.intp) + 1  # the Fenwick tree needs ranks >= 1
    x, y = code_x[idx], code_y[idx]
    key = x * (int(code_y.max()) + 1) + y
    order = np.argsort(key, axis=1)
    x_sorted, y_sorted = np.take_along_axis(x, order, axis=1), np.take_along_axis(y, order, axis=1)
    discordant = np.array([_kendall_dis(np.ascontiguousarray(a), np.ascontiguousarray(b))
                           for a, b in zip(x_sorted, y_sorted, strict=True)], dtype=np.float64)
    tie_x = _pairs_within_runs(x_sorted).astype(np.float64)
    tie_y = _pairs_within_runs(np.sort(y, axis=1)).astype(np.float64)
    tie_xy = _pairs_within_runs(np.take_along_axis(key, order, axis=1)).astype(np.float64)
    total = idx.shape[1] * (idx.shape[1] - 1) / 2.0
    with np.errstate(invalid="ignore", divide="ignore"):
        tau = (total - tie_x - tie_y + tie_xy - 2.0 * discordant) / np.sqrt((total - tie_x) * (total - tie_y))
    tau[(tie_x == total) | (tie_y == total)] = np.nan
    return np.clip(tau, -1.0, 1.0)


def _rowwise_ldctiqac(p: np.ndarray, t: np.ndarray, idx: np.ndarray) -> np.ndarray:
    return np.abs(_rowwise_plcc(p, t, idx)) + np.abs(_rowwise_srcc(p, t, idx)) + np.abs(_rowwise_krcc(p, t, idx))


# metrics whose bootstrap runs on a whole block of resamples at once; any other function is looped
_ROWWISE: dict[Callable[..., float], Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray]] = {
    plcc: _rowwise_plcc, srcc: _rowwise_srcc, krcc: _rowwise_krcc, ldctiqac_score: _rowwise_ldctiqac,
}


def bootstrap_indices(n_items: int, n_boot: int, seed: int) -> Iterator[np.ndarray]:
    """Yields blocks of resampling indices, shape (rows, n_items), n_boot rows in all, fixed by the seed."""
    rng = np.random.default_rng(seed)
    rows_per_block = max(1, _BOOT_BLOCK_ITEMS // n_items)
    for start in range(0, n_boot, rows_per_block):
        yield rng.integers(0, n_items, size=(min(rows_per_block, n_boot - start), n_items))


@dataclass(frozen=True)
class ConfidenceInterval:
    """A point estimate with its percentile-bootstrap interval [low, high] at level 1 - alpha."""

    estimate: float
    low: float
    high: float
    alpha: float
    n_boot: int
    n_valid: int  # resamples where the metric was defined (not NaN)

    def to_dict(self) -> dict[str, float | int | None]:
        """Gives the interval as JSON-ready data (NaN as None)."""
        return {k: _json_number(getattr(self, k)) for k in ("estimate", "low", "high", "alpha", "n_boot", "n_valid")}


def _interval(estimate: float, samples: np.ndarray, alpha: float, n_boot: int) -> ConfidenceInterval:
    valid = samples[np.isfinite(samples)]
    if valid.size == 0:
        return ConfidenceInterval(float(estimate), float("nan"), float("nan"), alpha, n_boot, 0)
    low, high = np.percentile(valid, [100 * alpha / 2, 100 * (1 - alpha / 2)])
    return ConfidenceInterval(float(estimate), float(low), float(high), alpha, n_boot, int(valid.size))


def _check_boot(n_boot: int, alpha: float) -> None:
    if int(n_boot) != n_boot or n_boot < 1:
        raise InvalidParameterError(f"n_boot must be a positive integer, got {n_boot!r}")
    if not 0 < alpha < 1:
        raise InvalidParameterError(f"alpha must lie in (0, 1), got {alpha!r}", hint="0.05 gives a 95 % interval")


def bootstrap_ci(metric_fn: MetricFn, pred: object, target: object, n_boot: int = 1000, alpha: float = 0.05,
                 seed: int = 0) -> ConfidenceInterval:
    """Gives the percentile-bootstrap confidence interval of `metric_fn(pred, target)` over resampled items.

    Items are resampled with replacement as (pred, target) pairs. `srcc`, `plcc`, `krcc` and
    `ldctiqac_score` run vectorised; any other function is called once per resample. Resamples where
    the metric is NaN (e.g. all-equal targets) are left out and counted in `n_valid`.
    """
    p, t = check_pair(pred, target)
    _check_boot(n_boot, alpha)
    rowwise = _ROWWISE.get(metric_fn)
    parts = []
    for idx in bootstrap_indices(p.size, int(n_boot), seed):
        if rowwise is not None:
            parts.append(rowwise(p, t, idx))
        else:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                parts.append(np.array([metric_fn(p[i], t[i]) for i in idx], dtype=np.float64))
    return _interval(metric_fn(p, t), np.concatenate(parts), alpha, int(n_boot))


# --- pairwise --------------------------------------------------------------------------------------------------------


def pairwise_counts(pred: object, target: object, *, min_diff: float = 0.0) -> tuple[float, int]:
    """Gives (credit, number of pairs) for the 2AFC test; see `pairwise_accuracy`."""
    p, t = check_pair(pred, target)
    if not np.isfinite(min_diff) or min_diff < 0:
        raise InvalidParameterError(f"min_diff must be a finite number >= 0, got {min_diff!r}")
    n = p.size
    credit, pairs = 0.0, 0
    rows_per_block = max(1, 1_000_000 // n)  # keeps each block's difference matrices near 8 MB
    for start in range(0, n, rows_per_block):
        stop = min(n, start + rows_per_block)
        dt = t[start:stop, None] - t[None, start:]
        dp = p[start:stop, None] - p[None, start:]
        # column k of the block is item start + k; count each unordered pair once (j > i)
        upper = np.arange(dt.shape[1])[None, :] > np.arange(stop - start)[:, None]
        used = upper & (np.abs(dt) > min_diff)
        agree = np.sign(dt[used]) * np.sign(dp[used])  # +1 right order, -1 wrong, 0 tied prediction
        credit += float(np.count_nonzero(agree > 0)) + 0.5 * float(np.count_nonzero(agree == 0))
        pairs += int(used.sum())
    return credit, pairs


def pairwise_accuracy(pred: object, target: object, *, min_diff: float = 0.0) -> float:
    """Gives the 2AFC accuracy: the share of item pairs whose order the predictions get right.

    Only pairs whose targets differ by more than `min_diff` count (so tied targets never do); a pair
    with tied predictions earns half a point. NaN when no pair qualifies.
    """
    credit, pairs = pairwise_counts(pred, target, min_diff=min_diff)
    return credit / pairs if pairs else float("nan")


_PREFERENCE_LABELS = {"a": "A", "b": "B", "tie": "tie", "equal": "tie", "same": "tie", "=": "tie"}


def _preference(label: object, where: str) -> str:
    key = str(label).strip().lower()
    if key not in _PREFERENCE_LABELS:
        raise InvalidParameterError(f"{where}: unknown preference label {label!r}", hint="use 'A', 'B' or 'tie'")
    return _PREFERENCE_LABELS[key]


def pair_preference_accuracy(predicted_prefs: list[object], true_prefs: list[object]) -> dict[str, float | int]:
    """Gives how often predicted A/B/tie preferences match the true ones.

    Keys: `accuracy` (exact match over all pairs), `accuracy_decided` (exact match over pairs whose
    truth is A or B), `tie_rate_predicted`, `n`, `n_decided`. Labels are 'A', 'B' or 'tie'
    (case-insensitive; 'equal'/'same' also mean tie).
    """
    if len(predicted_prefs) != len(true_prefs):
        raise InvalidParameterError(f"predicted_prefs has {len(predicted_prefs)} labels but true_prefs has "
                                    f"{len(true_prefs)}", hint="pass one prediction per pair, in the same order")
    if not true_prefs:
        raise InvalidParameterError("no preference pairs to score")
    pred = [_preference(v, f"predicted_prefs[{i}]") for i, v in enumerate(predicted_prefs)]
    true = [_preference(v, f"true_prefs[{i}]") for i, v in enumerate(true_prefs)]
    hits = [a == b for a, b in zip(pred, true, strict=True)]
    decided = [h for h, b in zip(hits, true, strict=True) if b != "tie"]
    return {
        "accuracy": sum(hits) / len(hits),
        "accuracy_decided": sum(decided) / len(decided) if decided else float("nan"),
        "tie_rate_predicted": pred.count("tie") / len(pred),
        "n": len(hits),
        "n_decided": len(decided),
    }


def _json_number(value: float | int) -> float | int | None:
    if isinstance(value, int | np.integer):
        return int(value)
    return float(value) if np.isfinite(value) else None
