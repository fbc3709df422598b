"""The reader benchmark: how well each quality score agrees with radiologists, and with real dose, on real CT.

Every predictor (shipped or given models, every no-reference baseline of the registry, and on the reader study
with a reference also PSNR, SSIM and the physics labeller) is scored on:

a. mtdgan_dev (abdomen, brain; 12 denoisers per set, 5 sets a region): Spearman with the readers' noise
   (|noise - 7|, over-smoothing punished), contrast, structure and their composite (mean within-set rank),
   within each set (mean of 5) and pooled (60); a model's noise aspect against the readers' noise; NDCT > LDCT.
b. petct_dev: Spearman within each of the 10 content groups of 27 (mean) and pooled (270).
c. Mayo pairs: how many of the 36 real full-dose slices score above their quarter-dose twin (per kernel too).
d. L067: how many of the 10 full-dose slices score above the SRGAN restoration of their 4x-downsampled copy.
e. Phantom dose series (10, 25, 55, 100 % dose): Kendall tau between score and dose, beside the highest tau the
   score's own ties allow.
f. Export check: bundled DICOM slices against 8-bit exports of themselves (windows, lifted air, JPEG, resizing,
   a colour overlay), written with Pillow and read back with `vliqa.load` as a user would.

Run: `.venv/bin/python bench/reader_bench.py [--model reader] [--oof NAME=FILE] --json out.json --markdown out.md`
(the data root is $VLIQA_SHARED_DATA or ../shared/data; `--quick` scores a few images of each section).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import os
import platform
import subprocess
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from scipy.stats import rankdata, spearmanr

from vliqa.core import CTImage, Window, apply_window, to_display
from vliqa.data.readers import (
    ReaderItem,
    data_key,
    load_l067_srgan,
    load_mayo_pairs,
    load_mtdgan,
    load_petct,
    read_display,
    resolve_root,
)
from vliqa.data.sources import bundled_samples_dir
from vliqa.errors import DatasetError, InvalidParameterError, VliqaError
from vliqa.io import load
from vliqa.metrics.baselines import list_baselines, quality_sign, score_images

REPO = Path(__file__).resolve().parents[1]
READER_ASPECTS = ("noise_q", "contrast", "structure")
COMPOSITE = "composite"
MTDGAN_REGIONS = ("abdomen", "brain")
PHANTOM_REGIONS = ("abdomen", "head", "chest")
PHANTOM_SEEDS = (0, 1, 2)
DOSES = (0.10, 0.25, 0.55, 1.00)
EXPORT_SLICES_PER_SERIES = 4
FR_PREDICTORS = ("psnr", "ssim", "physics_fr")
#: Export kinds of section f, in table order: a name and how the 8-bit export is made (see `write_export`).
EXPORT_KINDS = ("W80/L40", "W350/L40", "W400/L40", "W1500/L-600", "air grey 6", "air grey 18", "JPEG q75",
                "256 px", "1024 px", "RGB overlay")
EXPORT_WINDOWS = {"W80/L40": Window(40, 80), "W350/L40": Window(40, 350), "W400/L40": Window(40, 400),
                  "W1500/L-600": Window(-600, 1500)}
#: The export the derived kinds start from: the window `vliqa.load` assumes for rasters, so only the change shows.
BASE_EXPORT = "W350/L40"
OVERLAY_OPACITY = 0.25
CHUNK = 16


# ------------------------------------------------------------------ pure figures


def spearman(a: Sequence[float], b: Sequence[float]) -> float:
    """Gives Spearman's rho over the pairs where both are finite; NaN for fewer than 3 pairs or a constant side."""
    x, y = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    keep = np.isfinite(x) & np.isfinite(y)
    x, y = x[keep], y[keep]
    if len(x) < 3 or np.ptp(x) == 0 or np.ptp(y) == 0:
        return math.nan
    return float(spearmanr(x, y).statistic)


def within_group_spearman(scores: Sequence[float], targets: Sequence[float],
                          groups: Sequence[str]) -> tuple[float, dict[str, float]]:
    """Gives the mean over groups of Spearman(scores, targets) within each group (NaN groups left out), and each
    group's."""
    s, t, g = np.asarray(scores, dtype=np.float64), np.asarray(targets, dtype=np.float64), np.asarray(groups)
    per_group = {str(k): spearman(s[g == k], t[g == k]) for k in dict.fromkeys(g.tolist())}
    finite = [v for v in per_group.values() if math.isfinite(v)]
    return (float(np.mean(finite)) if finite else math.nan), per_group


