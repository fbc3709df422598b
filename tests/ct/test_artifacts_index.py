"""Streak and ring indices (HU): ~0 for noise of any level, growing with artefact strength, on synthetic and real CT."""

from __future__ import annotations

import numpy as np
import pytest
from ct_synthetic import phantom_body, rings, streaks, water_disc

from vliqa.core import CTImage
from vliqa.ct.artifacts_index import ring_index, streak_index
from vliqa.io import load
from vliqa.simulate.registry import get_degradation


@pytest.mark.parametrize("kind", ["white", "ramp"])
@pytest.mark.parametrize("sigma_hu", [5.0, 40.0])
def test_noise_alone_gives_zero_indices(kind: str, sigma_hu: float) -> None:
    image = water_disc(sigma_hu, kind, seed=5)
    assert streak_index(image) < 0.05 * sigma_hu  # the periodogram's scatter left after band averaging
    assert ring_index(image) < 0.1


def test_streak_index_grows_with_streak_amplitude_and_ignores_rings() -> None:
    base = phantom_body()
    values = [streak_index(CTImage(hu=base + streaks(a))) for a in (0, 30, 60, 120)]
    assert values[0] < 0.5
    assert all(b > a for a, b in zip(values, values[1:], strict=False)), values
    assert values[-1] > 5
    assert streak_index(CTImage(hu=base + rings(40))) < values[0] + 0.5


def test_ring_index_grows_with_ring_amplitude_and_hardly_sees_streaks() -> None:
    base = phantom_body()
    values = [ring_index(CTImage(hu=base + rings(a))) for a in (0, 10, 20, 40)]
    assert values[0] < 0.1
    assert all(b > a for a, b in zip(values, values[1:], strict=False)), values
    assert ring_index(CTImage(hu=base + streaks(80))) < values[1]


def test_rings_around_another_centre_need_that_centre() -> None:
    base = phantom_body()
    shifted = np.roll(rings(30), (20, -15), axis=(0, 1))
    image = CTImage(hu=base + shifted)
    assert ring_index(image, center=(255.5 + 20, 255.5 - 15)) > 5 * max(ring_index(image), 0.1)


def test_indices_are_nan_without_soft_tissue() -> None:
    air = CTImage(hu=np.full((128, 128), -1000.0))
    assert np.isnan(streak_index(air)) and np.isnan(ring_index(air))


@pytest.fixture(scope="module")
def abdomen_slice(abdomen_series) -> CTImage:
    return load(abdomen_series).slice(12)


@pytest.mark.slow
def test_real_slice_reads_routine_and_simulated_streaks_raise_the_streak_index(abdomen_slice: CTImage) -> None:
    clean = streak_index(abdomen_slice)
    assert clean < 10.0
    assert ring_index(abdomen_slice) < 0.5
    sparse = get_degradation("sparse_view")
    by_severity = [streak_index(sparse.at_severity(abdomen_slice, s, seed=1)) for s in (0.3, 0.7)]
    assert clean < by_severity[0] < by_severity[1], (clean, by_severity)
    assert by_severity[1] > 2 * clean
    metal = streak_index(get_degradation("metal").at_severity(abdomen_slice, 1.0, seed=1))
    assert metal > 2 * clean


def test_real_slice_simulated_rings_raise_the_ring_index_not_the_streak_index(abdomen_slice: CTImage) -> None:
    ring = get_degradation("ring")
    ringed = [ring.at_severity(abdomen_slice, s, seed=1) for s in (0.3, 1.0)]
    values = [ring_index(abdomen_slice)] + [ring_index(r) for r in ringed]
    assert values[0] < values[1] < values[2], values
    assert values[2] > 3.0
    assert streak_index(ringed[1]) < 1.5 * streak_index(abdomen_slice) + 1.0
