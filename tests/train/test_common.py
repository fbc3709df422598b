"""What the trainers share: one base run config (fields and checks written once), one step loop beside the epoch
loop."""

from __future__ import annotations

import dataclasses
import logging

import pytest

from vliqa.errors import InvalidParameterError
from vliqa.train.common import BaseTrainConfig, run_steps
from vliqa.train.regressor import RegressorTrainConfig
from vliqa.train.scorer import ScorerTrainConfig

SHARED = {f.name for f in dataclasses.fields(BaseTrainConfig)}


@pytest.mark.parametrize("config_class", [RegressorTrainConfig, ScorerTrainConfig])
def test_both_epoch_trainers_share_the_base_run_settings(config_class: type) -> None:
    assert issubclass(config_class, BaseTrainConfig)
    assert SHARED <= {f.name for f in dataclasses.fields(config_class)}
    assert len(SHARED) >= 10


@pytest.mark.parametrize("config_class", [RegressorTrainConfig, ScorerTrainConfig])
@pytest.mark.parametrize(("field", "value", "message"), [
    ("epochs", 0, "epochs must be at least 1"), ("batch_size", 0, "batch_size must be at least 1"),
    ("patience", 0, "patience must be at least 1"), ("threads", 0, "threads must be at least 1"),
    ("lr", 0.0, "lr > 0"), ("min_lr", 1.0, "min_lr <= lr"), ("weight_decay", -0.1, "weight_decay"),
    ("train_split", "training", "unknown split"), ("val_split", "", "unknown split"),
])
def test_the_shared_checks_refuse_the_same_bad_values(config_class: type, field: str, value, message: str) -> None:
    with pytest.raises(InvalidParameterError, match=message):
        config_class(**{field: value})


def test_each_trainer_keeps_its_own_defaults() -> None:
    reg, sco = RegressorTrainConfig(), ScorerTrainConfig()
    assert (reg.epochs, reg.lr, reg.min_lr, reg.weight_decay, reg.patience) == (40, 1e-3, 1e-4, 1e-4, 8)
    assert (sco.epochs, sco.lr, sco.min_lr, sco.weight_decay, sco.patience) == (30, 5e-4, 5e-5, 0.01, 6)
    assert not reg.validates_on_training_rows
    assert RegressorTrainConfig(val_split="train,val").validates_on_training_rows
    # the scorer's own checks still run after the shared ones
    with pytest.raises(InvalidParameterError, match="ema_decay"):
        ScorerTrainConfig(ema_decay=1.0)


def test_run_steps_runs_every_step_in_order_and_logs_like_the_epoch_loop(caplog) -> None:
    seen: list[int] = []

    def step(i: int) -> float:
        seen.append(i)
        return 1.0 / (i + 1)

    with caplog.at_level(logging.INFO, logger="vliqa.train"):
        losses = run_steps(5, step, title="tiny", progress=False, log_every=2, describe=lambda loss: f"l={loss:.2f}")
    assert seen == [0, 1, 2, 3, 4] and losses == [1.0, 0.5, 1 / 3, 0.25, 0.2]
    lines = [r.getMessage() for r in caplog.records if r.name == "vliqa.train"]
    assert [line.split(" (")[0] for line in lines] == ["tiny step 1/5: l=1.00", "tiny step 3/5: l=0.33",
                                                       "tiny step 5/5: l=0.20"]  # every 2nd step and the last
    with pytest.raises(InvalidParameterError, match="steps=0"):
        run_steps(0, step, title="tiny", progress=False)