def composite_ranks(aspects: dict[str, Sequence[float]], groups: Sequence[str]) -> np.ndarray:
    """Gives per image the mean of its within-group ranks (1 = worst, ties averaged) over the given aspects."""
    g = np.asarray(groups)
    ranks = np.zeros(len(g), dtype=np.float64)
    for values in aspects.values():
        v = np.asarray(values, dtype=np.float64)
        for k in dict.fromkeys(g.tolist()):
            sel = g == k
            ranks[sel] += rankdata(v[sel])
    return ranks / max(len(aspects), 1)


def pairwise_wins(better: Sequence[float], worse: Sequence[float]) -> int:
    """Gives how many pairs score strictly higher on the `better` side (NaN on either side counts as no win)."""
    b, w = np.asarray(better, dtype=np.float64), np.asarray(worse, dtype=np.float64)
    return int(np.sum(b > w))


def kendall_tau_b(x: Sequence[float], y: Sequence[float]) -> float:
    """Gives Kendall's tau-b of x and y; 0 when either side is constant (no pair is ordered), NaN for NaN input."""
    a, b = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    if not (np.all(np.isfinite(a)) and np.all(np.isfinite(b))):
        return math.nan
    i, j = np.triu_indices(len(a), k=1)
    da, db = np.sign(a[i] - a[j]), np.sign(b[i] - b[j])
    n_untied_a, n_untied_b = np.count_nonzero(da), np.count_nonzero(db)
    if n_untied_a == 0 or n_untied_b == 0:
        return 0.0
    return float(np.sum(da * db) / math.sqrt(n_untied_a * n_untied_b))


def max_tau_with_ties(scores: Sequence[float], doses: Sequence[float]) -> float:
    """Gives the highest Kendall tau-b against `doses` that a score with the same values (the same ties) can reach.

    It is the tau of the scores sorted along the doses: a score that saturates (three doses all at 4.0) cannot
    reach 1 however well it orders the rest.
    """
    return kendall_tau_b(np.sort(np.asarray(scores, dtype=np.float64)), np.sort(np.asarray(doses, dtype=np.float64)))


# ------------------------------------------------------------------ predictors


@dataclass
class Scores:
    """One predictor's overall scores (higher is better) over a list of images, and its aspect scores if it has them."""

    overall: np.ndarray
    aspects: dict[str, np.ndarray] | None = None


@dataclass
class NoReferencePredictor:
    """A predictor that scores images on their own: a quality model (through the Assessor) or a registry baseline."""

    name: str
    kind: str  # "model" | "baseline"
    score_fn: Callable[[list[CTImage]], Scores] | None
    #: out-of-fold predictions by data key (models only): used instead of running the model on those items
    oof: dict[str, dict[str, Any]] = field(default_factory=dict)

    def label(self, cv: bool = False) -> str:
        """Gives the row name: the predictor's name, marked "(CV)" where out-of-fold predictions were used."""
        return f"{self.name} (CV)" if cv else self.name

    def score(self, images: list[CTImage], keys: list[str] | None = None, advance: Callable[[int], None] | None = None
              ) -> tuple[Scores, int]:
        """Gives the scores of `images` (out-of-fold ones where `keys` are covered) and how many were out-of-fold."""
        n = len(images)
        overall = np.full(n, np.nan)
        aspects: dict[str, np.ndarray] = {}
        covered = [i for i, k in enumerate(keys or []) if k in self.oof]
        for i in covered:
            entry = self.oof[keys[i]]
            overall[i] = float(entry["overall"])
            for a, v in (entry.get("aspects") or {}).items():
                aspects.setdefault(a, np.full(n, np.nan))[i] = float(v)
        done = set(covered)
        todo = [i for i in range(n) if i not in done]
        if advance:
            advance(len(covered))
        if self.score_fn is not None:
            for start in range(0, len(todo), CHUNK):
                idx = todo[start:start + CHUNK]
                part = self.score_fn([images[i] for i in idx])
                overall[idx] = part.overall
                for a, v in (part.aspects or {}).items():
                    aspects.setdefault(a, np.full(n, np.nan))[idx] = v
                if advance:
                    advance(len(idx))
        elif advance:
            advance(len(todo))
        return Scores(overall, aspects or None), len(covered)


def model_predictor(name: str) -> NoReferencePredictor:
    """Gives a quality model (shipped name or checkpoint folder) run through the Assessor, physics measures off."""
    from vliqa.assessment import Assessor

    assessor = Assessor(name, measures=False)

    def run(images: list[CTImage]) -> Scores:
        results = assessor.assess_slices(images)
        names = sorted({a for r in results for a in r.aspects})
        aspects = {a: np.array([r.aspects.get(a, np.nan) for r in results]) for a in names}
        return Scores(np.array([r.score for r in results], dtype=np.float64), aspects or None)

    return NoReferencePredictor(name, "model", run)


