"""Streak and ring indices on real CT, beside the classical baselines and the shipped scorer, in one run.

Slices of every real series (the bundled abdomen, and the head, lower chest and upper thorax of
../shared/data when present) are degraded in the projection domain at severity 0 (clean) .. 1 by the
simulator's streak makers (sparse view, metal, residual denoiser streaks) and ring maker. For each predictor:

- Kendall tau between severity and the predictor (higher = worse), per slice, averaged: does it rise with the
  artefact on the same anatomy?
- AUC of clean slices against slices at severity >= 0.5, pooled over all series: does one threshold separate
  streaky from clean slices across patients and regions?
- Specificity: the index on clean slices and after artefacts it should not count (rings for the streak index,
  streaks for the ring index, NLM smoothing, blur), as a median.

Predictors: `streak_rms_hu` / `ring_rms_hu` (vliqa.ct.artifacts_index), the noise-sigma, BRISQUE and PIQE
baselines, and every shipped model's overall score and artifacts aspect (4 - score, so higher = worse).

Run: `.venv/bin/python bench/artifact_index_bench.py [--markdown FILE]` (results: BENCHMARKS.md, "Streak and ring
indices"; the indices on clean real series: `bench/labels_real_check.py`).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import numpy as np
from _report import Report, shipped_models
from labels_real_check import real_series
from rich.console import Console
from rich.progress import track
from rich.table import Table
from scipy.stats import kendalltau, mannwhitneyu

import vliqa
from vliqa.ct.artifacts_index import ring_index, streak_index
from vliqa.io import load
from vliqa.metrics.baselines import quality_sign, score_images
from vliqa.simulate import get_degradation

SEVERITIES = (0.0, 0.25, 0.5, 0.75, 1.0)
STREAK_MAKERS = ("sparse_view", "metal", "residual_streaks")
RING_MAKERS = ("ring",)
OTHERS = ("ring", "sparse_view", "smooth_nlm", "blur")
BASELINES = ("noise_sigma", "brisque", "piqe")
SLICES_PER_SERIES = 4


def slices() -> list[tuple[str, Any]]:
    out = []
    for name, path in real_series().items():
        if "resampled" in name:  # 3 mm resampled volume: not a reconstruction, no native streak texture
            continue
        vol = load(str(path))
        n = len(vol)
        picks = sorted({int(round(i)) for i in np.linspace(0, n - 1, min(SLICES_PER_SERIES, n))})
        out += [(f"{name} #{i}", vol.slice(i)) for i in picks]
    return out


def predictors(loaded: dict[str, Any]) -> dict[str, Any]:
    """Gives name -> function(images) -> values (higher = worse) of the indices, the baselines and the models.

    Each model gives 4 - its overall score and 4 - its artifacts aspect (a column that repeats another model's, as
    when one model takes its artifacts aspect from another, is left out of the tables by `main`).
    """
    last: dict[str, Any] = {}  # the last model, images and predictions: the aspect reuses the overall's call

    def predict(name: str, images: list) -> Any:
        if last.get("name") != name or last.get("images") is not images:
            last.update(name=name, images=images, predictions=loaded[name].predict(images))
        return last["predictions"]

    def overall(name: str):
        return lambda images: 4.0 - np.asarray(predict(name, images).overall)

    def aspect(name: str):
        return lambda images: 4.0 - np.asarray(predict(name, images).aspects["artifacts"])

    def baseline(name: str):
        return lambda images: -quality_sign(name) * np.asarray(score_images(name, images))

    out = {
        "streak_rms_hu": lambda images: np.array([streak_index(im) for im in images]),
        "ring_rms_hu": lambda images: np.array([ring_index(im) for im in images]),
        **{b: baseline(b) for b in BASELINES},
    }
    for name in loaded:
        out[f"{name} overall (4 - score)"] = overall(name)
        out[f"{name} artifacts aspect (4 - aspect)"] = aspect(name)
    return out


def auc(negatives: np.ndarray, positives: np.ndarray) -> float:
    neg, pos = negatives[np.isfinite(negatives)], positives[np.isfinite(positives)]
    if len(neg) == 0 or len(pos) == 0:
        return float("nan")
    return float(mannwhitneyu(pos, neg).statistic / (len(pos) * len(neg)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", action="append", help="model name or checkpoint folder (repeatable); default: "
                                                         "every shipped model")
    parser.add_argument("--json", default="out/artifact_index_bench.json")
    parser.add_argument("--markdown", type=Path, help="write the tables here as GitHub markdown")
    args = parser.parse_args()
    report = Report("Streak and ring indices on real CT")
    console = Console(width=150)
    preds = predictors({n: vliqa.load_model(n) for n in args.model or shipped_models()})
    cases = slices()
    values: dict[str, dict[str, dict[float, list]]] = {}
    for maker in sorted(set(STREAK_MAKERS + RING_MAKERS + OTHERS)):
        fn = get_degradation(maker)
        sev = SEVERITIES if maker in STREAK_MAKERS + RING_MAKERS else (0.0, 0.7)
        per_sev: dict[float, list] = {}
        for s in track(sev, description=f"{maker:18s}", console=console):
            images = [im if s == 0 else fn.at_severity(im, s, seed=1) for _, im in cases]
            per_sev[s] = [preds[p](images).tolist() for p in preds]
        values[maker] = per_sev
    names = list(preds)
    repeats = {}  # a predictor whose every value equals an earlier one's -> that one
    for k, n in enumerate(names):
        same = [m for j, m in enumerate(names[:k]) if m not in repeats and all(
            np.allclose(values[mk][s][k], values[mk][s][j], equal_nan=True) for mk in values for s in values[mk])]
        if same:
            repeats[n] = same[0]
    keep = [k for k, n in enumerate(names) if n not in repeats]
    values = {mk: {s: [v[k] for k in keep] for s, v in per.items()} for mk, per in values.items()}
    names = [names[k] for k in keep]
    result: dict[str, Any] = {"slices": [c for c, _ in cases], "predictors": names, "tau": {}, "auc": {}, "spec": {}}

    table = Table(title=f"severity vs predictor on {len(cases)} real slices: mean per-slice Kendall τ / AUC clean vs "
                        "severity ≥ 0.5 (pooled); higher = worse for every predictor")
    table.add_column("predictor")
    for maker in STREAK_MAKERS + RING_MAKERS:
        table.add_column(maker, justify="right")
    cells: dict[str, list[str]] = {n: [] for n in names}
    for maker in STREAK_MAKERS + RING_MAKERS:
        for k, n in enumerate(names):
            grid = np.array([values[maker][s][k] for s in SEVERITIES])  # severities x slices
            taus = [kendalltau(SEVERITIES, grid[:, j]).statistic for j in range(grid.shape[1])]
            tau = float(np.nanmean(taus))
            a = auc(grid[0], grid[2:].ravel())
            result["tau"].setdefault(maker, {})[n] = tau
            result["auc"].setdefault(maker, {})[n] = a
            pair = ((tau, "+.2f"), (a, ".2f"))
            cells[n].append(" / ".join(format(v, spec) if np.isfinite(v) else "-" for v, spec in pair))
    for n in names:
        table.add_row(n, *cells[n])
    if repeats:
        table.caption = "; ".join(f"{n}: the same values as {m}" for n, m in repeats.items()) + "."
    console.print(table)
    report.add(table)

    spec = Table(title="median value: clean slices and after artefacts an index should not count (severity 0.7)")
    spec.add_column("predictor")
    cols = ["clean", *OTHERS]
    for c in cols:
        spec.add_column(c, justify="right")
    for k, n in enumerate(names[:2]):
        row = {"clean": float(np.nanmedian(values["ring"][0.0][k]))}
        row.update({m: float(np.nanmedian(values[m][0.7][k] if 0.7 in values[m] else values[m][0.75][k]))
                    for m in OTHERS})
        result["spec"][n] = row
        spec.add_row(n, *(f"{row[c]:.2f}" for c in cols))
    console.print(spec)
    report.add(spec)
    if len({c.split(" #")[0] for c, _ in cases}) == 1:
        report.not_run("The head, chest and thorax slices", "../shared/data (or $VLIQA_SHARED_DATA)")
    report.write(args.markdown)
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps(result, indent=1))
    console.print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
