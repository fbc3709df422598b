"""Stories of training MedQM-I: each loss, loading the checkpoint to score real DICOM, resuming, fine-tuning, the
CLI."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
import torch
from tiny_iqa import SAMPLES, tiny_dataset

import vliqa
from vliqa import models
from vliqa.errors import DatasetError, InvalidParameterError
from vliqa.io import load as load_image
from vliqa.io.write import save_preview_png
from vliqa.models.score_map import apply_score_map
from vliqa.train import common
from vliqa.train.common import config_with_nested
from vliqa.train.scorer import TINY, ScorerTrainConfig, augment, train_scorer

VLIQA = str(Path(sys.executable).with_name("vliqa"))
ASPECTS = ("noise", "artifacts", "sharpness", "contrast", "texture")


def tiny_cfg(**overrides) -> ScorerTrainConfig:
    return config_with_nested(ScorerTrainConfig, {**TINY, **overrides})


def init_of(folder: Path) -> str | None:
    """The checkpoint a run was fine-tuned from, as its config.json's training metadata records it."""
    return json.loads((folder / "config.json").read_text())["metadata"]["training"]["config"]["init"]


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    return tiny_dataset(tmp_path_factory)


@pytest.fixture(scope="module")
def trained(tmp_path_factory, dataset) -> dict[str, Path]:
    """One tiny scorer per loss, trained 2 epochs on the phantom dataset."""
    runs = {}
    for loss in ("rps", "regression_rank"):
        out = tmp_path_factory.mktemp(f"scorer_{loss}")
        result = train_scorer(dataset, out, tiny_cfg(loss=loss), progress=False)
        assert result.epochs_run == 2 and result.n_train == 21
        runs[loss] = out
    return runs


@pytest.fixture(scope="module")
def abdomen_slices():
    volume = load_image(str(SAMPLES / "abdomen_ct_dicom"))
    return [volume.slice(i) for i in (2, 9, 16)]


@pytest.mark.slow
@pytest.mark.parametrize("loss, head", [("rps", "ordinal"), ("regression_rank", "regression")])
def test_each_loss_gives_a_checkpoint_that_scores_real_dicom_slices(trained, dataset, abdomen_slices, loss, head):
    folder = trained[loss]
    saved = json.loads((folder / "config.json").read_text())
    assert saved["arch"] == "medqm_i" and saved["config"]["output_mode"] == head
    training = saved["metadata"]["training"]
    assert training["epochs_run"] == 2 and 0 <= training["best_epoch"] < 2
    assert training["config"] == json.loads((folder / "train_config.json").read_text())
    assert training["config"]["loss"] == loss
    assert -1 <= training["best_val"]["plcc"] <= 1 and training["seconds"] > 0
    assert (training["n_train"], training["n_val"], training["data"]) == (21, 21, str(dataset))  # val_split "train"
    assert [json.loads(line)["epoch"] for line in (folder / "train_log.jsonl").read_text().splitlines()] == [0, 1]

    out = models.load(folder).predict(abdomen_slices)  # 512 x 512 native slices into a 64 px model
    assert out.overall.shape == (3,) and np.all((out.overall >= 0) & (out.overall <= 4))
    assert set(out.aspects) == set(ASPECTS) and all(np.all((v >= 0) & (v <= 4)) for v in out.aspects.values())
    assert out.std is not None and np.all(np.isfinite(out.std)) and np.all(out.std > 0)
    # the std goes through the map's slope and the fitted std scale, stored beside the map
    scale = saved["config"]["std_scale"]
    assert scale > 0 and saved["metadata"]["training"]["overall_calibration"]["std_scale"] == scale
    model = models.load(folder).model
    raw = model.predict(abdomen_slices, raw=True)
    _, slope_std = apply_score_map(raw.overall, model.config.overall_calibration, raw.std)
    assert np.allclose(out.std, slope_std * scale)


def test_augmentation_is_seeded_and_can_turn_a_dicom_slice_into_its_png_export(abdomen_slices):
    image = abdomen_slices[0]
    cfg = tiny_cfg(affine_p=1.0, png_export_p=1.0)
    a = augment(image, cfg, np.random.default_rng(5))
    b = augment(image, cfg, np.random.default_rng(5))
    np.testing.assert_array_equal(a.hu, b.hu)
    assert a.display_window is not None and a.display_window.name in cfg.export_windows
    assert a.hu.min() >= a.display_window.low_hu - 1e-3 and a.hu.max() <= a.display_window.high_hu + 1e-3
    # without resampling or jitter only the lossless flips and quarter turns remain: the same pixels, moved
    plain = augment(image, tiny_cfg(affine_p=0.0, png_export_p=0.0, level_jitter_hu=0.0, width_jitter=0.0),
                    np.random.default_rng(1))
    np.testing.assert_array_equal(np.sort(plain.hu, axis=None), np.sort(image.hu, axis=None))
    assert plain.display_window is None