def baseline_predictor(name: str) -> NoReferencePredictor:
    """Gives a registry baseline turned higher-is-better, reading each image under its own display window."""
    sign = quality_sign(name)

    def run(images: list[CTImage]) -> Scores:
        try:
            raw = score_images(name, images, window=None)
        except VliqaError:  # one undefined image must not sink the rest: score one by one, NaN where it fails
            raw = np.array([_one_or_nan(name, im) for im in images])
        return Scores(sign * raw)

    return NoReferencePredictor(name, "baseline", run)


def _one_or_nan(name: str, image: CTImage) -> float:
    try:
        return float(score_images(name, [image], window=None)[0])
    except VliqaError:
        return math.nan


def full_reference_scores(name: str, image: CTImage, reference: CTImage) -> float:
    """Gives a full-reference score (higher is better) of `image` against `reference`: PSNR, SSIM or physics_fr."""
    from skimage.metrics import peak_signal_noise_ratio, structural_similarity

    if name == "physics_fr":
        from vliqa.labels.physics import physics_labels

        try:
            return float(physics_labels(image, reference).overall)
        except (VliqaError, ValueError):
            return math.nan
    shown, ref = to_display(image), to_display(reference)
    if name == "psnr":
        return float(peak_signal_noise_ratio(ref, shown, data_range=1.0))
    if name == "ssim":
        return float(structural_similarity(ref, shown, data_range=1.0))
    raise InvalidParameterError(f"unknown full-reference predictor '{name}'", hint=f"use one of {FR_PREDICTORS}")


def read_oof(spec: str, root: Path) -> tuple[str, dict[str, dict[str, Any]]]:
    """Gives (model name, predictions by data key) from a `NAME=FILE` out-of-fold argument."""
    name, sep, file = spec.partition("=")
    if not sep or not name or not file:
        raise InvalidParameterError(f"--oof {spec!r} is not NAME=FILE",
                                    hint="e.g. --oof runs/reader=runs/reader/oof.json")
    try:
        payload = json.loads(Path(file).read_text())
        predictions = payload["predictions"]
        checked = {str(k): {"overall": float(v["overall"]), "aspects": dict(v.get("aspects") or {})}
                   for k, v in predictions.items()}
    except OSError as exc:
        raise DatasetError(f"cannot read the out-of-fold file ({exc.strerror})", path=file) from exc
    except (json.JSONDecodeError, KeyError, TypeError, ValueError, AttributeError) as exc:
        raise DatasetError(f"not an out-of-fold prediction file ({exc})", path=file,
                           hint='it holds {"predictions": {"<path relative to the data root>": '
                                '{"overall": x, "aspects": {...}}}}') from exc
    unknown = [k for k in checked if not (root / k).is_file()]
    if unknown:
        raise DatasetError(f"{len(unknown)} keys name no file under {root} (e.g. {unknown[0]})", path=file,
                           hint="keys are paths relative to the data root, as vliqa.data.readers.data_key gives")
    return name, checked


# ------------------------------------------------------------------ tables


@dataclass
class Section:
    """One printed table: a title, column names, rows of cells and a note under it."""

    title: str
    columns: list[str]
    rows: list[list[str]]
    note: str = ""

    def rich(self) -> Table:
        """Gives the section as a rich Table."""
        table = Table(title=self.title, caption=self.note or None, caption_justify="left")
        for i, col in enumerate(self.columns):
            table.add_column(col, justify="left" if i == 0 else "right")
        for row in self.rows:
            table.add_row(*row)
        return table

    def markdown(self) -> str:
        """Gives the section as a GitHub markdown table under a bold title."""
        lines = [f"**{self.title}**", "", "| " + " | ".join(c.replace("|", "\\|") for c in self.columns) + " |",
                 "|" + "|".join([":---"] + ["---:"] * (len(self.columns) - 1)) + "|"]
        lines += ["| " + " | ".join(c.replace("|", "\\|") for c in row) + " |" for row in self.rows]
        if self.note:
            lines += ["", self.note]
        return "\n".join(lines) + "\n"


def fmt(value: float, digits: int = 2) -> str:
    """Gives a figure for a table cell ('-' for NaN)."""
    return "-" if value is None or not math.isfinite(value) else f"{round(value, digits) + 0.0:.{digits}f}"


def fmt_g(value: float) -> str:
    """Gives a figure of any scale with 3 significant digits ('-' for NaN)."""
    return "-" if value is None or not math.isfinite(value) else f"{value:.3g}"


