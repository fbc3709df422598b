"""Noise power spectrum: integral equals the variance, texture moves the frequencies."""

from __future__ import annotations

import numpy as np
import pytest
from ct_synthetic import water_disc

from vliqa.core import CTImage
from vliqa.ct.noise import find_homogeneous_rois
from vliqa.ct.nps import nps
from vliqa.errors import InvalidParameterError
from vliqa.io import load


@pytest.mark.parametrize("kind", ["white", "gauss0.7", "ramp"])
def test_nps_integral_matches_the_noise_variance(kind: str) -> None:
    result = nps(water_disc(20.0, kind, seed=2))
    assert result.variance_hu2 == pytest.approx(400.0, rel=0.10)
    assert result.n_rois >= 4
    assert result.nps_2d.shape == (result.freqs_2d_per_mm[0].size, result.freqs_2d_per_mm[1].size)
    assert result.freqs_per_mm[-1] <= 0.5 / 0.7 + 1e-9


def test_sharper_noise_has_higher_mean_frequency() -> None:
    sharp = nps(water_disc(20.0, "white")).mean_freq_per_mm
    medium = nps(water_disc(20.0, "ramp")).mean_freq_per_mm
    smooth = nps(water_disc(20.0, "gauss1.5")).mean_freq_per_mm
    assert sharp > medium > smooth


def test_ramp_filtered_noise_peaks_away_from_zero() -> None:
    result = nps(water_disc(20.0, "ramp"))
    # The simulated FBP-like texture (|f| exp(-(f/0.2 cyc/px)^2)) peaks near 0.14 cyc/px = 0.2 cyc/mm.
    assert 0.12 < result.peak_freq_per_mm < 0.32


def test_nps_accepts_given_rois_and_rejects_mixed_sizes() -> None:
    image = water_disc(20.0)
    rois = find_homogeneous_rois(image, roi_size_mm=16.0, max_rois=8)
    assert nps(image, rois).n_rois == 8
    mixed = rois[:2] + find_homogeneous_rois(image, roi_size_mm=10.0, max_rois=2)
    with pytest.raises(InvalidParameterError, match="same size"):
        nps(image, mixed)


def test_nps_without_tissue_is_nan_not_an_error() -> None:
    result = nps(CTImage(hu=np.full((64, 64), -1000.0)))
    assert np.isnan(result.mean_freq_per_mm) and result.n_rois == 0


def test_nps_on_real_slices_standard_kernel_is_sharper_than_br38f(abdomen_series, shared_data) -> None:
    br38f = nps(load(abdomen_series).slice(10))
    standard = nps(load(shared_data / "dcmqi_ct3slice_chest" / "02.dcm"))
    assert br38f.n_rois >= 4 and standard.n_rois >= 4
    assert np.sqrt(br38f.variance_hu2) == pytest.approx(13.5, rel=0.3)
    assert standard.mean_freq_per_mm > br38f.mean_freq_per_mm
    assert json_ready(br38f.to_dict())


def json_ready(d: dict) -> bool:
    import json

    return bool(json.dumps(d))
