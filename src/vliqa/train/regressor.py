"""Training the image-only CNN regressor on a vliqa dataset: one plain, resumable loop.

    vliqa train regressor --data DATASET --out runs/regressor [--config cfg.json] [--epochs N]

or from Python::

    from vliqa.train.regressor import RegressorTrainConfig, train_regressor
    result = train_regressor("dataset", "runs/regressor", RegressorTrainConfig(epochs=30))

Loss: MSE on the overall score + `aspect_weight` x MSE on the five aspects + `ce_weight` x
cross-entropy on the overall class (0..4). After every epoch the model scores the validation
split; the epoch with the highest PLCC + SRCC + KRCC (the LDCTIQAC 2023 sum) is kept as the
checkpoint in `out`, and training stops after `patience` epochs without improvement.
Rerunning the same command continues an interrupted run from its last finished epoch.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from vliqa.metrics.summary import agreement_report
from vliqa.models import create_model
from vliqa.models.regressor import CNNRegressor, RegressorConfig, n_parameters, score_class
from vliqa.train import common
from vliqa.train.common import TrainResult
from vliqa.train.distributed import SINGLE, Workers

#: The smallest useful run, for tests and smoke checks: 64 px input, 2 epochs, selection on the training rows.
TINY = {"model": {"input_px": 64, "channels": [8, 16, 16, 32]}, "epochs": 2, "batch_size": 8, "val_split": "train"}


@dataclass(frozen=True)
class RegressorTrainConfig(common.BaseTrainConfig):
    """Everything that decides a regressor training run (saved as train_config.json in the out folder).

    The run settings (epochs 40, batch 16, lr 1e-3 cosine to 1e-4, weight decay 1e-4, patience 8, flips, seed,
    splits, threads) are `common.BaseTrainConfig`'s; `augment` is random horizontal / vertical flips here.
    """

    model: RegressorConfig = field(default_factory=RegressorConfig)
    aspect_weight: float = 0.5
    ce_weight: float = 0.3


def learning_rate(cfg: RegressorTrainConfig, epoch: int) -> float:
    """Gives the learning rate of `epoch` (0-based): cosine decay from lr to min_lr over the run."""
    return common.cosine_lr(cfg.lr, cfg.min_lr, cfg.epochs, epoch)


def loss_terms(out: dict[str, torch.Tensor], overall: torch.Tensor, aspects: torch.Tensor,
               cfg: RegressorTrainConfig) -> tuple[torch.Tensor, dict[str, float]]:
    """Gives the multi-task loss of one batch and its parts (for the log)."""
    mse_overall = F.mse_loss(out["overall"], overall)
    mse_aspects = F.mse_loss(out["aspects"], aspects)
    ce = F.cross_entropy(out["logits"], score_class(overall))
    total = mse_overall + cfg.aspect_weight * mse_aspects + cfg.ce_weight * ce
    return total, {"mse_overall": mse_overall.item(), "mse_aspects": mse_aspects.item(), "ce": ce.item()}


def validation_scores(model: CNNRegressor, x: torch.Tensor, overall: torch.Tensor) -> dict[str, float]:
    """Gives PLCC, SRCC, KRCC, their sum and the RMSE of the model's overall score on preprocessed inputs `x`."""
    model.eval()
    with torch.inference_mode():
        pred = torch.cat([model(x[i:i + 64].float())["overall"] for i in range(0, len(x), 64)]).double().numpy()
    model.train()
    rep = agreement_report(pred, overall.double().numpy(), n_boot=0)
    values = {"plcc": rep.plcc, "srcc": rep.srcc, "krcc": rep.krcc, "rmse": rep.rmse}
    # constant predictions make the correlations NaN: count them as no agreement so selection still works
    values["sum"] = float(sum(0.0 if np.isnan(values[k]) else values[k] for k in ("plcc", "srcc", "krcc")))
    return values


