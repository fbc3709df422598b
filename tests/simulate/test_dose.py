"""Low-dose simulation: noise level, texture, seeds, real-scan noise insertion, photon starvation, calibration parts."""

from __future__ import annotations

import numpy as np
import pytest
from real_slices import abdomen_slices
from synthetic import ellipse_phantom

from vliqa.core import Acquisition, CTImage
from vliqa.errors import InvalidParameterError
from vliqa.simulate import dose, get_degradation, kernels, source_noise


def _water_sigma(out_hu: np.ndarray, clean_hu: np.ndarray) -> float:
    noise = out_hu - clean_hu
    return float(noise[118:138, 98:158].std())  # water between the inserts


def test_noise_sigma_scales_as_one_over_sqrt_dose():
    img = ellipse_phantom(256)
    sig = {f: _water_sigma(dose.low_dose(img, dose_fraction=f, seed=3).hu, img.hu) for f in (1.0, 0.25, 0.0625)}
    print({f: round(s, 1) for f, s in sig.items()})
    assert sig[0.25] / sig[1.0] == pytest.approx(2.0, rel=0.15)
    assert sig[0.0625] / sig[1.0] == pytest.approx(4.0, rel=0.15)


def test_same_seed_same_pixels_different_seed_different():
    img = ellipse_phantom(128, half_width_px=55, half_height_px=40)
    a = dose.low_dose(img, dose_fraction=0.3, seed=5)
    b = dose.low_dose(img, dose_fraction=0.3, seed=5)
    c = dose.low_dose(img, dose_fraction=0.3, seed=6)
    assert np.array_equal(a.hu, b.hu) and not np.array_equal(a.hu, c.hu)
    step = a.history[-1]
    assert step["name"] == "low_dose" and step["noise_free_source"] is True
    assert step["incident_photons_target"] == pytest.approx(0.3 * step["incident_photons_source"])


def test_sharper_kernel_gives_finer_noise_texture():
    img = ellipse_phantom(256)
    rois = [(r, c) for r in (100, 132) for c in (70, 102, 134, 166)]
    mean_freq = {}
    for k in ("B30f", "B70f"):
        noise = dose.low_dose(img, dose_fraction=0.5, seed=1, kernel=k).hu - img.hu
        mean_freq[k] = kernels.nps_mean_frequency(*kernels.roi_nps(noise, rois, 1.2))
    assert mean_freq["B70f"] > 1.1 * mean_freq["B30f"]  # 1.2 mm pixels cap how fine noise can be


def test_quarter_dose_of_a_real_scan_doubles_its_noise():
    img = abdomen_slices((10,))[0]
    rois = kernels.find_flat_rois(img.hu)
    before = kernels.roi_noise_sigma_hu(img.hu, rois)
    out = dose.low_dose(img, dose_fraction=0.25, seed=2)
    after = kernels.roi_noise_sigma_hu(out.hu, rois)
    print(f"real slice: sigma {before:.1f} HU -> {after:.1f} HU at 25 % dose")
    assert after / before == pytest.approx(2.0, rel=0.25)
    step = out.history[-1]
    # Texture and noise level come from the image itself; the header CTDIvol is only recorded.
    assert step["source_dose_from"] == "image noise" and step["kernel_from"] == "image NPS"
    assert step["header_dose_mgy"] == pytest.approx(18.54, abs=0.01)
    assert step["source_dose_mgy"] == pytest.approx(step["matched_dose_mgy"] / step["noise_gain"])
    assert 250.0 < step["water_equivalent_diameter_mm"] < 400.0 and step[
        "noise_windows"] >= source_noise.MIN_NOISE_WINDOWS
    assert step["fine_detector"] is True and not step["noise_free_source"]


def test_added_noise_of_a_real_scan_grows_as_one_over_dose_minus_one():
    # The noise added to a real slice has variance ~ (1/f - 1) x its own quantum noise: x sqrt(3) from 50 % to
    # 25 %, x 3 from 50 % to 10 % (the same image-based source dose for every fraction, same seed).
    img = abdomen_slices((10,))[0]
    rois = kernels.find_flat_rois(img.hu)
    added = {f: kernels.roi_noise_sigma_hu(dose.low_dose(img, dose_fraction=f, seed=4).hu - img.hu, rois)
             for f in (0.5, 0.25, 0.1)}
    print({f: round(s, 1) for f, s in added.items()})
    assert added[0.25] / added[0.5] == pytest.approx(np.sqrt(3.0), rel=0.08)
    assert added[0.1] / added[0.5] == pytest.approx(3.0, rel=0.08)
    # Full dose adds nothing to a real scan.
    assert np.array_equal(dose.low_dose(img, dose_fraction=1.0, seed=4).hu, img.hu)