@pytest.mark.slow
@pytest.mark.parametrize("ema_decay", [0.0, 0.9])
def test_interrupted_training_resumes_to_the_same_weights(tmp_path, dataset, monkeypatch, ema_decay):
    cfg = tiny_cfg(epochs=3, ema_decay=ema_decay)
    train_scorer(dataset, tmp_path / "straight", cfg, progress=False)
    real_save = common.save_state

    def save_then_crash(out, state):
        real_save(out, state)
        if state["epoch"] == 1:
            raise KeyboardInterrupt  # the user presses Ctrl-C after epoch 1 was saved

    monkeypatch.setattr(common, "save_state", save_then_crash)
    with pytest.raises(KeyboardInterrupt):
        train_scorer(dataset, tmp_path / "resumed", cfg, progress=False)
    monkeypatch.undo()
    assert train_scorer(dataset, tmp_path / "resumed", cfg, progress=False).epochs_run == 3
    a = torch.load(tmp_path / "straight" / "training_state.pt", weights_only=False)["model"]
    b = torch.load(tmp_path / "resumed" / "training_state.pt", weights_only=False)["model"]
    for name in a:
        torch.testing.assert_close(a[name], b[name], rtol=0, atol=0)
    if ema_decay:
        a, b = (torch.load(tmp_path / run / "training_state.pt", weights_only=False)["average"]
                for run in ("straight", "resumed"))
        assert a["updates"] == b["updates"] == 3 * 3  # 21 rows in batches of 8: 3 steps per epoch
        for name in a["model"]:
            torch.testing.assert_close(a["model"][name], b["model"][name], rtol=0, atol=0)


@pytest.mark.slow
def test_with_a_weight_average_the_checkpoint_keeps_the_average(tmp_path, dataset):
    out = tmp_path / "ema"
    train_scorer(dataset, out, tiny_cfg(epochs=1, ema_decay=0.5), progress=False)  # one epoch: it is the best
    state = torch.load(out / "training_state.pt", weights_only=False)
    kept = models.load(out).model.state_dict()
    averaged, raw = state["average"]["model"], state["model"]
    assert any(not torch.equal(raw[n], averaged[n]) for n in raw if raw[n].is_floating_point())
    for name in kept:  # the checkpoint holds the average, not the last step's weights
        torch.testing.assert_close(kept[name], averaged[name], rtol=0, atol=0, msg=name)
    assert json.loads((out / "config.json").read_text())["metadata"]["training"]["config"]["ema_decay"] == 0.5
    with pytest.raises(InvalidParameterError, match="ema_decay"):
        tiny_cfg(ema_decay=1.0)


@pytest.mark.slow
def test_init_fine_tunes_from_the_checkpoint_weights(tmp_path, dataset, trained):
    start = models.load(trained["rps"]).model
    # a vanishing learning rate: after one epoch the weights are still the checkpoint's, not a fresh init
    cfg = tiny_cfg(epochs=1, lr=1e-9, min_lr=1e-9, init=str(trained["rps"]))
    result = train_scorer(dataset, tmp_path / "tuned", cfg, progress=False)
    assert init_of(tmp_path / "tuned") == str(trained["rps"])
    tuned = models.load(result.out).model
    for (name, p), q in zip(start.named_parameters(), tuned.parameters(), strict=True):
        torch.testing.assert_close(p, q, atol=1e-6, rtol=0, msg=name)

    with pytest.raises(InvalidParameterError, match="--loss rps"):
        train_scorer(dataset, tmp_path / "wrong_head",
                     tiny_cfg(epochs=1, loss="regression_rank", init=str(trained["rps"])), progress=False)


@pytest.mark.slow
def test_fine_tuning_from_the_command_line(tmp_path, dataset, trained):
    # a user fine-tunes a trained checkpoint on their own scored images (here: the same dataset)
    config = tmp_path / "tiny_scorer.json"
    config.write_text(json.dumps({k: v for k, v in TINY.items() if k != "epochs"}))
    r = subprocess.run([VLIQA, "train", "scorer", "--data", str(dataset), "--out", str(tmp_path / "tuned"), "--config",
                        str(config), "--epochs", "1", "--loss", "regression_rank", "--seed", "3", "--init",
                        str(trained["regression_rank"])], capture_output=True, text=True, timeout=180,
                       env={"COLUMNS": "300", "PATH": "/usr/bin:/bin", "HOME": str(Path.home())})
    assert r.returncode == 0, r.stderr
    assert f"scorer trained (regression_rank, fine-tuned from {trained['regression_rank']})" in r.stdout
    assert "PLCC" in r.stdout and init_of(tmp_path / "tuned") == str(trained["regression_rank"])
    assert models.load(tmp_path / "tuned").config.output_mode == "regression"
    saved = json.loads((tmp_path / "tuned" / "train_config.json").read_text())
    assert saved["seed"] == 3 and saved["epochs"] == 1 and saved["init"] == str(trained["regression_rank"])


