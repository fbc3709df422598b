"""Baselines are predictors in the model registry: `vliqa.models.load("brisque")` scores like a model."""

from __future__ import annotations

import numpy as np
import pytest

import vliqa
from vliqa import models
from vliqa.core import CTImage
from vliqa.errors import UnknownNameError
from vliqa.metrics.baselines import BaselinePredictor, list_baselines, score_images


def _slices() -> list[CTImage]:
    rng = np.random.default_rng(0)
    hu = np.full((256, 256), -1000.0, np.float32)
    hu[32:224, 32:224] = 40.0  # NIQE needs more than 192 px a side
    return [CTImage(hu=hu + rng.normal(0, sigma, hu.shape).astype(np.float32), pixel_spacing_mm=(0.7, 0.7))
            for sigma in (5.0, 40.0)]


@pytest.mark.parametrize("name", [b.name for b in list_baselines()])
def test_every_baseline_name_loads_as_a_predictor(name):
    predictor = models.load(name)
    assert isinstance(predictor, BaselinePredictor) and isinstance(predictor, models.Predictor)
    assert predictor.name == name and models.scale_of(predictor) == "own"
    images = _slices()
    out = predictor.predict(images)
    assert out.aspects is None and out.std is None and out.overall.shape == (2,)
    sign = 1.0 if predictor.baseline.higher_is_better else -1.0
    np.testing.assert_allclose(out.overall, sign * score_images(name, images))


def test_baseline_names_are_case_insensitive_and_listed_in_unknown_name_errors():
    assert models.load("BRISQUE").name == "brisque"
    assert vliqa.load_model("niqe").name == "niqe" and vliqa.load("niqe").name == "niqe"
    with pytest.raises(UnknownNameError, match=r"baselines: .*brisque"):
        models.load("brisk")


def test_checkpoints_stay_on_the_quality_scale():
    assert models.scale_of(object()) == models.QUALITY_SCALE == "0-4"
