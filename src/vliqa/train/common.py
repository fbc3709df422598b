"""What every trainer shares: the base run config, seeding, config files, resumable state, the training loops.

Reading a dataset's splits (manifest rows, images and labels, degradation groups) is `vliqa.data.labelled`.

A training run writes everything into its `out` folder: the best model as a checkpoint
(model.safetensors, config.json, MODEL_CARD.md, loadable with `vliqa.models.load(out)`),
`training_state.pt` (last weights, optimiser, epoch, RNG states: the resume point),
`train_config.json` and `train_log.jsonl` (one line per epoch).
"""

from __future__ import annotations

import copy
import dataclasses
import json
import logging
import math
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from vliqa.core import ASPECTS, CARD_FILE, CONFIG_FILE, CTImage
from vliqa.data.labelled import LabelledImage, checked_rows, labelled_image, split_names
from vliqa.errors import CorruptFileError, DatasetError, InputNotFoundError, InvalidParameterError
from vliqa.io.write import atomic_path, atomic_write_text
from vliqa.models import config_from_dict, save_checkpoint
from vliqa.train.distributed import SINGLE, Workers

STATE_FILE, TRAIN_CONFIG_FILE, LOG_FILE = "training_state.pt", "train_config.json", "train_log.jsonl"
logger = logging.getLogger("vliqa.train")


@dataclass(frozen=True)
class BaseTrainConfig:
    """The run settings every epoch trainer has (the regressor's and the scorer's configs extend it).

    A trainer's config subclasses this, adds its `model` config and its own fields, and may give these fields
    other defaults by declaring them again; `__post_init__` checks them (call it from a subclass's own).
    """

    epochs: int = 40
    batch_size: int = 16
    lr: float = 1e-3
    min_lr: float = 1e-4
    weight_decay: float = 1e-4
    #: epochs without a better validation PLCC+SRCC+KRCC before stopping
    patience: int = 8
    #: random orientation changes (and the trainer's other augmentations): quality does not depend on them
    augment: bool = True
    seed: int = 0
    train_split: str = "train"
    val_split: str = "val"
    threads: int = 2

    def __post_init__(self) -> None:
        for name in ("epochs", "batch_size", "patience", "threads"):
            if getattr(self, name) < 1:
                raise InvalidParameterError(f"{name} must be at least 1, got {getattr(self, name)}")
        if self.lr <= 0 or self.min_lr < 0 or self.min_lr > self.lr:
            raise InvalidParameterError(f"need 0 <= min_lr <= lr and lr > 0, got lr={self.lr}, min_lr={self.min_lr}")
        if self.weight_decay < 0:
            raise InvalidParameterError(f"weight_decay must be at least 0, got {self.weight_decay}")
        split_names(self.train_split)
        split_names(self.val_split)

    @property
    def validates_on_training_rows(self) -> bool:
        """True when the validation split shares rows with the training split
        (figures then say nothing of generalisation)."""
        return bool(set(split_names(self.val_split)) & set(split_names(self.train_split)))


def load_preprocessed(data: str | Path, split: str, preprocess: Callable[[list[CTImage]], torch.Tensor], *,
                      min_rows: int = 1, chunk: int = 64) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Gives (inputs as float16, overall (N,), aspects (N, 5)) of `split`, holding at most `chunk` images at a time.

    Only the model inputs stay in memory (float16 halves them), not the full-size HU slices, so a split of
    thousands of 512x512 images fits in a few GB.
    """
    rows = checked_rows(data, split, min_rows=min_rows)
    parts, overall, aspects = [], [], []
    for start in range(0, len(rows), chunk):
        items = [labelled_image(Path(data), r) for r in rows[start:start + chunk]]
        parts.append(preprocess([it.image for it in items]).to(torch.float16))
        o, a = targets(items)
        overall.append(o)
        aspects.append(a)
    return torch.cat(parts), torch.cat(overall), torch.cat(aspects)


def targets(items: Sequence[LabelledImage]) -> tuple[torch.Tensor, torch.Tensor]:
    """Gives the overall (N,) and aspect (N, 5) targets of `items` as float32 tensors."""
    overall = torch.tensor([it.overall for it in items], dtype=torch.float32)
    aspects = torch.tensor([[it.aspects[a] for a in ASPECTS] for it in items], dtype=torch.float32)
    return overall, aspects


def seed_everything(seed: int) -> None:
    """Seeds Python, NumPy and torch so a run with the same seed and thread count repeats."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def load_config_file(config_class: type, path: str | Path | None, **overrides: Any) -> Any:
    """Gives a `config_class` from a JSON file (fields missing there keep their defaults) with `overrides` applied.

    A field that is itself a config dataclass (e.g. `model`) is read from a nested JSON object.
    """
    values: dict[str, Any] = {}
    if path is not None:
        path = Path(path)
        if not path.is_file():
            raise InputNotFoundError("config file not found", path=path)
        try:
            values = json.loads(path.read_text())
        except json.JSONDecodeError as exc:
            raise InvalidParameterError(f"the config is not valid JSON ({exc})", path=path) from exc
        if not isinstance(values, dict):
            raise InvalidParameterError("the config must be a JSON object of field: value", path=path)
    values.update({k: v for k, v in overrides.items() if v is not None})
    return config_with_nested(config_class, values)


