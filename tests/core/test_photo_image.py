"""Photographs are a second image domain: `PhotoImage` holds RGB in [0, 1] and `detect_domain` tells them from CT."""

from __future__ import annotations

import numpy as np
import pytest

from vliqa.core import CTImage, PhotoImage, check_domain, detect_domain, unit_rgb
from vliqa.data.photos import load_photo
from vliqa.errors import InvalidImageError, InvalidParameterError


@pytest.mark.parametrize("photo_id", ["astronaut", "coffee", "chelsea", "rocket"])
def test_every_natural_photo_is_detected_as_a_photo(photo_id):
    assert detect_domain(load_photo(photo_id)) == "photo"
    assert detect_domain(load_photo(photo_id).astype(np.float32) / 255) == "photo"


def test_grey_slices_grey_saved_as_rgb_and_hu_arrays_are_ct():
    grey = np.linspace(0, 255, 64 * 64).reshape(64, 64).astype(np.uint8)
    assert detect_domain(grey) == "ct"
    assert detect_domain(np.stack([grey] * 3, axis=-1)) == "ct"
    hu = np.random.default_rng(0).normal(40, 300, (64, 64, 3)).astype(np.float32)  # negative: HU, not colours
    assert detect_domain(hu) == "ct"
    assert detect_domain(CTImage(np.zeros((32, 32)))) == "ct"


def test_a_ct_render_with_a_colour_overlay_on_black_air_stays_ct():
    # a fused PET/CT render: colour over the body, most of the frame black air
    rgb = np.zeros((128, 128, 3), np.uint8)
    rgb[32:96, 32:96] = (220, 90, 20)
    assert detect_domain(rgb) == "ct"


def test_photo_image_holds_float_rgb_and_says_its_domain():
    photo = PhotoImage.from_pixels(load_photo("coffee"), source="coffee.png")
    assert photo.rgb.dtype == np.float32 and photo.rgb.shape == (400, 600, 3)
    assert 0.0 <= photo.rgb.min() and photo.rgb.max() <= 1.0
    assert photo.domain == "photo" and photo.slice_index is None and photo.shape == (400, 600)
    assert photo.summary()["domain"] == "photo"
    stepped = photo.with_step("crop", {"px": 8}, photo.rgb[:8, :8])
    assert stepped.history == ({"name": "crop", "px": 8},) and stepped.shape == (8, 8)


def test_unit_rgb_scales_by_type_and_repeats_grey():
    assert unit_rgb(np.full((4, 4), 255, np.uint8)).shape == (4, 4, 3)
    assert float(unit_rgb(np.full((4, 4, 3), 65535, np.uint16)).max()) == 1.0
    assert float(unit_rgb(np.full((4, 4, 3), 128.0)).max()) == pytest.approx(128 / 255)


def test_bad_pixels_and_domains_give_clear_errors():
    with pytest.raises(InvalidImageError, match="no colours"):
        unit_rgb(np.full((4, 4, 3), -100.0))
    with pytest.raises(InvalidImageError, match="rows, cols, 3"):
        PhotoImage(np.zeros((4, 4)))
    with pytest.raises(InvalidParameterError, match="auto, ct, photo"):
        check_domain("xray")


@pytest.mark.slow
def test_every_reader_study_render_beside_the_project_stays_ct(shared_data):
    from PIL import Image

    files = [*shared_data.glob("reader_studies/petct_dev/images/*.jpg"),  # colour PET/CT fusion renders
             *shared_data.glob("reader_studies/mtdgan_dev/*/set_*/*.png")]
    assert len(files) > 300
    for path in files:
        with Image.open(path) as im:
            assert detect_domain(np.asarray(im)) == "ct", path
