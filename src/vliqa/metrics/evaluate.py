"""Evaluating quality predictors against reference scores: one function, every predictor scored the same way.

Typical use::

    from vliqa.metrics.evaluate import evaluate
    result = evaluate("dataset", ["runs/regressor", "all-baselines"], split="test", out_dir="dataset/evaluation")
    result.predictors[0].report.srcc

`data` is a dataset folder made by `vliqa data build` (targets: the manifest's `overall`, one
degradation group per row for the breakdown) or a CSV of human scores `path,score` whose paths
are image files, relative to the CSV's folder or absolute (a reader study of the user's own).
Predictors are baseline names (sign-corrected so higher always means better), "all-baselines",
model checkpoints (folders or shipped names, via `vliqa.models.load`) or Predictor objects.
Each goes through `agreement_report`, whose logistic fit maps any score scale onto the target's
for PLCC and RMSE, so a baseline in HU and a model on 0-4 are compared like with like.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from rich.progress import Progress

from vliqa.core import CTImage
from vliqa.data.labelled import load_labelled
from vliqa.errors import DatasetError, InvalidParameterError, UnknownNameError
from vliqa.io.write import atomic_write_text
from vliqa.labels.human import load_scored_slices, read_human_scores
from vliqa.metrics.agreement import _json_number, srcc
from vliqa.metrics.baselines import BaselinePredictor, list_baselines
from vliqa.metrics.summary import AgreementReport, agreement_report
from vliqa.models import QUALITY, Predictor
from vliqa.models import load as load_predictor

ALL_BASELINES = "all-baselines"
#: Fewest images an evaluation (and a per-degradation SRCC) needs; correlations of fewer mean nothing.
MIN_ITEMS = 3


@dataclass(frozen=True)
class EvaluationSet:
    """The images to score and their reference scores; `groups` names each image's degradation (datasets only)."""

    source: str
    kind: str  # "dataset" | "csv"
    split: str | None
    paths: list[str]
    images: list[CTImage]
    targets: np.ndarray
    groups: list[str] | None


@dataclass(frozen=True)
class PredictorEvaluation:
    """One predictor's agreement with the targets, overall and per degradation group."""

    name: str
    kind: str  # "baseline" | "model"
    scores: np.ndarray
    std: np.ndarray | None
    report: AgreementReport | None
    by_group: dict[str, dict[str, Any]]
    n_failed: int = 0
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """Gives this evaluation as JSON-ready data."""
        return {"kind": self.kind, "n_failed": self.n_failed, "error": self.error,
                "report": self.report.to_dict() if self.report is not None else None,
                "by_degradation": self.by_group}


@dataclass(frozen=True)
class EvaluationResult:
    """Every predictor's evaluation on one set, and the files written."""

    data: EvaluationSet
    predictors: list[PredictorEvaluation]
    n_boot: int
    seed: int
    files: list[Path] = field(default_factory=list)

    def get(self, name: str) -> PredictorEvaluation:
        """Gives the evaluation of the predictor called `name`."""
        for p in self.predictors:
            if p.name == name:
                return p
        raise UnknownNameError(f"no predictor '{name}' in this evaluation",
                               hint=f"have: {[p.name for p in self.predictors]}")

    def best_baseline(self) -> PredictorEvaluation | None:
        """Gives the baseline with the highest SRCC, or None when no baseline was scored."""
        scored = [p for p in self.predictors if p.kind == "baseline" and p.report is not None
                  and np.isfinite(p.report.srcc)]
        return max(scored, key=lambda p: p.report.srcc) if scored else None

    def to_dict(self) -> dict[str, Any]:
        """Gives the evaluation as JSON-ready data (the content of evaluation.json)."""
        groups: dict[str, int] = {}
        for g in self.data.groups or []:
            groups[g] = groups.get(g, 0) + 1
        return {
            "data": self.data.source, "kind": self.data.kind, "split": self.data.split, "target": "overall",
            "n": len(self.data.targets), "n_boot": self.n_boot, "seed": self.seed, "groups": groups,
            "predictors": {p.name: p.to_dict() for p in self.predictors},
            "files": [f.name for f in self.files],
        }


# ---------------------------------------------------------------- what to score


def load_evaluation_set(data: str | Path, *, split: str = "test") -> EvaluationSet:
    """Gives the images and targets of a dataset folder's `split` ("all" for every row), or of a human-score CSV."""
    path = Path(data)
    if path.is_dir():
        items = load_labelled(path, split, min_rows=MIN_ITEMS)
        return EvaluationSet(source=str(path), kind="dataset", split=split, paths=[str(it.path) for it in items],
                             images=[it.image for it in items], targets=np.array([it.overall for it in items]),
                             groups=[it.group for it in items])
    if path.is_file():
        return _load_csv_set(path)
    raise DatasetError("evaluation data not found", path=path,
                       hint="pass a dataset folder made by `vliqa data build`, or a CSV of human scores (path,score)")


