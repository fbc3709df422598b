"""Training MedQM-I, the blind CT quality scorer, on a vliqa dataset: one plain, resumable loop.

    vliqa train scorer --data DATASET --out runs/scorer [--config cfg.json] [--loss rps|regression_rank]
    vliqa train scorer --data MY_SCORED --out runs/mine --init runs/scorer     # fine-tune on your own scores

or from Python::

    from vliqa.train.scorer import ScorerTrainConfig, train_scorer
    result = train_scorer("dataset", "runs/scorer", ScorerTrainConfig(epochs=30))

Loss (`vliqa.models.losses.scorer_loss`): `loss="rps"` gives the 21-bin ordinal head, trained with the ranked
probability score and read out as the expected score (the LDCTIQAC 2023 winner's choice);
`loss="regression_rank"` gives the regression head (score + log-variance, Gaussian NLL). Both add the
pairwise rank term, the aspect MSE and the experts' load balancing, weighted by `weights`.

Augmentation works on the HU slice before the windowing, so it acts like a different acquisition or viewer,
not on display values: the 8 lossless flips/quarter turns, with probability `affine_p` a small rotation and
zoom (cubic-spline resampling, which smooths noise a little: hence rare and small), a jitter of the HU
offset and scale (the same as jittering every display window's level and width), and with probability
`png_export_p` the 8-bit PNG export round trip (`as_display_export`), so a DICOM slice and its PNG export
learn to score alike. Validation inputs are not augmented.

After every epoch the validation PLCC + SRCC + KRCC (the LDCTIQAC 2023 sum) decides which epoch's weights
are the checkpoint in `out`; training stops after `patience` epochs without improvement. With `ema_decay` > 0
an exponential moving average of the weights (`common.WeightAverage`) is what is validated and kept. Rerunning the
same command continues an interrupted run from its last finished epoch (the average included).
"""

from __future__ import annotations

import dataclasses
import json
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from scipy import ndimage

from vliqa.core import CARD_FILE, CONFIG_FILE, CTImage
from vliqa.data.labelled import checked_rows, labelled_image, load_labelled
from vliqa.errors import InvalidParameterError
from vliqa.io.write import atomic_write_text
from vliqa.metrics.calibration import calibration
from vliqa.metrics.summary import agreement_report
from vliqa.models import create_model, load
from vliqa.models.losses import LossWeights, scorer_loss
from vliqa.models.score_map import apply_score_map, fit_score_map
from vliqa.models.scorer import MedQMScorer, ScorerConfig, n_parameters
from vliqa.models.scorer_input import AIR_HU, as_display_export
from vliqa.train import common
from vliqa.train.common import TrainResult
from vliqa.train.distributed import SINGLE, Workers
from vliqa.train.regressor import validation_scores

#: which head each loss trains: the ordinal bins with RPS, or the score + log-variance regression
LOSS_OUTPUT_MODES = {"rps": "ordinal", "regression_rank": "regression"}

#: The smallest useful run, for tests and smoke checks: the tiny model at 64 px, 2 epochs, selection on the training
#: rows, one thread (tensors this small gain nothing from two, and lose much when another process holds a core).
TINY = {"model": dataclasses.asdict(ScorerConfig.tiny()), "epochs": 2, "batch_size": 8, "val_split": "train",
        "threads": 1}


