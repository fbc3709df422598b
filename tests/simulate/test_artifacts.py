"""Sparse view, limited angle, ring and motion: artifacts grow with severity, seeds are reproducible."""

from __future__ import annotations

import numpy as np
import pytest
from synthetic import ellipse_phantom

from vliqa.errors import InvalidParameterError
from vliqa.simulate import artifacts, get_degradation


def streak_energy_hu(degraded: np.ndarray, source: np.ndarray) -> float:
    """Gives the RMS change (HU) the artifact makes inside the central body region."""
    return float(np.sqrt(np.mean((degraded - source)[64:192, 48:208] ** 2)))


@pytest.fixture(scope="module")
def phantom():
    return ellipse_phantom(256)


def test_streak_energy_grows_as_views_drop(phantom):
    energy = [streak_energy_hu(artifacts.sparse_view(phantom, n_views=n).hu, phantom.hu) for n in (720, 240, 90, 30)]
    print("sparse-view streak energy (HU):", [round(e, 1) for e in energy])
    assert energy[0] < 1e-3  # all views kept: nothing changes
    assert energy[1] < energy[2] < energy[3] and energy[3] > 20.0


def test_narrower_arc_gives_stronger_limited_angle_artifacts(phantom):
    energy = [streak_energy_hu(artifacts.limited_angle(phantom, arc_deg=a, start_deg=20.0).hu, phantom.hu)
              for a in (180.0, 150.0, 90.0)]
    assert energy[0] < 1e-3 and energy[1] < energy[2]


def test_ring_artifacts_are_concentric_and_grow_with_gain_error(phantom):
    weak = artifacts.ring(phantom, gain_error_std=0.001, n_defective=2, defective_error=0.01, seed=1)
    strong = artifacts.ring(phantom, gain_error_std=0.004, n_defective=8, defective_error=0.08, seed=1)
    assert streak_energy_hu(weak.hu, phantom.hu) < streak_energy_hu(strong.hu, phantom.hu)
    yy, xx = np.mgrid[:256, :256] - 127.5
    radius = np.round(4 * np.hypot(xx, yy)).astype(int)  # quarter-pixel radial bins
    inside = radius < 4 * 75

    def radial_share(change: np.ndarray) -> float:
        # Share of the change's variance that is a function of the radius alone (rings); pixel-grid
        # aliasing of one-pixel-wide rings keeps it below 1.
        ring_mean = np.bincount(radius[inside], change[inside]) / np.maximum(np.bincount(radius[inside]), 1)
        return 1.0 - np.var(change[inside] - ring_mean[radius[inside]]) / np.var(change[inside])

    sparse = artifacts.sparse_view(phantom, n_views=60)
    assert radial_share(strong.hu - phantom.hu) > 0.4 > 3 * radial_share(sparse.hu - phantom.hu)


def test_motion_doubles_edges_and_no_motion_changes_nothing(phantom):
    still = artifacts.motion(phantom)
    moved = artifacts.motion(phantom, shift_x_mm=6.0, shift_y_mm=-3.0, rotation_deg=2.0)
    assert streak_energy_hu(still.hu, phantom.hu) < 1e-3
    assert streak_energy_hu(moved.hu, phantom.hu) > 10.0


def test_projection_artifacts_are_registered_and_reproducible(phantom):
    for name in ("sparse_view", "limited_angle", "ring", "motion"):
        deg = get_degradation(name)
        assert deg.kind == "projection" and "artifacts" in deg.aspects
        low = deg.at_severity(phantom, 0.0, seed=3)
        high = deg.at_severity(phantom, 1.0, seed=3)
        again = deg.at_severity(phantom, 1.0, seed=3)
        assert np.array_equal(high.hu, again.hu)
        assert streak_energy_hu(low.hu, phantom.hu) < 2.0 < streak_energy_hu(high.hu, phantom.hu)
        assert high.history[-1]["name"] == name and high.history[-1]["severity"] == 1.0


def test_impossible_view_counts_raise_clear_errors(phantom):
    with pytest.raises(InvalidParameterError, match="n_views"):
        artifacts.sparse_view(phantom, n_views=1)
    with pytest.raises(InvalidParameterError, match="arc_deg"):
        artifacts.limited_angle(phantom, arc_deg=200.0)
