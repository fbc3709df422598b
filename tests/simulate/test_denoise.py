"""Denoiser and reconstruction looks on a real abdomen slice: less noise, less texture, lost detail, IR mottle,
streaks."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pydicom
import pytest

from vliqa.core import CTImage
from vliqa.errors import InvalidParameterError, VliqaError
from vliqa.models import SHIPPED_DIR as MODELS_DIR
from vliqa.simulate import denoise as dn
from vliqa.simulate import get_degradation, list_degradations
from vliqa.simulate.cnn_denoiser import SHIPPED_NAME, denoise_hu, load_denoiser
from vliqa.simulate.image_domain import DependencyUnavailableError, gaussian_mm

SMOOTHERS = ["smooth_gaussian", "smooth_bilateral", "smooth_nlm", "smooth_tv", "smooth_cnn"]
#: In the 256x256 crop below: a flat liver region (slice 10, rows 270-310, cols 150-190 of the full slice).
ROI = (slice(90, 130), slice(90, 130))


@pytest.fixture(scope="module")
def liver_crop(abdomen_series: Path) -> CTImage:
    """256x256 of slice 10 of the bundled real abdomen series: liver, stomach, spine; full-dose noise ~13 HU."""
    path = sorted(p for p in abdomen_series.iterdir() if p.name.startswith("CT"))[10]
    ds = pydicom.dcmread(path)
    hu = ds.pixel_array.astype(np.float32) * float(ds.RescaleSlope) + float(ds.RescaleIntercept)
    return CTImage(hu=hu[180:436, 60:316].copy(), pixel_spacing_mm=tuple(float(v) for v in ds.PixelSpacing),
                   source=str(path))


def high_freq_energy(hu: np.ndarray) -> float:
    """Mean squared Laplacian-like residual (image minus its 1-pixel Gaussian) inside the body."""
    body = hu > -300
    resid = hu - gaussian_mm(hu, 1.0, (1.0, 1.0))
    return float(np.mean(resid[body] ** 2))


def denoise_kind() -> list:
    """The registered denoise looks, without the optional BM3D (5-10 s a slice; tested on its own below)."""
    return [d for d in list_degradations() if d.fn.__module__ == "vliqa.simulate.denoise" and d.name != "smooth_bm3d"]


def test_denoisers_are_registered_as_kind_denoise_with_strength():
    names = {d.name for d in denoise_kind()}
    assert set(SMOOTHERS) | {"ir_texture", "detail_loss", "residual_streaks"} <= names
    for deg in denoise_kind():
        assert deg.kind == "denoise"
        assert set(deg.params_for_severity(0.5, np.random.default_rng(0))) == {"strength"}


def test_same_seed_gives_identical_pixels(liver_crop: CTImage):
    for deg in denoise_kind():
        a = deg(liver_crop, seed=4, strength=0.6)
        b = deg(liver_crop, seed=4, strength=0.6)
        assert np.array_equal(a.hu, b.hu), deg.name


def test_each_denoiser_records_parameters_that_replay_to_the_same_pixels(liver_crop: CTImage):
    for deg in denoise_kind():
        out = deg(liver_crop, seed=2, strength=0.5)
        step = dict(out.history[-1])
        assert step.pop("name") == deg.name and step["strength"] == 0.5
        again = deg(liver_crop, seed=2, **step)
        assert np.array_equal(again.hu, out.hu), deg.name


@pytest.mark.parametrize("name", SMOOTHERS)
def test_stronger_smoothing_lowers_noise_and_high_frequency_energy_monotonically(liver_crop: CTImage, name: str):
    deg = get_degradation(name)
    outs = [deg(liver_crop, strength=s).hu for s in (0.0, 0.3, 0.6, 0.9)]
    assert np.array_equal(outs[0], liver_crop.hu)
    noise = [float(o[ROI].std()) for o in outs]
    energy = [high_freq_energy(o) for o in outs]
    assert all(a > b for a, b in zip(noise, noise[1:], strict=False)), (name, noise)
    assert all(a > b for a, b in zip(energy, energy[1:], strict=False)), (name, energy)
    assert noise[-1] < 0.75 * noise[0], (name, noise)


def test_shipped_cnn_checkpoint_is_tiny_loads_offline_and_reduces_noise(liver_crop: CTImage):
    shipped = MODELS_DIR / SHIPPED_NAME
    files = {p.name: p.stat().st_size for p in shipped.iterdir()}
    assert {"model.safetensors", "config.json", "MODEL_CARD.md"} <= set(files)
    assert sum(files.values()) < 1_000_000
    config = json.loads((shipped / "config.json").read_text())
    model = load_denoiser()
    n_params = sum(p.numel() for p in model.parameters())
    assert n_params == config["metadata"]["training"]["n_params"] < 100_000
    (once,) = denoise_hu(liver_crop.hu, passes=1)
    assert once[ROI].std() < 0.85 * liver_crop.hu[ROI].std()
    # it denoises, it does not shift the mean HU of the liver
    assert abs(float(once[ROI].mean() - liver_crop.hu[ROI].mean())) < 5.0
    with pytest.raises(VliqaError, match="no denoiser checkpoint"):
        load_denoiser("/nonexistent/denoiser")


def test_bm3d_is_optional_and_says_so_when_missing(liver_crop: CTImage, monkeypatch: pytest.MonkeyPatch):
    registered = "smooth_bm3d" in {d.name for d in list_degradations()}
    assert registered == dn.bm3d_available()
    monkeypatch.setattr(dn, "bm3d_available", lambda: False)
    with pytest.raises(DependencyUnavailableError, match="bm3d"):
        dn.smooth_bm3d(liver_crop, strength=0.5)


@pytest.mark.skipif(not dn.bm3d_available(), reason="optional bm3d package not installed")
def test_bm3d_when_installed_lowers_noise_with_strength(liver_crop: CTImage):
    small = liver_crop.replace(hu=liver_crop.hu[70:150, 70:150].copy())
    sds = [float(dn.smooth_bm3d(small, strength=s).hu[20:60, 20:60].std()) for s in (0.0, 0.4, 0.9)]
    assert sds[0] > sds[1] > sds[2], sds


def test_strength_out_of_range_is_refused(liver_crop: CTImage):
    with pytest.raises(InvalidParameterError, match="strength"):
        dn.smooth_tv(liver_crop, strength=1.5)


def _disk(shape: tuple[int, int], centre: tuple[int, int], radius_px: float) -> np.ndarray:
    rows, cols = np.indices(shape)
    return (rows - centre[0]) ** 2 + (cols - centre[1]) ** 2 <= radius_px**2


def _contrast(hu: np.ndarray, inside: np.ndarray, ring: np.ndarray) -> float:
    return float(hu[inside].mean() - hu[ring].mean())


def test_detail_loss_erases_small_faint_lesions_but_keeps_bright_ones_and_the_grain(liver_crop: CTImage):
    hu = liver_crop.hu.copy()
    faint, faint_ring = _disk(hu.shape, (110, 100), 3.0), _disk(hu.shape, (110, 100),
                                                                7.0) & ~_disk(hu.shape, (110, 100), 4.5)
    bright, bright_ring = _disk(hu.shape, (110, 125), 3.0), _disk(hu.shape, (110, 125),
                                                                  7.0) & ~_disk(hu.shape, (110, 125), 4.5)
    hu[faint] -= 15.0  # a 6 mm hypodense lesion at 15 HU contrast
    hu[bright] += 150.0  # an enhancing vessel
    with_lesions = liver_crop.replace(hu=hu)
    out = dn.detail_loss(with_lesions, strength=0.7).hu
    assert abs(_contrast(out, faint, faint_ring)) < 0.4 * abs(_contrast(hu, faint, faint_ring))
    assert _contrast(out, bright, bright_ring) > 0.8 * _contrast(hu, bright, bright_ring)
    flat = (slice(60, 90), slice(60, 90))
    assert out[flat].std() > 0.5 * hu[flat].std()


def test_ir_texture_moves_noise_power_to_low_frequencies(liver_crop: CTImage):
    def band_powers(img: np.ndarray) -> tuple[float, float]:
        roi = img[ROI] - img[ROI].mean()
        power = np.abs(np.fft.fft2(roi * np.hanning(40)[:, None] * np.hanning(40)[None, :])) ** 2
        f = np.hypot(*np.meshgrid(np.fft.fftfreq(40), np.fft.fftfreq(40), indexing="ij"))
        return float(power[(f > 0) & (f < 0.1)].sum()), float(power[f > 0.25].sum())

    low0, high0 = band_powers(liver_crop.hu)
    ratios, highs = [low0 / high0], [high0]
    for s in (0.3, 0.6, 0.9):
        low, high = band_powers(dn.ir_texture(liver_crop, strength=s).hu)
        ratios.append(low / high)
        highs.append(high)
    assert all(a < b for a, b in zip(ratios, ratios[1:], strict=False)), ratios
    assert all(a > b for a, b in zip(highs, highs[1:], strict=False)), highs


def test_residual_streaks_add_faint_lines_at_seeded_angles(liver_crop: CTImage):
    out = dn.residual_streaks(liver_crop, strength=0.6, seed=7)
    step = out.history[-1]
    assert len(step["angles_deg"]) == step["n_angles"] == 2 + round(4 * 0.6)
    smoothed_only = dn.residual_streaks(liver_crop, strength=0.6, seed=7, amplitude_hu=0.0)
    assert np.array_equal(smoothed_only.hu, liver_crop.hu)  # no streaks: nothing at all is done
    pattern = out.hu - gaussian_mm(liver_crop.hu, step["smooth_sigma_mm"], liver_crop.pixel_spacing_mm)
    assert 3.0 < float(np.abs(pattern).max()) <= 1.2 * step["amplitude_hu"]
    other = dn.residual_streaks(liver_crop, strength=0.6, seed=8)
    assert other.history[-1]["angles_deg"] != step["angles_deg"]