def test_image_texture_fit_recovers_the_kernel_of_synthetic_noise():
    # A flat 40 HU slab carrying FBP-like noise of known Hann cutoff, blurred like a real scan's own noise.
    px = 0.7
    for cutoff_per_mm in (0.7, 1.6):
        noise = source_noise.hann_noise_field(512, cutoff_per_mm * px, px, dose.SOURCE_NOISE_BLUR_MM, seed=11)
        hu = (40.0 + 20.0 * noise / noise.std()).astype(np.float32)
        image = CTImage(hu=hu, pixel_spacing_mm=(px, px), slice_thickness_mm=3.0)
        own = source_noise.measure(image, px)
        assert own is not None and own.n_windows >= source_noise.MIN_NOISE_WINDOWS
        fitted = source_noise.fit_cutoff(own, dose.SOURCE_NOISE_BLUR_MM) / px
        print(f"Hann cutoff {cutoff_per_mm} /mm -> fitted {fitted:.3f} /mm from {own.n_windows} windows")
        assert fitted == pytest.approx(cutoff_per_mm, rel=0.1)


def test_source_noise_gain_grows_with_patient_size_and_stays_bounded():
    g = dose.noise_gain_for_size
    assert g(dose.REFERENCE_DIAMETER_MM) == pytest.approx(dose.SOURCE_NOISE_GAIN)
    assert g(250.0) < g(300.0) < g(350.0)
    assert g(1000.0) == g(dose.DIAMETER_RANGE_MM[1]) and g(None) == dose.SOURCE_NOISE_GAIN
    water = CTImage(hu=np.where(np.hypot(*np.mgrid[-128:128, -128:128]) < 100, 0.0, -1000.0).astype(np.float32))
    assert dose.water_equivalent_diameter_mm(water, 1.0) == pytest.approx(200.0, rel=0.02)
    assert dose.water_equivalent_diameter_mm(CTImage(hu=np.full((32, 32), -1000.0, np.float32)), 1.0) is None


def test_bowtie_keeps_the_centre_and_thins_the_edge():
    t = np.array([0.0, 100.0, 250.0, 400.0])
    tr = dose.bowtie_transmission(t, 250.0, 2.0)
    assert tr[0] == 1.0 and 1.0 > tr[1] > tr[2] and tr[3] == pytest.approx(np.exp(-2.0))
    assert np.all(dose.bowtie_transmission(t, 0.0, 2.0) == 1.0)


def test_photon_starvation_gives_streaks_along_the_long_axis():
    # A wide, flat body with dense lateral bone (hips): lateral rays get a handful of photons.
    img = ellipse_phantom(256, half_width_px=125, half_height_px=45, spacing_mm=1.6)
    hu = img.hu.copy()
    yy, xx = np.mgrid[:256, :256] - 127.5
    for cx in (-85, 85):
        hu[(xx - cx) ** 2 + yy**2 <= 22**2] = 1200.0
    img = img.replace(hu=hu)

    def anisotropy(f: float) -> float:
        noise = (dose.low_dose(img, dose_fraction=f, seed=4, source_dose=20.0).hu - hu)[108:148, 72:184]
        spec = np.abs(np.fft.fft2(noise - noise.mean())) ** 2
        fy, fx = np.meshgrid(np.fft.fftfreq(noise.shape[0]), np.fft.fftfreq(noise.shape[1]), indexing="ij")
        along_y = np.abs(fx) < 0.3 * np.abs(fy)  # variation across the long axis = streaks along it
        along_x = np.abs(fy) < 0.3 * np.abs(fx)
        return float(spec[along_y].mean() / spec[along_x].mean())

    full, starved = anisotropy(1.0), anisotropy(0.025)
    print(f"NPS anisotropy: full dose {full:.2f}, 2.5 % dose {starved:.2f}")
    assert starved > 3.0 and starved > 1.5 * full


def test_source_dose_comes_from_the_header_or_a_default():
    img = ellipse_phantom(64, half_width_px=25, half_height_px=20)
    assert dose.source_dose_mgy(img) == (dose.DEFAULT_SOURCE_DOSE_MGY, "default")
    assert dose.source_dose_mgy(img.replace(acquisition=Acquisition(exposure_mas=200.0)))[1] == "exposure_mas"
    assert dose.source_dose_mgy(img.replace(acquisition=Acquisition(ctdi_vol_mgy=9.0, exposure_mas=200.0))) == (
        9.0, "ctdi_vol_mgy")


def test_low_dose_is_registered_and_severity_spans_the_dose_range():
    deg = get_degradation("low_dose")
    assert deg.kind == "projection" and "noise" in deg.aspects
    rng = np.random.default_rng(0)
    assert deg.params_for_severity(0.0, rng)["dose_fraction"] == 1.0
    assert deg.params_for_severity(1.0, rng)["dose_fraction"] < 0.04
    with pytest.raises(InvalidParameterError, match="dose_fraction"):
        dose.low_dose(ellipse_phantom(64, half_width_px=25, half_height_px=20), dose_fraction=1.5)
    with pytest.raises(InvalidParameterError, match="source_noise"):
        dose.low_dose(ellipse_phantom(64, half_width_px=25, half_height_px=20), dose_fraction=0.5,
                      source_noise_gain=0.0)
