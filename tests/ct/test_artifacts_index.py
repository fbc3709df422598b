"""Streak and ring indices: ~0 for noise, growing with artefact strength."""

from __future__ import annotations

import numpy as np
import pytest
from ct_synthetic import phantom_body, rings, streaks, water_disc

from vliqa.ct.artifacts_index import ring_index, streak_index
from vliqa.io.image import CTImage


@pytest.mark.parametrize("kind", ["white", "ramp"])
def test_noise_alone_gives_near_zero_indices(kind: str) -> None:
    image = water_disc(20.0, kind, seed=5)
    assert streak_index(image) < 0.1
    assert ring_index(image) < 0.1


def test_streak_index_grows_with_streak_amplitude() -> None:
    base = phantom_body()
    values = [streak_index(CTImage(hu=base + streaks(a))) for a in (0, 30, 60, 120)]
    assert values[0] < 0.1
    assert all(b > a for a, b in zip(values, values[1:], strict=False)), values
    assert values[-1] > 5


def test_ring_index_grows_with_ring_amplitude_and_ignores_streaks() -> None:
    base = phantom_body()
    values = [ring_index(CTImage(hu=base + rings(a))) for a in (0, 10, 20, 40)]
    assert values[0] < 0.1
    assert all(b > a for a, b in zip(values, values[1:], strict=False)), values
    assert ring_index(CTImage(hu=base + streaks(80))) < 0.1
    assert streak_index(CTImage(hu=base + rings(40))) < 0.1


def test_rings_around_another_centre_need_that_centre() -> None:
    base = phantom_body()
    shifted = np.roll(rings(30), (20, -15), axis=(0, 1))
    image = CTImage(hu=base + shifted)
    assert ring_index(image, center=(255.5 + 20, 255.5 - 15)) > 5 * max(ring_index(image), 0.1)


def test_indices_are_nan_without_soft_tissue() -> None:
    air = CTImage(hu=np.full((128, 128), -1000.0))
    assert np.isnan(streak_index(air)) and np.isnan(ring_index(air))