def header_text() -> str:
    """Gives the markdown heading line: date, git commit (short, marked when the tree has changes) and machine."""
    def git(*args: str) -> str:
        try:
            return subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True, check=True).stdout.strip()
        except (OSError, subprocess.CalledProcessError):
            return ""

    commit = git("rev-parse", "--short", "HEAD") or "unknown"
    if git("status", "--porcelain", "--untracked-files=no"):
        commit += " + uncommitted changes"
    machine = f"{platform.system()} {platform.machine()}, {os.cpu_count()} cores"
    return f"Reader benchmark, {dt.date.today().isoformat()}, commit {commit}, {machine}"


# ------------------------------------------------------------------ sections


def progress_bar(console: Console) -> Progress:
    """Gives the rich progress display used by every long loop."""
    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                    console=console, transient=True, disable=not console.is_terminal)


def score_all(predictors: list[NoReferencePredictor], images: list[CTImage], what: str, console: Console,
              keys: list[str] | None = None) -> tuple[dict[str, Scores], dict[str, int]]:
    """Gives every predictor's scores of `images` and, per predictor, how many came from out-of-fold files."""
    out, n_cv = {}, {}
    with progress_bar(console) as bar:
        task = bar.add_task(what, total=len(images) * len(predictors))
        for p in predictors:
            bar.update(task, description=f"{what}: {p.name}")
            out[p.name], n_cv[p.name] = p.score(images, keys, advance=lambda k: bar.advance(task, k))
    return out, n_cv


def mtdgan_section(items: list[ReaderItem], predictors: list[NoReferencePredictor], root: Path,
                   console: Console, fr_oof: dict[str, dict[str, dict[str, Any]]] | None = None,
                   ) -> tuple[list[Section], dict[str, Any]]:
    """Gives the mtdgan_dev tables and figures: reader agreement per region, model noise aspect, NDCT > LDCT."""
    images = [read_display(i.path) for i in items]
    keys = [data_key(i.path, root) for i in items]
    scores, n_cv = score_all(predictors, images, "mtdgan_dev", console, keys)
    by_path = {i.path: im for i, im in zip(items, images, strict=True)}
    rated = [k for k, i in enumerate(items) if not i.anchor and i.reference is not None]
    fr: dict[str, np.ndarray] = {n: np.full(len(items), np.nan) for n in FR_PREDICTORS}
    with progress_bar(console) as bar:
        task = bar.add_task("mtdgan_dev: full-reference", total=len(rated))
        for k in rated:
            for n in FR_PREDICTORS:
                fr[n][k] = full_reference_scores(n, images[k], by_path[items[k].reference])
            bar.advance(task)
    # (row label, scores with aspects or None for full-reference rows, overall scores)
    rows_of: list[tuple[str, Scores | None, np.ndarray]] = [
        (p.label(n_cv[p.name] > 0), scores[p.name], scores[p.name].overall) for p in predictors]
    rows_of += [(f"{n} (full-reference)", None, fr[n]) for n in FR_PREDICTORS]
    for name, entries in (fr_oof or {}).items():  # a model's full-reference mode, out of fold
        values = np.array([float(entries[keys[k]]["overall"]) if keys[k] in entries else np.nan
                           for k in range(len(items))])
        rows_of.append((f"{name} (full-reference, CV)", None, values))
    figures: dict[str, Any] = {"n_cv": n_cv, "scores": {}}
    sections = []
    for region in MTDGAN_REGIONS:
        sel = [k for k in rated if items[k].region == region]
        if not sel:
            continue
        groups = [items[k].group for k in sel]
        targets = {a: np.array([items[k].scores[a] for k in sel]) for a in READER_ASPECTS}
        targets = {COMPOSITE: composite_ranks(targets, groups), **targets}
        sets = sorted(set(groups))
        anchors = {(items[k].group, items[k].method): k for k, i in enumerate(items) if i.anchor and i.region == region}
        rows, region_fig = [], {}
        for label, sc, overall in rows_of:
            s = overall[sel]
            fig: dict[str, Any] = {}
            cells = [label]
            for t_name, t in targets.items():
                within, per_set = within_group_spearman(s, t, groups)
                fig[t_name] = {"within": within, "pooled": spearman(s, t), "per_set": per_set}
                cells.append(f"{fmt(within)} / {fmt(fig[t_name]['pooled'])}")
            noise_aspect = sc.aspects.get("noise") if sc is not None and sc.aspects else None
            if noise_aspect is not None:
                fig["noise_aspect_vs_noise_q"] = within_group_spearman(noise_aspect[sel], targets["noise_q"], groups)[0]
            cells.append(fmt(fig.get("noise_aspect_vs_noise_q", math.nan)))
            if sc is not None:
                pairs = [(anchors[(g, "NDCT")], anchors[(g, "LDCT")]) for g in sets
                         if (g, "NDCT") in anchors and (g, "LDCT") in anchors]
                wins = pairwise_wins([overall[a] for a, _ in pairs], [overall[b] for _, b in pairs])
                fig["ndct_over_ldct"] = {"wins": wins, "sets": len(pairs)}
                cells.append(f"{wins}/{len(pairs)}")
            else:
                cells.append("-")  # the NDCT is the reference itself
            rows.append(cells)
            region_fig[label] = fig
        figures[region] = region_fig
        n_sets = len(sets)
        sections.append(Section(
            title=f"mtdgan_dev {region}: Spearman with the readers, within sets (mean of {n_sets}) / pooled "
                  f"({len(sel)})",
            columns=["predictor", "composite", "noise (closeness to 7)", "contrast", "structure",
                     "noise aspect vs noise", "NDCT > LDCT"],
            rows=rows,
            note=("Readers' noise is minus |noise - 7| (over-smoothing counts against); composite: mean within-set "
                  "rank of noise, contrast and structure. Full-reference rows compare each denoised image with "
                  "the set's NDCT."),
        ))
    for label, _sc, overall in rows_of:
        figures["scores"][label] = {keys[k]: float(overall[k]) for k in range(len(items)) if math.isfinite(overall[k])}
    return sections, figures


