"""Heatmaps and volume plots are written as valid PNG files and say which map they show."""

from __future__ import annotations

import numpy as np
from PIL import Image

from vliqa.assessment import Assessor, heatmap_for, local_noise_map, save_heatmap_png, save_volume_plot


def _png(path) -> np.ndarray:
    with Image.open(path) as im:
        assert im.format == "PNG"
        return np.asarray(im.convert("RGB"))


def test_medqm_heatmap_is_model_attention_laid_over_the_slice(tiny_checkpoint, abdomen_volume, tmp_path):
    assessor = Assessor(tiny_checkpoint, measures=False)
    image = abdomen_volume.slice(0)
    result = assessor.assess(image)
    heat = heatmap_for(assessor.predictor, image, result.aspects)
    assert heat.values.shape == image.shape
    assert heat.kind.startswith("model attention")
    assert 0.0 <= heat.values.min() and heat.values.max() <= 1.0
    out = save_heatmap_png(image, heat, tmp_path / "sub" / "heat.png", assessment=result)
    pixels = _png(out)
    assert pixels.shape[0] > 300 and pixels.std() > 10  # a picture, not a blank canvas
    assert not list((tmp_path / "sub").glob(".*tmp*"))  # atomic write left no temporary file


def test_predictor_without_maps_gets_the_measured_noise_map(abdomen_volume):
    image = abdomen_volume.slice(1)
    heat = heatmap_for(object(), image, {})
    assert heat.kind.startswith("measured local noise sigma")
    # noise is measured inside soft tissue only: the air outside the body stays 0
    assert heat.values[:20, :20].max() == 0.0
    assert heat.values.max() > 0.5


def test_noise_map_is_higher_where_noise_was_added(abdomen_volume):
    image = abdomen_volume.slice(0)
    noisy = image.hu.copy()
    noisy[256:, :] += np.random.default_rng(0).normal(0, 60, noisy[256:, :].shape).astype(np.float32)
    heat = local_noise_map(image.with_step("test_noise", {}, noisy))
    body = heat.values > 0
    assert heat.values[256:][body[256:]].mean() > 2 * heat.values[:256][body[:256]].mean()


def test_volume_plot_png_is_written(tiny_checkpoint, abdomen_volume, tmp_path):
    result = Assessor(tiny_checkpoint, measures=False).assess(abdomen_volume)
    pixels = _png(save_volume_plot(result, tmp_path / "plot.png"))
    assert pixels.shape == (360, 800, 3)
