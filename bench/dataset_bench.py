"""Benchmarks the CT-IQA dataset builder: images/s end to end, and where the time goes.

Stages are timed in-process on the real bundled abdomen slice (one candidate of each degradation
at severity 0.5), beside the classical baseline of the same physics step: a low-dose simulation
with scikit-image radon + iradon (720 views). Then a real build (default sources: real CT +
phantoms, 512 px, 2 workers) reports accepted images/s and candidates/s.

Run: .venv/bin/python bench/dataset_bench.py [--n 40] [--markdown FILE]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
from _report import Report
from rich.console import Console
from rich.table import Table
from skimage.transform import iradon, radon

from vliqa.data.build import BuildConfig, build_dataset
from vliqa.data.sources import assign_splits, bundled_samples_dir, default_sources
from vliqa.io import load
from vliqa.io.write import save_png16
from vliqa.labels.physics import physics_labels
from vliqa.simulate import list_degradations
from vliqa.simulate.recipe import degrade_with_artifact_field
from vliqa.text import describe


def skimage_low_dose_s(hu: np.ndarray) -> float:
    """Gives seconds for a scikit-image radon + Poisson + iradon low-dose pass on one slice."""
    theta = np.linspace(0.0, 180.0, 720, endpoint=False)
    mu = np.clip(0.0193 * (1 + hu / 1000.0), 0, None) * 0.977
    t = time.perf_counter()
    sino = radon(mu, theta=theta, circle=False)
    counts = np.random.default_rng(0).poisson(1e5 * np.exp(-sino))
    iradon(-np.log(np.maximum(counts, 1) / 1e5), theta=theta, circle=False, filter_name="hann", output_size=hu.shape[0])
    return time.perf_counter() - t


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=40)
    parser.add_argument("--markdown", type=Path, help="write the tables here as GitHub markdown")
    args = parser.parse_args()
    report = Report("Dataset builder")
    console = Console(width=140)
    ref = load(str(bundled_samples_dir() / "abdomen_ct_dicom")).slice(10)
    degrade_with_artifact_field(ref, [("low_dose", {"severity": 0.5})], seed=0)  # build cached plans once

    stage = {"degrade": [], "label": [], "caption": [], "write": []}
    names = []
    with tempfile.TemporaryDirectory() as tmp:
        for k, d in enumerate(list_degradations()):
            names.append(d.name)
            t0 = time.perf_counter()
            out, art = degrade_with_artifact_field(ref, [(d.name, {"severity": 0.5})], seed=k)
            t1 = time.perf_counter()
            lab = physics_labels(out, ref, artifact_hu=art)
            t2 = time.perf_counter()
            describe(lab, seed=k)
            t3 = time.perf_counter()
            save_png16(out, f"{tmp}/{k}.png")
            t4 = time.perf_counter()
            for key, dt in zip(stage, (t1 - t0, t2 - t1, t3 - t2, t4 - t3), strict=True):
                stage[key].append(dt)
    baseline = skimage_low_dose_s(ref.hu)
    table = Table(
        title=f"per-image stages on a real 512x512 slice (mean over all {len(names)} degradations at severity 0.5)")
    table.add_column("stage")
    table.add_column("s / image", justify="right")
    for key, vals in stage.items():
        table.add_row(key, f"{np.mean(vals):.3f}")
    table.add_row("total", f"{sum(np.mean(v) for v in stage.values()):.3f}")
    table.add_row("baseline: scikit-image low dose (radon+iradon, 720 views)", f"{baseline:.3f}")
    console.print(table)
    report.add(table)
    per_degradation = Table(title="degrade stage per degradation, severity 0.5, one real 512x512 slice (slowest first)")
    per_degradation.add_column("degradation")
    per_degradation.add_column("s / image", justify="right")
    for name, seconds in sorted(zip(names, stage["degrade"], strict=True), key=lambda x: -x[1]):
        per_degradation.add_row(name, f"{seconds:.3f}")
    console.print(per_degradation)

    sources = assign_splits(default_sources(n_phantoms=30, seed=0), seed=0)
    with tempfile.TemporaryDirectory() as tmp:
        t = time.perf_counter()
        result = build_dataset(sources, tmp, BuildConfig(n=args.n, seed=0, source="default"), workers=2, progress=False)
        wall = time.perf_counter() - t
    table = Table(title=f"dataset build, default sources, 512 px, 2 workers, n={args.n}")
    for col in ("images/s", "candidates/s", "wall s", "candidates tried", "score bins"):
        table.add_column(col, justify="right")
    table.add_row(f"{result.n_images / wall:.2f}", f"{result.n_candidates / wall:.2f}", f"{wall:.1f}",
                  str(result.n_candidates), str(result.bin_counts))
    console.print(table)
    report.add(table)
    report.add(per_degradation)
    report.write(args.markdown)


if __name__ == "__main__":
    main()
