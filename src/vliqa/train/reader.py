"""Trains the reader model on radiologists' judgements of real CT, with cross-validated figures.

    python -m vliqa.train.reader --out src/vliqa/models/reader [--data-root ../shared/data]

What it learns from (all real CT, `vliqa.data.readers`):
- the denoiser reader study (mtdgan_dev): within each set of 12 denoised images, the readers' order on the
  composite (mean rank of noise quality |noise - 7|, contrast retention, structure), on each aspect, and the
  normal-dose anchor above the low-dose one;
- the PET/CT reader study (petct_dev): within each group of 27 distorted versions of one slice, the order
  of the readers' 0-4 scores, and the scores themselves for the 0-4 scale;
- the Mayo quarter/full-dose pairs: full dose above quarter dose;
- the L067 full-dose slices above their over-smoothed SRGAN restorations.
Every group weighs the same in the pairwise ranking loss. Five folds leave whole sets, groups and patients
out; the out-of-fold predictions are written for the reader benchmark (`oof_nr.json`, `oof_fr.json`), then
the shipped model is trained on everything.
"""

from __future__ import annotations

import argparse
import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from rich.progress import Progress
from scipy.stats import kendalltau, rankdata, spearmanr

from vliqa.core import CTImage
from vliqa.data import readers
from vliqa.errors import InputNotFoundError, VliqaError
from vliqa.io.export import ExportSpec, display_export
from vliqa.io.load import load as load_image
from vliqa.io.write import atomic_write_text
from vliqa.labels.human import load_scored_slices, read_human_scores
from vliqa.models import save_checkpoint
from vliqa.models.reader import TARGETS, RankHead, ReaderConfig, ReaderModel
from vliqa.models.reader_features import fr_features, nr_features, reading_display
from vliqa.phantom import make_phantom
from vliqa.simulate import get_degradation

logger = logging.getLogger("vliqa.train")

FOLDS = 5
#: Relative weight of each source's groups in the ranking loss.
SOURCE_WEIGHT = {"mtdgan": 1.0, "petct": 2.0, "mayo": 0.2, "l067": 0.5, "export": 0.0, "sim": 0.3}
MAYO_PATIENTS = ("L096", "L143", "L192", "L286")


@dataclass
class Item:
    """One training image: its features, the group it is ranked within, its fold and its reader targets."""

    key: str
    source: str
    group: str
    fold: int
    nr: np.ndarray
    fr: np.ndarray
    #: Reader targets within the group, higher = better, per model target (absent: not graded).
    targets: dict[str, float] = field(default_factory=dict)
    #: An absolute reader score on the 0-4 scale, when the study gives one.
    absolute: float | None = None
    #: Absolute 0-4 readings of single aspects, when the study grades them (calibrate the aspect heads).
    aspect_absolute: dict[str, float] = field(default_factory=dict)


@dataclass
class TrainSettings:
    """How the heads are fitted."""

    hidden: int = 8
    ensemble: int = 8
    weight_decay: float = 1e-2
    lr: float = 1e-2
    steps: int = 600
    seed: int = 0
    #: Weight of the export-consistency penalty (squared rank-score difference between a slice and its exports).
    consistency: float = 0.3


#: The long side every display is measured at during training (ReaderConfig.measure_px of the saved model).
MEASURE_PX = ReaderConfig.measure_px


def _display(image: CTImage) -> np.ndarray:
    return reading_display(image, MEASURE_PX)


def _mtdgan_items(root: Path) -> list[Item]:
    """Gives the denoiser study's images with their features (each against its set's normal-dose render)."""
    items, ref_cache = [], {}
    for r in readers.load_mtdgan(root):
        d = _display(readers.read_display(r.path))
        ref_path = r.reference if r.reference is not None else r.path
        if ref_path not in ref_cache:
            ref_d = _display(readers.read_display(ref_path))
            ref_cache[ref_path] = (ref_d, nr_features(ref_d))
        ref_d, ref_nr = ref_cache[ref_path]
        s = r.scores
        noise_raw = s.get("noise_raw", 7.0)
        targets = {"overall_abs": _mtdgan_absolute(s), "noise": s["noise_q"], "contrast": s["contrast"],
                   "sharpness": s["structure"], "texture": -max(0.0, noise_raw - 7.0)}
        items.append(Item(key=_rel(root, r.path), source="mtdgan", group=r.group, fold=_set_number(r.group) % FOLDS,
                          nr=nr_features(d), fr=fr_features(d, ref_d, ref_nr), targets=targets,
                          absolute=targets["overall_abs"], aspect_absolute=_mtdgan_aspects(s)))
        items[-1].targets["anchor"] = 1.0 if r.anchor else 0.0
    _add_composite(items)
    return items


