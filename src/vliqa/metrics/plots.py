"""Evaluation figures as PNG files: predicted-vs-true scatter, per-group bars, uncertainty calibration.

Figures are built with matplotlib's object API on the Agg renderer (no pyplot), so drawing touches
no global backend state and works in notebooks, servers and threads alike. Every file is written
atomically: a reader never sees half a PNG, and a failed write leaves no temporary file behind.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from vliqa.errors import InvalidParameterError, PermissionDeniedError, VliqaError
from vliqa.io.atomic import atomic_path
from vliqa.metrics.agreement import check_pair
from vliqa.metrics.calibration import calibration
from vliqa.metrics.summary import agreement_report

_DPI = 120


def _save(fig: Figure, path: str | Path) -> Path:
    """Writes `fig` to `path` as PNG atomically and gives the path; OS failures become VliqaErrors."""
    target = Path(path)
    if target.suffix.lower() != ".png":
        raise InvalidParameterError(f"{target}: plots are written as PNG, but the name ends in "
                                    f"'{target.suffix or '(nothing)'}'", path=target, hint="name the file *.png")
    try:
        with atomic_path(target) as tmp:
            fig.savefig(tmp, format="png", dpi=_DPI)
    except VliqaError:
        raise
    except PermissionError as exc:
        raise PermissionDeniedError(f"{target}: cannot write the plot ({exc.strerror or exc})", path=target,
                                    hint="choose a folder you may write to") from exc
    except OSError as exc:
        raise InvalidParameterError(f"{target}: cannot write the plot ({exc.strerror or exc})", path=target,
                                    hint="check that the folder exists, is a folder and has free space") from exc
    return target


def scatter_with_fit(pred: object, target: object, path: str | Path, *, title: str = "Predicted vs true score",
                     fit: bool = True) -> Path:
    """Writes a predicted-vs-true scatter PNG with the logistic fit and the agreement metrics; gives the path."""
    p, t = check_pair(pred, target)
    report = agreement_report(p, t, n_boot=0)
    fig = Figure(figsize=(5.5, 5.0))
    ax = fig.add_subplot()
    ax.scatter(p, t, s=10, alpha=min(0.8, max(0.15, 60.0 / p.size ** 0.5)), color="tab:blue", edgecolors="none",
               label=f"n={p.size}  SRCC={report.srcc:.3f}  KRCC={report.krcc:.3f}")
    lo, hi = float(min(p.min(), t.min())), float(max(p.max(), t.max()))
    ax.plot([lo, hi], [lo, hi], color="0.6", linestyle=":", linewidth=1, label="y = x")
    if fit:
        xs = np.linspace(float(p.min()), float(p.max()), 200)
        fitted = report.fit
        ax.plot(xs, fitted.predict(xs), color="tab:red", linewidth=2,
                label=f"{fitted.method} fit: PLCC={report.plcc_logistic:.3f}, RMSE={report.rmse_logistic:.3f}")
    ax.plot([], [], " ", label=f"raw PLCC={report.plcc:.3f}  RMSE={report.rmse:.3f}")
    ax.plot([], [], " ", label=f"LDCTIQAC |PLCC|+|SRCC|+|KRCC| = {report.ldctiqac:.3f}")
    ax.set_xlabel("predicted score")
    ax.set_ylabel("true score")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(loc="upper left", fontsize=7, framealpha=0.85)
    fig.tight_layout()
    return _save(fig, path)


def per_group_bars(metric_by_group: Mapping[str, float], path: str | Path, *, title: str = "Per-group agreement",
                   baseline_by_group: Mapping[str, float] | None = None, metric_name: str = "SRCC",
                   model_label: str = "model", baseline_label: str = "baseline") -> Path:
    """Writes a bar chart PNG of one metric per group (e.g. degradation), model beside baseline; gives the path.

    Groups keep the order of `metric_by_group`; a group missing from the baseline, or a NaN value,
    gets no bar and an "n/a" mark.
    """
    if not metric_by_group:
        raise InvalidParameterError("metric_by_group is empty: there is nothing to plot")
    groups = [str(g) for g in metric_by_group]
    try:
        model = np.array([float(v) for v in metric_by_group.values()], dtype=np.float64)
        base = None if baseline_by_group is None else np.array(
            [float(baseline_by_group.get(g, np.nan)) for g in metric_by_group], dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise InvalidParameterError(f"per-group metric values must be numbers ({exc})") from exc
    series = [(model_label, model, "tab:blue")] + ([] if base is None else [(baseline_label, base, "tab:gray")])
    width = 0.8 / len(series)
    x = np.arange(len(groups))
    fig = Figure(figsize=(max(5.0, 0.7 * len(groups) * len(series) + 2.0), 4.2))
    ax = fig.add_subplot()
    for k, (label, values, colour) in enumerate(series):
        offsets = x + (k - (len(series) - 1) / 2) * width
        shown = np.nan_to_num(values, nan=0.0)
        bars = ax.bar(offsets, shown, width=width * 0.95, color=colour, label=label)
        texts = ["n/a" if np.isnan(v) else f"{v:.2f}" for v in values]
        ax.bar_label(bars, labels=texts, fontsize=7, padding=2)
    ax.set_xticks(x, groups, rotation=30 if len(groups) > 4 else 0, ha="right" if len(groups) > 4 else "center")
    ax.set_ylabel(metric_name)
    ax.set_title(title)
    ax.axhline(0, color="black", linewidth=0.8)
    finite = np.concatenate([v[np.isfinite(v)] for _, v, _ in series] + [np.zeros(1)])
    ax.set_ylim(min(0.0, float(finite.min()) * 1.15), max(1.0, float(finite.max()) * 1.15))
    ax.grid(axis="y", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return _save(fig, path)


def calibration_plot(pred: object, std: object, target: object, path: str | Path, *,
                     title: str = "Uncertainty calibration", bins: int = 10) -> Path:
    """Writes a two-panel PNG: interval coverage vs nominal level, and |error| vs predicted std; gives the path."""
    result = calibration(pred, std, target, bins=bins)
    p, t = check_pair(pred, target)
    s = np.asarray(std, dtype=np.float64)
    fig = Figure(figsize=(9.5, 4.3))
    left, right = fig.subplots(1, 2)
    left.plot([0, 1], [0, 1], color="0.6", linestyle=":", label="perfect")
    left.plot(result.levels, result.observed, marker="o", color="tab:blue", label=f"observed (ECE={result.ece:.3f})")
    named = ", ".join(f"{int(lvl * 100)}%: {cov:.2f}" for lvl, cov in result.coverage.items())
    left.plot([], [], " ", label=f"coverage {named}")
    left.set_xlabel("nominal coverage of the Gaussian interval")
    left.set_ylabel("observed coverage")
    left.set_xlim(0, 1)
    left.set_ylim(0, 1)
    left.grid(alpha=0.3)
    left.legend(fontsize=7, loc="upper left")
    abs_error = np.abs(p - t)
    right.scatter(s, abs_error, s=8, alpha=0.4, color="tab:blue", edgecolors="none",
                  label=f"SRCC(|error|, std) = {result.error_std_srcc:.3f}")
    grid = np.linspace(0.0, float(s.max()) if s.max() > 0 else 1.0, 50)
    right.plot(grid, 0.6745 * grid, color="tab:red", linewidth=1.5, label="median |error| if calibrated")
    right.set_xlabel("predicted std")
    right.set_ylabel("|prediction - target|")
    right.grid(alpha=0.3)
    right.legend(fontsize=7, loc="upper left")
    fig.suptitle(title)
    fig.tight_layout()
    return _save(fig, path)
