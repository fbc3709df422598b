"""Noise sigma and homogeneous ROIs: unbiased on known noise, sensible on real anatomy."""

from __future__ import annotations

import numpy as np
import pytest
from ct_synthetic import water_disc

from vliqa.core import CTImage
from vliqa.ct.noise import find_homogeneous_rois, immerkaer_sigma_hu, noise_sigma_hu
from vliqa.io import load


@pytest.mark.parametrize("kind", ["white", "gauss1.0", "gauss1.5", "ramp"])
def test_noise_sigma_is_unbiased_on_a_water_disc_with_white_or_correlated_noise(kind: str) -> None:
    estimate = noise_sigma_hu(water_disc(20.0, kind, seed=3))
    assert estimate.sigma_hu == pytest.approx(20.0, rel=0.10)
    assert estimate.n_rois >= 3
    assert "fallback" not in estimate.method
    assert "fluid" in estimate.per_tissue  # water; strongly correlated noise can push a few window means past 15 HU


def test_noise_sigma_scales_with_the_noise_level() -> None:
    low = noise_sigma_hu(water_disc(8.0, "ramp", seed=1)).sigma_hu
    high = noise_sigma_hu(water_disc(32.0, "ramp", seed=1)).sigma_hu
    assert high / low == pytest.approx(4.0, rel=0.1)


def test_rois_sit_inside_the_disc_and_do_not_overlap() -> None:
    image = water_disc(20.0)
    rois = find_homogeneous_rois(image, roi_size_mm=8.0, max_rois=16)
    assert len(rois) == 16
    for roi in rois:
        assert roi.size_px == 12  # 8 mm / 0.7 mm rounded to an even side
        assert image.hu[roi.slices].min() > -200  # no air
        assert abs(roi.mean_hu) < 10 and roi.tissue == "fluid"
        assert roi.to_dict()["center_rc"] == list(roi.center_rc)
    for i, a in enumerate(rois):
        for b in rois[i + 1 :]:
            assert abs(a.row - b.row) >= a.size_px or abs(a.col - b.col) >= a.size_px


def test_tiny_or_structureless_image_falls_back_to_the_global_estimator() -> None:
    rng = np.random.default_rng(0)
    air = CTImage(hu=-1000 + rng.normal(0, 5.0, (64, 64)))  # no tissue at all
    estimate = noise_sigma_hu(air)
    assert estimate.n_rois == 0 and "fallback" in estimate.method
    assert estimate.sigma_hu == pytest.approx(5.0, rel=0.1)
    assert immerkaer_sigma_hu(rng.normal(0, 7.0, (128, 128))) == pytest.approx(7.0, rel=0.1)


def test_noise_on_the_real_abdomen_slices_is_in_the_expected_range(abdomen_series) -> None:
    volume = load(abdomen_series)
    sigmas = [noise_sigma_hu(volume.slice(i)).sigma_hu for i in (0, 7, 14, 19)]
    # Br38f at CTDIvol 18.5 mGy: measured 11.9-16.7 HU over the series.
    assert all(8.0 < s < 20.0 for s in sigmas), sigmas
    rois = find_homogeneous_rois(volume.slice(7))
    assert len(rois) >= 8
    assert {roi.tissue for roi in rois} <= {"fat", "fluid", "soft tissue", "enhanced tissue"}


def test_head_slices_report_brain_noise(head_series) -> None:
    estimate = noise_sigma_hu(load(head_series / "13.dcm"))
    assert "brain" in estimate.per_tissue
    assert 3.0 < estimate.sigma_hu < 10.0
