"""Stories of training the image-only CNN regressor, saving it, and loading it back through the model registry."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import torch
from tiny_iqa import tiny_checkpoint, tiny_dataset

from vliqa import models
from vliqa.data.labelled import load_labelled
from vliqa.errors import CorruptFileError, DatasetError, InputNotFoundError, InvalidParameterError, UnknownNameError
from vliqa.models.regressor import CNNRegressor, RegressorConfig, class_std
from vliqa.train import TINY, RegressorTrainConfig, common, train_regressor
from vliqa.train.common import config_with_nested, load_config_file

ASPECTS = ("noise", "artifacts", "sharpness", "contrast", "texture")


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    return tiny_dataset(tmp_path_factory)


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    return tiny_checkpoint(tmp_path_factory)


def tiny_cfg(**overrides) -> RegressorTrainConfig:
    return config_with_nested(RegressorTrainConfig, {**TINY, **overrides})


@pytest.mark.slow
def test_trained_checkpoint_loads_by_path_and_scores_every_image(dataset, checkpoint):
    assert {"model.safetensors", "config.json", "MODEL_CARD.md",
            "training_state.pt"} <= {p.name for p in checkpoint.iterdir()}
    saved = json.loads((checkpoint / "config.json").read_text())
    assert saved["arch"] == "cnn_regressor" and saved["config"]["input_px"] == 64
    training = saved["metadata"]["training"]
    assert training["config"] == json.loads((checkpoint / "train_config.json").read_text())
    assert training["config"]["model"]["channels"] == TINY["model"]["channels"]
    assert (training["epochs_run"], training["n_train"], training["n_val"]) == (2, 21, 21)  # val_split "train"
    assert -1 <= training["best_val"]["plcc"] <= 1 and training["seconds"] > 0
    log = [json.loads(line) for line in (checkpoint / "train_log.jsonl").read_text().splitlines()]
    assert [e["epoch"] for e in log] == [0, 1]

    predictor = models.load(str(checkpoint))
    assert isinstance(predictor, models.Predictor)
    items = load_labelled(dataset, "all")
    out = predictor.predict([it.image for it in items])
    assert out.overall.shape == (len(items),) == (24,)
    assert np.all((out.overall >= 0) & (out.overall <= 4))
    assert set(out.aspects) == set(ASPECTS) and all(v.shape == (24,) for v in out.aspects.values())
    assert out.std is not None and np.all(np.isfinite(out.std)) and np.all(out.std >= 0) and np.all(out.std <= 2)
    # the images differ, so a working network does not give one constant score
    assert np.ptp(out.overall) > 0


def test_save_and_load_round_trip_gives_identical_predictions(tmp_path, dataset):
    torch.manual_seed(3)
    model = models.create_model("cnn_regressor", input_px=32, channels=[4, 8, 8], windows=["ldctiqac"])
    assert isinstance(model, CNNRegressor) and model.config.channels == (4, 8, 8)
    models.save_checkpoint(model, model.config, tmp_path / "ckpt", "# card")
    assert not [p for p in (tmp_path / "ckpt").iterdir() if ".tmp" in p.name]
    loaded = models.load(tmp_path / "ckpt")
    images = [it.image for it in load_labelled(dataset, "all")[:5]]
    np.testing.assert_array_equal(model.predict(images).overall, loaded.predict(images).overall)
    assert loaded.card.startswith("# card")


def test_non_square_slices_are_padded_not_stretched():
    from vliqa.core import CTImage

    model = CNNRegressor(RegressorConfig(input_px=32, channels=(4, 8)))
    wide = CTImage(np.full((40, 80), 40.0, dtype=np.float32))
    x = model.preprocess([wide])
    assert x.shape == (1, 2, 32, 32)
    # top rows are air padding (display 0 -> -2 after centring), the middle is soft tissue
    assert torch.all(x[0, 0, 0] == -2.0) and x[0, 0, 16, 16] > -2.0


def test_class_std_is_zero_for_a_certain_class_and_large_for_a_split_one():
    certain = torch.tensor([[0.0, 0.0, 50.0, 0.0, 0.0]])
    split = torch.tensor([[50.0, 0.0, 0.0, 0.0, 50.0]])
    assert class_std(certain).item() < 1e-6
    assert abs(class_std(split).item() - 2.0) < 1e-4


@pytest.mark.slow
def test_interrupted_training_resumes_to_the_same_weights(tmp_path, dataset, monkeypatch):
    cfg = tiny_cfg(epochs=3, model={"input_px": 32, "channels": [4, 8, 8]})
    straight = train_regressor(dataset, tmp_path / "straight", cfg, progress=False)
    assert straight.epochs_run == 3

    real_save = common.save_state

    def save_then_crash(out, state):
        real_save(out, state)
        if state["epoch"] == 1:
            raise KeyboardInterrupt  # the user presses Ctrl-C after epoch 1 was saved

    monkeypatch.setattr(common, "save_state", save_then_crash)
    with pytest.raises(KeyboardInterrupt):
        train_regressor(dataset, tmp_path / "resumed", cfg, progress=False)
    monkeypatch.undo()
    resumed = train_regressor(dataset, tmp_path / "resumed", cfg, progress=False)
    assert resumed.epochs_run == 3
    log = [json.loads(line)["epoch"] for line in (tmp_path / "resumed" / "train_log.jsonl").read_text().splitlines()]
    assert log == [0, 1, 2]  # epoch 2 ran once, after the resume
    a = torch.load(tmp_path / "straight" / "training_state.pt", weights_only=False)["model"]
    b = torch.load(tmp_path / "resumed" / "training_state.pt", weights_only=False)["model"]
    for name in a:
        torch.testing.assert_close(a[name], b[name], rtol=0, atol=0)


@pytest.mark.slow
def test_a_changed_config_does_not_silently_mix_two_runs(tmp_path, dataset):
    cfg = tiny_cfg(epochs=1, model={"input_px": 32, "channels": [4, 8]})
    train_regressor(dataset, tmp_path / "run", cfg, progress=False)
    with pytest.raises(DatasetError, match="different configuration.*lr"):
        train_regressor(dataset, tmp_path / "run",
                        tiny_cfg(epochs=1, lr=0.01, model={"input_px": 32, "channels": [4, 8]}), progress=False)
    # --overwrite starts again
    result = train_regressor(dataset, tmp_path / "run",
                             tiny_cfg(epochs=1, lr=0.01, model={"input_px": 32, "channels": [4, 8]}),
                             overwrite=True, progress=False)
    assert result.epochs_run == 1


def test_a_validation_split_too_small_for_correlations_is_refused(tmp_path, dataset):
    n_test = len(load_labelled(dataset, "test"))
    assert n_test < 3  # the tiny build puts 1 image in test
    with pytest.raises(DatasetError, match="split 'test' has 1 row"):
        train_regressor(dataset, tmp_path / "run", tiny_cfg(val_split="test"), progress=False)


def test_config_file_fields_and_typos(tmp_path):
    path = tmp_path / "cfg.json"
    path.write_text(json.dumps({"epochs": 5, "model": {"input_px": 96, "windows": ["ldctiqac"]}}))
    cfg = load_config_file(RegressorTrainConfig, path, epochs=7)
    assert cfg.epochs == 7 and cfg.model.input_px == 96 and cfg.model.windows == ("ldctiqac",)
    path.write_text(json.dumps({"epoch": 5}))
    with pytest.raises(InvalidParameterError, match="epoch"):
        load_config_file(RegressorTrainConfig, path)
    with pytest.raises(InputNotFoundError):
        load_config_file(RegressorTrainConfig, tmp_path / "nope.json")
    with pytest.raises(UnknownNameError, match="abdomen"):
        RegressorConfig(windows=("sinus",))


def test_unknown_model_lists_the_shipped_quality_models_only():
    with pytest.raises(UnknownNameError) as info:
        models.load("defualt")
    message = str(info.value)
    shipped = models.shipped_models()
    assert "shipped models: medqm, reader" in message and {"medqm", "reader"} <= set(shipped)
    for tool in ("denoiser", "lesion_net"):  # a simulation and a diagnostic component, not quality models
        assert tool not in message and tool not in shipped
    assert "cnn_regressor" in models.list_models()


def test_broken_checkpoints_give_clear_errors(tmp_path):
    # an untrained checkpoint is enough: what is checked is the reading of broken files, not the weights
    torch.manual_seed(0)
    model = models.create_model("cnn_regressor", input_px=32, channels=[4, 8], windows=["ldctiqac"])
    checkpoint = models.save_checkpoint(model, model.config, tmp_path / "ckpt", "# card")
    with pytest.raises(InputNotFoundError):
        models.load(str(tmp_path / "missing" / "run"))
    broken = tmp_path / "broken"
    shutil.copytree(checkpoint, broken)
    (broken / "config.json").write_text("{not json")
    with pytest.raises(CorruptFileError, match="config.json"):
        models.load(broken)
    shutil.copy(checkpoint / "config.json", broken / "config.json")
    (broken / "model.safetensors").write_bytes(b"\x00" * 20)
    with pytest.raises(CorruptFileError, match="weights"):
        models.load(broken)
    with pytest.raises(InvalidParameterError, match="channels"):
        models.create_model("cnn_regressor", chanels=[4])