def _load_csv_set(csv_path: Path) -> EvaluationSet:
    if csv_path.suffix.lower() != ".csv":
        raise DatasetError("evaluation data must be a dataset folder or a .csv of human scores", path=csv_path,
                           hint="the CSV needs a header line: path,score")
    rows = read_human_scores(csv_path)
    if len(rows) < MIN_ITEMS:
        raise DatasetError(f"the score file has {len(rows)} row(s); agreement needs at least {MIN_ITEMS}",
                           path=csv_path)
    loaded = load_scored_slices(csv_path, rows)
    paths, images = [p for p, _ in loaded], [image for _, image in loaded]
    return EvaluationSet(source=str(csv_path), kind="csv", split=None, paths=[str(p) for p in paths], images=images,
                         targets=np.array([r.labels.overall for r in rows], dtype=np.float64), groups=None)


def resolve_predictors(specs: Sequence[str | Path | Predictor], *, window: str = "ldctiqac") -> list[Predictor]:
    """Gives Predictors for "all-baselines" and for the names `vliqa.models.load` takes (Predictors pass through).

    Baseline names, checkpoint folders and shipped model names resolve through the one model registry, as for
    `vliqa assess --model`; baselines then see `window`.
    """
    baseline_names = [b.name for b in list_baselines()]
    out: list[Predictor] = []
    for spec in specs:
        if not isinstance(spec, (str, Path)):
            out.append(spec)
            continue
        text = str(spec).strip()
        if text.lower() in (ALL_BASELINES, "all"):
            out += [BaselinePredictor(name, window=window) for name in baseline_names]
            continue
        try:
            predictor = load_predictor(text, kind=QUALITY)
        except UnknownNameError as exc:
            raise UnknownNameError(f"'{text}' is neither a baseline nor a model ({exc})",
                                   hint=f"baselines: {', '.join(baseline_names)}, or {ALL_BASELINES}") from None
        if isinstance(predictor, BaselinePredictor):
            predictor.window = window
        out.append(predictor)
    if not out:
        raise InvalidParameterError("nothing to evaluate", hint="name a model and/or baselines")
    return out


# ---------------------------------------------------------------- scoring


def score_predictor(predictor: Predictor, images: Sequence[CTImage], targets: np.ndarray, groups: list[str] | None,
                    *, n_boot: int, seed: int) -> PredictorEvaluation:
    """Gives one predictor's agreement with `targets` (items it could not score are left out and counted)."""
    kind = "baseline" if isinstance(predictor, BaselinePredictor) else "model"
    out = predictor.predict(images)
    scores = np.asarray(out.overall, dtype=np.float64)
    std = None if out.std is None else np.asarray(out.std, dtype=np.float64)
    if scores.shape != targets.shape:
        raise InvalidParameterError(f"predictor '{predictor.name}' gave {scores.size} scores for {targets.size} images")
    ok = np.isfinite(scores) & (np.isfinite(std) if std is not None else True)
    n_failed = int((~ok).sum())
    if ok.sum() < MIN_ITEMS:
        detail = (getattr(predictor, "errors", None) or ["no finite score"])[0]
        return PredictorEvaluation(predictor.name, kind, scores, std, None, {}, n_failed,
                                   error=f"{n_failed} of {scores.size} images could not be scored ({detail})")
    report = agreement_report(scores[ok], targets[ok], std=None if std is None else std[ok], n_boot=n_boot, seed=seed)
    by_group: dict[str, dict[str, Any]] = {}
    if groups is not None:
        labels = np.asarray(groups)
        for g in sorted(set(groups)):
            sel = ok & (labels == g)
            value = srcc(scores[sel], targets[sel]) if sel.sum() >= MIN_ITEMS else float("nan")
            by_group[g] = {"n": int(sel.sum()), "srcc": _json_number(value)}
    return PredictorEvaluation(predictor.name, kind, scores, std, report, by_group, n_failed)


def _unique_names(predictors: list[Predictor]) -> None:
    seen: dict[str, int] = {}
    for p in predictors:
        seen[p.name] = seen.get(p.name, 0) + 1
        if seen[p.name] > 1:
            try:
                p.name = f"{p.name}#{seen[p.name]}"
            except AttributeError:  # a frozen third-party predictor keeps its name
                pass