def _mtdgan_absolute(scores: dict[str, float]) -> float:
    """Gives a 0-4 reading of the three reader aspects: mean of 1-|noise-7|/6, (contrast-1)/4, (structure-1)/4."""
    noise = 1.0 - min(1.0, -scores["noise_q"] / 6.0)
    return 4.0 * float(np.mean([noise, (scores["contrast"] - 1) / 4, (scores["structure"] - 1) / 4]))


def _mtdgan_aspects(scores: dict[str, float]) -> dict[str, float]:
    """Gives 0-4 readings of the graded aspects: noise 4(1-|noise-7|/6), texture 4(1-smoothing/7), contrast and
    sharpness (structure) 1-5 -> 0-4; normal dose reads 4 on each."""
    raw = scores.get("noise_raw", 7.0)
    return {"noise": 4.0 * (1.0 - min(1.0, -scores["noise_q"] / 6.0)),
            "texture": 4.0 * (1.0 - min(1.0, max(0.0, raw - 7.0) / 7.0)),
            "contrast": scores["contrast"] - 1.0, "sharpness": scores["structure"] - 1.0}


def _set_number(group: str) -> int:
    return int(group.rsplit("_", 1)[-1])


def _add_composite(items: list[Item]) -> None:
    """Sets each non-anchor item's overall target: the composite of its set (mean within-set rank of the aspects)."""
    for g in sorted({i.group for i in items}):
        members = [i for i in items if i.group == g and not i.targets["anchor"]]
        ranks = [rankdata([m.targets[a] for m in members]) for a in ("noise", "contrast", "sharpness")]
        for m, c in zip(members, np.mean(ranks, axis=0), strict=True):
            m.targets["overall"] = float(c)


def _petct_items(root: Path) -> list[Item]:
    """Gives the PET/CT study's images: ranked within their slice group, absolute 0-4 scores."""
    out = []
    for r in readers.load_petct(root):
        d = _display(readers.read_display(r.path))
        nr = nr_features(d)
        score = r.scores["overall"]
        group_no = int(r.group.rsplit("_", 1)[-1])
        out.append(Item(key=_rel(root, r.path), source="petct", group=r.group, fold=group_no % FOLDS, nr=nr,
                        fr=np.zeros(0, np.float32), targets={"overall": score, "sharpness": score}, absolute=score))
    return out


def _pair_items(root: Path) -> list[Item]:
    """Gives the real full-dose images above their quarter-dose (Mayo) and over-smoothed SRGAN (L067) versions."""
    out = []
    for k, p in enumerate(readers.load_mayo_pairs(root)):
        full, quarter = load_image(p.full), load_image(p.quarter)
        fd, qd = _display(full), _display(quarter)
        fd_nr = nr_features(fd)
        fold = MAYO_PATIENTS.index(p.patient) if p.patient in MAYO_PATIENTS else k % FOLDS
        group = f"mayo/{p.patient}/{k}"
        for name, d, better in (("full", fd, 1.0), ("quarter", qd, 0.0)):
            out.append(Item(key=_rel(root, p.full if name == "full" else p.quarter), source="mayo", group=group,
                            fold=fold, nr=nr_features(d), fr=fr_features(d, fd, fd_nr),
                            targets={"overall": better, "noise": better}))
    for k, pair in enumerate(readers.load_l067_srgan(root)):
        fd, rd = _display(pair.full), _display(pair.srgan)
        fd_nr = nr_features(fd)
        group = f"l067/{k}"
        for path, d, better in ((pair.full_path, fd, 1.0), (pair.srgan_path, rd, 0.0)):
            out.append(Item(key=_rel(root, path), source="l067",
                            group=group, fold=k % FOLDS, nr=nr_features(d), fr=fr_features(d, fd, fd_nr),
                            targets={"overall": better, "texture": better, "sharpness": better}))
    return out


