"""Stories of evaluating a trained model beside classical baselines, on a dataset split or a reader study CSV."""

from __future__ import annotations

import json

import numpy as np
import pytest
from tiny_iqa import noisy_reader_study, tiny_checkpoint, tiny_dataset

from vliqa.errors import DatasetError, InputNotFoundError, UnknownNameError
from vliqa.metrics import agreement_report
from vliqa.metrics.baselines import list_baselines, score_images
from vliqa.metrics.evaluate import BaselinePredictor, evaluate, load_evaluation_set, resolve_predictors

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    return tiny_dataset(tmp_path_factory)


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    return tiny_checkpoint(tmp_path_factory)


@pytest.fixture(scope="module")
def evaluated(dataset, checkpoint, tmp_path_factory):
    out = tmp_path_factory.mktemp("evaluation")
    result = evaluate(dataset, [str(checkpoint), "noise_sigma", "laplacian_variance"], split="all", out_dir=out,
                      n_boot=200, seed=0)
    return result, out


@pytest.mark.slow
def test_model_and_baselines_are_scored_alike_and_written_to_json(evaluated, checkpoint):
    result, out = evaluated
    report = json.loads((out / "evaluation.json").read_text())
    assert report["kind"] == "dataset" and report["split"] == "all" and report["n"] == 24
    assert sum(report["groups"].values()) == 24
    names = list(report["predictors"])
    assert names == [checkpoint.name, "noise_sigma", "laplacian_variance"]
    for entry in report["predictors"].values():
        rep = entry["report"]
        assert rep["n"] == 24 and rep["n_boot"] == 200
        for key in ("srcc", "krcc", "plcc", "plcc_logistic", "rmse_logistic", "ldctiqac", "pairwise_accuracy", "fit"):
            assert key in rep
        assert set(rep["ci"]) == {"srcc", "plcc", "krcc", "ldctiqac"}
        assert sum(g["n"] for g in entry["by_degradation"].values()) == 24
    assert report["predictors"][checkpoint.name]["kind"] == "model"
    assert report["predictors"][checkpoint.name]["report"]["calibration"] is not None  # the model gives a std
    assert report["predictors"]["noise_sigma"]["report"]["calibration"] is None


@pytest.mark.slow
def test_figures_are_real_pngs(evaluated, checkpoint):
    result, out = evaluated
    expected = {f"scatter_{checkpoint.name}.png", "scatter_noise_sigma.png", "scatter_laplacian_variance.png",
                f"calibration_{checkpoint.name}.png", f"degradations_{checkpoint.name}.png", "evaluation.json"}
    assert {f.name for f in result.files} == expected
    assert {p.name for p in out.iterdir()} == expected  # and no temporary files left behind
    for name in expected - {"evaluation.json"}:
        assert (out / name).read_bytes()[:8] == PNG_MAGIC


@pytest.mark.slow
def test_numbers_are_agreement_report_of_sign_corrected_scores(evaluated, dataset):
    result, _ = evaluated
    eval_set = load_evaluation_set(dataset, split="all")
    raw = score_images("noise_sigma", eval_set.images)
    noise = result.get("noise_sigma")
    np.testing.assert_allclose(noise.scores, -raw)  # lower noise is better, so the sign flips
    direct = agreement_report(-raw, eval_set.targets, n_boot=200, seed=0)
    assert noise.report.srcc == pytest.approx(direct.srcc)
    assert noise.report.rmse_logistic == pytest.approx(direct.rmse_logistic)
    assert noise.report.ci["ldctiqac"].low == pytest.approx(direct.ci["ldctiqac"].low)
    assert result.best_baseline().name in ("noise_sigma", "laplacian_variance")


def test_reader_study_csv_of_exported_pngs(tmp_path):
    csv, scores = noisy_reader_study(tmp_path)
    result = evaluate(csv, ["noise_sigma", "laplacian_variance"], out_dir=tmp_path / "ev", n_boot=100)
    assert result.data.kind == "csv" and result.data.groups is None
    np.testing.assert_allclose(result.data.targets, scores)
    # readers penalised noise; the sign-corrected noise baseline must rank the slices as they did
    assert result.get("noise_sigma").report.srcc > 0.9
    written = {p.name for p in (tmp_path / "ev").iterdir()}
    assert written == {"evaluation.json", "scatter_noise_sigma.png", "scatter_laplacian_variance.png"}
    assert json.loads((tmp_path / "ev" / "evaluation.json").read_text())["kind"] == "csv"


def test_csv_naming_a_missing_image_says_which(tmp_path):
    csv, _ = noisy_reader_study(tmp_path)
    lines = csv.read_text().splitlines()
    lines[3] = "slices/not_here.png,2.0"
    csv.write_text("\n".join(lines) + "\n")
    with pytest.raises(InputNotFoundError, match="not_here.png"):
        evaluate(csv, ["noise_sigma"], n_boot=0)


def test_bad_inputs_fail_clearly(tmp_path, dataset):
    with pytest.raises(DatasetError, match="vliqa data build"):
        evaluate(tmp_path / "nowhere", ["noise_sigma"])
    with pytest.raises(DatasetError, match="no manifest.parquet"):
        evaluate(tmp_path, ["noise_sigma"])
    with pytest.raises(DatasetError, match="split 'test' has 1 row"):
        evaluate(dataset, ["noise_sigma"], split="test")
    with pytest.raises(UnknownNameError, match="laplacian_variance"):
        resolve_predictors(["sharpnes"])


def test_all_baselines_means_every_registered_one():
    predictors = resolve_predictors(["all-baselines"])
    assert [p.name for p in predictors] == [b.name for b in list_baselines()]
    assert all(isinstance(p, BaselinePredictor) for p in predictors)


def test_a_baseline_name_resolves_through_the_model_registry_with_the_window():
    from vliqa import models

    (brisque,) = resolve_predictors(["BRISQUE"], window="abdomen")
    assert isinstance(brisque, BaselinePredictor) and brisque.name == "brisque" and brisque.window == "abdomen"
    assert type(models.load("brisque")) is type(brisque)  # the same names as `vliqa assess --model`
