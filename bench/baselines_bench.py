"""Seconds per 512x512 slice of every registered baseline and every shipped model, on the bundled real abdomen slices.

    .venv/bin/python bench/baselines_bench.py [--slices 5] [--repeats 3] [--markdown FILE]

Display baselines are timed on the already windowed display image (the
windowing is shared by all of them); HU baselines and the shipped models on the
CTImage (a model windows the slice itself and scores the slices as one batch, on one torch thread as the
Assessor runs it).
The best of `--repeats` passes over `--slices` slices is reported, as the machine
is shared.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch
from _report import Report, shipped_models
from rich.console import Console
from rich.table import Table

import vliqa
from vliqa import models
from vliqa.core import to_display
from vliqa.metrics.baselines import list_baselines, quality_sign

SAMPLES = Path(__file__).resolve().parents[1] / "src" / "vliqa" / "samples" / "abdomen_ct_dicom"


def time_baselines(n_slices: int, repeats: int) -> list[tuple[str, str, float, float]]:
    """Gives (name, input, best seconds per slice, median score) for every shipped model and registered baseline."""
    volume = vliqa.load(SAMPLES)
    slices = [volume.slice(i) for i in np.linspace(0, len(volume) - 1, n_slices).round().astype(int)]
    displays = [to_display(s, "ldctiqac") for s in slices]
    rows = []
    torch.set_num_threads(1)  # as the Assessor runs a model by default: more threads busy-wait on a shared machine
    for name in shipped_models():
        model = models.load(name)
        model.predict(slices[:1])  # warm-up: first torch call
        best, scores = np.inf, []
        for _ in range(repeats):
            start = time.perf_counter()
            scores = list(model.predict(slices).overall)
            best = min(best, (time.perf_counter() - start) / len(slices))
        rows.append((f"{name} (shipped model)", "hu", best, float(np.median(scores))))
    for baseline in list_baselines():
        inputs = slices if baseline.input == "hu" else displays
        score = baseline.score_image if baseline.input == "hu" else baseline.score_display
        score(inputs[0])  # warm-up: loads vendored parameters, fills caches
        best, scores = np.inf, []
        for _ in range(repeats):
            start = time.perf_counter()
            scores = [score(x) for x in inputs]
            best = min(best, (time.perf_counter() - start) / len(inputs))
        rows.append((baseline.name, baseline.input, best, float(np.median(scores))))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--slices", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--markdown", type=Path, help="write the table here as GitHub markdown")
    args = parser.parse_args()
    report = Report("Speed of the shipped models and the classical baselines")
    table = Table(
        title=f"seconds per 512x512 slice, best of {args.repeats} passes over {args.slices} real abdomen slices",
        caption="Median score: each predictor's own scale (the models 0-4; the baselines as published).")
    for col in ("predictor", "input", "s / slice", "slices / s", "median score", "better"):
        table.add_column(col, justify="right" if col not in ("predictor", "input", "better") else "left")
    for name, kind, seconds, median in time_baselines(args.slices, args.repeats):
        model = name.endswith("(shipped model)")
        better = "higher" if model or quality_sign(name) > 0 else "lower"
        table.add_row(name, kind, f"{seconds:.4f}", f"{1.0 / seconds:.1f}", f"{median:.3g}", better)
    Console(width=150).print(table)
    report.add(table)
    report.write(args.markdown)


if __name__ == "__main__":
    main()
