"""Edge MTF: recovers the analytic MTF50 of a Gaussian blur, and runs on real slices."""

from __future__ import annotations

import numpy as np
import pytest
from ct_synthetic import blurred_disc

from vliqa.core import CTImage
from vliqa.ct.mtf import mtf_edge
from vliqa.io import load


def gaussian_mtf50_lp_per_cm(sigma_mm: float) -> float:
    return 10.0 * np.sqrt(2 * np.log(2)) / (2 * np.pi * sigma_mm)


@pytest.mark.parametrize("sigma_mm", [0.5, 1.0])
def test_mtf50_of_a_gaussian_blurred_disc_matches_the_analytic_value(sigma_mm: float) -> None:
    result = mtf_edge(blurred_disc(sigma_mm))
    assert result.mtf50_lp_per_cm == pytest.approx(gaussian_mtf50_lp_per_cm(sigma_mm), rel=0.15)
    # 10-90 % width of a Gaussian edge is 2.563 sigma.
    assert result.edge_width_mm == pytest.approx(2.563 * sigma_mm, rel=0.15)
    assert result.n_segments >= 3
    assert result.mtf[0] == pytest.approx(1.0)


def test_blurrier_edge_gives_lower_mtf50() -> None:
    sharp = mtf_edge(blurred_disc(0.4)).mtf50_lp_per_cm
    blurry = mtf_edge(blurred_disc(0.9)).mtf50_lp_per_cm
    assert sharp > blurry * 1.5


def test_image_without_edges_gives_nan_and_says_why() -> None:
    flat = CTImage(hu=np.random.default_rng(0).normal(40, 10, (256, 256)))
    result = mtf_edge(flat)
    assert np.isnan(result.mtf50_lp_per_cm) and "no usable edge" in result.method


def test_mtf_on_the_real_abdomen_slice(abdomen_series) -> None:
    result = mtf_edge(load(abdomen_series).slice(10))
    # Measured 2.2-2.7 lp/cm over the series at the skin/air edge (Br38f).
    assert 1.8 < result.mtf50_lp_per_cm < 3.5
    assert result.mtf10_lp_per_cm > result.mtf50_lp_per_cm
    assert result.contrast_hu > 500
