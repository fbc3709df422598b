"""Measures the evaluation metrics: agreement report with bootstrap, 2AFC, caption metrics, plots.

Run: .venv/bin/python bench/metrics_bench.py [--markdown FILE]
The bootstrap sits beside a plain-loop baseline (one scipy call per metric per resample) measured in the same run,
since the machine is noisy.
"""

from __future__ import annotations

import argparse
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
from _report import Report
from scipy import stats

from vliqa.metrics import agreement_report, caption_metrics, pairwise_accuracy, scatter_with_fit
from vliqa.metrics.agreement import bootstrap_indices


def best_of(fn, repeats: int = 3) -> float:
    """Gives the fastest of `repeats` wall-clock timings of fn(), in seconds."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def scipy_loop_bootstrap(pred: np.ndarray, target: np.ndarray, n_boot: int) -> None:
    """The naive baseline: one scipy call per metric per resample."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for idx in bootstrap_indices(pred.size, n_boot, 0):
            for i in idx:
                p, t = pred[i], target[i]
                stats.pearsonr(p, t), stats.spearmanr(p, t), stats.kendalltau(p, t)


def main() -> None:
    """Prints the timings and writes them as a table with --markdown."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--markdown", type=Path, help="write the table here as GitHub markdown")
    args = parser.parse_args()
    report = Report("Metrics speed")
    rows = []

    def row(what: str, seconds: float, baseline: str = "") -> None:
        print(f"{what}: {seconds:.2f} s" + (f" ({baseline})" if baseline else ""))
        rows.append((what, f"{seconds:.2f}", baseline))

    rng = np.random.default_rng(0)
    target = rng.uniform(0, 4, 2000)
    pred = target + rng.normal(0, 0.6, 2000)
    std = np.full(2000, 0.6)
    report_s = best_of(lambda: agreement_report(pred, target, std=std, n_boot=1000))
    loop_s = best_of(lambda: scipy_loop_bootstrap(pred, target, 100), repeats=1) * 10
    row("`agreement_report`, 2000 items, 1000 bootstrap resamples (SRCC, PLCC, KRCC, LDCTIQAC with CIs)", report_s,
        f"baseline, one scipy call per metric per resample: {loop_s:.1f} s (100 resamples timed, x10), "
        f"{loop_s / report_s:.0f}x slower")

    big_t = rng.uniform(0, 4, 5000)
    big_p = big_t + rng.normal(0, 0.6, 5000)
    row("`pairwise_accuracy` (2AFC), 5000 items = 12.5 M pairs", best_of(lambda: pairwise_accuracy(big_p, big_t)))

    words = "noise streak ring blur liver contrast sharp grainy moderate severe mild artefacts texture edges".split()
    refs = [[" ".join(rng.choice(words, 14)) for _ in range(2)] for _ in range(1000)]
    cands = [" ".join(rng.choice(words, 14)) for _ in range(1000)]
    row("`caption_metrics` (BLEU-1..4, ROUGE-L, CIDEr-D), 1000 items x 2 references",
        best_of(lambda: caption_metrics(cands, refs), repeats=1))

    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder) / "scatter.png"
        seconds = best_of(lambda: scatter_with_fit(pred, target, out))
        row("`scatter_with_fit`, 2000 points, PNG", seconds, f"{out.stat().st_size / 1024:.0f} KiB")

    report.add_rows("evaluation metrics, seconds (best of 3, one run for the caption metrics)",
                    ("what", "s", "beside it"), rows, right=(False, True, False))
    report.write(args.markdown)


if __name__ == "__main__":
    main()