@pytest.mark.slow
def test_fine_tuning_on_a_csv_of_your_own_scores_is_one_command(tmp_path, abdomen_series, trained):
    # a reader scored six real slices: four DICOM files and two PNG exports, paths relative to the CSV
    files = sorted(p for p in abdomen_series.iterdir() if p.name.startswith("CT."))[:6]
    lines = ["path,score,noise"]
    for i, f in enumerate(files):
        if i >= 4:
            png = tmp_path / f"export_{i}.png"
            save_preview_png(vliqa.load(f), png, window="40,400")
            lines.append(f"{png.name},{1.5 + 0.4 * i:.1f},")
        else:
            lines.append(f"{f},{1.0 + 0.5 * i:.1f},{2.0}")
    csv = tmp_path / "my_scores.csv"
    csv.write_text("\n".join(lines) + "\n")
    config = tmp_path / "tiny_scorer.json"
    config.write_text(json.dumps({k: v for k, v in TINY.items() if k not in ("epochs", "val_split")}))
    r = subprocess.run([VLIQA, "train", "scorer", "--data", str(csv), "--out", str(tmp_path / "mine"), "--config",
                        str(config), "--epochs", "1", "--init", str(trained["rps"])], capture_output=True, text=True,
                       timeout=180, env={"COLUMNS": "300", "PATH": "/usr/bin:/bin", "HOME": str(Path.home())})
    assert r.returncode == 0, r.stderr
    rows = pq.read_table(tmp_path / "mine" / "data" / "manifest.parquet").to_pylist()
    assert [r["split"] for r in rows].count("val") == 3 and len(rows) == 6
    assert rows[0]["label_source"] == "human" and rows[0]["noise"] == 2.0 and rows[5]["noise"] == rows[5]["overall"]
    # the PNG exports stay display exports (their clipped HU are unknown; read with the default W350/L40, as no
    # window was given), the DICOM slices stay HU
    exported = vliqa.load(tmp_path / "mine" / "data" / rows[5]["path"])
    assert exported.display_window is not None and exported.display_window.width == 350
    assert vliqa.load(tmp_path / "mine" / "data" / rows[0]["path"]).display_window is None
    assert init_of(tmp_path / "mine") == str(trained["rps"])


def test_a_score_file_too_small_or_naming_a_series_is_refused(tmp_path, abdomen_series):
    from vliqa.data.scored import dataset_from_scores

    csv = tmp_path / "few.csv"
    csv.write_text("path,score\n" + "".join(f"{p},2\n" for p in sorted(abdomen_series.iterdir())[:3]))
    with pytest.raises(DatasetError, match="at least 5"):
        dataset_from_scores(csv, tmp_path / "few")
    csv.write_text("path,score\n" + f"{abdomen_series},2\n" * 6)
    with pytest.raises(DatasetError, match="series of 20 slices"):
        dataset_from_scores(csv, tmp_path / "series")
    assert not (tmp_path / "series" / "manifest.parquet").exists()  # nothing half-written


@pytest.mark.slow
def test_recalibrating_replaces_the_score_map_paragraph_and_keeps_what_follows(tmp_path, dataset, trained):
    import shutil

    from vliqa.train.scorer import calibrate_checkpoint

    folder = tmp_path / "shipped"
    shutil.copytree(trained["rps"], folder)
    card = folder / "MODEL_CARD.md"
    card.write_text(card.read_text().rstrip() + "\n\n**Shipped as** `default`.\n")
    calibrate_checkpoint(folder, dataset, "train")
    text = card.read_text()
    assert text.count("**Score map.**") == 1 and text.rstrip().endswith("**Shipped as** `default`.")
    assert text.index("**Score map.**") < text.index("**Shipped as**")


@pytest.mark.slow
def test_a_run_saved_before_a_config_key_existed_still_resumes(tmp_path, dataset):
    out = tmp_path / "old"
    train_scorer(dataset, out, tiny_cfg(epochs=1), progress=False)
    saved = json.loads((out / "train_config.json").read_text())
    del saved["ema_decay"]  # written by a vliqa that had no weight average
    (out / "train_config.json").write_text(json.dumps(saved))
    assert train_scorer(dataset, out, tiny_cfg(epochs=2), progress=False).epochs_run == 2
    with pytest.raises(DatasetError, match="ema_decay"):  # but a run with another value is another run
        train_scorer(dataset, out, tiny_cfg(epochs=3, ema_decay=0.9), progress=False)


@pytest.mark.slow
def test_early_stopping_counts_only_the_epochs_that_ran(tmp_path, dataset):
    # a vanishing learning rate: validation cannot keep improving, so patience 1 stops the run early
    cfg = tiny_cfg(epochs=6, patience=1, lr=1e-9, min_lr=1e-9)
    result = train_scorer(dataset, tmp_path / "stop", cfg, progress=False)
    logged = (tmp_path / "stop" / "train_log.jsonl").read_text().splitlines()
    assert result.stopped_early and result.epochs_run == len(logged) < 6
    saved = json.loads((tmp_path / "stop" / "config.json").read_text())["metadata"]["training"]
    assert saved["epochs_run"] == len(logged)
