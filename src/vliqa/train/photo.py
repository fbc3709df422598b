"""Trains the photo model on distorted crops of free photographs, with held-out figures on an unseen photo.

    python -m vliqa.train.photo --out src/vliqa/models/photo          # make train-photo (under 5 min on 2 cores)

Data (`vliqa.data.photos`): crops of the train photos with 0-2 distortions of DepictQA's families and rule labels;
the validation and test photos are never seen in training. Both heads (no-reference, full-reference) are
ensembles of small MLPs fitted full-batch with Adam on the mean squared error of all six targets (overall and
five aspects, 0-4). The model card reports, on the test photo: Spearman of the overall score against the labels
(and per aspect), and A/B accuracy per family (two severities of one family) and across families.
Deterministic: the same settings, torch version and one thread give the same weights.
"""

from __future__ import annotations

import argparse
import json
import logging
import multiprocessing
import time
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from vliqa.data.photos import SOURCES, photo_ids, photo_pair, photo_sample
from vliqa.metrics.agreement import plcc, srcc
from vliqa.models import save_checkpoint
from vliqa.models.photo import TARGETS, PhotoConfig, PhotoModel, ScoreHead
from vliqa.models.photo_features import photo_features, photo_pair_features
from vliqa.simulate.photo import PHOTO_DISTORTIONS, available_distortions

logger = logging.getLogger("vliqa.train")
#: Samples per worker task.
CHUNK = 100


@dataclass(frozen=True)
class PhotoTrainSettings:
    """The recipe: how many crops per split, the heads' shape and the optimiser."""

    n_train: int = 1600
    n_val: int = 200
    n_test: int = 500
    n_pairs: int = 500
    size: int = 256
    hidden: int = 32
    ensemble: int = 5
    steps: int = 800
    lr: float = 3e-3
    weight_decay: float = 1e-4
    seed: int = 0
    #: processes that make and measure the crops (the figures do not depend on it)
    workers: int = 2


@dataclass
class FeatureSet:
    """The features and labels of one split: no-reference, full-reference, targets (N, 6), and what each row is."""

    nr: np.ndarray
    fr: np.ndarray
    y: np.ndarray
    distortions: list[tuple[tuple[str, int], ...]]


def _sample_rows(split: str, indices: Sequence[int], seed: int, size: int) -> list[tuple]:
    """Gives (no-reference features, pair features, targets, distortions) of the samples at `indices` (a worker's
    share: the pixels never leave the process)."""
    rows = []
    for i in indices:
        s = photo_sample(split, i, seed, size)
        y = [s.labels.overall, *(s.labels.aspects[a] for a in TARGETS[1:])]
        rows.append((photo_features(s.image), photo_pair_features(s.image, s.reference), y, s.distortions))
    return rows


def _pair_rows(split: str, indices: Sequence[int], seed: int, size: int) -> list[tuple]:
    """Gives (features of A, features of B, preferred, family or "mixed") of the A/B pairs at `indices`."""
    rows = []
    for i in indices:
        p = photo_pair(split, i, seed, size)
        name_a, name_b = p.distortions_a[0][0], p.distortions_b[0][0]
        rows.append((photo_features(p.image_a), photo_features(p.image_b), p.preferred,
                     name_a if name_a == name_b else "mixed"))
    return rows


def _run(fn, split: str, n: int, settings: PhotoTrainSettings, pool: ProcessPoolExecutor | None) -> list[tuple]:
    """Gives fn's rows for indices 0..n-1 in order, computed in `pool` (else here)."""
    args = [(split, list(range(start, min(n, start + CHUNK))), settings.seed, settings.size)
            for start in range(0, n, CHUNK)]
    if pool is None:
        return [row for a in args for row in fn(*a)]
    return [row for rows in pool.map(fn, *zip(*args, strict=True)) for row in rows]


def featurise(model: PhotoModel, split: str, n: int, settings: PhotoTrainSettings,
              pool: ProcessPoolExecutor | None = None) -> FeatureSet:
    """Gives the features and labels of the first `n` samples of `split` (measured in `pool` when given)."""
    rows = _run(_sample_rows, split, n, settings, pool)
    nr = np.stack([r[0] for r in rows])[:, model._index]
    pairs = np.stack([r[1] for r in rows])[:, model._pair_index]
    return FeatureSet(nr, np.concatenate([pairs, nr], axis=1), np.asarray([r[2] for r in rows], np.float32),
                      [r[3] for r in rows])