def petct_section(items: list[ReaderItem], predictors: list[NoReferencePredictor], root: Path,
                  console: Console) -> tuple[Section, dict[str, Any]]:
    """Gives the petct_dev table and figures: Spearman within the content groups (mean) and pooled."""
    images = [read_display(i.path) for i in items]
    keys = [data_key(i.path, root) for i in items]
    scores, n_cv = score_all(predictors, images, "petct_dev", console, keys)
    target = np.array([i.scores["overall"] for i in items])
    groups = [i.group for i in items]
    rows, figures = [], {"n_cv": n_cv, "scores": {}}
    for p in predictors:
        s = scores[p.name].overall
        within, per_group = within_group_spearman(s, target, groups)
        finite = [v for v in per_group.values() if math.isfinite(v)]
        label = p.label(n_cv[p.name] > 0)
        figures[label] = {"within": within, "pooled": spearman(s, target), "per_group": per_group}
        figures["scores"][label] = {k: float(v) for k, v in zip(keys, s, strict=True) if math.isfinite(v)}
        rows.append([label, fmt(within), fmt(min(finite)) if finite else "-", fmt(max(finite)) if finite else "-",
                     fmt(figures[label]["pooled"])])
    n_groups = len(set(groups))
    section = Section(
        title=f"petct_dev: Spearman with the radiologists' 0-4 score ({len(items)} fused PET/CT slices)",
        columns=["predictor", f"within groups (mean of {n_groups})", "worst group", "best group",
                 f"pooled ({len(items)})"],
        rows=rows,
        note="Groups hold distorted versions of one slice (same content); RGB overlays are read as luminance.",
    )
    return section, figures


def mayo_and_l067(predictors: list[NoReferencePredictor], root: Path, console: Console, *,
                  limit: int | None) -> dict[str, Any]:
    """Gives the real-dose pair counts: Mayo full > quarter dose (all and per kernel), L067 full dose > SRGAN."""
    pairs = load_mayo_pairs(root)[:limit]
    full = [load(p.full) for p in pairs]
    quarter = [load(p.quarter) for p in pairs]
    mayo_scores, _ = score_all(predictors, full + quarter, "Mayo pairs", console)
    l067 = load_l067_srgan(root)[:limit]
    l067_scores, _ = score_all(predictors, [p.full for p in l067] + [p.srgan for p in l067], "L067 SRGAN", console)
    kernels = sorted({p.kernel for p in pairs})
    out: dict[str, Any] = {"mayo": {}, "l067": {},
                           "mayo_kernels": {k: sum(p.kernel == k for p in pairs) for k in kernels},
                           "n_mayo": len(pairs), "n_l067": len(l067)}
    for p in predictors:
        s = mayo_scores[p.name].overall
        f, q = s[:len(pairs)], s[len(pairs):]
        entry = {"wins": pairwise_wins(f, q), "mean_gap": float(np.nanmean(f - q)),
                 "by_kernel": {k: pairwise_wins(f[[x.kernel == k for x in pairs]], q[[x.kernel == k for x in pairs]])
                               for k in kernels},
                 "full": f.tolist(), "quarter": q.tolist()}
        out["mayo"][p.name] = entry
        s = l067_scores[p.name].overall
        f, r = s[:len(l067)], s[len(l067):]
        out["l067"][p.name] = {"wins": pairwise_wins(f, r), "mean_gap": float(np.nanmean(f - r)),
                               "full": f.tolist(), "srgan": r.tolist()}
    return out