#: Exports the model is taught to see through: each scores as the slice's own reading display does.
TRAIN_EXPORTS = (
    ExportSpec(40, 80), ExportSpec(40, 350), ExportSpec(50, 500), ExportSpec(-600, 1500),
    ExportSpec(40, 400, air_grey=10),
    ExportSpec(40, 400, jpeg_quality=75), ExportSpec(40, 400, size_px=256), ExportSpec(40, 400, size_px=1024),
    ExportSpec(40, 400, overlay=True),
)


def _export_items(root: Path) -> list[Item]:
    """Gives real slices in HU (not the bundled samples) with their display exports, grouped per slice.

    The slice itself is the group's anchor (`targets["anchor"] = 1`); `consistency_pairs` ties each export's
    score to it. Sources: the Mayo full-dose slices, the L143 quarter-dose 1 mm series and the GE head series
    but for the two slices bundled with the package (the export check of the reader benchmark runs on those).
    """
    slices: list[CTImage] = []
    for p in readers.load_mayo_pairs(root)[::2]:
        slices.append(load_image(p.full))
    for series, keep in ((root / "mayo_L143_quarter_dose_1mm", slice(0, None, 4)),
                         (root / "dcm_qa_ct_ge_head", slice(0, None, 2))):
        if series.is_dir():
            volume = load_image(series)
            picked = list(range(len(volume)))[keep]
            slices += [volume.slice(i) for i in picked if not (series.name == "dcm_qa_ct_ge_head" and i in (11, 12))]
    out = []
    for k, image in enumerate(slices):
        group = f"export/{k}"
        variants = [image] + [display_export(image, spec) for spec in TRAIN_EXPORTS]
        for n, v in enumerate(variants):
            try:
                nr = nr_features(_display(v))
            except VliqaError:  # an export that clips away the tissue: nothing to be consistent with
                continue
            out.append(Item(key=f"{group}#{n}", source="export", group=group, fold=k % FOLDS, nr=nr,
                            fr=np.zeros(0, np.float32), targets={"anchor": float(n == 0)}))
    return out


#: Simulated dose levels of a real or phantom slice, ranked by dose (readers prefer the higher dose).
SIM_DOSES = (1.0, 0.5, 0.25, 0.1)
#: Denoiser looks readers penalise against the slice they came from (degradation, strength).
SIM_SMOOTHING = (("smooth_tv", 0.8), ("smooth_nlm", 0.9), ("smooth_gaussian", 0.7), ("smooth_cnn", 1.0))
#: Phantom seeds of the training dose series (the reader benchmark uses 0-2).
SIM_PHANTOM_SEEDS = (10, 11, 12, 13)


def _simulated_items(root: Path) -> list[Item]:
    """Gives simulated, labelled-by-construction series: dose series of real slices and phantoms, over-smoothing.

    Each series is a group ranked by construction: full dose above 50 %, 25 % and 10 % dose (the calibrated
    projection-domain simulator), and a slice above its strongly smoothed (waxy) versions. Real slices are the
    Mayo full-dose slices and the GE head (not the bundled ones); phantoms use seeds the benchmark does not.
    """
    low_dose = get_degradation("low_dose")
    real = [load_image(p.full) for p in readers.load_mayo_pairs(root)[1::4]]
    head = root / "dcm_qa_ct_ge_head"
    if head.is_dir():
        volume = load_image(head)
        real += [volume.slice(i) for i in (14, 17, 20)]
    phantoms = [make_phantom(kind, seed=seed).image for kind in ("abdomen", "head", "chest")
                for seed in SIM_PHANTOM_SEEDS]
    out: list[Item] = []
    for k, image in enumerate(real + phantoms):
        series = [(image if d == 1.0 else low_dose(image, dose_fraction=d, seed=k), 1.0 - n / (len(SIM_DOSES) - 1))
                  for n, d in enumerate(SIM_DOSES)]
        out += _series_items(f"simdose/{k}", k, series, ("overall", "noise"))
    for k, image in enumerate(real):
        series = [(image, 1.0)] + [(get_degradation(name)(image, strength=strength, seed=k), 0.0)
                                   for name, strength in SIM_SMOOTHING]
        out += _series_items(f"simsmooth/{k}", k, series, ("overall", "texture", "sharpness"))
    return out


