"""Projector and FBP: round trips on synthetic and real slices, fast vs exact, filters and texture."""

from __future__ import annotations

import numpy as np
import pytest
from real_slices import abdomen_slices
from synthetic import ellipse_phantom

from vliqa.errors import InvalidParameterError
from vliqa.simulate import kernels, tomo


def _round_trip_hu(hu: np.ndarray, px_mm: float, method: str, n_views: int = 720) -> np.ndarray:
    mu_px = (tomo.hu_to_mu_per_mm(hu) * px_mm).astype(np.float32)
    geom = tomo.parallel_geometry(hu.shape[0], n_views)
    rec = tomo.fbp(tomo.forward_project(mu_px, geom, method=method), geom, method=method)
    return tomo.mu_per_mm_to_hu(rec / px_mm)


def _inside(shape: tuple[int, int], frac: float = 0.9) -> np.ndarray:
    c = (shape[0] - 1) / 2.0
    yy, xx = np.mgrid[: shape[0], : shape[1]] - c
    return np.hypot(xx, yy) < frac * shape[0] / 2


def test_hu_and_attenuation_convert_both_ways_and_air_clips_at_zero():
    hu = np.array([-1000.0, -1024.0, 0.0, 1000.0])
    mu = tomo.hu_to_mu_per_mm(hu)
    assert mu[1] == 0.0 and mu[2] == pytest.approx(tomo.MU_WATER_PER_MM)
    assert tomo.mu_per_mm_to_hu(mu)[[0, 2, 3]] == pytest.approx([-1000.0, 0.0, 1000.0])


@pytest.mark.parametrize("method", ["fast", "exact"])
def test_noise_free_projection_and_fbp_reproduce_a_synthetic_slice(method):
    img = ellipse_phantom(128, half_width_px=55, half_height_px=40)
    rec = _round_trip_hu(img.hu, 1.2, method, n_views=360)
    rmse = float(np.sqrt(np.mean((rec - img.hu)[_inside(img.shape)] ** 2)))
    print(f"{method}: synthetic 128x128 round-trip RMSE {rmse:.1f} HU")
    # Sharp 1000 HU edges (air/water, bone) dominate; a blurred-by-one-pixel copy has about this error.
    assert rmse < 60.0
    interior = np.s_[50:78, 40:60]
    assert abs(float(np.mean(rec[interior] - img.hu[interior]))) < 5.0


def test_noise_free_projection_and_fbp_reproduce_the_real_slice():
    img = abdomen_slices((10,))[0]
    rec = _round_trip_hu(img.hu, 0.977, "fast")
    err = (rec - img.hu)[_inside(img.shape)]
    rmse = float(np.sqrt(np.mean(err**2)))
    print(f"real 512x512 round-trip RMSE {rmse:.1f} HU, mean error {err.mean():.2f} HU")
    assert rmse < 40.0 and abs(float(err.mean())) < 2.0


def test_fast_and_exact_methods_agree():
    img = ellipse_phantom(128, half_width_px=55, half_height_px=40)
    mu_px = (tomo.hu_to_mu_per_mm(img.hu) * 1.2).astype(np.float32)
    geom = tomo.parallel_geometry(128, 360)
    p_fast = tomo.forward_project(mu_px, geom, method="fast")
    p_exact = tomo.forward_project(mu_px, geom, method="exact")
    assert np.sqrt(np.mean((p_fast - p_exact) ** 2)) < 0.01 * p_exact.max()
    z = np.random.default_rng(0).standard_normal(p_fast.shape).astype(np.float32)
    n_fast, n_exact = tomo.fbp(z, geom, method="fast"), tomo.fbp(z, geom, method="exact")
    inside = _inside(n_fast.shape, 0.6)
    assert n_fast[inside].std() == pytest.approx(n_exact[inside].std(), rel=0.1)
    # Same noise realisation: differences only in the aliased high frequencies of linear interpolation.
    assert np.corrcoef(n_fast[inside], n_exact[inside])[0, 1] > 0.9


def _noise_mean_freq(filter_name: str = "ram-lak", cutoff: float | None = None) -> float:
    geom = tomo.parallel_geometry(128, 360)
    z = np.random.default_rng(1).standard_normal((geom.n_views, geom.n_det))
    noise = tomo.fbp(z, geom, filter_name=filter_name, cutoff_cycles_per_px=cutoff)
    rois = [(r, c) for r in range(16, 96, 32) for c in range(16, 96, 32)]
    return kernels.nps_mean_frequency(*kernels.roi_nps(noise, rois, 1.0))


def test_sharper_filter_gives_noise_of_higher_frequency():
    means = [_noise_mean_freq(name) for name in ("hann", "hamming", "shepp-logan", "ram-lak")]
    assert means == sorted(means)
    assert _noise_mean_freq(cutoff=0.3) < _noise_mean_freq(cutoff=0.6) < _noise_mean_freq(cutoff=1.5)


def test_unknown_filter_or_method_raises_clear_error():
    geom = tomo.parallel_geometry(64, 90)
    with pytest.raises(InvalidParameterError, match="filter"):
        tomo.fbp(np.zeros((geom.n_views, geom.n_det)), geom, filter_name="butterworth")
    with pytest.raises(InvalidParameterError, match="method"):
        tomo.forward_project(np.zeros((64, 64)), geom, method="gpu")


def test_kernel_names_map_to_softer_or_sharper_textures():
    assert kernels.kernel_peak_per_mm("B30f") < kernels.kernel_peak_per_mm(
        "['Br38f', '3']") < kernels.kernel_peak_per_mm("B70f")
    assert kernels.kernel_peak_per_mm("SOFT") < kernels.kernel_peak_per_mm("STANDARD") < kernels.kernel_peak_per_mm(
        "BONE")
    assert kernels.kernel_peak_per_mm("no-such-kernel") is None
