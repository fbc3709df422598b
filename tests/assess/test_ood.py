"""Out-of-distribution inputs are flagged with a reason and a raised uncertainty, not scored confidently."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from vliqa.assess import Assessor, check_image
from vliqa.assess.ood import OOD_MIN_UNCERTAINTY
from vliqa.errors import ImageSizeError
from vliqa.io import load


@pytest.fixture(scope="module")
def assessor(tiny_checkpoint) -> Assessor:
    return Assessor(tiny_checkpoint)


def _flagged(result, words: str) -> None:
    assert result.out_of_distribution
    assert words in result.ood_reason
    assert result.uncertainty >= OOD_MIN_UNCERTAINTY
    assert result.distortions == ()
    assert "Out of distribution" in result.description


def test_real_ct_slice_is_in_distribution(abdomen_volume):
    assert not check_image(abdomen_volume.slice(0)).out_of_distribution


def test_constant_image_is_blank(assessor):
    _flagged(assessor.assess(np.full((128, 128), 40.0, np.float32)), "blank")


def test_small_image_is_tiny_and_too_small_image_is_a_clean_error(assessor, abdomen_volume):
    _flagged(assessor.assess(abdomen_volume.hu[0, 200:240, 200:240].copy()), "tiny")
    with pytest.raises(ImageSizeError):
        assessor.assess(np.zeros((12, 12), np.float32))


def test_twenty_pixel_png_is_tiny(assessor, abdomen_volume, tmp_path):
    path = tmp_path / "thumb.png"
    Image.fromarray(np.linspace(0, 255, 400, dtype=np.uint8).reshape(20, 20)).save(path)
    _flagged(assessor.assess(path), "tiny")


def test_rgb_photo_is_not_ct_but_grey_render_in_rgb_is(assessor, abdomen_volume, tmp_path):
    rng = np.random.default_rng(0)
    photo = np.zeros((128, 128, 3), np.uint8)
    photo[..., 0] = 200
    photo[..., 1] = np.linspace(0, 255, 128, dtype=np.uint8)[None, :]
    photo[..., 2] = rng.integers(0, 80, (128, 128), dtype=np.uint8)
    Image.fromarray(photo).save(tmp_path / "photo.png")
    _flagged(assessor.assess(tmp_path / "photo.png"), "colour")
    grey = np.clip((abdomen_volume.hu[0] + 135) / 350 * 255, 0, 255).astype(np.uint8)
    Image.fromarray(np.stack([grey] * 3, axis=-1)).save(tmp_path / "grey_rgb.png")
    assert not check_image(load(tmp_path / "grey_rgb.png", window="ldctiqac")).out_of_distribution


def test_probabilities_given_as_hu_are_not_ct(assessor):
    values = np.random.default_rng(1).random((128, 128)).astype(np.float32)
    _flagged(assessor.assess(values), "too narrow for HU")


def test_values_without_air_or_soft_tissue_are_not_hu(assessor):
    values = np.random.default_rng(2).uniform(1000, 3000, (128, 128)).astype(np.float32)
    _flagged(assessor.assess(values), "not HU")


def test_slice_of_air_is_mostly_air(assessor, abdomen_volume):
    air = np.random.default_rng(3).normal(-1000, 10, (256, 256)).astype(np.float32)
    air[100:108, 100:108] = 40.0
    _flagged(assessor.assess(air), "mostly air")


def test_extreme_values_are_outside_hu(assessor, abdomen_volume):
    hu = abdomen_volume.hu[0].copy()
    hu[:10, :10] = 60000.0
    _flagged(assessor.assess(hu), "outside any CT HU range")


def test_coarse_resampled_pixels_are_out_of_distribution(shared_data):
    # the TotalSegmentator example is resampled to 3 mm voxels: no scanner reconstructs diagnostic slices so
    vol = load(shared_data / "totalsegmentator_example" / "example_ct.nii.gz")
    result = check_image(vol.slice(len(vol) // 2))
    assert result.out_of_distribution and "coarse pixels (3 mm" in result.reason