def pairs_section(predictors: list[NoReferencePredictor], anchors: dict[str, Any], real: dict[str, Any]) -> Section:
    """Gives the table of pairwise checks on real CT: NDCT > LDCT, Mayo full > quarter dose, full dose > SRGAN."""
    kernels = list(real["mayo_kernels"])
    columns = ["predictor", "NDCT > LDCT (mtdgan)", f"Mayo FD > QD (of {real['n_mayo']})",
               *[f"{k} (of {real['mayo_kernels'][k]})" for k in kernels], "Mayo mean FD - QD",
               f"L067 FD > SRGAN (of {real['n_l067']})", "L067 mean FD - SRGAN"]
    rows = []
    for p in predictors:
        by_label = [anchors.get(region, {}) for region in MTDGAN_REGIONS]
        won = [f[label]["ndct_over_ldct"] for f in by_label for label in (p.name, p.label(True))
               if "ndct_over_ldct" in f.get(label, {})]
        ndct = f"{sum(w['wins'] for w in won)}/{sum(w['sets'] for w in won)}" if won else "-"
        m, l067 = real["mayo"][p.name], real["l067"][p.name]
        rows.append([p.name, ndct, str(m["wins"]), *[str(m["by_kernel"][k]) for k in kernels], fmt_g(m["mean_gap"]),
                     str(l067["wins"]), fmt_g(l067["mean_gap"])])
    return Section(title="Real CT pairs: how often the better image scores higher", columns=columns, rows=rows,
                   note=("NDCT > LDCT counts the reader-study anchor pairs (CV rows use their out-of-fold scores). "
                         "Mayo quarter dose is the vendor's projection-domain noise insertion; the L067 SRGAN "
                         "outputs are over-smoothed and sit 10-90 HU low in soft tissue."))


def phantom_section(predictors: list[NoReferencePredictor], console: Console, *, regions: Sequence[str],
                    seeds: Sequence[int]) -> tuple[Section, dict[str, Any]]:
    """Gives the phantom dose-series table: Kendall tau of score with dose per region, and the tie-allowed maximum."""
    from vliqa.phantom import make_phantom
    from vliqa.simulate import get_degradation

    low_dose = get_degradation("low_dose")
    series: list[tuple[str, int, list[CTImage]]] = []
    with progress_bar(console) as bar:
        task = bar.add_task("phantom dose series", total=len(regions) * len(seeds) * len(DOSES))
        for region in regions:
            for seed in seeds:
                phantom = make_phantom(region, seed=seed).image
                images = []
                for d in DOSES:
                    images.append(low_dose(phantom, dose_fraction=d, seed=seed))
                    bar.advance(task)
                series.append((region, seed, images))
    flat = [im for _, _, ims in series for im in ims]
    scores, _ = score_all(predictors, flat, "phantom dose series", console)
    figures: dict[str, Any] = {"doses": list(DOSES), "seeds": list(seeds)}
    rows = []
    for p in predictors:
        s = scores[p.name].overall.reshape(len(series), len(DOSES))
        taus = [kendall_tau_b(row, DOSES) for row in s]
        ceilings = [max_tau_with_ties(row, DOSES) for row in s]
        fig = {"per_series": [{"region": r, "seed": sd, "scores": row.tolist(), "tau": t, "max_tau": c}
                              for (r, sd, _), row, t, c in zip(series, s, taus, ceilings, strict=True)]}
        cells = [p.name]
        for region in [*regions, "all"]:
            pick = [k for k, (r, _, _) in enumerate(series) if region in (r, "all")]
            tau, ceiling = float(np.nanmean([taus[k] for k in pick])), float(np.nanmean([ceilings[k] for k in pick]))
            fig[region] = {"tau": tau, "max_tau": ceiling}
            cells.append(f"{fmt(tau)} ({fmt(ceiling)})")
        figures[p.name] = fig
        rows.append(cells)
    section = Section(
        title=f"Phantom dose series ({', '.join(f'{d:.0%}' for d in DOSES)} dose): Kendall tau of score with dose, "
              f"mean of {len(seeds)} seeds (highest tau the score's ties allow)",
        columns=["predictor", *regions, "all"],
        rows=rows,
        note="A score that gives several doses the same value (clipped at 4, say) cannot reach tau 1; the bracket "
             "is that ceiling.",
    )
    return section, figures


def export_slices(per_series: int) -> list[CTImage]:
    """Gives `per_series` evenly spaced slices of each bundled sample DICOM series (all of a shorter series)."""
    out = []
    for folder in sorted(p for p in bundled_samples_dir().iterdir() if p.is_dir()):
        vol = load(folder)
        if isinstance(vol, CTImage):
            out.append(vol)
            continue
        picks = sorted({int(round(x)) for x in np.linspace(0, len(vol) - 1, min(per_series, len(vol)))})
        out += [vol.slice(i) for i in picks]
    return out


