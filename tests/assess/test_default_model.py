"""The shipped default MedQM-I: loads offline by name, is small, documented, and behaves on real CT.

These are behaviour checks on real files with the real checkpoint (the accuracy figures are in
bench/scorer_bench.py and BENCHMARKS.md): a PNG export scores like its DICOM, less dose scores lower,
and the Python API, `vliqa.load` and the CLI all reach the same model.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import vliqa
from vliqa import models
from vliqa.core import CTImage
from vliqa.io.write import save_preview_png
from vliqa.models.scorer import MedQMScorer
from vliqa.simulate import get_degradation

DEFAULT = Path(models.__file__).resolve().parent / "medqm"
REPO = Path(__file__).resolve().parents[2]
VLIQA = str(Path(sys.executable).with_name("vliqa"))


@pytest.fixture(scope="module")
def default():
    return vliqa.load("medqm")


@pytest.fixture(scope="module")
def abdomen_slice(abdomen_series: Path) -> CTImage:
    return vliqa.load(abdomen_series).slice(10)


def test_default_is_shipped_small_with_a_card_and_loads_by_name(default):
    assert isinstance(default.model, MedQMScorer) and default.name == "medqm"
    assert "medqm" in models.shipped_models()
    size = sum(f.stat().st_size for f in DEFAULT.iterdir())
    assert size <= 25 * 1024 * 1024
    assert (DEFAULT / "MODEL_CARD.md").stat().st_size > 0
    saved = json.loads((DEFAULT / "config.json").read_text())
    assert saved["arch"] == "medqm_i"
    # how it was made (`make dataset && make train-scorer`) is in the structured metadata: data, recipe, figures
    training = saved["metadata"]["training"]
    assert training["data"] == "data/ctiqa-default" and training["config"]["init"] is None
    assert training["config"] == json.loads((DEFAULT / "train_config.json").read_text())
    recipe = json.loads((REPO / "configs" / "scorer_default.json").read_text())
    assert {k: training["config"][k] for k in recipe} == recipe
    # the architecture trained is the one shipped; only the score map and its std scale were fitted afterwards
    fitted = ("overall_calibration", "std_scale")
    trained = {k: v for k, v in training["config"]["model"].items() if k not in fitted}
    assert trained == {k: v for k, v in saved["config"].items() if k not in fitted}
    assert saved["config"]["std_scale"] == training["overall_calibration"]["std_scale"]
    assert 0 < training["best_val"]["plcc"] <= 1 and training["seconds"] > 0
    assert 0 <= training["best_epoch"] < training["epochs_run"] and training["n_train"] > 0 and training["n_val"] > 0


def test_dicom_slice_and_its_png_export_score_within_0_2(default, abdomen_slice, tmp_path):
    png = tmp_path / "export.png"
    save_preview_png(abdomen_slice, png, window="40,400")
    scores = default.predict([abdomen_slice, vliqa.load(png, window="40,400")]).overall
    assert abs(scores[0] - scores[1]) <= 0.2, scores


@pytest.mark.slow
def test_less_dose_scores_lower_on_a_real_slice(default, abdomen_slice):
    low_dose = get_degradation("low_dose")
    images = [abdomen_slice] + [low_dose(abdomen_slice, dose_fraction=d, seed=1) for d in (0.25, 0.05)]
    scores = default.predict(images).overall
    assert scores[0] > scores[1] > scores[2], scores


@pytest.mark.slow
def test_python_api_and_cli_use_the_default_reader_model(abdomen_series, tmp_path):
    files = sorted(p for p in abdomen_series.iterdir() if p.name.startswith("CT."))
    result = vliqa.assess(files[0], measures=False)
    assert result.model == "reader" and 0.0 <= result.score <= 4.0 and not result.out_of_distribution
    r = subprocess.run([VLIQA, "assess", str(files[0]), "--format", "json", "--no-measures"], capture_output=True,
                       text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    (only,) = json.loads(r.stdout)  # one input: a list of one assessment
    assert only["score"] == pytest.approx(result.score, abs=1e-5)


def test_blank_frame_is_flagged_not_scored_confidently(default):
    result = vliqa.assess(np.full((512, 512), 40.0, dtype=np.float32), model=default, measures=False)
    assert result.out_of_distribution and result.ood_reason
    assert result.uncertainty >= 1.0