def _series_items(group: str, k: int, series: list[tuple[CTImage, float]], targets: Sequence[str]) -> list[Item]:
    """Gives the items of one simulated series, the first image its full-reference reference."""
    ref_d = _display(series[0][0])
    ref_nr = nr_features(ref_d)
    items = []
    for n, (image, value) in enumerate(series):
        d = _display(image)
        items.append(Item(key=f"{group}#{n}", source="sim", group=group, fold=k % FOLDS, nr=nr_features(d),
                          fr=fr_features(d, ref_d, ref_nr), targets={t: value for t in targets}))
    return items


def consistency_pairs(items: Sequence[Item], use: np.ndarray) -> np.ndarray:
    """Gives (export, its slice) index rows over the items in `use`, whose scores should be equal."""
    anchor_of = {i.group: n for n, i in enumerate(items) if i.source == "export" and i.targets["anchor"] and use[n]}
    rows = [(n, anchor_of[i.group]) for n, i in enumerate(items)
            if i.source == "export" and not i.targets["anchor"] and use[n] and i.group in anchor_of]
    return np.array(rows, dtype=np.int64).reshape(-1, 2)


def _rel(root: Path, path: Path) -> str:
    return readers.data_key(path, root)


def scored_items(csv_path: Path, weight: float = 1.0) -> list[Item]:
    """Gives the slices of a readers' score CSV (path,score[,noise,...]) as one ranked group with absolute scores.

    The rows are a source of their own ("scores:<file name>") weighing `weight` in the ranking loss; each row
    also calibrates the 0-4 mapping. Rows are spread over the folds so that cross-validation leaves some out.
    """
    scores = read_human_scores(csv_path)
    source = f"scores:{csv_path.name}"
    SOURCE_WEIGHT[source] = float(weight)
    out = []
    for n, ((path, image), row) in enumerate(zip(load_scored_slices(csv_path, scores), scores, strict=True)):
        labels = row.labels
        targets = {"overall": float(labels.overall), **{a: float(v) for a, v in (labels.aspects or {}).items()
                                                        if a in TARGETS}}
        out.append(Item(key=str(path), source=source, group=source, fold=n % FOLDS, nr=nr_features(_display(image)),
                        fr=np.zeros(0, np.float32), targets=targets, absolute=float(labels.overall)))
    return out


def collect(root: Path, scores: Sequence[tuple[Path, float]] = ()) -> list[Item]:
    """Gives every training item of the real reader data under `root` and of the score CSVs, features computed."""
    items: list[Item] = []
    parts = (_mtdgan_items, _petct_items, _pair_items, _export_items, _simulated_items)
    with Progress(transient=True) as progress:
        task = progress.add_task("reader data: features", total=len(parts) + len(scores))
        for part in parts:
            items += part(root)
            progress.advance(task)
        for csv_path, weight in scores:
            items += scored_items(csv_path, weight)
            progress.advance(task)
    return items


# ---------------------------------------------------------------- pairs and fitting


def ranking_pairs(items: Sequence[Item], target: str, use: np.ndarray) -> np.ndarray:
    """Gives (better, worse, weight) rows over the items in `use`: every ordered pair within a group.

    Each group's weights sum to its source's SOURCE_WEIGHT, so a group of 27 does not outweigh one of 12;
    a pair's weight grows with the readers' difference up to 1. The normal-dose anchor of a denoiser set
    is ranked above its low-dose anchor for the overall and noise targets.
    """
    rows = []
    groups: dict[str, list[int]] = {}
    for i, it in enumerate(items):
        if use[i]:
            groups.setdefault(it.group, []).append(i)
    for members in groups.values():
        src = items[members[0]].source
        if src == "mtdgan":
            anchors = [i for i in members if items[i].targets["anchor"]]
            graded = [i for i in members if not items[i].targets["anchor"] and target in items[i].targets]
            block = _ordered(items, graded, target, scale=2.0 if target == "overall" else 1.0)
            if target in ("overall", "noise") and len(anchors) == 2:
                hi, lo = sorted(anchors, key=lambda i: -items[i].targets["noise"])
                block.append((hi, lo, 1.0))
        else:
            block = _ordered(items, [i for i in members if target in items[i].targets], target, scale=1.0)
        if not block:
            continue
        arr = np.array(block, dtype=np.float64)
        arr[:, 2] *= SOURCE_WEIGHT[src] / arr[:, 2].sum()
        rows.append(arr)
    return np.concatenate(rows) if rows else np.zeros((0, 3))


