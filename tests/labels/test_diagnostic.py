"""MedQM-D diagnostic labels as a user meets them: shipped lesion net, custom models, sigmoid fit, relabelling."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from vliqa.core import ASPECTS
from vliqa.data.build import BuildConfig, build_dataset
from vliqa.data.label import apply_human_scores, relabel_diagnostic
from vliqa.data.manifest import read_manifest
from vliqa.errors import UnknownNameError
from vliqa.labels.diagnostic import (
    DiagnosticModel,
    DiagnosticTruth,
    FunctionDiagnosticModel,
    SigmoidMapping,
    diagnostic_labels,
    fit_sigmoid,
    get_diagnostic_model,
    list_diagnostic_models,
    register_diagnostic_model,
)
from vliqa.labels.diagnostic_models import SHIPPED_NAME, LesionNetModel, load_lesion_net_model
from vliqa.models import SHIPPED_DIR as MODELS_DIR
from vliqa.phantom import make_phantom
from vliqa.simulate import get_degradation

LOW_DOSE = get_degradation("low_dose")
SHIPPED_DIR = MODELS_DIR / SHIPPED_NAME


def _phantom_pair(seed: int, size_px: int = 256, region: str = "abdomen"):
    ph = make_phantom(region, size_px=size_px, seed=seed, n_lesions=3)
    reference = LOW_DOSE(ph.image, seed=seed, dose_fraction=1.0)
    return ph, reference


def test_shipped_checkpoint_loads_offline_with_its_mapping():
    model = get_diagnostic_model("lesion_net")
    assert isinstance(model, LesionNetModel) and isinstance(model, DiagnosticModel)
    assert isinstance(model.mapping, SigmoidMapping) and model.mapping.b > 0
    sizes = {p.name: p.stat().st_size for p in SHIPPED_DIR.iterdir()}
    assert {"model.safetensors", "config.json", "MODEL_CARD.md", "sigmoid_mapping.json"} <= set(sizes)
    assert sum(sizes.values()) < 5 * 2**20
    config = json.loads((SHIPPED_DIR / "config.json").read_text())
    assert config["arch"] == "lesion_unet" and config["metadata"]["training"]["n_params"] < 200_000
    assert "lesion_net" in list_diagnostic_models()
    # The same checkpoint, found by folder path.
    assert isinstance(get_diagnostic_model(str(SHIPPED_DIR)), LesionNetModel)


def test_lesion_net_finds_phantom_lesions_at_full_dose():
    model = get_diagnostic_model("lesion_net")
    inside, outside = [], []
    for region in ("abdomen", "chest", "head"):
        ph, reference = _phantom_pair(seed=11, region=region)
        prob = model.predict_lesions(reference)
        assert prob.shape == reference.hu.shape
        inside.append(prob[ph.lesion_mask].mean())
        outside.append(prob[~ph.lesion_mask & (ph.labels > 0)].mean())
    assert np.mean(inside) > 0.3 and np.mean(outside) < 0.05, (inside, outside)


def test_reference_against_itself_scores_about_4():
    ph, reference = _phantom_pair(seed=5)
    labels = diagnostic_labels(reference, reference, truth=DiagnosticTruth.from_phantom(ph))
    assert labels.source == "diagnostic"
    assert labels.measures["diagnostic_loss"] == pytest.approx(0.0, abs=1e-9)
    assert labels.overall > 3.95
    assert set(labels.aspects) == set(ASPECTS)


@pytest.mark.slow
def test_diagnostic_score_falls_as_dose_falls():
    # Head phantoms: their faint (4-15 HU) lesions are what dose takes away first (see MODEL_CARD.md).
    model = get_diagnostic_model("lesion_net")
    doses = (0.5, 0.12, 0.03)
    scores = np.zeros((3, len(doses)))
    for i, seed in enumerate((1, 2, 3)):
        ph, reference = _phantom_pair(seed=seed, region="head")
        truth = DiagnosticTruth.from_phantom(ph)
        for j, dose in enumerate(doses):
            degraded = LOW_DOSE(reference, seed=100 + seed, dose_fraction=dose)
            scores[i, j] = diagnostic_labels(degraded, reference, model=model, truth=truth,
                                             aspects=dict.fromkeys(ASPECTS, 4.0)).overall
    mean = scores.mean(axis=0)
    assert mean[0] > mean[1] > mean[2], scores
    assert mean[0] - mean[2] > 1.0, scores


@pytest.mark.slow
def test_dose_costs_faint_head_lesions_but_not_high_contrast_lung_nodules():
    # Task-based quality: a 3 % dose hides 4-15 HU head lesions, not 200-900 HU lung nodules.
    model = get_diagnostic_model("lesion_net")
    mean = {}
    for region in ("head", "chest"):
        scores = []
        for seed in (1, 2, 3):
            ph, reference = _phantom_pair(seed=seed, region=region)
            degraded = LOW_DOSE(reference, seed=100 + seed, dose_fraction=0.03)
            scores.append(diagnostic_labels(degraded, reference, model=model, truth=DiagnosticTruth.from_phantom(ph),
                                            aspects=dict.fromkeys(ASPECTS, 4.0)).overall)
        mean[region] = float(np.mean(scores))
    assert mean["chest"] > 3.0 and mean["chest"] > mean["head"] + 1.5, mean


def test_without_truth_the_reference_output_is_the_pseudo_truth():
    _, reference = _phantom_pair(seed=7, region="chest")
    model = get_diagnostic_model("lesion_net")
    assert model.loss(reference, reference) == pytest.approx(0.0, abs=1e-9)
    noisy = LOW_DOSE(reference, seed=3, dose_fraction=0.03)
    assert model.loss(noisy, reference) > 0.0


def test_a_user_function_is_a_diagnostic_model():
    def mean_abs_error(degraded_hu: np.ndarray, reference_hu: np.ndarray) -> float:
        return float(np.mean(np.abs(degraded_hu - reference_hu)))

    register_diagnostic_model("mean_abs_error_test")(lambda: FunctionDiagnosticModel(mean_abs_error))
    model = get_diagnostic_model("mean_abs_error_test")
    assert model.name == "mean_abs_error"
    _, reference = _phantom_pair(seed=4, size_px=128)
    mapping = SigmoidMapping(a=10.0, b=3.0)
    same = diagnostic_labels(reference, reference, model=model, mapping=mapping)
    worse = diagnostic_labels(LOW_DOSE(reference, seed=1, dose_fraction=0.05), reference, model=model, mapping=mapping)
    assert same.overall == pytest.approx(4.0)
    assert worse.overall < same.overall
    assert worse.measures["diagnostic_loss"] > 1.0


def test_sigmoid_fit_recovers_known_parameters():
    rng = np.random.default_rng(0)
    truth = SigmoidMapping(a=0.3, b=0.07)
    losses = rng.uniform(-0.05, 0.8, 300)
    targets = truth.score(losses) + rng.normal(0, 0.05, losses.size)
    fit = fit_sigmoid(losses, targets)
    assert fit.a == pytest.approx(0.3, abs=0.02)
    assert fit.b == pytest.approx(0.07, abs=0.01)
    assert fit.score(0.0) == pytest.approx(4.0) and fit.score(5.0) < 0.01


def test_mapping_round_trips_through_json(tmp_path):
    mapping = SigmoidMapping(a=0.2, b=0.05, fitted_to="test", n_samples=3)
    mapping.to_json(tmp_path / "m.json")
    assert SigmoidMapping.from_json(tmp_path / "m.json") == mapping


def test_unknown_model_name_says_what_exists():
    with pytest.raises(UnknownNameError, match="lesion_net"):
        get_diagnostic_model("no_such_model")


@pytest.fixture(scope="module")
def tiny_dataset(tmp_path_factory) -> Path:
    from vliqa.data.sources import assign_splits, phantom_sources

    out = tmp_path_factory.mktemp("diag_ds")
    sources = assign_splits(phantom_sources(4, seed=2), seed=2)
    build_dataset(sources, out, BuildConfig(n=8, seed=2, source="phantom", phantom_size_px=128), workers=1,
                  progress=False)
    return out


@pytest.mark.slow
def test_relabel_diagnostic_writes_diagnostic_labels_and_leaves_human_rows(tiny_dataset):
    before = read_manifest(tiny_dataset).to_pylist()
    (tiny_dataset / "scores.csv").write_text(f"path,score\n{before[0]['path']},1\n")
    apply_human_scores(tiny_dataset, tiny_dataset / "scores.csv")
    n = relabel_diagnostic(tiny_dataset, progress=False)
    after = read_manifest(tiny_dataset).to_pylist()
    assert n == len(before) - 1
    assert after[0]["label_source"] == "human" and after[0]["overall"] == 1.0
    for old, new in zip(before[1:], after[1:], strict=True):
        assert new["label_source"] == "diagnostic"
        measures = json.loads(new["measures"])
        assert np.isfinite(measures["diagnostic_loss"])
        assert measures["physics_overall"] == pytest.approx(old["overall"])
        assert 0.0 <= new["overall"] <= 4.0
        assert all(new[a] == old[a] for a in ASPECTS)  # aspects stay physics


@pytest.mark.slow
def test_recalibration_refits_only_the_mapping(tmp_path, capsys):
    import hashlib
    import json
    import shutil

    from vliqa.labels.diagnostic_models import MAPPING_FILE
    from vliqa.train.lesion_net import main

    folder = tmp_path / "lesion_net"
    shutil.copytree(SHIPPED_DIR, folder)
    weights = hashlib.sha256((folder / "model.safetensors").read_bytes()).hexdigest()
    shipped = json.loads((folder / MAPPING_FILE).read_text())
    main(["--out", str(folder), "--recalibrate", "--calibration", "8"])  # python -m vliqa.train.lesion_net
    assert "mapping a=" in capsys.readouterr().out
    mapping = json.loads((folder / MAPPING_FILE).read_text())
    assert mapping["n_samples"] == 8 and "8 phantom samples" in mapping["fitted_to"]
    assert (mapping["a"], mapping["b"]) != (shipped["a"], shipped["b"])  # refitted to the 8, not the shipped 90
    assert json.loads((folder / "config.json").read_text())["metadata"]["training"]["n_calibration"] == 8
    assert hashlib.sha256((folder / "model.safetensors").read_bytes()).hexdigest() == weights
    assert load_lesion_net_model(folder).mapping.a == mapping["a"]