def model_card(cfg: RegressorTrainConfig, data: Path, result: dict[str, Any], n_params: int) -> str:
    """Gives the MODEL_CARD.md text of a trained regressor."""
    m, val = cfg.model, result["best_val"]
    return f"""# vliqa CNN regressor (image-only baseline)

**Purpose.** An image-only multi-task CNN that predicts the overall CT quality score (0-4, LDCTIQAC scale), the five
aspect scores and the overall class, from the windowed slice alone. It is the image-only comparison model for the
vision-language scorers (IQAGPT's "multi-task classification and regression models that rely solely on images").

**Architecture.** {len(m.channels)} conv blocks {list(m.channels)} with GroupNorm, global average + max pooling,
a {m.hidden}-unit trunk and three heads (overall, 5 aspects, 5 classes); {n_params} parameters. Input: windows
{list(m.windows)} as channels, padded to square with air and resized to {m.input_px}x{m.input_px}. The reported std is
the spread of the class posterior, not a calibrated interval.

**Data.** `{data}`: {result['n_train']} training rows (split '{cfg.train_split}'), {result['n_val']} validation rows
(split '{cfg.val_split}'); labels as in the manifest (`label_source`).

**Recipe.** AdamW lr {cfg.lr} cosine to {cfg.min_lr}, weight decay {cfg.weight_decay}, batch {cfg.batch_size},
loss MSE(overall) + {cfg.aspect_weight} MSE(aspects) + {cfg.ce_weight} CE(class), flips={cfg.augment}, seed {cfg.seed},
{cfg.threads} CPU threads; {result['epochs_run']} epochs run (max {cfg.epochs}, patience {cfg.patience}), best weights \
kept,
{result['seconds']:.1f} s.

**Result.** Best epoch {result['best_epoch']}: validation PLCC {val['plcc']:.3f}, SRCC {val['srcc']:.3f},
KRCC {val['krcc']:.3f} (sum {val['sum']:.3f}), RMSE {val['rmse']:.3f}.
{"Validation was on the training rows themselves: these figures say nothing about generalisation." if
 cfg.validates_on_training_rows else ""}

**Limitations.** Trained on simulated degradations with physics-derived labels; agreement with radiologists is
measured only by `vliqa evaluate` on a human-scored set. Downsampling to {m.input_px} px averages away part of the
finest noise texture.

**Reproduce.** `vliqa train regressor --data {data} --out OUT --config train_config.json` with the train_config.json
saved beside this card.
"""


def train_regressor(data: str | Path, out: str | Path, cfg: RegressorTrainConfig, *, overwrite: bool = False,
                    progress: bool = True, workers: Workers = SINGLE) -> TrainResult:
    """Trains (or resumes) the CNN regressor on dataset `data`; gives where the best checkpoint is and its scores.

    In a data-parallel run (`workers` of `vliqa.train.distributed`) each process runs its shard of every batch.
    """
    started = time.perf_counter()
    data, out = Path(data), Path(out)
    n_train, n_val = common.open_run(data, out, cfg, overwrite=overwrite, workers=workers)

    common.seed_everything(cfg.seed)
    model: CNNRegressor = create_model("cnn_regressor", **dataclasses.asdict(cfg.model))
    optimizer = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    # inputs are preprocessed once: the windowing and resizing cost more than a small CNN's step
    x_train, y_train, a_train = common.load_preprocessed(data, cfg.train_split, model.preprocess, min_rows=2)
    x_val, y_val, _ = common.load_preprocessed(data, cfg.val_split, model.preprocess, min_rows=3)
    net = workers.wrap(model)  # the model itself in an ordinary run

    def train_step(idx: torch.Tensor) -> float:
        x = x_train[idx[workers.shard(len(idx))]].float()
        if cfg.augment:  # one flip for the whole batch, drawn alike in every process
            if torch.rand(()) < 0.5:
                x = x.flip(3)
            if torch.rand(()) < 0.5:
                x = x.flip(2)
        with workers.own_rng():
            out = workers.gather(net(x), len(idx))
        loss, _ = loss_terms(out, y_train[idx], a_train[idx], cfg)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        return loss.item()

    return common.run_epochs(
        data, out, cfg, model=model, optimizer=optimizer, model_config=cfg.model, n_train=n_train, n_val=n_val,
        learning_rate=lambda epoch: learning_rate(cfg, epoch), train_step=train_step,
        validate=lambda m: validation_scores(m, x_val, y_val), started=started, progress=progress,
        card=lambda summary: model_card(cfg, data, summary, n_parameters(model)), workers=workers)