def config_with_nested(config_class: type, values: dict[str, Any]) -> Any:
    """Gives a `config_class` from `values`, building nested config dataclass fields from dicts."""
    nested = {f.name: f.default_factory for f in dataclasses.fields(config_class)
              if f.default_factory is not dataclasses.MISSING and dataclasses.is_dataclass(f.default_factory)}
    built = dict(values)
    for name, cls in nested.items():
        if isinstance(built.get(name), dict):
            built[name] = config_from_dict(cls, built[name])
    return config_from_dict(config_class, built)


def config_to_dict(config: Any) -> dict[str, Any]:
    """Gives `config` as JSON-ready data (tuples as lists)."""
    return json.loads(json.dumps(dataclasses.asdict(config)))


def save_state(out: str | Path, state: dict[str, Any]) -> Path:
    """Writes the resume state (tensors and plain data) to out/training_state.pt atomically; gives its path."""
    path = Path(out) / STATE_FILE
    with atomic_path(path) as tmp:
        torch.save(state, tmp)
    return path


def load_state(out: str | Path) -> dict[str, Any] | None:
    """Gives the resume state saved in `out`, or None when the folder holds none."""
    path = Path(out) / STATE_FILE
    if not path.is_file():
        return None
    try:
        # weights_only=False: the state holds RNG states (numpy arrays) written by this same code
        return torch.load(path, map_location="cpu", weights_only=False)
    except Exception as exc:  # torch raises several types for damaged pickles
        raise CorruptFileError(f"the training state cannot be read ({exc})", path=path,
                               hint="delete it (or pass --overwrite) to start again") from exc


def rng_states() -> dict[str, Any]:
    """Gives the current Python, NumPy and torch RNG states (to resume a run exactly)."""
    return {"python": random.getstate(), "numpy": np.random.get_state(), "torch": torch.get_rng_state()}


def restore_rng_states(states: dict[str, Any]) -> None:
    """Restores RNG states given by `rng_states`."""
    random.setstate(states["python"])
    np.random.set_state(states["numpy"])
    torch.set_rng_state(states["torch"])


def append_log(out: str | Path, entry: dict[str, Any]) -> None:
    """Appends one JSON line to out/train_log.jsonl."""
    with open(Path(out) / LOG_FILE, "a") as fh:
        fh.write(json.dumps(entry, default=float) + "\n")


