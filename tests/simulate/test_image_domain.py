"""Image-domain degradations on a real abdomen slice: blur, thick slice, resample, compression, bit depth, bad
window."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pydicom
import pytest

from vliqa.core import CTImage
from vliqa.errors import InvalidParameterError
from vliqa.simulate import image_domain as img
from vliqa.simulate import list_degradations

#: A flat liver region of slice 10 of the bundled abdomen series (checked by eye: no vessel, no edge).
LIVER_ROI = (slice(270, 310), slice(150, 190))
MY_MODULES = ("vliqa.simulate.image_domain", "vliqa.simulate.denoise")


def read_slice(series: Path, index: int) -> CTImage:
    path = sorted(p for p in series.iterdir() if p.name.startswith("CT"))[index]
    ds = pydicom.dcmread(path)
    hu = ds.pixel_array.astype(np.float32) * float(ds.RescaleSlope) + float(ds.RescaleIntercept)
    return CTImage(hu=hu, pixel_spacing_mm=tuple(float(v) for v in ds.PixelSpacing),
                   slice_thickness_mm=float(ds.SliceThickness), source=str(path))


@pytest.fixture(scope="module")
def liver_slice(abdomen_series: Path) -> CTImage:
    return read_slice(abdomen_series, 10)


@pytest.fixture(scope="module")
def liver_crop(liver_slice: CTImage) -> CTImage:
    """A 256x256 crop (liver, stomach, spine) to keep the slower checks fast."""
    return liver_slice.replace(hu=liver_slice.hu[180:436, 60:316].copy())


def image_kind() -> list:
    return [d for d in list_degradations() if d.fn.__module__ == "vliqa.simulate.image_domain"]


def display_error(a: np.ndarray, b: np.ndarray) -> float:
    """Mean absolute difference of the W400/L40 display images, in display units [0, 1]."""
    da = np.clip((a + 160.0) / 400.0, 0, 1)
    db = np.clip((b + 160.0) / 400.0, 0, 1)
    return float(np.abs(da - db).mean())


def edge_sharpness(hu: np.ndarray) -> float:
    """The 99.9th percentile of the gradient magnitude (HU per pixel): steep edges give high values."""
    gy, gx = np.gradient(hu.astype(np.float64))
    return float(np.percentile(np.hypot(gy, gx), 99.9))


def test_all_image_degradations_are_registered_with_honest_aspects():
    names = {d.name: d for d in image_kind()}
    assert set(names) == {"blur", "thick_slice", "resample", "jpeg", "jpeg2000", "quantise", "wrong_window"}
    assert names["blur"].aspects == ("sharpness",)
    assert names["wrong_window"].aspects == ("contrast",)
    assert all(d.kind == "image" for d in names.values())


def test_same_seed_gives_identical_pixels_and_other_seed_may_differ(liver_crop: CTImage):
    for deg in image_kind():
        a = deg.at_severity(liver_crop, 0.7, seed=5)
        b = deg.at_severity(liver_crop, 0.7, seed=5)
        assert np.array_equal(a.hu, b.hu), deg.name
        assert a.history == b.history, deg.name
    # thick_slice draws its slope field from the seed
    t1 = img.thick_slice(liver_crop, seed=1, thickness_mm=10.0)
    t2 = img.thick_slice(liver_crop, seed=2, thickness_mm=10.0)
    assert not np.array_equal(t1.hu, t2.hu)


def test_each_function_records_parameters_that_replay_to_the_same_pixels(liver_crop: CTImage):
    for deg in image_kind():
        out = deg.at_severity(liver_crop, 0.6, seed=3)
        step = dict(out.history[-1])
        assert step.pop("name") == deg.name
        assert step.pop("severity") == 0.6
        assert step, f"{deg.name} recorded no parameters"
        again = deg(liver_crop, seed=3, **step)
        assert np.array_equal(again.hu, out.hu), deg.name
        assert out.hu.dtype == np.float32 and out.shape == liver_crop.shape


@pytest.mark.parametrize("seed", [0, pytest.param(1, marks=pytest.mark.slow), pytest.param(2, marks=pytest.mark.slow)])
def test_params_for_severity_are_valid_from_imperceptible_to_unusable(liver_crop: CTImage, seed: int):
    # the optional BM3D takes 5-10 s a slice; test_denoise covers it when installed
    for deg in [d for d in list_degradations() if d.fn.__module__ in MY_MODULES and d.name != "smooth_bm3d"]:
        errors = []
        for severity in np.linspace(0.0, 1.0, 5):
            params = deg.params_for_severity(float(severity), np.random.default_rng(seed))
            out = deg(liver_crop, seed=seed, **params)
            assert np.isfinite(out.hu).all(), deg.name
            errors.append(display_error(out.hu, liver_crop.hu))
        assert errors[0] < 0.01, f"{deg.name} at severity 0 changes the display by {errors[0]:.3f}"
        assert errors[-1] > 3 * errors[0] + 0.005, f"{deg.name} at severity 1 barely differs: {errors}"


def test_blur_lowers_edge_sharpness_monotonically_with_sigma(liver_slice: CTImage):
    values = [edge_sharpness(img.blur(liver_slice, sigma_mm=s).hu) for s in (0.0, 0.5, 1.0, 2.0, 3.0)]
    assert all(a > b for a, b in zip(values, values[1:], strict=False)), values
    assert np.array_equal(img.blur(liver_slice, sigma_mm=0.0).hu, liver_slice.hu)


def test_blur_sigma_is_physical_so_finer_pixels_need_more_pixels_of_blur(liver_crop: CTImage):
    coarse = liver_crop.replace(pixel_spacing_mm=(1.0, 1.0))
    fine = liver_crop.replace(pixel_spacing_mm=(0.5, 0.5))
    assert edge_sharpness(img.blur(fine, sigma_mm=1.0).hu) < edge_sharpness(img.blur(coarse, sigma_mm=1.0).hu)
    no_spacing = liver_crop.replace(pixel_spacing_mm=None)
    assert img.spacing_mm(no_spacing) == (0.7, 0.7)


def test_thick_slice_averages_given_neighbours(abdomen_series: Path):
    centre, before, after = (read_slice(abdomen_series, i) for i in (10, 9, 11))
    out = img.thick_slice(centre, thickness_mm=6.0, neighbours=[before.hu, after.hu])
    assert np.allclose(out.hu, (centre.hu + before.hu + after.hu) / 3, atol=1e-3)
    assert out.history[-1]["n_neighbours"] == 2 and out.slice_thickness_mm == 6.0
    with pytest.raises(InvalidParameterError):
        img.thick_slice(centre, neighbours=[before.hu[:100]])


def test_thick_slice_without_neighbours_softens_edges_and_lowers_noise(liver_crop: CTImage):
    thin = img.thick_slice(liver_crop, thickness_mm=3.0)  # the series is 3 mm already
    assert np.array_equal(thin.hu, liver_crop.hu)
    thick = img.thick_slice(liver_crop, thickness_mm=12.0, seed=0)
    roi = (slice(90, 130), slice(90, 130))
    assert thick.hu[roi].std() < 0.8 * liver_crop.hu[roi].std()
    assert edge_sharpness(thick.hu) < 0.9 * edge_sharpness(liver_crop.hu)


def test_resample_nearest_makes_blocks_and_linear_blurs(liver_crop: CTImage):
    blocky = img.resample(liver_crop, factor=4.0, interpolation="nearest").hu
    same_as_right = np.mean(blocky[:, 1:] == blocky[:, :-1])
    assert same_as_right > 0.6
    soft = img.resample(liver_crop, factor=3.0, interpolation="linear").hu
    assert edge_sharpness(soft) < 0.7 * edge_sharpness(liver_crop.hu)
    with pytest.raises(InvalidParameterError):
        img.resample(liver_crop, factor=2.0, interpolation="lanczos")


def test_jpeg_at_lower_quality_gives_larger_error(liver_slice: CTImage):
    errs = [float(np.abs(img.jpeg(liver_slice, quality=q).hu - liver_slice.hu)[LIVER_ROI].mean())
            for q in (95, 75, 50, 25, 10, 3)]
    assert all(a < b for a, b in zip(errs, errs[1:], strict=False)), errs


def test_jpeg_keeps_bone_by_default_and_clips_it_when_asked(liver_slice: CTImage):
    bone = liver_slice.hu > 700
    kept = img.jpeg(liver_slice, quality=50)
    assert kept.hu[bone].min() > 500
    clipped = img.jpeg(liver_slice, quality=50, keep_out_of_window=False)
    assert clipped.hu.max() <= 240.0 + 1e-3 and clipped.hu.min() >= -160.0 - 1e-3


def test_jpeg2000_at_higher_ratio_gives_larger_error(liver_slice: CTImage):
    errs = [float(np.abs(img.jpeg2000(liver_slice, compression_ratio=r).hu - liver_slice.hu).mean())
            for r in (2, 10, 40, 150)]
    assert errs[0] < 1.0  # ratio 2 on 16-bit HU is visually lossless
    assert all(a < b for a, b in zip(errs, errs[1:], strict=False)), errs


def test_quantise_posterises_the_window_into_few_levels(liver_slice: CTImage):
    out = img.quantise(liver_slice, bits=3, keep_out_of_window=False).hu
    assert len(np.unique(out)) <= 8
    errs = [float(np.abs(img.quantise(liver_slice, bits=b).hu - liver_slice.hu)[LIVER_ROI].mean())
            for b in (8, 6, 4, 2)]
    assert all(a < b for a, b in zip(errs, errs[1:], strict=False)), errs


def test_wrong_window_clips_and_crushes_contrast(liver_slice: CTImage):
    narrow = img.wrong_window(liver_slice, level_hu=100.0, width_hu=100.0).hu
    assert narrow.min() >= -160.0 - 1e-3 and narrow.max() <= 240.0 + 1e-3
    fat = liver_slice.hu < 0
    assert np.allclose(narrow[fat], -160.0)  # everything below the bad window's floor is one grey
    wide = img.wrong_window(liver_slice, level_hu=40.0, width_hu=2000.0).hu
    assert wide[LIVER_ROI].std() < 0.4 * liver_slice.hu[LIVER_ROI].std()
    right = img.wrong_window(liver_slice, level_hu=40.0, width_hu=400.0).hu
    assert display_error(right, liver_slice.hu) < 0.002
    with pytest.raises(InvalidParameterError):
        img.wrong_window(liver_slice, width_hu=0.0)


def test_out_of_range_parameters_give_clear_errors(liver_crop: CTImage):
    with pytest.raises(InvalidParameterError, match="sigma_mm"):
        img.blur(liver_crop, sigma_mm=-1.0)
    with pytest.raises(InvalidParameterError, match="quality"):
        img.jpeg(liver_crop, quality=0)
    with pytest.raises(InvalidParameterError, match="bits"):
        img.quantise(liver_crop, bits=0)


def test_noise_estimate_matches_a_flat_roi_of_a_real_slice(liver_slice: CTImage):
    roi_sd = float(liver_slice.hu[LIVER_ROI].std())
    est = img.estimate_noise_sigma_hu(liver_slice.hu)
    assert 0.7 * roi_sd < est < 1.3 * roi_sd