def evaluate(data: str | Path | EvaluationSet, predictors: Sequence[str | Path | Predictor], *, split: str = "test",
             out_dir: str | Path | None = None, n_boot: int = 1000, seed: int = 0, window: str = "ldctiqac",
             progress: bool = False) -> EvaluationResult:
    """Gives every predictor's agreement with the reference scores of `data`; writes JSON and PNGs into `out_dir`.

    Writes (atomically) evaluation.json, scatter_<name>.png per predictor, degradations_<model>.png (per-degradation
    SRCC, model beside the best baseline) for datasets, and calibration_<name>.png when a predictor gives a std.
    """
    if n_boot < 0:
        raise InvalidParameterError(f"n_boot must be 0 or more, got {n_boot}")
    # names first: a typo should fail in a second, not after reading a thousand images
    resolved = resolve_predictors(predictors, window=window)
    eval_set = data if isinstance(data, EvaluationSet) else load_evaluation_set(data, split=split)
    _unique_names(resolved)
    evaluations = []
    with Progress(disable=not progress, transient=True) as bar:
        task = bar.add_task("scoring", total=len(resolved))
        for predictor in resolved:
            bar.update(task, description=f"scoring {predictor.name}")
            evaluations.append(score_predictor(predictor, eval_set.images, eval_set.targets, eval_set.groups,
                                               n_boot=n_boot, seed=seed))
            bar.advance(task)
    result = EvaluationResult(eval_set, evaluations, n_boot=n_boot, seed=seed)
    if out_dir is not None:
        result.files.extend(write_outputs(result, Path(out_dir)))
    return result


# ---------------------------------------------------------------- files


def slug(name: str) -> str:
    """Gives `name` as a safe file-name part."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip("._") or "predictor"


def write_outputs(result: EvaluationResult, out_dir: Path) -> list[Path]:
    """Writes the evaluation's PNGs and evaluation.json into `out_dir`; gives the paths written."""
    from vliqa.metrics.plots import calibration_plot, per_group_bars, scatter_with_fit  # lazy: imports matplotlib

    files: list[Path] = []
    for p in result.predictors:
        if p.report is None:
            continue
        ok = np.isfinite(p.scores) & (np.isfinite(p.std) if p.std is not None else True)
        shown, note = p.scores[ok], ""
        if p.kind == "baseline" and np.ptp(shown) > 0:
            # a baseline's own scale (HU, variance, ...) would squash the 0-4 targets flat; correlations and the
            # logistic fit do not change under this affine map, the raw RMSE in the legend does
            shown, note = 4.0 * (shown - shown.min()) / np.ptp(shown), " (score rescaled to 0-4)"
        truth = "human" if result.data.kind == "csv" else "reference"
        files.append(scatter_with_fit(shown, result.data.targets[ok], out_dir / f"scatter_{slug(p.name)}.png",
                                      title=f"{p.name} vs {truth} score{note}"))
        if p.std is not None:
            files.append(calibration_plot(p.scores[ok], p.std[ok], result.data.targets[ok],
                                          out_dir / f"calibration_{slug(p.name)}.png", title=f"{p.name}: uncertainty"))
    files += _degradation_bars(result, out_dir, per_group_bars)
    json_path = out_dir / "evaluation.json"
    payload = result.to_dict()
    payload["files"] = [f.name for f in [*files, json_path]]
    atomic_write_text(json_path, json.dumps(payload, indent=2) + "\n")
    return [*files, json_path]


def _degradation_bars(result: EvaluationResult, out_dir: Path, per_group_bars: Any) -> list[Path]:
    if result.data.groups is None:
        return []
    best = result.best_baseline()
    models = [p for p in result.predictors if p.kind == "model" and p.report is not None]
    subjects = models or ([best] if best is not None else [])
    files = []
    for p in subjects:  # only groups large enough for an SRCC get a bar
        values = {g: (v["srcc"] if v["srcc"] is not None else float("nan")) for g, v in p.by_group.items()
                  if v["n"] >= MIN_ITEMS}
        if not any(np.isfinite(list(values.values()))):
            continue
        base = None
        if best is not None and best is not p:
            base = {g: (v["srcc"] if v["srcc"] is not None else float("nan")) for g, v in best.by_group.items()}
        files.append(per_group_bars(values, out_dir / f"degradations_{slug(p.name)}.png",
                                    title=f"SRCC per degradation: {p.name}", baseline_by_group=base,
                                    model_label=p.name,
                                    baseline_label=f"best baseline ({best.name})" if base else "baseline"))
    return files
