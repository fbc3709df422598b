"""The denoiser and lesion-net checkpoints: the registry's one format and reader, kept out of the quality models.

Both are registry architectures ("cnn_denoiser" of kind simulation, "lesion_unet" of kind diagnostic), shipped as
registry checkpoint folders, loadable by `vliqa.models.load`; their own loaders (which live below the registry)
read the same files through `vliqa.io.checkpoint`, with typed errors for missing, broken and mismatched files.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file

from vliqa import models
from vliqa.errors import CorruptFileError, DependencyUnavailableError, InvalidParameterError
from vliqa.labels.diagnostic_models import LesionUNet, load_lesion_net_model
from vliqa.simulate.cnn_denoiser import DenoiserNet, load_denoiser

SHIPPED = {"denoiser": ("cnn_denoiser", "simulation", DenoiserNet),
           "lesion_net": ("lesion_unet", "diagnostic", LesionUNet)}
LOADERS = {"denoiser": load_denoiser, "lesion_net": load_lesion_net_model}


@pytest.fixture(params=sorted(LOADERS))
def shipped_copy(request, tmp_path: Path):
    copy = tmp_path / request.param
    shutil.copytree(models.SHIPPED_DIR / request.param, copy)
    return request.param, copy, LOADERS[request.param]


@pytest.mark.parametrize("name", sorted(SHIPPED))
def test_shipped_tool_checkpoints_are_registry_checkpoints_of_their_kind(name: str) -> None:
    arch, kind, cls = SHIPPED[name]
    folder = models.SHIPPED_DIR / name
    assert {"model.safetensors", "config.json", "MODEL_CARD.md"} <= {p.name for p in folder.iterdir()}
    payload = json.loads((folder / "config.json").read_text())
    assert payload["arch"] == arch and payload["format"] == models.CHECKPOINT_FORMAT
    assert payload["metadata"]["kind"] == kind and payload["metadata"]["training"]["n_params"] > 0
    loaded = models.load(name)
    assert loaded.kind == kind and isinstance(loaded.model, cls) and not loaded.model.training
    assert models.get_model_spec(arch).kind == kind and arch in models.list_models(kind)
    assert arch not in models.list_models("quality")
    assert name not in models.shipped_models()
    with pytest.raises(InvalidParameterError, match=f"is a {kind} model, not a quality model"):
        loaded.predict([])
    with pytest.raises(InvalidParameterError, match=f"holds a {kind} model"):
        models.load(name, kind="quality")


@pytest.mark.slow
def test_listing_the_quality_models_imports_no_tool_code() -> None:
    code = ("import sys; from vliqa import models; names = models.shipped_models(); "
            "assert 'denoiser' not in names and 'lesion_net' not in names, names; "
            "assert 'vliqa.simulate.cnn_denoiser' not in sys.modules and 'vliqa.labels.diagnostic_models' not in "
            "sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_the_tool_loaders_and_the_registry_restore_the_same_weights() -> None:
    assert all(torch.equal(a, b) for a, b in zip(load_denoiser().state_dict().values(),
                                                 models.load("denoiser").model.state_dict().values(), strict=True))
    assert all(torch.equal(a, b) for a, b in zip(load_lesion_net_model().net.state_dict().values(),
                                                 models.load("lesion_net").model.state_dict().values(), strict=True))


def test_the_copy_loads_its_own_weights_and_config(shipped_copy) -> None:
    what, copy, loader = shipped_copy
    # change the copy's weights, so that weights read from anywhere but the folder given cannot pass
    stored = {name: t * 2.0 if t.is_floating_point() else t
              for name, t in load_file(copy / "model.safetensors").items()}
    save_file(stored, copy / "model.safetensors")
    loaded = loader(str(copy))
    net = loaded.net if what == "lesion_net" else loaded
    assert not net.training
    state = net.state_dict()
    assert set(state) == set(stored)
    for name, tensor in stored.items():
        torch.testing.assert_close(state[name], tensor, rtol=0, atol=0, msg=name)
    raw = json.loads((copy / "config.json").read_text())["config"]
    assert json.loads(json.dumps(loaded.config.channels)) == raw["channels"]
    if what == "denoiser":
        assert list(loaded.config.dilations) == raw["dilations"] and loaded.config.hu_scale == raw["hu_scale"]
    else:
        assert loaded.config.pixel_mm == raw["pixel_mm"] and loaded.name == str(copy)
        assert loaded.mapping.a == json.loads((copy / "sigmoid_mapping.json").read_text())["a"]


def test_missing_weights_say_how_to_make_them(shipped_copy) -> None:
    what, copy, loader = shipped_copy
    (copy / "model.safetensors").unlink()
    with pytest.raises(DependencyUnavailableError, match=f"no {what} checkpoint") as info:
        loader(str(copy))
    assert "python -m vliqa.train." in (info.value.hint or "")


def test_a_config_that_is_not_json_is_a_corrupt_file(shipped_copy) -> None:
    _, copy, loader = shipped_copy
    (copy / "config.json").write_text("{not json")
    with pytest.raises(CorruptFileError, match="config.json is not a vliqa model config"):
        loader(str(copy))


def test_truncated_weights_are_a_corrupt_file(shipped_copy) -> None:
    _, copy, loader = shipped_copy
    data = (copy / "model.safetensors").read_bytes()
    (copy / "model.safetensors").write_bytes(data[: len(data) // 3])
    with pytest.raises(CorruptFileError, match="the weights cannot be read"):
        loader(str(copy))


def test_weights_that_do_not_fit_the_config_are_a_corrupt_file(shipped_copy) -> None:
    what, copy, loader = shipped_copy
    other = models.SHIPPED_DIR / ("lesion_net" if what == "denoiser" else "denoiser")
    shutil.copy(other / "model.safetensors", copy / "model.safetensors")
    with pytest.raises(CorruptFileError, match="the weights do not fit architecture"):
        loader(str(copy))


def test_a_checkpoint_of_another_architecture_is_refused(shipped_copy) -> None:
    what, copy, loader = shipped_copy
    other = models.SHIPPED_DIR / ("lesion_net" if what == "denoiser" else "denoiser")
    for name in ("config.json", "model.safetensors"):
        shutil.copy(other / name, copy / name)
    with pytest.raises(InvalidParameterError, match="holds architecture"):
        loader(str(copy))


def test_a_config_without_its_keys_or_with_unknown_fields_is_refused(tmp_path: Path) -> None:
    copy = tmp_path / "denoiser"
    shutil.copytree(models.SHIPPED_DIR / "denoiser", copy)
    raw = json.loads((copy / "config.json").read_text())
    (copy / "config.json").write_text(json.dumps({k: v for k, v in raw.items() if k != "config"}))
    with pytest.raises(CorruptFileError, match="needs keys 'arch' and 'config'"):
        load_denoiser(str(copy))
    raw["config"]["depth"] = 7
    (copy / "config.json").write_text(json.dumps(raw))
    with pytest.raises(InvalidParameterError, match="DenoiserConfig has no field"):
        load_denoiser(str(copy))
