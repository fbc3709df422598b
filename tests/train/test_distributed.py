"""Stories of data-parallel training: `vliqa train ... --nproc N` gives the model one process would, and refuses a
process count that cannot help."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from tiny_iqa import SAMPLES, tiny_dataset

from vliqa import models
from vliqa.cli.main import invoke
from vliqa.errors import InvalidParameterError
from vliqa.io import load as load_image
from vliqa.train.distributed import check_nproc, shard_sizes, shard_slice, without_nproc
from vliqa.train.regressor import TINY as REGRESSOR_TINY
from vliqa.train.scorer import TINY as SCORER_TINY

VLIQA = str(Path(sys.executable).with_name("vliqa"))
#: the regressor's tiny config without dropout: its masks are drawn per shard, so with dropout the runs agree only
#: in distribution (the scorer has none)
TINY = {"scorer": SCORER_TINY,
        "regressor": {**REGRESSOR_TINY, "model": {**REGRESSOR_TINY["model"], "dropout": 0.0}, "threads": 1}}


def test_the_shards_of_a_batch_are_the_batch_in_order_and_differ_by_at_most_one_row():
    for n_rows in range(1, 20):
        for world_size in range(1, 6):
            shards = [range(n_rows)[shard_slice(n_rows, world_size, r)] for r in range(world_size)]
            assert [i for shard in shards for i in shard] == list(range(n_rows))
            sizes = shard_sizes(n_rows, world_size)
            assert sizes == [len(s) for s in shards] and max(sizes) - min(sizes) <= 1
            assert sizes == sorted(sizes, reverse=True)  # the longer shards come first
    assert shard_sizes(8, 2) == [4, 4] and shard_sizes(5, 2) == [3, 2] and shard_slice(5, 2, 1) == slice(3, 5)


def test_the_averaged_gradient_of_equal_shards_is_the_gradient_of_the_whole_batch():
    # what DDP relies on: the mean over N processes of their shard-mean gradients is the batch-mean gradient
    torch.manual_seed(0)
    model, x, y = torch.nn.Linear(3, 1), torch.randn(8, 3), torch.randn(8, 1)
    whole = torch.autograd.grad(torch.nn.functional.mse_loss(model(x), y), model.weight)[0]
    per_shard = [torch.autograd.grad(torch.nn.functional.mse_loss(model(x[s]), y[s]), model.weight)[0]
                 for s in (shard_slice(8, 2, r) for r in range(2))]
    torch.testing.assert_close(sum(per_shard) / 2, whole)


def test_a_process_count_that_cannot_help_is_refused_with_what_to_do():
    check_nproc(1)
    with pytest.raises(InvalidParameterError, match="at least 1"):
        check_nproc(0)
    with pytest.raises(InvalidParameterError, match="CPU cores"):
        check_nproc((os.cpu_count() or 1) + 1)
    with pytest.raises(InvalidParameterError, match="rows in a batch"):
        check_nproc(2, batch_size=1)
    with pytest.raises(InvalidParameterError, match="GPUs"):
        check_nproc(torch.cuda.device_count() + 2, device="cuda")
    assert without_nproc(["train", "scorer", "--nproc", "2", "--out", "o", "--nproc=3"]) == ["train", "scorer",
                                                                                             "--out", "o"]


def test_nproc_zero_exits_with_code_1_and_says_why(tmp_path, capsys):
    code = invoke(["train", "scorer", "--data", str(tmp_path), "--out", str(tmp_path / "run"), "--nproc", "0"])
    err = capsys.readouterr().err
    assert code == 1 and "--nproc must be at least 1" in " ".join(err.split())
    assert not (tmp_path / "run").exists()


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    return tiny_dataset(tmp_path_factory)


def train_cli(kind: str, dataset: Path, folder: Path, nproc: int) -> float:
    """Trains the tiny `kind` model through the real CLI in a fresh process; gives the wall time."""
    config = folder / f"{kind}.json"
    config.parent.mkdir(parents=True, exist_ok=True)
    config.write_text(json.dumps(TINY[kind]))
    started = time.perf_counter()
    done = subprocess.run([VLIQA, "train", kind, "--data", str(dataset), "--out", str(folder / "run"),
                           "--config", str(config), "--nproc", str(nproc)], capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert f"{kind} trained" in done.stdout and done.stdout.count("trained") == 1  # rank 0 alone reports
    return time.perf_counter() - started


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["scorer", "regressor"])
def test_two_processes_train_the_tiny_model_to_the_weights_of_one(tmp_path, dataset, kind):
    # 21 training rows in batches of 8: two full batches split 4 + 4 and a last batch of 5 split 3 + 2. With the same
    # seed both runs draw the same batches and augmentations; the loss is computed on the gathered outputs of the whole
    # batch and the scorer's BatchNorm uses the whole batch's statistics, so the 2-process gradient is the 1-process
    # one but for the order of float sums (~1e-7 relative). Over 6 AdamW steps that leaves weights within ~1e-5
    # (measured 6e-6 scorer, 2e-7 regressor); BatchNorm on per-shard statistics instead moves predictions ~3e-3.
    seconds = {n: train_cli(kind, dataset, tmp_path / f"nproc{n}", n) for n in (1, 2)}
    one, two = tmp_path / "nproc1" / "run", tmp_path / "nproc2" / "run"

    last = [torch.load(run / "training_state.pt", weights_only=False)["model"] for run in (one, two)]
    assert last[0].keys() == last[1].keys()
    for name, value in last[0].items():
        if value.is_floating_point():
            torch.testing.assert_close(last[1][name], value, atol=1e-4, rtol=1e-4, msg=f"{kind} {name}")
        else:  # e.g. BatchNorm's num_batches_tracked: one step each, in both
            assert torch.equal(last[1][name], value), name

    logs = [[json.loads(line) for line in (run / "train_log.jsonl").read_text().splitlines()] for run in (one, two)]
    assert [e["epoch"] for e in logs[1]] == [0, 1]
    np.testing.assert_allclose([e["train_loss"] for e in logs[1]], [e["train_loss"] for e in logs[0]], rtol=1e-5)
    assert [e["improved"] for e in logs[1]] == [e["improved"] for e in logs[0]]  # the same epoch is kept

    volume = load_image(str(SAMPLES / "abdomen_ct_dicom"))
    slices = [volume.slice(i) for i in (2, 9, 16)]
    predict = {"raw": True} if kind == "scorer" else {}  # the scorer's raw score, before its fitted score map
    scores = [models.load(run).model.predict(slices, **predict).overall for run in (one, two)]
    # scores are on the 0-4 scale: 1e-3 is a 4000th of it, far below any difference a reader would see
    assert np.abs(scores[1] - scores[0]).max() < 1e-3, (scores, seconds)
