"""CNR, lesion CNR and full-reference metrics."""

from __future__ import annotations

import numpy as np
import pytest
from ct_synthetic import water_disc

from vliqa.core import CTImage
from vliqa.ct.reference import cnr, lesion_cnr, reference_metrics
from vliqa.errors import InvalidParameterError


def lesion_image(contrast_hu: float, noise_hu: float) -> tuple[CTImage, np.ndarray]:
    yy, xx = np.mgrid[:256, :256]
    lesion = np.hypot(yy - 128, xx - 128) < 15
    hu = 40.0 + contrast_hu * lesion + np.random.default_rng(0).normal(0, noise_hu, (256, 256))
    return CTImage(hu=hu, pixel_spacing_mm=(0.7, 0.7)), lesion


def test_cnr_is_contrast_over_background_noise() -> None:
    image, lesion = lesion_image(30.0, 10.0)
    background = np.zeros_like(lesion)
    background[:60, :60] = True
    assert cnr(image, lesion, background) == pytest.approx(3.0, rel=0.1)


def test_lesion_cnr_uses_an_annulus_and_falls_with_noise() -> None:
    quiet, lesion = lesion_image(30.0, 5.0)
    noisy, _ = lesion_image(30.0, 15.0)
    assert lesion_cnr(quiet, lesion, ring_mm=5.0) == pytest.approx(6.0, rel=0.15)
    assert lesion_cnr(noisy, lesion) < lesion_cnr(quiet, lesion)


def test_masks_of_the_wrong_size_give_a_clear_error() -> None:
    image, _ = lesion_image(30.0, 5.0)
    with pytest.raises(InvalidParameterError, match="shape"):
        cnr(image, np.ones((10, 10), bool), np.ones((10, 10), bool))


def test_reference_metrics_of_noise_added_to_a_clean_slice() -> None:
    clean = water_disc(0.0)
    noisy = clean.replace(hu=clean.hu + np.random.default_rng(1).normal(0, 20.0, clean.shape))
    same = reference_metrics(clean, clean)
    assert same.rmse_hu == 0 and same.ssim == pytest.approx(1.0) and same.psnr_db == float("inf")
    m = reference_metrics(noisy, clean)
    assert m.rmse_hu == pytest.approx(20.0, rel=0.05)
    assert m.psnr_db == pytest.approx(20 * np.log10(1000.0 / m.rmse_hu), rel=1e-6)
    assert 0 < m.ssim < 0.9
    windowed = reference_metrics(noisy, clean, window="abdomen")
    assert windowed.data_range_hu == 400.0 and windowed.window["name"] == "abdomen"
    with pytest.raises(InvalidParameterError, match="differ in size"):
        reference_metrics(noisy, CTImage(hu=np.zeros((64, 64))))