@dataclass
class RunProgress:
    """Where a training run stands: the next epoch, the best validation so far, epochs since it improved.

    Early stopping is on validation PLCC+SRCC+KRCC ("sum"). Both trainers keep this bookkeeping
    here, so resuming, logging and checkpointing the best epoch work the same for every model.
    """

    start_epoch: int = 0
    best_sum: float = -math.inf
    best_epoch: int = -1
    best_val: dict[str, Any] = field(default_factory=dict)
    bad_epochs: int = 0
    elapsed_before: float = 0.0

    @classmethod
    def resume(cls, out: str | Path, model: Any, optimizer: Any, average: WeightAverage | None = None) -> RunProgress:
        """Gives the progress saved in `out` after restoring the model, optimiser, weight average and RNGs; a fresh
        start if none."""
        state = load_state(out)
        if state is None:
            return cls()
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        if average is not None:
            if state.get("average") is None:
                raise DatasetError("this run was saved without a weight average", path=Path(out) / STATE_FILE,
                                   hint="resume it with the configuration it started with, or use a new --out folder")
            average.load_state_dict(state["average"])
        restore_rng_states(state["rng"])
        return cls(start_epoch=state["epoch"] + 1, best_sum=state["best_sum"], best_epoch=state["best_epoch"],
                   best_val=state["best_val"], bad_epochs=state["bad_epochs"], elapsed_before=state.get("seconds", 0.0))

    def end_epoch(self, out: str | Path, *, epoch: int, lr: float, train_loss: float, val: dict[str, Any],
                  seconds: float, n_train: int, n_val: int, model: Any, optimizer: Any,
                  save_best: Callable[[dict[str, Any]], None], average: WeightAverage | None = None,
                  write: bool = True) -> bool:
        """Records an epoch: log line, best checkpoint (through `save_best(summary)`), resume state; gives improved.

        With write=False (the other processes of a data-parallel run) only the bookkeeping is done.
        """
        improved = val["sum"] > self.best_sum or self.best_epoch < 0
        if improved:
            self.best_sum, self.best_epoch, self.best_val, self.bad_epochs = val["sum"], epoch, val, 0
        else:
            self.bad_epochs += 1
        if not write:
            return improved
        append_log(out, {"epoch": epoch, "lr": lr, "train_loss": train_loss, **{f"val_{k}": v for k, v in val.items()},
                         "improved": improved, "seconds": seconds})
        if improved:
            save_best({"epochs_run": epoch + 1, "best_epoch": self.best_epoch, "best_val": self.best_val,
                       "seconds": seconds, "n_train": n_train, "n_val": n_val})
        # the resume point is written after the checkpoint, so a crash between them only repeats an epoch
        save_state(out, {"model": model.state_dict(), "optimizer": optimizer.state_dict(), "epoch": epoch,
                         "best_sum": self.best_sum, "best_epoch": self.best_epoch, "best_val": self.best_val,
                         "bad_epochs": self.bad_epochs, "rng": rng_states(), "seconds": seconds,
                         "average": None if average is None else average.state_dict()})
        return improved