def _ordered(items: Sequence[Item], idx: list[int], target: str, *, scale: float) -> list[tuple[int, int, float]]:
    out = []
    for a in idx:
        for b in idx:
            diff = items[a].targets[target] - items[b].targets[target]
            if diff > 0.05:
                out.append((a, b, min(1.0, diff / scale)))
    return out


def fit_head(x: np.ndarray, pairs: np.ndarray, settings: TrainSettings, seed: int,
             same: np.ndarray | None = None) -> RankHead:
    """Gives a RankHead whose members are fitted to the pairs (pairwise logistic loss), features standardised.

    `same` (rows of two indices): items that must score alike (a slice and its exports), a squared penalty.
    """
    head = RankHead(x.shape[1], settings.hidden, settings.ensemble)
    xt = torch.from_numpy(np.asarray(x, dtype=np.float32))
    head.mu.copy_(xt.mean(0))
    head.sd.copy_(xt.std(0).clamp_min(1e-6))
    better = torch.from_numpy(pairs[:, 0].astype(np.int64))
    worse = torch.from_numpy(pairs[:, 1].astype(np.int64))
    weight = torch.from_numpy(pairs[:, 2].astype(np.float32))
    z = (xt - head.mu) / head.sd
    if same is not None and len(same):
        same_a, same_b = torch.from_numpy(same[:, 0]), torch.from_numpy(same[:, 1])
    for m, member in enumerate(head.members):
        torch.manual_seed(seed * 100 + m)
        for layer in member:
            if hasattr(layer, "reset_parameters"):
                layer.reset_parameters()
        opt = torch.optim.Adam(member.parameters(), lr=settings.lr, weight_decay=settings.weight_decay)
        for _ in range(settings.steps):
            s = member(z)[:, 0]
            loss = (weight * torch.nn.functional.softplus(s[worse] - s[better])).sum() / weight.sum()
            if same is not None and len(same):
                loss = loss + settings.consistency * ((s[same_a] - s[same_b]) ** 2).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
    return head