@dataclass(frozen=True)
class ScorerTrainConfig(common.BaseTrainConfig):
    """Everything that decides a scorer training run (saved as train_config.json in the out folder).

    The run settings are `common.BaseTrainConfig`'s, with the scorer's defaults: 30 epochs, lr 5e-4 cosine to
    5e-5, weight decay 0.01, patience 6; `augment` turns on every augmentation below.
    """

    model: ScorerConfig = field(default_factory=ScorerConfig)
    #: "rps" (ordinal head) or "regression_rank" (regression head); sets model.output_mode
    loss: str = "rps"
    weights: LossWeights = field(default_factory=LossWeights)
    #: a checkpoint folder (or shipped name) whose architecture and weights training starts from (fine-tuning);
    #: its architecture replaces `model`, and its head must be the one `loss` trains
    init: str | None = None
    epochs: int = 30
    lr: float = 5e-4
    min_lr: float = 5e-5
    weight_decay: float = 0.01
    grad_clip: float = 1.0
    #: decay of an exponential moving average of the weights, updated every step; 0 = none. When set, the average
    #: is what validation scores and the checkpoint keeps (0.999 averages over about the last 1000 steps)
    ema_decay: float = 0.0
    patience: int = 6
    affine_p: float = 0.3
    max_rotation_deg: float = 8.0
    max_zoom: float = 0.08
    #: the HU offset and relative scale jitter (= display window level and width jitter)
    level_jitter_hu: float = 10.0
    width_jitter: float = 0.05
    png_export_p: float = 0.25
    export_windows: tuple[str, ...] = ("ldctiqac", "abdomen")

    def __post_init__(self) -> None:
        if self.loss not in LOSS_OUTPUT_MODES:
            raise InvalidParameterError(f"unknown loss '{self.loss}'",
                                        hint=f"use one of {', '.join(LOSS_OUTPUT_MODES)}")
        # the loss decides the head, so the saved config always says which head was trained
        object.__setattr__(self, "model", dataclasses.replace(self.model, output_mode=LOSS_OUTPUT_MODES[self.loss]))
        super().__post_init__()
        if not 0.0 <= self.ema_decay < 1.0:
            raise InvalidParameterError(f"ema_decay must be in [0, 1), got {self.ema_decay}",
                                        hint="0 turns the average off")
        for name in ("affine_p", "png_export_p", "width_jitter", "max_zoom"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise InvalidParameterError(f"{name} must be in [0, 1], got {getattr(self, name)}")


def learning_rate(cfg: ScorerTrainConfig, epoch: int) -> float:
    """Gives the learning rate of `epoch` (0-based): cosine decay from lr to min_lr over the run."""
    return common.cosine_lr(cfg.lr, cfg.min_lr, cfg.epochs, epoch)


# ---------------------------------------------------------------- augmentation on HU slices


def augment(image: CTImage, cfg: ScorerTrainConfig, rng: np.random.Generator) -> CTImage:
    """Gives a randomly flipped, turned, resampled, window-jittered and maybe PNG-exported copy of `image`."""
    hu = np.rot90(image.hu, k=int(rng.integers(4)))
    if rng.random() < 0.5:
        hu = hu[:, ::-1]
    display = image.display_window
    if rng.random() < cfg.affine_p:
        angle = math.radians(rng.uniform(-cfg.max_rotation_deg, cfg.max_rotation_deg))
        zoom = 1.0 + rng.uniform(-cfg.max_zoom, cfg.max_zoom)
        # output pixel o samples input matrix @ (o - centre) + centre: a rotation about the centre, scaled by 1/zoom
        matrix = np.array([[math.cos(angle), -math.sin(angle)], [math.sin(angle), math.cos(angle)]]) / zoom
        centre = (np.array(hu.shape) - 1) / 2.0
        air = AIR_HU if display is None else max(AIR_HU, display.low_hu)
        hu = ndimage.affine_transform(np.ascontiguousarray(hu), matrix, centre - matrix @ centre, order=3,
                                      mode="constant", cval=air)
        if display is not None:  # the spline overshoots; an export's HU stay inside its window
            hu = np.clip(hu, display.low_hu, display.high_hu)
    if display is None:  # a display export's clipped HU cannot be shifted without inventing what was clipped
        offset = rng.uniform(-cfg.level_jitter_hu, cfg.level_jitter_hu)
        scale = 1.0 + rng.uniform(-cfg.width_jitter, cfg.width_jitter)
        hu = (hu - 40.0) * scale + 40.0 + offset  # about soft tissue, so the reading window's middle moves least
    out = image.with_step("augment", {}, np.ascontiguousarray(hu, dtype=np.float32))
    if display is None and rng.random() < cfg.png_export_p:
        out = as_display_export(out, cfg.export_windows[int(rng.integers(len(cfg.export_windows)))])
    return out


@dataclass
class TrainingSlices:
    """The training split held compactly: HU slices as int16 (half the memory; 1 HU steps are far below CT noise)."""

    pixels: list[np.ndarray]
    templates: list[CTImage]
    overall: torch.Tensor
    aspects: torch.Tensor

    @classmethod
    def load(cls, data: Path, split: str) -> TrainingSlices:
        """Gives the rows of `split` of dataset `data` with their labels."""
        pixels, templates, items = [], [], []
        for row in checked_rows(data, split, min_rows=2):
            item = labelled_image(data, row)
            image = item.image
            # display exports keep float32: their clip ends need not be whole HU and the known-HU mask tests them
            exact = image.display_window is not None or np.abs(image.hu).max(initial=0) > 32000
            pixels.append(image.hu if exact else np.rint(image.hu).astype(np.int16))
            templates.append(image.replace(hu=np.zeros((1, 1), np.float32)))
            items.append(item)
        overall, aspects = common.targets(items)
        return cls(pixels, templates, overall, aspects)

    def image(self, i: int) -> CTImage:
        """Gives training slice `i` as a CTImage in HU."""
        return self.templates[i].replace(hu=self.pixels[i])


# ---------------------------------------------------------------- model, card, loop


def initial_model(cfg: ScorerTrainConfig) -> MedQMScorer:
    """Gives the model training starts from: fresh from cfg.model, or the architecture and weights of cfg.init."""
    if cfg.init is None:
        return create_model("medqm_i", **dataclasses.asdict(cfg.model))
    start = load(cfg.init)
    if not isinstance(start.model, MedQMScorer):
        raise InvalidParameterError(f"--init needs a MedQM-I checkpoint, this one is '{type(start.model).__name__}'",
                                    path=start.folder, hint="pass a folder made by `vliqa train scorer`")
    if start.config.output_mode != cfg.model.output_mode:
        wanted = next(k for k, v in LOSS_OUTPUT_MODES.items() if v == start.config.output_mode)
        raise InvalidParameterError(
            f"the checkpoint's head is {start.config.output_mode}; the loss '{cfg.loss}' trains the "
            f"{cfg.model.output_mode} head",
            path=start.folder, hint=f"fine-tune it with --loss {wanted}")
    start.model.train()
    return start.model


def model_card(cfg: ScorerTrainConfig, model_cfg: ScorerConfig, data: Path, result: dict[str, Any],
               n_params: int) -> str:
    """Gives the MODEL_CARD.md text of a trained MedQM-I scorer."""
    m, val, w = model_cfg, result["best_val"], cfg.weights
    head = "21-bin ordinal head, RPS loss, expected score" if m.output_mode == "ordinal" else \
        "regression head (score + log-variance), Gaussian NLL"
    on_train = cfg.validates_on_training_rows
    return f"""# vliqa MedQM-I scorer

**Purpose.** Blind CT image quality scorer: overall score (0-4, LDCTIQAC scale, higher = better), five aspect
scores (noise, artifacts, sharpness, contrast, texture) and a predictive std, from the slice alone.

**Architecture.** CNN encoder {list(m.channels)} at {m.input_px} px (windows {list(m.windows)}, known-HU mask
{m.known_mask}), {m.n_queries} learned queries and priors '{m.prior_set}', {m.n_experts} gated experts; {head};
{n_params} parameters. See docs/scorer.md.

**Data.** `{data}`: {result['n_train']} training rows (split '{cfg.train_split}'), {result['n_val']} validation rows
(split '{cfg.val_split}'); labels as in the manifest \
(`label_source`).{f" Fine-tuned from `{cfg.init}`." if cfg.init else ""}

**Recipe.** loss '{cfg.loss}' (weights overall {w.overall}, rank {w.rank} margin {w.rank_margin}, aspects {w.aspects},
balance {w.balance}); AdamW lr {cfg.lr} cosine to {cfg.min_lr}, weight decay {cfg.weight_decay}, grad clip
{cfg.grad_clip}, batch {cfg.batch_size}; \
{f"weights averaged (EMA, decay {cfg.ema_decay}), the average kept" if cfg.ema_decay else "no weight average"}; \
augmentation {cfg.augment} (flips/quarter turns, affine p {cfg.affine_p}
rot {cfg.max_rotation_deg} deg zoom {cfg.max_zoom}, level jitter {cfg.level_jitter_hu} HU, width jitter
{cfg.width_jitter}, PNG export p {cfg.png_export_p} via {list(cfg.export_windows)}); seed {cfg.seed},
{cfg.threads} CPU threads; {result['epochs_run']} epochs run (max {cfg.epochs}, patience {cfg.patience}), best weights
kept; training time {result['seconds']:.1f} s.

**Result.** Best epoch {result['best_epoch']}: validation PLCC {val['plcc']:.3f}, SRCC {val['srcc']:.3f},
KRCC {val['krcc']:.3f} (sum {val['sum']:.3f}), RMSE {val['rmse']:.3f}.
{"Validation was on the training rows themselves: these figures say nothing about generalisation." if on_train else ""}

**Limitations.** Labels are what the dataset says (physics-derived for simulated sets); agreement with radiologists
is measured only by `vliqa evaluate` on a human-scored set. The std is the model's own spread, scaled on the \
validation split
after training (see "Score map"): calibrated there, not a guarantee on images unlike the training data.

**Reproduce.** `vliqa train scorer --data {data} --out OUT --config train_config.json` with the train_config.json
saved beside this card.
"""


def fit_std_scale(pred: np.ndarray, std: np.ndarray, target: np.ndarray) -> float:
    """Gives the factor on `std` that makes the standardised errors (pred - target) / std have unit RMS.

    1.0 when no row has a positive finite std (nothing to scale).
    """
    pred, std, target = (np.asarray(a, dtype=np.float64) for a in (pred, std, target))
    ok = np.isfinite(pred) & np.isfinite(target) & np.isfinite(std) & (std > 1e-6)
    if not ok.any():
        return 1.0
    scale = float(np.sqrt(np.mean(((pred[ok] - target[ok]) / std[ok]) ** 2)))
    return scale if scale > 1e-3 else 1.0


def calibrate_checkpoint(folder: str | Path, data: str | Path, split: str = "val") -> tuple[tuple[float, float], ...]:
    """Fits the overall-score map and the std scale of a MedQM-I checkpoint on `split` of `data`, stores them in its
    config; gives the knots.

    See `vliqa.models.score_map`: a strictly increasing map, so rankings are unchanged; the raw score's shrinkage
    toward the middle of the scale is undone. The map replaces any earlier one (fine-tuned checkpoints get their own).
    """
    folder = Path(folder)
    loaded = load(folder)
    if not isinstance(loaded.model, MedQMScorer):
        raise InvalidParameterError("only MedQM-I checkpoints carry an overall-score map", path=folder)
    items = load_labelled(data, split, min_rows=3)
    raw_pred = loaded.model.predict([it.image for it in items], raw=True)
    raw = raw_pred.overall
    targets = np.array([it.overall for it in items])
    knots = fit_score_map(raw, targets)
    mapped, mapped_std = apply_score_map(raw, knots, raw_pred.std)
    std_scale = fit_std_scale(mapped, mapped_std, targets)
    payload = json.loads((folder / CONFIG_FILE).read_text())
    payload["config"]["overall_calibration"] = [list(k) for k in knots]
    payload["config"]["std_scale"] = std_scale
    before = agreement_report(raw, targets, n_boot=0)
    after = agreement_report(mapped, targets, n_boot=0)
    ece_before = calibration(mapped, mapped_std, targets).ece
    ece_after = calibration(mapped, mapped_std * std_scale, targets).ece
    payload.setdefault("metadata", {}).setdefault("training", {})["overall_calibration"] = {
        "split": split, "n": int(len(items)), "n_knots": len(knots), "rmse_before": before.rmse,
        "rmse_after": after.rmse,
        "plcc_before": before.plcc, "plcc_after": after.plcc, "std_scale": std_scale, "std_ece_before": ece_before,
        "std_ece_after": ece_after}
    atomic_write_text(folder / CONFIG_FILE, json.dumps(payload, indent=2) + "\n")
    note = (f"**Score map.** The overall score is read through a strictly increasing piecewise-linear map "
            f"({len(knots)} knots) fitted on the '{split}' split ({len(items)} rows) after training "
            "(`vliqa.models.score_map`): rankings unchanged (but for ties where it clips at 0 or 4); RMSE "
            f"{before.rmse:.3f} -> {after.rmse:.3f}, "
            f"PLCC {before.plcc:.3f} -> {after.plcc:.3f} on that split. The predictive std is scaled by "
            f"{std_scale:.3f} "
            f"so that standardised errors there have unit RMS (interval calibration error {ece_before:.3f} -> "
            f"{ece_after:.3f}). `predict(images, raw=True)` gives the raw score and std.")
    atomic_write_text(folder / CARD_FILE,
                      replace_card_paragraph((folder / CARD_FILE).read_text(), "**Score map.**", note))
    return knots


def replace_card_paragraph(card: str, opening: str, paragraph: str) -> str:
    """Gives `card` with its paragraph that starts with `opening` replaced by `paragraph`, or with `paragraph` appended.

    A recalibration replaces the earlier paragraph in place, so whatever follows it (e.g. a "Shipped as" line) stays.
    """
    blocks = card.rstrip().split("\n\n")
    at = next((i for i, block in enumerate(blocks) if block.startswith(opening)), None)
    if at is None:
        blocks.append(paragraph)
    else:
        blocks[at] = paragraph
    return "\n\n".join(blocks) + "\n"


class _OverallOnly(torch.nn.Module):
    """Wraps the scorer so `validation_scores` (written for dict outputs) reads its overall score."""

    def __init__(self, model: MedQMScorer):
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        return {"overall": self.model(x).overall}


def train_scorer(data: str | Path, out: str | Path, cfg: ScorerTrainConfig, *, overwrite: bool = False,
                 progress: bool = True, workers: Workers = SINGLE) -> TrainResult:
    """Trains (or resumes, or fine-tunes with cfg.init) MedQM-I on dataset `data`; gives the best checkpoint and its
    scores.

    In a data-parallel run (`workers` of `vliqa.train.distributed`) each process augments and runs its shard of
    every batch; the loss (whose rank and balance terms span the batch) is computed on the gathered outputs.
    """
    started = time.perf_counter()
    data, out = Path(data), Path(out)
    n_train, n_val = common.open_run(data, out, cfg, overwrite=overwrite, workers=workers)

    common.seed_everything(cfg.seed)
    model = initial_model(cfg)
    optimizer = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    train_set = TrainingSlices.load(data, cfg.train_split)
    # validation inputs are fixed, so they are preprocessed once
    x_val, y_val, _ = common.load_preprocessed(data, cfg.val_split, model.preprocess, min_rows=3)
    # with a weight average, the average is the model that is validated and kept
    average = common.WeightAverage(model, cfg.ema_decay) if cfg.ema_decay > 0 else None
    net = workers.wrap(model)  # the model itself in an ordinary run

    def train_step(idx: torch.Tensor) -> float:
        # the augmentation's numpy generators are seeded from torch's, so the saved torch state resumes them; one per
        # row of the batch, so a row is augmented alike whichever process computes it
        batch_seed = int(torch.randint(0, 2**31 - 1, ()).item())
        mine = workers.shard(len(idx))
        images = [train_set.image(int(i)) for i in idx[mine]]
        if cfg.augment:
            row_seeds = np.random.SeedSequence(batch_seed).spawn(len(idx))[mine]
            images = [augment(im, cfg, np.random.default_rng(s)) for im, s in zip(images, row_seeds, strict=True)]
        with workers.own_rng():
            out_batch = workers.gather(net(model.preprocess(images)), len(idx))
        terms = scorer_loss(out_batch, train_set.overall[idx], train_set.aspects[idx], cfg.weights)
        optimizer.zero_grad(set_to_none=True)
        terms["total"].backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
        optimizer.step()
        return terms["total"].item()

    result = common.run_epochs(
        data, out, cfg, model=model, optimizer=optimizer, model_config=model.config, n_train=n_train, n_val=n_val,
        learning_rate=lambda epoch: learning_rate(cfg, epoch), train_step=train_step,
        validate=lambda m: validation_scores(_OverallOnly(m), x_val, y_val),  # type: ignore[arg-type]
        card=lambda summary: model_card(cfg, model.config, data, summary, n_parameters(model)), started=started,
        progress=progress, title="training scorer", average=average, workers=workers)
    if workers.is_main:
        calibrate_checkpoint(out, data, cfg.val_split)
    return result