def fit_head(head: ScoreHead, x: np.ndarray, y: np.ndarray, settings: PhotoTrainSettings) -> ScoreHead:
    """Fits every ensemble member of `head` to targets `y` (N, 6) from features `x` (standardised in the head)."""
    xt, yt = torch.from_numpy(np.asarray(x, np.float32)), torch.from_numpy(np.asarray(y, np.float32))
    head.mu.copy_(xt.mean(0))
    head.sd.copy_(xt.std(0).clamp_min(1e-6))
    z = (xt - head.mu) / head.sd
    for m, member in enumerate(head.members):
        torch.manual_seed(settings.seed * 100 + m)
        for layer in member:
            if hasattr(layer, "reset_parameters"):
                layer.reset_parameters()
        opt = torch.optim.Adam(member.parameters(), lr=settings.lr, weight_decay=settings.weight_decay)
        for _ in range(settings.steps):
            loss = ((4.0 * torch.sigmoid(member(z)) - yt) ** 2).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
    return head


def agreement(model: PhotoModel, data: FeatureSet) -> dict[str, float]:
    """Gives SRCC of every target (no reference; overall also with reference), PLCC and MAE of the overall score."""
    nr = model._predictions(model.nr, data.nr)
    fr = model._predictions(model.fr, data.fr)
    out = {"srcc_overall": srcc(nr.overall, data.y[:, 0]), "plcc_overall": plcc(nr.overall, data.y[:, 0]),
           "mae_overall": float(np.mean(np.abs(nr.overall - data.y[:, 0]))),
           "srcc_overall_fr": srcc(fr.overall, data.y[:, 0])}
    for k, aspect in enumerate(TARGETS[1:], start=1):
        out[f"srcc_{aspect}"] = srcc(nr.aspects[aspect], data.y[:, k])
    return out


def ab_accuracy(model: PhotoModel, split: str, settings: PhotoTrainSettings,
                pool: ProcessPoolExecutor | None = None) -> dict[str, dict[str, float]]:
    """Gives A/B accuracy (share of pairs whose better image, by the labels, the model scores higher; ties left
    out) per family over pairs of two severities of one family, and over pairs of two families ("mixed")."""
    rows = [r for r in _run(_pair_rows, split, settings.n_pairs, settings, pool) if r[2] != "tie"]
    a = model._predictions(model.nr, np.stack([r[0] for r in rows])[:, model._index]).overall
    b = model._predictions(model.nr, np.stack([r[1] for r in rows])[:, model._index]).overall
    right: dict[str, list[bool]] = {}
    for k, r in enumerate(rows):
        right.setdefault(r[3], []).append(bool((a[k] > b[k]) == (r[2] == "A")))
    return {k: {"accuracy": float(np.mean(v)), "pairs": len(v)} for k, v in sorted(right.items())}


