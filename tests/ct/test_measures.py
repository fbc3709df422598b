"""measure_all: the flat dict the dataset stores, fast, never raising on a valid slice."""

from __future__ import annotations

import math
import time

import numpy as np
from ct_synthetic import phantom_body, rings

from vliqa.core import CTImage
from vliqa.ct.measures import MEASURE_KEYS, REFERENCE_KEYS, measure_all
from vliqa.io import load


def test_measure_all_on_a_real_slice_gives_every_key(abdomen_series) -> None:
    image = load(abdomen_series).slice(10)
    measure_all(image)  # first call builds cached detrending models
    start = time.process_time()
    values = measure_all(image)
    cpu_s = time.process_time() - start
    assert list(values) == list(MEASURE_KEYS)
    assert all(isinstance(v, float) for v in values.values())
    assert 8 < values["noise_sigma_hu"] < 20
    assert 0 < values["nps_mean_freq_per_mm"] < 0.5
    assert 1.5 < values["mtf50_lp_per_cm"] < 4.0
    assert values["ring_rms_hu"] < 1.0
    assert cpu_s < 0.6  # about 0.25 s of CPU on the 2-core build machine


def test_measure_all_with_a_reference_adds_rmse_psnr_ssim() -> None:
    clean = CTImage(hu=phantom_body(noise_hu=0.5), pixel_spacing_mm=(0.7, 0.7))
    ringed = clean.replace(hu=clean.hu + rings(30.0))
    values = measure_all(ringed, reference=clean)
    assert list(values) == list(MEASURE_KEYS) + list(REFERENCE_KEYS)
    assert values["rmse_hu"] > 0 and values["ssim"] < 1
    assert values["ring_rms_hu"] > measure_all(clean)["ring_rms_hu"]


def test_measure_all_gives_nan_not_errors_on_odd_but_valid_images() -> None:
    rng = np.random.default_rng(0)
    for hu in (np.full((16, 16), -1000.0), rng.normal(0, 1, (40, 300)), np.zeros((512, 512))):
        values = measure_all(CTImage(hu=hu))
        assert set(values) == set(MEASURE_KEYS)
        assert math.isnan(values["mtf50_lp_per_cm"])