def overlay_rgb(grey: np.ndarray, opacity: float) -> np.ndarray:
    """Gives an RGB uint8 render of `grey` with a PET-like hot-colour blob blended in at `opacity` (at its peak)."""
    h, w = grey.shape
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    heat = np.exp(-(((yy - 0.45 * h) / (0.18 * h)) ** 2 + ((xx - 0.55 * w) / (0.22 * w)) ** 2))
    colour = np.stack([np.clip(3 * heat, 0, 1), np.clip(3 * heat - 1, 0, 1), np.clip(3 * heat - 2, 0, 1)], axis=-1)
    alpha = (opacity * heat)[..., None]
    base = np.repeat(grey[..., None].astype(np.float32) / 255.0, 3, axis=-1)
    return np.rint(255.0 * ((1 - alpha) * base + alpha * colour)).astype(np.uint8)


def write_export(image: CTImage, kind: str, folder: Path, stem: str) -> Path:
    """Writes the 8-bit export `kind` of `image` with Pillow (PNG, or JPEG for 'JPEG q75') and gives its path."""
    window = EXPORT_WINDOWS.get(kind, EXPORT_WINDOWS[BASE_EXPORT])
    grey = np.rint(255.0 * apply_window(image.hu, window)).astype(np.uint8)
    path = folder / f"{stem}_{kind.replace('/', '_').replace(' ', '_')}.png"
    if kind.startswith("air grey"):
        grey = np.where(grey == 0, np.uint8(int(kind.split()[-1])), grey)
    if kind == "JPEG q75":
        path = path.with_suffix(".jpg")
        Image.fromarray(grey).save(path, quality=75)
    elif kind.endswith(" px"):
        size = int(kind.split()[0])
        Image.fromarray(grey).resize((size, size)).save(path)
    elif kind == "RGB overlay":
        Image.fromarray(overlay_rgb(grey, OVERLAY_OPACITY)).save(path)
    else:
        Image.fromarray(grey).save(path)
    return path


def export_section(predictors: list[NoReferencePredictor], console: Console, real: dict[str, Any] | None, *,
                   per_series: int) -> tuple[list[Section], dict[str, Any]]:
    """Gives the export-check tables: max and mean |score(export) - score(DICOM)| per predictor and export kind."""
    slices = export_slices(per_series)
    with tempfile.TemporaryDirectory() as tmp:
        exports = {kind: [load(write_export(s, kind, Path(tmp), f"{k:02d}")) for k, s in enumerate(slices)]
                   for kind in EXPORT_KINDS}
    flat = slices + [im for kind in EXPORT_KINDS for im in exports[kind]]
    scores, _ = score_all(predictors, flat, "export check", console)
    n = len(slices)
    figures: dict[str, Any] = {"slices": [s.source for s in slices]}
    rows: dict[str, list[list[str]]] = {"max_abs_diff": [], "mean_abs_diff": []}
    for p in predictors:
        s = scores[p.name].overall
        dicom = s[:n]
        fig: dict[str, Any] = {"dicom": dicom.tolist()}
        for j, kind in enumerate(EXPORT_KINDS):
            diff = np.abs(s[n * (j + 1):n * (j + 2)] - dicom)
            fig[kind] = {"max_abs_diff": float(np.nanmax(diff)), "mean_abs_diff": float(np.nanmean(diff)),
                         "scores": s[n * (j + 1):n * (j + 2)].tolist()}
        fig["mayo_mean_gap"] = abs(real["mayo"][p.name]["mean_gap"]) if real else math.nan
        figures[p.name] = fig
        for stat, table_rows in rows.items():
            table_rows.append([p.name, *(fmt_g(fig[kind][stat]) for kind in EXPORT_KINDS),
                               fmt_g(fig["mayo_mean_gap"])])
    note = (f"Exports are written with Pillow and read back with vliqa.load (default window W350/L40). Air grey, "
            f"JPEG, resized and RGB exports start from the W350/L40 export; the overlay is a hot-colour blob at "
            f"{OVERLAY_OPACITY:.0%} opacity. Yardstick: the predictor's mean score gap between real full and "
            f"quarter dose (Mayo pairs).")
    sections = [Section(title=f"Export check: {stat.split('_')[0]} |score(8-bit export) - score(DICOM)| over {n} "
                              f"bundled slices",
                        columns=["predictor", *EXPORT_KINDS, "yardstick |Mayo FD - QD|"], rows=table_rows,
                        note=note if stat == "mean_abs_diff" else "")
                for stat, table_rows in rows.items()]
    return sections, figures


