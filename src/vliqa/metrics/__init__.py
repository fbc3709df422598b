"""Evaluation metrics: score agreement (SRCC/PLCC/KRCC, LDCTIQAC, 2AFC, bootstrap CIs), calibration, text, plots.

Typical use::

    from vliqa.metrics import agreement_report
    report = agreement_report(pred, target, std=pred_std)   # AgreementReport
    json.dumps(report.to_dict())

The plot helpers (`scatter_with_fit`, `per_group_bars`, `calibration_plot`) live in
`vliqa.metrics.plots` and are loaded on first use, so importing this package does not import matplotlib.
"""

from __future__ import annotations

from typing import Any

from vliqa.metrics.agreement import (
    ConfidenceInterval,
    LogisticFit,
    bootstrap_ci,
    check_pair,
    fit_logistic,
    krcc,
    ldctiqac_score,
    logistic4,
    pair_preference_accuracy,
    pairwise_accuracy,
    plcc,
    plcc_logistic,
    rmse,
    rmse_logistic,
    srcc,
)
from vliqa.metrics.calibration import CalibrationResult, calibration
from vliqa.metrics.summary import AgreementReport, agreement_report
from vliqa.metrics.text import aspect_accuracy, caption_metrics, meteor_available, tokenize_caption

_PLOTS = ("scatter_with_fit", "per_group_bars", "calibration_plot")

__all__ = [
    "AgreementReport", "CalibrationResult", "ConfidenceInterval", "LogisticFit", "agreement_report", "aspect_accuracy",
    "bootstrap_ci", "calibration", "caption_metrics", "check_pair", "fit_logistic", "krcc", "ldctiqac_score",
    "logistic4", "meteor_available", "pair_preference_accuracy", "pairwise_accuracy", "plcc", "plcc_logistic",
    "rmse", "rmse_logistic", "srcc", "tokenize_caption", *_PLOTS,
]


def __getattr__(name: str) -> Any:
    """Gives the plot helpers lazily, importing matplotlib only when a plot is asked for."""
    if name in _PLOTS:
        from vliqa.metrics import plots  # lazy: imports matplotlib

        return getattr(plots, name)
    raise AttributeError(f"module 'vliqa.metrics' has no attribute {name!r}")
