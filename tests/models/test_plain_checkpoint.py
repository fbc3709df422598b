"""The denoiser and lesion-net checkpoints: one reader, typed errors for missing, broken and mismatched files."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from vliqa.errors import CorruptFileError, DependencyUnavailableError
from vliqa.labels.diagnostic_models import SHIPPED_DIR as LESION_DIR
from vliqa.labels.diagnostic_models import load_lesion_net_model
from vliqa.simulate.cnn_denoiser import SHIPPED_DIR as DENOISER_DIR
from vliqa.simulate.cnn_denoiser import load_denoiser

LOADERS = {"denoiser": (DENOISER_DIR, load_denoiser), "lesion_net": (LESION_DIR, load_lesion_net_model)}


@pytest.fixture(params=sorted(LOADERS))
def shipped_copy(request, tmp_path: Path):
    folder, loader = LOADERS[request.param]
    copy = tmp_path / request.param
    shutil.copytree(folder, copy)
    return request.param, copy, loader


def test_the_copy_loads(shipped_copy) -> None:
    _, copy, loader = shipped_copy
    assert loader(str(copy)) is not None


def test_missing_weights_say_how_to_make_them(shipped_copy) -> None:
    what, copy, loader = shipped_copy
    (copy / "model.safetensors").unlink()
    with pytest.raises(DependencyUnavailableError, match=f"no {what} checkpoint") as info:
        loader(str(copy))
    assert "python -m vliqa." in (info.value.hint or "")


def test_a_config_that_is_not_json_is_a_corrupt_file(shipped_copy) -> None:
    what, copy, loader = shipped_copy
    (copy / "config.json").write_text("{not json")
    with pytest.raises(CorruptFileError, match=f"{what} config is not JSON"):
        loader(str(copy))


def test_truncated_weights_are_a_corrupt_file(shipped_copy) -> None:
    what, copy, loader = shipped_copy
    data = (copy / "model.safetensors").read_bytes()
    (copy / "model.safetensors").write_bytes(data[: len(data) // 3])
    with pytest.raises(CorruptFileError, match=f"{what} weights cannot be read"):
        loader(str(copy))


def test_weights_that_do_not_fit_the_config_are_a_corrupt_file(shipped_copy) -> None:
    what, copy, loader = shipped_copy
    other = LOADERS["lesion_net" if what == "denoiser" else "denoiser"][0]
    shutil.copy(other / "model.safetensors", copy / "model.safetensors")
    with pytest.raises(CorruptFileError, match=f"{what} weights do not fit"):
        loader(str(copy))


def test_a_config_without_its_keys_is_a_corrupt_file(tmp_path: Path) -> None:
    copy = tmp_path / "denoiser"
    shutil.copytree(DENOISER_DIR, copy)
    raw = json.loads((copy / "config.json").read_text())
    del raw["dilations"]
    (copy / "config.json").write_text(json.dumps(raw))
    with pytest.raises(CorruptFileError, match="denoiser config lacks a valid 'dilations'"):
        load_denoiser(str(copy))
