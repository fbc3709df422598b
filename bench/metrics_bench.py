"""Measures the evaluation metrics: agreement report with bootstrap, 2AFC, caption metrics, plots.

Run: .venv/bin/python bench/metrics_bench.py
Each figure sits beside a plain-loop baseline measured in the same run, since the machine is noisy.
"""

from __future__ import annotations

import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
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
    """Prints the timings."""
    rng = np.random.default_rng(0)
    target = rng.uniform(0, 4, 2000)
    pred = target + rng.normal(0, 0.6, 2000)
    std = np.full(2000, 0.6)
    report_s = best_of(lambda: agreement_report(pred, target, std=std, n_boot=1000))
    loop_s = best_of(lambda: scipy_loop_bootstrap(pred, target, 100), repeats=1) * 10
    print(f"agreement_report n=2000, 1000 resamples: {report_s:.2f} s "
          f"(scipy call per resample: {loop_s:.1f} s est., {loop_s / report_s:.0f}x slower)")

    big_t = rng.uniform(0, 4, 5000)
    big_p = big_t + rng.normal(0, 0.6, 5000)
    print(f"pairwise_accuracy n=5000 (12.5 M pairs): {best_of(lambda: pairwise_accuracy(big_p, big_t)):.2f} s")

    words = "noise streak ring blur liver contrast sharp grainy moderate severe mild artefacts texture edges".split()
    refs = [[" ".join(rng.choice(words, 14)) for _ in range(2)] for _ in range(1000)]
    cands = [" ".join(rng.choice(words, 14)) for _ in range(1000)]
    print(f"caption_metrics 1000 items x 2 refs (BLEU/ROUGE-L/CIDEr-D): "
          f"{best_of(lambda: caption_metrics(cands, refs), repeats=1):.2f} s")

    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder) / "scatter.png"
        print(f"scatter_with_fit n=2000 PNG: {best_of(lambda: scatter_with_fit(pred, target, out)):.2f} s, "
              f"{out.stat().st_size / 1024:.0f} KiB")


if __name__ == "__main__":
    main()
