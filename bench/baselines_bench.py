"""Seconds per 512x512 slice of every registered baseline, on the bundled real abdomen slices.

    .venv/bin/python bench/baselines_bench.py [--slices 5] [--repeats 3]

Display baselines are timed on the already windowed display image (the
windowing is shared by all of them); HU baselines on the CTImage. The best of
`--repeats` passes over `--slices` slices is reported, as the machine is shared.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.table import Table

import vliqa
from vliqa.core import to_display
from vliqa.metrics.baselines import list_baselines

SAMPLES = Path(__file__).resolve().parents[1] / "src" / "vliqa" / "samples" / "abdomen_ct_dicom"


def time_baselines(n_slices: int, repeats: int) -> list[tuple[str, str, float, float]]:
    """Gives (name, input, best seconds per slice, median score) for every registered baseline."""
    volume = vliqa.load(SAMPLES)
    slices = [volume.slice(i) for i in np.linspace(0, len(volume) - 1, n_slices).round().astype(int)]
    displays = [to_display(s, "ldctiqac") for s in slices]
    rows = []
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
    args = parser.parse_args()
    table = Table(title=f"baselines: seconds per 512x512 slice (best of {args.repeats} x {args.slices} slices)")
    for col in ("baseline", "input", "s / slice", "slices / s", "median score"):
        table.add_column(col, justify="right" if col != "baseline" else "left")
    for name, kind, seconds, median in time_baselines(args.slices, args.repeats):
        table.add_row(name, kind, f"{seconds:.4f}", f"{1.0 / seconds:.1f}", f"{median:.3g}")
    Console().print(table)


if __name__ == "__main__":
    main()
