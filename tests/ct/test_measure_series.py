"""measure_series: the measure_all keys for a whole series at archive speed, agreeing with the per-slice reference."""

from __future__ import annotations

import math

import numpy as np
import pytest
from ct_synthetic import SPACING_MM, phantom_body, rings

from vliqa.core import CTImage
from vliqa.ct.measures import MEASURE_KEYS, measure_all, measure_series
from vliqa.io import load

#: Agreement with measure_all on the bundled abdomen (bench/measures_bench.py measures it on all real data).
#: Median relative difference over slices for the per-slice keys, and for the per-series keys against the
#: median of the per-slice reference.
PER_SLICE_TOLERANCE = {"noise_sigma_hu": 0.05, "noise_n_rois": 0.15, "streak_rms_hu": 0.05}
PER_SERIES_TOLERANCE = {"mtf50_lp_per_cm": 0.1, "mtf10_lp_per_cm": 0.1, "edge_width_mm": 0.15,
                        "nps_peak_freq_per_mm": 0.15, "nps_mean_freq_per_mm": 0.15}


@pytest.fixture(scope="module")
def abdomen(abdomen_series) -> list[CTImage]:
    volume = load(abdomen_series)
    return [volume.slice(i) for i in range(0, len(volume), 3)]


@pytest.fixture(scope="module")
def abdomen_values(abdomen) -> tuple[list[dict[str, float]], list[dict[str, float]]]:
    return measure_series(abdomen), [measure_all(image) for image in abdomen]


def test_every_slice_gets_every_key_as_a_float(abdomen, abdomen_values) -> None:
    fast, _ = abdomen_values
    assert len(fast) == len(abdomen)
    for values in fast:
        assert list(values) == list(MEASURE_KEYS)
        assert all(isinstance(v, float) for v in values.values())
        assert all(math.isfinite(values[key]) for key in MEASURE_KEYS)


def test_per_slice_keys_agree_with_measure_all_on_a_real_series(abdomen_values) -> None:
    fast, reference = abdomen_values
    for key, tolerance in PER_SLICE_TOLERANCE.items():
        new = np.array([v[key] for v in fast])
        ref = np.array([v[key] for v in reference])
        assert np.median(np.abs(new - ref) / ref) < tolerance, (key, new, ref)
    ring = np.array([v["ring_rms_hu"] for v in fast])
    assert np.all(ring < 1.0)  # routine scan: no rings, as measure_all says


def test_series_keys_agree_with_the_median_of_measure_all(abdomen_values) -> None:
    fast, reference = abdomen_values
    for key, tolerance in PER_SERIES_TOLERANCE.items():
        series_value = fast[0][key]
        assert all(v[key] == series_value for v in fast)  # one value per series
        ref = float(np.median([v[key] for v in reference]))
        assert abs(series_value - ref) / ref < tolerance, (key, series_value, ref)


def test_a_blank_slice_gives_nan_for_itself_only(abdomen) -> None:
    blank = abdomen[0].replace(hu=np.zeros_like(abdomen[0].hu))
    air = abdomen[0].replace(hu=np.full_like(abdomen[0].hu, -1000.0))
    tiny = CTImage(hu=np.zeros((16, 16)))
    values = measure_series([abdomen[1], blank, abdomen[2], air, tiny])
    for i in (1, 3, 4):
        assert all(math.isnan(v) for v in values[i].values())
    for i in (0, 2):
        assert all(math.isfinite(v) for v in values[i].values())


def test_added_noise_of_known_sigma_is_recovered(abdomen) -> None:
    # A real slice plus white noise of 20 HU: sigma^2 adds to the slice's own noise (about 13 HU).
    image = abdomen[5]
    own = measure_series([image])[0]["noise_sigma_hu"]
    noisy = image.replace(hu=image.hu + np.random.default_rng(0).normal(0, 20.0, image.hu.shape).astype(np.float32))
    # Its own call: the noise correlation is a fact of a series, and white noise changes it.
    sigma = measure_series([noisy])[0]["noise_sigma_hu"]
    expected = math.hypot(own, 20.0)
    assert sigma > own
    assert abs(sigma - expected) / expected < 0.10, (sigma, expected)


def test_an_empty_list_gives_an_empty_list() -> None:
    assert measure_series([]) == []


def test_rings_read_as_measure_all_reads_them() -> None:
    # Real routine slices have no rings (both methods give 0), so the ring index is checked on a phantom.
    image = CTImage(hu=phantom_body() + rings(20.0), pixel_spacing_mm=(SPACING_MM, SPACING_MM))
    assert measure_series([image])[0]["ring_rms_hu"] == pytest.approx(measure_all(image)["ring_rms_hu"], rel=0.15)
