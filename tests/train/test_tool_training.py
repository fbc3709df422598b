"""The recipes of the tool models (`make denoiser`, `make lesion-net`) at tiny settings: registry checkpoints out."""

from __future__ import annotations

import json

import pytest
import torch

from vliqa import models
from vliqa.labels.diagnostic import get_diagnostic_model
from vliqa.simulate.cnn_denoiser import DenoiserNet, load_denoiser
from vliqa.train.denoiser import main as train_denoiser_main
from vliqa.train.lesion_net import main as train_lesion_net_main

pytestmark = pytest.mark.slow  # training, however small


def test_the_denoiser_recipe_writes_a_simulation_checkpoint_and_repeats_with_its_seed(tmp_path, capsys) -> None:
    runs = []
    for k in range(2):
        out = tmp_path / f"denoiser{k}"
        train_denoiser_main(["--out", str(out), "--steps", "3", "--seed", "0"])  # python -m vliqa.train.denoiser
        assert f"wrote {out}" in capsys.readouterr().out
        runs.append(models.load(out))
    first, again = runs
    assert first.kind == "simulation" and isinstance(first.model, DenoiserNet)
    assert first.metadata["training"]["steps"] == 3 and "make denoiser" in first.card
    assert all(torch.equal(a, b) for a, b in zip(first.model.state_dict().values(), again.model.state_dict().values(),
                                                 strict=True))
    assert isinstance(load_denoiser(str(tmp_path / "denoiser0")), DenoiserNet)
    assert "denoiser0" not in models.shipped_models()


def test_the_lesion_net_recipe_writes_a_diagnostic_checkpoint_with_its_mapping(tmp_path, capsys) -> None:
    out = tmp_path / "lesion_net"
    train_lesion_net_main(["--out", str(out), "--steps", "2", "--phantoms", "4", "--calibration", "4"])
    assert f"wrote {out}" in capsys.readouterr().out
    payload = json.loads((out / "config.json").read_text())
    assert payload["arch"] == "lesion_unet" and payload["metadata"]["kind"] == "diagnostic"
    assert payload["metadata"]["training"]["n_calibration"] == 4
    assert (out / "sigmoid_mapping.json").is_file() and models.load(out).kind == "diagnostic"
    assert get_diagnostic_model(str(out)).mapping.n_samples == 4