def calibrate(head: RankHead, x: np.ndarray, absolute: np.ndarray) -> None:
    """Fits the head's sigmoid (score = 4 sigmoid(a r + b), a > 0) to absolute 0-4 reader scores by least squares.

    The slope stays positive (a higher rank is a better image) and starts from the straight-line fit of the
    logit of the scores on the rank, so the fit cannot run off to a saturated sigmoid.
    """
    with torch.no_grad():
        r = head.rank(torch.from_numpy(np.asarray(x, np.float32))).mean(0).double()
    y = torch.from_numpy(np.asarray(absolute, np.float64))
    logit = torch.logit((y / 4.0).clamp(0.02, 0.98))
    slope = float(((r - r.mean()) * (logit - logit.mean())).sum() / ((r - r.mean()) ** 2).sum().clamp_min(1e-9))
    slope = max(slope, 1e-2)
    params = torch.tensor([np.log(slope), float(logit.mean() - slope * r.mean())], dtype=torch.float64,
                          requires_grad=True)
    opt = torch.optim.LBFGS([params], max_iter=200, line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        loss = ((4 * torch.sigmoid(params[0].exp() * r + params[1]) - y) ** 2).mean()
        loss.backward()
        return loss

    opt.step(closure)
    a, b = float(params[0].detach().exp()), float(params[1].detach())
    head.cal.copy_(torch.tensor([a, b], dtype=head.cal.dtype))


def _fit_model(items: Sequence[Item], use: np.ndarray, settings: TrainSettings) -> ReaderModel:
    """Gives a ReaderModel whose NR and FR heads are fitted on the items in `use`."""
    config = ReaderConfig(hidden=settings.hidden, ensemble=settings.ensemble, measure_px=MEASURE_PX)
    model = ReaderModel(config)
    x_nr = np.stack([i.nr for i in items])
    has_fr = np.array([i.fr.size > 0 for i in items])
    x_fr = np.stack([i.fr if i.fr.size else np.zeros(len(config.fr_features), np.float32) for i in items])
    absolute = np.array([np.nan if i.absolute is None else i.absolute for i in items])
    graded = {t: np.array([i.aspect_absolute.get(t, np.nan) for i in items]) for t in TARGETS if t != "overall"}
    is_export = np.array([i.source == "export" for i in items])
    for t in TARGETS:
        for heads, x, allowed in ((model.nr, x_nr, use), (model.fr, x_fr, use & has_fr)):
            pairs = ranking_pairs(items, t, allowed)
            if not len(pairs):
                continue
            fit_use = allowed | (use & is_export) if heads is model.nr else allowed
            same = _reindex(consistency_pairs(items, fit_use), fit_use) if heads is model.nr else None
            head = fit_head(x[fit_use], _reindex(pairs, fit_use), settings, settings.seed, same)
            target = absolute if t == "overall" or np.isfinite(graded[t][allowed]).sum() < 20 else graded[t]
            cal_use = allowed & np.isfinite(target)
            calibrate(head, x[cal_use], target[cal_use])
            heads[t] = head
    return model


def _reindex(pairs: np.ndarray, use: np.ndarray) -> np.ndarray:
    """Gives the pairs with item indices renumbered to positions among the used items."""
    new = np.cumsum(use) - 1
    out = pairs.copy()
    out[:, 0], out[:, 1] = new[pairs[:, 0].astype(np.int64)], new[pairs[:, 1].astype(np.int64)]
    return out


def _scores(model: ReaderModel, items: Sequence[Item], full_reference: bool) -> dict[str, np.ndarray]:
    heads = model.fr if full_reference else model.nr
    x = np.stack([i.fr if full_reference else i.nr for i in items]).astype(np.float32)
    with torch.no_grad():
        return {t: heads[t].score(torch.from_numpy(x))[0].numpy() for t in heads}


# ---------------------------------------------------------------- cross-validation and figures


def cross_validate(items: Sequence[Item], settings: TrainSettings) -> dict[str, dict[str, dict[str, float]]]:
    """Gives out-of-fold predictions {"nr"|"fr": {key: {target: score}}}, each from the fold that left it out."""
    folds = np.array([i.fold for i in items])
    has_fr = np.array([i.fr.size > 0 for i in items])
    out: dict[str, dict[str, dict[str, float]]] = {"nr": {}, "fr": {}}
    for f in range(FOLDS):
        model = _fit_model(items, folds != f, settings)
        held = [i for i in items if i.fold == f]
        for kind, use in (("nr", held), ("fr", [i for i, ok in zip(items, has_fr, strict=True) if ok and i.fold == f])):
            if not use:
                continue
            scores = _scores(model, use, kind == "fr")
            for n, it in enumerate(use):
                out[kind][it.key] = {t: float(v[n]) for t, v in scores.items()}
    return out


def figures(items: Sequence[Item], predictions: dict[str, dict[str, float]]) -> dict[str, float]:
    """Gives the headline agreement figures of predictions: within-set/group Spearman and pairwise counts."""
    res: dict[str, float] = {}
    for region in ("abdomen", "brain"):
        rhos, noise_rhos = [], []
        for g in sorted({i.group for i in items if i.source == "mtdgan" and i.group.startswith(region)}):
            members = [i for i in items if i.group == g and not i.targets["anchor"] and i.key in predictions]
            if len(members) < 3:
                continue
            rhos.append(spearmanr([predictions[m.key]["overall"] for m in members],
                                  [m.targets["overall"] for m in members])[0])
            noise_rhos.append(spearmanr([predictions[m.key].get("noise", np.nan) for m in members],
                                        [m.targets["noise"] for m in members])[0])
        if rhos:
            res[f"mtdgan_{region}_composite"] = float(np.nanmean(rhos))
            res[f"mtdgan_{region}_noise"] = float(np.nanmean(noise_rhos))
    pet = []
    for g in sorted({i.group for i in items if i.source == "petct"}):
        members = [i for i in items if i.group == g and i.key in predictions]
        if len(members) > 2:
            pet.append(spearmanr([predictions[m.key]["overall"] for m in members], [m.absolute for m in members])[0])
    if pet:
        res["petct_within"] = float(np.nanmean(pet))
    gaps = []
    for g in sorted({i.group for i in items if i.source == "export"}):
        members = [i for i in items if i.group == g and i.key in predictions]
        anchor = [m for m in members if m.targets["anchor"]]
        if anchor:
            gaps += [abs(predictions[m.key]["overall"] - predictions[anchor[0].key]["overall"])
                     for m in members if not m.targets["anchor"]]
    if gaps:
        res["export_mean_abs_diff"] = float(np.mean(gaps))
        res["export_max_abs_diff"] = float(np.max(gaps))
    taus = []
    for g in sorted({i.group for i in items if i.group.startswith("simdose/")}):
        members = [i for i in items if i.group == g and i.key in predictions]
        if len(members) > 2:
            taus.append(kendalltau([predictions[m.key]["overall"] for m in members],
                                   [m.targets["overall"] for m in members])[0])
    if taus:
        res["simulated_dose_tau"] = float(np.nanmean(taus))
    for src in ("mayo", "l067"):
        wins = total = 0
        for g in sorted({i.group for i in items if i.source == src}):
            hi, lo = sorted([i for i in items if i.group == g], key=lambda i: -i.targets["overall"])
            if hi.key in predictions and lo.key in predictions:
                total += 1
                wins += predictions[hi.key]["overall"] > predictions[lo.key]["overall"]
        if total:
            res[f"{src}_wins"] = float(wins)
            res[f"{src}_pairs"] = float(total)
    return res


def _oof_json(predictions: dict[str, dict[str, float]]) -> str:
    """Gives the out-of-fold predictions of files under the data root as the reader benchmark reads them."""
    payload = {"predictions": {k: {"overall": v["overall"], "aspects": {a: s for a, s in v.items() if a != "overall"}}
                               for k, v in predictions.items() if not k.startswith(("export/", "sim"))}}
    return json.dumps(payload, indent=1) + "\n"


def card_text(cv: dict[str, dict[str, float]], items: Sequence[Item], settings: TrainSettings) -> str:
    """Gives the model card: what the model is, every data source it saw, and its cross-validated figures."""
    counts = {s: sum(i.source == s for i in items) for s in SOURCE_WEIGHT}
    lines = [
        "# reader — CT quality as radiologists grade it",
        "",
        "A no-reference and a full-reference quality model for CT slices (DICOM, NIfTI, or display exports of any",
        "window, background level or size): texture features of the display a reader sees, scored by small MLP",
        f"ensembles ({settings.ensemble} x one hidden layer of {settings.hidden}) trained with a pairwise ranking loss",
        "on radiologists' judgements and mapped to the 0-4 LDCTIQAC scale. The artifacts aspect comes from the",
        "simulator-trained MedQM-I scorer (`medqm`), because the reader studies do not grade artifacts.",
        "",
        "## Data sources (all real CT; none is bundled in the package)",
        f"- MTD-GAN blind reader study, development part (babbu3682/MTD-GAN, MIT): {counts['mtdgan']} images, "
        "10 sets of 12 denoiser outputs + low/normal-dose anchors, 3 radiologists.",
        f"- PET-CT-IQA-DS, development part (MS-IQA/MS-IQA, research use): {counts['petct']} radiologist-scored "
        "fused PET/CT slices, 10 groups.",
        f"- 2016 NIH-AAPM-Mayo Low Dose CT Grand Challenge pairs via prabhatkc/ct-recon (Mayo/TCIA terms): "
        f"{counts['mayo']} images (36 full/quarter-dose pairs, 4 patients, 2 kernels).",
        f"- Mayo L067 full dose and SRGAN restorations (Mayo/TCIA terms): {counts['l067']} images.",
        f"- Display exports of real slices (Mayo full dose, Mayo L143 1 mm, GE head from neurolabusc/dcm_qa_ct, "
        f"BSD-2) in other windows, air greys, sizes, JPEG and colour: {counts['export']} images, taught to score "
        "as their slice does.",
        f"- Simulated series (vliqa's calibrated low-dose simulator and denoiser looks on Mayo full-dose and GE "
        f"head slices, and on procedural phantoms): {counts['sim']} images ranked by dose and by smoothing.",
        "",
        "## Cross-validated agreement (5 folds leaving whole sets, groups and patients out)",
        "",
        "| figure | no reference | with reference |",
        "|---|---|---|",
    ]
    for k in sorted(set(cv["nr"]) | set(cv["fr"])):
        nr, fr = cv["nr"].get(k), cv["fr"].get(k)
        lines.append(f"| {k} | {'' if nr is None else f'{nr:.3f}'} | {'' if fr is None else f'{fr:.3f}'} |")
    lines += ["", "Reproduce with `make train-reader`; the reader benchmark is `make bench-readers` (BENCHMARKS.md)."]
    return "\n".join(lines) + "\n"


def train(root: Path, out: Path, settings: TrainSettings, oof_dir: Path | None = None,
          scores: Sequence[tuple[Path, float]] = ()) -> dict[str, dict[str, float]]:
    """Cross-validates, writes the out-of-fold predictions (to `oof_dir`, default out/oof), fits on all data, saves.

    `scores`: (CSV, weight) pairs of a site's own reader scores that join the training data.
    """
    items = collect(root, scores)
    oof = cross_validate(items, settings)
    cv = {"nr": figures(items, oof["nr"]), "fr": figures(items, oof["fr"])}
    out.mkdir(parents=True, exist_ok=True)
    model = _fit_model(items, np.ones(len(items), bool), settings)
    metadata = {"version": "1.0.0", "cv": cv, "sources": sorted({i.source for i in items}), "n_items": len(items)}
    save_checkpoint(model, model.config, out, card_text(cv, items, settings), metadata=metadata)
    oof_dir = out / "oof" if oof_dir is None else oof_dir
    for kind in ("nr", "fr"):
        atomic_write_text(oof_dir / f"oof_{kind}.json", _oof_json(oof[kind]))
    return cv


def _score_spec(spec: str) -> tuple[Path, float]:
    """Gives (CSV path, weight) from 'file.csv' or 'file.csv:0.5'."""
    path, weight = spec, 1.0
    head, sep, tail = spec.rpartition(":")
    if sep:
        try:
            path, weight = head, float(tail)
        except ValueError:
            path = spec
    if not Path(path).is_file():
        raise InputNotFoundError("score CSV not found", path=path, hint="pass a CSV of path,score rows")
    return Path(path), weight


def main(argv: Sequence[str] | None = None) -> int:
    """Runs the reader-model training from the command line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True, help="checkpoint folder to write")
    parser.add_argument("--data-root", type=Path, default=None, help="folder holding reader_studies/ and mayo_*")
    parser.add_argument("--oof-dir", type=Path, default=None, help="where the out-of-fold JSON files go")
    parser.add_argument("--scores", action="append", default=[], metavar="CSV[:WEIGHT]",
                        help="a readers' score CSV (path,score[,aspects]) that joins training, weight 1 by default")
    parser.add_argument("--hidden", type=int, default=TrainSettings.hidden)
    parser.add_argument("--ensemble", type=int, default=TrainSettings.ensemble)
    parser.add_argument("--steps", type=int, default=TrainSettings.steps)
    parser.add_argument("--weight-decay", type=float, default=TrainSettings.weight_decay)
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    settings = TrainSettings(hidden=args.hidden, ensemble=args.ensemble, steps=args.steps,
                             weight_decay=args.weight_decay)
    root = readers.resolve_root(args.data_root)
    cv = train(root, args.out, settings, args.oof_dir, [_score_spec(spec) for spec in args.scores])
    print(json.dumps(cv, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