# ------------------------------------------------------------------ main


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    """Runs the reader benchmark, prints its tables, writes --json / --markdown, and gives every figure."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", action="append",
                        help="model name or checkpoint folder (repeatable); default: default")
    parser.add_argument("--oof", action="append", default=[], metavar="NAME=FILE",
                        help="out-of-fold predictions of model NAME on the reader studies (repeatable)")
    parser.add_argument("--oof-fr", action="append", default=[], metavar="NAME=FILE",
                        help="out-of-fold full-reference predictions of model NAME on mtdgan_dev (repeatable)")
    parser.add_argument("--data-root", type=Path,
                        help="the shared data folder (default: $VLIQA_SHARED_DATA or ../shared/data)")
    parser.add_argument("--json", type=Path, help="write every figure here")
    parser.add_argument("--markdown", type=Path, help="write the tables here as GitHub markdown")
    parser.add_argument("--quick", action="store_true", help="a few images per section (for tests)")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    console = Console(width=220)
    root = resolve_root(args.data_root)
    model_names = args.model or ["reader", "medqm"]
    oof = dict(read_oof(spec, root) for spec in args.oof)
    fr_oof = dict(read_oof(spec, root) for spec in args.oof_fr)
    predictors = [model_predictor(n) for n in model_names]
    predictors += [NoReferencePredictor(n, "model", None) for n in oof if n not in model_names]
    for p in predictors:
        p.oof = oof.get(p.name, {})
    predictors += [baseline_predictor(b.name) for b in list_baselines()]
    quick = args.quick

    mtdgan = load_mtdgan(root)
    petct = load_petct(root)
    if quick:  # one set per region, two content groups of 8
        mtdgan = [i for i in mtdgan if i.group.endswith("set_1")]
        petct = [i for g in ("group_0", "group_1") for i in [x for x in petct if x.group == g][:8]]
    results: dict[str, Any] = {"header": header_text(), "data_root": str(root), "models": model_names,
                               "oof": {n: len(v) for n, v in oof.items()}, "quick": quick, "seconds": {}}
    sections: list[Section] = []

    def timed(name: str, fn: Callable[[], Any]) -> Any:
        t = time.perf_counter()
        value = fn()
        results["seconds"][name] = round(time.perf_counter() - t, 1)
        return value

    mtdgan_tables, results["mtdgan"] = timed("mtdgan",
                                             lambda: mtdgan_section(mtdgan, predictors, root, console, fr_oof))
    petct_table, results["petct"] = timed("petct", lambda: petct_section(petct, predictors, root, console))
    image_predictors = [p for p in predictors if p.score_fn is not None]  # OOF-only rows score no other images
    results["real_pairs"] = timed("real_pairs", lambda: mayo_and_l067(image_predictors, root, console,
                                                                      limit=4 if quick else None))
    pairs_table = pairs_section(image_predictors, results["mtdgan"], results["real_pairs"])
    phantom_table, results["phantom"] = timed("phantom", lambda: phantom_section(
        image_predictors, console, regions=PHANTOM_REGIONS[:1] if quick else PHANTOM_REGIONS,
        seeds=PHANTOM_SEEDS[:1] if quick else PHANTOM_SEEDS))
    export_tables, results["export"] = timed("export", lambda: export_section(
        image_predictors, console, results["real_pairs"], per_series=1 if quick else EXPORT_SLICES_PER_SERIES))
    sections = [*mtdgan_tables, petct_table, pairs_table, phantom_table, *export_tables]
    results["seconds"]["total"] = round(time.perf_counter() - started, 1)

    for s in sections:
        console.print(s.rich())
    console.print(f"{results['header']}; run time {results['seconds']['total']:.0f} s "
                  f"({', '.join(f'{k} {v:.0f} s' for k, v in results['seconds'].items() if k != 'total')})")
    results["tables"] = [{"title": s.title, "columns": s.columns, "rows": s.rows, "note": s.note} for s in sections]
    if args.json:
        args.json.write_text(json.dumps(_finite_or_null(results), indent=2, default=_json_default) + "\n")
    if args.markdown:
        text = (f"### {results['header']}\n\nRun time {results['seconds']['total']:.0f} s"
                f"{' (--quick)' if quick else ''}; models: {', '.join(model_names)}.\n\n")
        args.markdown.write_text(text + "\n".join(s.markdown() for s in sections))
    return results


def _finite_or_null(obj: Any) -> Any:
    """Gives `obj` with every NaN or infinite float replaced by None (JSON has no NaN)."""
    if isinstance(obj, dict):
        return {k: _finite_or_null(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_finite_or_null(v) for v in obj]
    if isinstance(obj, (float, np.floating)):
        return float(obj) if math.isfinite(obj) else None
    return obj


def _json_default(obj: Any) -> Any:
    if isinstance(obj, (np.floating, np.integer)):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"{type(obj).__name__} is not JSON serialisable")


if __name__ == "__main__":
    main()