def card_text(figures: dict, settings: PhotoTrainSettings) -> str:
    """Gives the model card: data sources with licences, the label rule, held-out figures, how to reproduce."""
    sources = "\n".join(f"- `{s.photo_id}` ({s.split}, {s.kind}): {s.title}; {s.licence}; {s.credit} "
                        f"(`skimage.data.{s.loader}`, scikit-image {figures['skimage_version']})" for s in SOURCES)
    families = ", ".join(f"`{n}`" for n in available_distortions())
    missing = [n for n, d in PHOTO_DISTORTIONS.items() if d.unavailable]
    test, val = figures["test"], figures["val"]
    rows = "\n".join(f"| {k} | {v['accuracy']:.3f} | {v['pairs']} |" for k, v in figures["ab"].items())
    aspect_rows = "\n".join(f"| {a} | {test[f'srcc_{a}']:.3f} | {val[f'srcc_{a}']:.3f} |" for a in TARGETS[1:])
    return f"""# photo — quality of photographs (DepictQA's domain), 0-4, overall and per aspect

A no-reference and a full-reference quality model for photographs: fixed features (`vliqa.models.photo_features`:
natural-scene statistics at two scales, noise, sharpness, blockiness, colour, exposure and contrast; with a
reference: PSNR, SSIM, gradient similarity, colour difference) scored by ensembles of {settings.ensemble} MLPs
(one hidden layer of {settings.hidden}), fitted to rule labels of distorted photo crops. The ensemble's spread is
the uncertainty. Not for CT: `vliqa assess` sends it colour photographs only (`--domain auto|photo`).

## Data sources (all bundled with scikit-image, read offline; split by photo)
{sources}

{settings.n_train} training crops ({settings.size} px, random scale, position and flip; 15 % clean, 55 % with one
distortion, 30 % with two) of the train photos, distorted by {families} at severities 1-5
(`vliqa.simulate.photo`){'; unavailable here: ' + ', '.join(missing) if missing else ''}. Labels by the rule of
`vliqa.data.photos`: clean = 4; a distortion of severity s takes 0.8 s x weight from each aspect it lowers (weight 1
for its own aspect, 0.5 on the side); overall = worst aspect - 0.25 x the second worst aspect's loss, clipped to 0-4.
These are rule labels, not human opinion scores: the figures say how well the model reads the distortions, not how
well it agrees with people.

## Held-out figures

Test photo ({', '.join(photo_ids('test'))}; never seen in training), {settings.n_test} crops; validation photo
({', '.join(photo_ids('val'))}), {settings.n_val} crops.

| figure | test | validation |
|---|---|---|
| Spearman, overall (no reference) | {test['srcc_overall']:.3f} | {val['srcc_overall']:.3f} |
| Pearson, overall (no reference) | {test['plcc_overall']:.3f} | {val['plcc_overall']:.3f} |
| mean absolute error, overall | {test['mae_overall']:.3f} | {val['mae_overall']:.3f} |
| Spearman, overall (with reference) | {test['srcc_overall_fr']:.3f} | {val['srcc_overall_fr']:.3f} |

| aspect | Spearman, test | Spearman, validation |
|---|---|---|
{aspect_rows}

A/B accuracy on the test photo ({settings.n_pairs} pairs of one reference crop; no reference given to the model;
ties by the labels left out): per family over pairs of two severities of that family, and over pairs of two
families ("mixed").

| family | accuracy | pairs |
|---|---|---|
{rows}

Training took {figures['train_seconds']:.0f} s (making and measuring the crops {figures['feature_seconds']:.0f} s, in
{settings.workers} processes).
Reproduce with `make train-photo` (`python -m vliqa.train.photo --out src/vliqa/models/photo`, seed {settings.seed}).
"""


def train(out: Path, settings: PhotoTrainSettings) -> dict:
    """Featurises the splits, fits both heads, measures the held-out figures, writes the checkpoint; gives figures."""
    import skimage  # lazy: only for the version the card names

    started = time.perf_counter()
    torch.manual_seed(settings.seed)
    model = PhotoModel(PhotoConfig(hidden=settings.hidden, ensemble=settings.ensemble))
    model.eval()
    # spawned, not forked: a forked child can deadlock in torch ops once the parent has used torch's threads
    pool = (ProcessPoolExecutor(settings.workers, mp_context=multiprocessing.get_context("spawn"))
            if settings.workers > 1 else None)
    try:
        train_set = featurise(model, "train", settings.n_train, settings, pool)
        val_set = featurise(model, "val", settings.n_val, settings, pool)
        test_set = featurise(model, "test", settings.n_test, settings, pool)
        featured = time.perf_counter()
        logger.info("photo features of %d crops in %.0f s", settings.n_train + settings.n_val + settings.n_test,
                    featured - started)
        fit_head(model.nr, train_set.nr, train_set.y, settings)
        fit_head(model.fr, train_set.fr, train_set.y, settings)
        figures = {"val": agreement(model, val_set), "test": agreement(model, test_set),
                   "ab": ab_accuracy(model, "test", settings, pool), "skimage_version": skimage.__version__}
    finally:
        if pool is not None:
            pool.shutdown()
    figures["feature_seconds"] = featured - started
    figures["train_seconds"] = time.perf_counter() - started
    metadata = {"version": "1.0.0", "domain": "photo", "settings": asdict(settings),
                "figures": {k: v for k, v in figures.items() if k != "skimage_version"},
                "sources": [s.photo_id for s in SOURCES]}
    save_checkpoint(model, model.config, out, card_text(figures, settings), metadata=metadata)
    return figures


def main(argv: Sequence[str] | None = None) -> int:
    """Runs the photo-model training from the command line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True, help="checkpoint folder to write")
    defaults = PhotoTrainSettings()
    names = ("n_train", "n_val", "n_test", "n_pairs", "steps", "hidden", "ensemble", "seed", "workers")
    for name in names:
        parser.add_argument(f"--{name.replace('_', '-')}", type=int, default=getattr(defaults, name))
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    torch.set_num_threads(1)
    settings = PhotoTrainSettings(**{k: getattr(args, k) for k in names})
    figures = train(args.out, settings)
    print(json.dumps(figures, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
