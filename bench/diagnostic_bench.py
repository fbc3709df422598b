"""Benchmarks MedQM-D diagnostic labels: agreement with the physics labels, and seconds per image.

Builds (or reuses) a phantom dataset, copies it, relabels the copy with `relabel_diagnostic`,
and compares the diagnostic overall score with the physics overall score the builder wrote
(kept in measures as "physics_overall"): SRCC and PLCC over all images, by region and by
recipe family, and SRCC restricted to phantoms with lesions (where truth is informative).

Run: .venv/bin/python bench/diagnostic_bench.py [--data /tmp/dq] [--n 80] [--size 256] [--seed 1] [--markdown FILE]
(the dataset is the one `vliqa data build --source phantom --n 80 --size 256 --out /tmp/dq --seed 1` makes; it is
built when --data holds none, and reused otherwise: give a fresh folder after a label change)
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
from _report import Report
from rich.console import Console
from rich.table import Table

from vliqa.data.build import BuildConfig, build_dataset
from vliqa.data.label import relabel_diagnostic
from vliqa.data.manifest import read_manifest
from vliqa.data.sources import assign_splits, phantom_sources
from vliqa.metrics import plcc, srcc


def ensure_dataset(folder: Path, n: int, size: int, seed: int) -> Path:
    """Gives `folder` holding a built phantom dataset (built now, as the CLI would, if it is missing)."""
    if not (folder / "manifest.parquet").is_file():
        sources = assign_splits(phantom_sources(max(10, n // 4), seed=seed), seed=seed)
        cfg = BuildConfig(n=n, seed=seed, source="phantom", phantom_size_px=size)
        build_dataset(sources, folder, cfg, workers=2)
    return folder


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", type=Path, default=Path("/tmp/dq"))
    parser.add_argument("--n", type=int, default=80)
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--model", default="lesion_net")
    parser.add_argument("--markdown", type=Path, help="write the tables here as GitHub markdown")
    args = parser.parse_args()
    report = Report("MedQM-D diagnostic labels")
    console = Console(width=120)
    src = ensure_dataset(args.data, args.n, args.size, args.seed)
    physics_rows = read_manifest(src).to_pylist()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp) / "ds"
        shutil.copytree(src, work)
        # Warm the model (checkpoint load, first torch call) so the timing is per image, not per process.
        from vliqa.labels.diagnostic import get_diagnostic_model

        get_diagnostic_model(args.model)
        t0 = time.perf_counter()
        n = relabel_diagnostic(work, model=args.model, progress=False)
        per_image_s = (time.perf_counter() - t0) / max(n, 1)
        rows = read_manifest(work).to_pylist()
        # The same model without truth (pseudo-truth = its output on the reference), as real rows get it.
        from dataclasses import replace

        from vliqa.io import load

        model = get_diagnostic_model(args.model)
        pseudo = []
        for r in rows:
            sp = (float(r["pixel_spacing_mm"]),) * 2
            deg = replace(load(str(work / r["path"])), pixel_spacing_mm=sp)
            ref = replace(load(str(work / r["reference_path"])), pixel_spacing_mm=sp)
            pseudo.append(model.loss(deg, ref))

    by_id = {r["id"]: r for r in physics_rows}
    phys = np.array([by_id[r["id"]]["overall"] for r in rows], dtype=float)
    diag = np.array([r["overall"] for r in rows], dtype=float)
    loss = np.array([json.loads(r["measures"])["diagnostic_loss"] for r in rows], dtype=float)
    lesions = np.array(["lesion_cnr_ratio" in json.loads(by_id[r["id"]]["measures"]) for r in rows])

    table = Table(title=f"MedQM-D ({args.model}) overall against the physics overall label, {len(rows)} phantom images "
                        f"({args.size} px, seed {args.seed})")
    for col in ("subset", "n", "SRCC", "PLCC", "mean diag", "mean phys"):
        table.add_column(col, justify="left" if col == "subset" else "right")

    def add(name: str, sel: np.ndarray) -> None:
        if sel.sum() < 3:
            return
        table.add_row(name, str(int(sel.sum())), f"{srcc(diag[sel], phys[sel]):.3f}",
                      f"{plcc(diag[sel], phys[sel]):.3f}", f"{diag[sel].mean():.2f}", f"{phys[sel].mean():.2f}")

    every = np.ones(len(rows), bool)
    add("all", every)
    add("with lesions", lesions)
    add("no lesions", ~lesions)
    for key in ("region", "family"):
        for value in sorted({r[key] for r in rows}):
            add(f"{key}={value}", np.array([r[key] == value for r in rows]))
    lines = (f"SRCC(-diagnostic loss, physics overall) = {srcc(-loss, phys):.3f} (the mapping is monotone: same ranks)",
             f"SRCC(-pseudo-truth loss, physics overall) = {srcc(-np.array(pseudo), phys):.3f} (no truth used: the "
             "model's own output on the reference as the lesion mask, as real rows get it)",
             f"seconds per image (relabel, 2 images through the net + phantom regeneration): {per_image_s:.3f}")
    console.print(table)
    for line in lines:
        console.print(line)
    report.add(table)
    report.note("; ".join(lines) + ".")

    per_step: dict[str, list[tuple[float, float]]] = {}
    for r, d, p in zip(rows, diag, phys, strict=True):
        for step in json.loads(r["degradations"]) or [{"name": "clean"}]:
            per_step.setdefault(step["name"], []).append((d, p))
    steps = Table(title="mean score by degradation (images holding it)")
    for col in ("degradation", "n", "mean diag", "mean phys"):
        steps.add_column(col, justify="left" if col == "degradation" else "right")
    for name, vals in sorted(per_step.items()):
        arr = np.array(vals)
        steps.add_row(name, str(len(arr)), f"{arr[:, 0].mean():.2f}", f"{arr[:, 1].mean():.2f}")
    console.print(steps)
    report.add(steps)
    report.write(args.markdown)


if __name__ == "__main__":
    main()