class WeightAverage:
    """An exponential moving average of a model's weights and float buffers (BatchNorm statistics too).

    After every optimiser step, `update(model)` moves the average toward the current weights by
    1 - decay (with the usual warm-up: min(decay, (1 + n) / (10 + n)) after n updates, so the first
    steps' random weights fade fast). The averaged model, `average.model`, is what validation scores and
    what the checkpoint keeps: it follows the weights' trend without the last few batches' noise, which
    on a small, noisy validation set decides more than the epoch chosen.
    """

    def __init__(self, model: Any, decay: float):
        if not 0.0 < decay < 1.0:
            raise InvalidParameterError(f"the weight-average decay must be in (0, 1), got {decay}")
        self.decay, self.updates = decay, 0
        self.model = copy.deepcopy(model).eval()
        for p in self.model.parameters():
            p.requires_grad_(False)

    def update(self, model: Any) -> None:
        """Moves the average one step toward `model`'s current weights."""
        self.updates += 1
        d = min(self.decay, (1.0 + self.updates) / (10.0 + self.updates))
        with torch.no_grad():
            mine, theirs = self.model.state_dict(), model.state_dict()
            for name, value in theirs.items():
                if value.is_floating_point():
                    mine[name].mul_(d).add_(value.detach(), alpha=1.0 - d)
                else:  # counters such as BatchNorm's num_batches_tracked
                    mine[name].copy_(value)

    def state_dict(self) -> dict[str, Any]:
        return {"decay": self.decay, "updates": self.updates, "model": self.model.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.decay, self.updates = float(state["decay"]), int(state["updates"])
        self.model.load_state_dict(state["model"])


@dataclass(frozen=True)
class TrainResult:
    """What a training run gives back: where the checkpoint is and how good it was on validation."""

    out: Path
    epochs_run: int
    best_epoch: int
    best_val: dict[str, float]
    seconds: float
    n_train: int
    n_val: int
    stopped_early: bool


def cosine_lr(lr: float, min_lr: float, epochs: int, epoch: int) -> float:
    """Gives the learning rate of `epoch` (0-based): cosine decay from lr to min_lr over `epochs`."""
    progress = min(1.0, epoch / max(1, epochs - 1))
    return min_lr + 0.5 * (lr - min_lr) * (1.0 + math.cos(math.pi * progress))


def check_resume(out: Path, cfg: Any) -> None:
    """Refuses to continue a run in `out` that was started with a different configuration
    (epochs and patience may change)."""
    saved_path = out / TRAIN_CONFIG_FILE
    if not saved_path.is_file():
        return
    saved, now = json.loads(saved_path.read_text()), config_to_dict(cfg)
    # a key the saved run predates had its default then (e.g. ema_decay, added in 0.4.0)
    defaults = config_to_dict(type(cfg)())
    # epochs and patience may change on resume (train longer); anything else would mix two runs
    differ = sorted(k for k in now if k not in ("epochs", "patience") and saved.get(k, defaults.get(k)) != now[k])
    if differ:
        raise DatasetError(f"this folder holds a run with a different configuration ({', '.join(differ)} differ)",
                           path=out, hint="use a new --out folder, or --overwrite to start again")


def open_run(data: Path, out: Path, cfg: Any, *, overwrite: bool, workers: Workers = SINGLE) -> tuple[int, int]:
    """Checks the dataset's splits, then readies `out` for a new or resumed run; gives (training rows, validation rows).

    A bad dataset fails before `out` is touched; --overwrite forgets an earlier run's state, config and log;
    a different configuration in `out` is refused (see `check_resume`). In a data-parallel run rank 0 readies `out`
    and the others wait for it before they read the resume state.
    """
    torch.set_num_threads(cfg.threads)  # the machines have 2 cores; more threads only contend
    n_train = len(checked_rows(data, cfg.train_split, min_rows=2))
    n_val = len(checked_rows(data, cfg.val_split, min_rows=3))
    if not workers.is_main:
        workers.barrier()
        return n_train, n_val
    out.mkdir(parents=True, exist_ok=True)
    if overwrite:
        for name in (STATE_FILE, TRAIN_CONFIG_FILE, LOG_FILE):
            (out / name).unlink(missing_ok=True)
    check_resume(out, cfg)
    atomic_write_text(out / TRAIN_CONFIG_FILE, json.dumps(config_to_dict(cfg), indent=2) + "\n")
    workers.barrier()
    return n_train, n_val


def run_epochs(data: Path, out: Path, cfg: Any, *, model: Any, optimizer: Any, model_config: Any,
               n_train: int, n_val: int, learning_rate: Callable[[int], float], train_step: Callable[[Any], float],
               validate: Callable[[Any], dict[str, Any]], card: Callable[[dict[str, Any]], str], started: float,
               progress: bool = True, title: str = "training", average: WeightAverage | None = None,
               workers: Workers = SINGLE) -> TrainResult:
    """The loop every trainer shares: epochs of shuffled batches, validation, the best checkpoint, resume, early stop.

    Per epoch: the learning rate `learning_rate(epoch)`, a random order of the training rows, `train_step(indices)`
    per batch (forward, backward, optimiser step; gives the batch loss), `average.update(model)` after each step
    when weights are averaged, then `validate(m)` of the model that is kept (`m` is the average, if any) and the
    bookkeeping of `RunProgress`: log line, checkpoint of the best epoch (`card(summary)` is its MODEL_CARD.md),
    resume state. Stops after `cfg.patience` epochs without improvement. A batch of one has no pairs to rank and a
    degenerate BatchNorm, so a last partial batch needs two rows (and one per process: see `workers`).

    In a data-parallel run (`workers`, docs/training.md) every process runs this loop on the same global batches
    (rank 0's order) and `train_step` computes its shard of each; only rank 0 writes files and shows progress.
    """
    run = RunProgress.resume(out, model, optimizer, average)
    kept = model if average is None else average.model
    n_batches = max(1, n_train // cfg.batch_size + (n_train % cfg.batch_size >= max(2, workers.world_size)))

    def save_best(summary: dict[str, Any]) -> None:
        save_checkpoint(kept, model_config, out, card(summary),
                        metadata={"training": {**summary, "data": str(data), "config": config_to_dict(cfg)}})

    done, stopped_early = run.start_epoch, False  # epochs finished so far, this call's included
    model.train()
    with progress_bar(title, "epoch", enabled=progress and workers.is_main) as bar:
        task = bar.add_task("train", total=n_batches, at=run.start_epoch, info="")
        for epoch in range(run.start_epoch, cfg.epochs):
            if run.bad_epochs >= cfg.patience:
                stopped_early = True
                break
            for group in optimizer.param_groups:
                group["lr"] = learning_rate(epoch)
            # every process draws it (so the RNGs stay in step); rank 0's is used, so no row is skipped or repeated
            order = workers.broadcast(torch.randperm(n_train))
            bar.reset(task, total=n_batches, at=epoch, info="")
            losses: list[float] = []
            for b in range(n_batches):
                losses.append(train_step(order[b * cfg.batch_size:(b + 1) * cfg.batch_size]))
                if average is not None:
                    average.update(model)
                bar.update(task, advance=1, info=f"loss {np.mean(losses):.3f}  best val sum {run.best_sum:.3f}")
            val = validate(kept)
            improved = run.end_epoch(
                out, epoch=epoch, lr=learning_rate(epoch), train_loss=float(np.mean(losses)), val=val,
                seconds=run.elapsed_before + time.perf_counter() - started, n_train=n_train, n_val=n_val,
                model=model, optimizer=optimizer, save_best=save_best, average=average, write=workers.is_main)
            logger.info("%s epoch %d: train loss %.4f, validation sum %.3f%s", title, epoch, float(np.mean(losses)),
                        val["sum"], " (best so far)" if improved else "")
            done = epoch + 1
    if run.best_epoch < 0:
        raise DatasetError("no epoch was run", path=out, hint="raise --epochs above the epochs already done")
    final = {"epochs_run": done, "best_epoch": run.best_epoch, "best_val": run.best_val, "n_train": n_train,
             "n_val": n_val, "seconds": run.elapsed_before + time.perf_counter() - started}
    if workers.is_main:
        finish_checkpoint(out, final, card(final))
    return TrainResult(out=out, epochs_run=done, best_epoch=run.best_epoch, best_val=run.best_val,
                       seconds=final["seconds"], n_train=n_train, n_val=n_val, stopped_early=stopped_early)


def progress_bar(title: str, counter: str | None = None, *, enabled: bool = True) -> Any:
    """Gives the rich progress bar every training loop shows: title (and `counter` with field `at`), bar, done/total,
    info, time.

    Tasks added to it need the field `info` (and `at` when `counter` is given).
    """
    head = f"[bold]{title}[/]" + (f" {counter} {{task.fields[at]}}" if counter else "")
    return Progress(TextColumn(head), BarColumn(), MofNCompleteColumn(), TextColumn("{task.fields[info]}"),
                    TimeElapsedColumn(), disable=not enabled, transient=False)


def run_steps(steps: int, step: Callable[[int], float], *, title: str, progress: bool = True, log_every: int = 100,
              describe: Callable[[float], str] | None = None) -> list[float]:
    """The loop of the fixed-recipe trainers (the CNN denoiser, the lesion net): `steps` optimiser steps; gives their
    losses.

    `step(i)` runs step i (draw a batch, forward, backward, optimiser and scheduler step) and gives its loss;
    `describe(loss)` says it for the progress bar and the log ("loss 0.1234" by default). The bar is `run_epochs`'s,
    and every `log_every` steps (and after the last) a line goes to the "vliqa.train" logger, as each epoch's does.
    These recipes draw batches at random (with replacement) from a fixed pool and step their schedulers per step,
    with nothing to validate per epoch, so they have no epochs, resume state or early stopping: a run is minutes,
    and the same seed, torch version and thread count repeat the shipped weights bit for bit.
    """
    if steps < 1:
        raise InvalidParameterError(f"steps={steps} must be at least 1")
    say = describe or (lambda loss: f"loss {loss:.4f}")
    started = time.perf_counter()
    losses: list[float] = []
    with progress_bar(title, enabled=progress) as bar:
        task = bar.add_task("train", total=steps, info="")
        for i in range(steps):
            losses.append(float(step(i)))
            bar.update(task, advance=1, info=say(losses[-1]))
            if i % log_every == 0 or i == steps - 1:
                logger.info("%s step %d/%d: %s (%.1f s)", title, i + 1, steps, say(losses[-1]),
                            time.perf_counter() - started)
    return losses


def finish_checkpoint(out: str | Path, final: dict[str, Any], card_text: str) -> None:
    """Completes the best checkpoint's metadata and model card with how the whole run went.

    The card and metadata were written at the best epoch; this adds the epochs run and the total time.
    """
    out = Path(out)
    payload = json.loads((out / CONFIG_FILE).read_text())
    payload.setdefault("metadata", {}).setdefault("training", {}).update(final)
    atomic_write_text(out / CONFIG_FILE, json.dumps(payload, indent=2) + "\n")
    atomic_write_text(out / CARD_FILE, card_text)
