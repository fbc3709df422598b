"""Loading photographs: `domain="auto"` reads a colour photo as a PhotoImage and keeps every CT export CT."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
import tifffile
from PIL import Image

from vliqa.core import CTImage, PhotoImage
from vliqa.data.photos import load_photo
from vliqa.errors import ImageSizeError, InconsistentSeriesError, InvalidParameterError
from vliqa.io import iter_load, load, load_all, save_png16
from vliqa.io.export import STANDARD_EXPORTS, ExportSpec, display_export, render_8bit
from vliqa.io.export import _overlay as overlay_render


@pytest.fixture(scope="module")
def ct_slice(abdomen_series: Path) -> CTImage:
    return load(sorted(abdomen_series.iterdir())[0])


@pytest.fixture()
def coffee_png(tmp_path: Path) -> Path:
    path = tmp_path / "coffee.png"
    Image.fromarray(load_photo("coffee")).save(path)
    return path


def test_colour_photo_is_a_photo_under_auto_and_ct_by_default(coffee_png, tmp_path):
    photo = load(coffee_png, domain="auto")
    assert isinstance(photo, PhotoImage) and photo.shape == (400, 600) and photo.source == str(coffee_png)
    np.testing.assert_allclose(photo.rgb, load_photo("coffee") / 255, atol=1e-6)
    as_ct = load(coffee_png)
    assert isinstance(as_ct, CTImage) and "luminance" in as_ct.warnings[0]
    jpeg = tmp_path / "coffee.jpg"
    Image.fromarray(load_photo("coffee")).save(jpeg, quality=90)
    assert isinstance(load(jpeg, domain="auto"), PhotoImage)
    tif = tmp_path / "coffee.tif"
    tifffile.imwrite(tif, load_photo("coffee"))
    assert isinstance(load(tif, domain="auto"), PhotoImage)


def test_grey_ct_exports_of_the_bundled_sample_stay_ct_under_auto(ct_slice, tmp_path):
    for k, spec in enumerate([*STANDARD_EXPORTS, ExportSpec(40, 400, jpeg_quality=60, overlay=True)]):
        grey = render_8bit(ct_slice, spec)
        pixels = overlay_render(grey) if spec.overlay else grey
        path = tmp_path / f"export{k}.{'jpg' if spec.jpeg_quality else 'png'}"
        Image.fromarray(pixels).save(path, **({"quality": spec.jpeg_quality} if spec.jpeg_quality else {}))
        assert isinstance(load(path, domain="auto"), CTImage), spec.name
    rgb_grey = tmp_path / "grey_rgb.jpg"
    Image.fromarray(np.stack([render_8bit(ct_slice, ExportSpec())] * 3, axis=-1)).save(rgb_grey, quality=80)
    assert isinstance(load(rgb_grey, domain="auto"), CTImage)
    assert isinstance(display_export(ct_slice, ExportSpec(overlay=True)), CTImage)


def test_arrays_and_pillow_images_follow_the_domain(ct_slice):
    assert isinstance(load(load_photo("rocket"), domain="auto"), PhotoImage)
    assert isinstance(load(Image.fromarray(load_photo("rocket")), domain="auto"), PhotoImage)
    assert isinstance(load(ct_slice.hu, domain="auto"), CTImage)
    grey_photo = load(np.full((64, 64), 128, np.uint8), domain="photo")
    assert isinstance(grey_photo, PhotoImage) and np.ptp(grey_photo.rgb, axis=-1).max() == 0
    photo = PhotoImage.from_pixels(load_photo("rocket"))
    assert load(photo, domain="ct") is photo


def test_forcing_photo_on_ct_files_is_a_clear_error(abdomen_series, ct_slice, tmp_path):
    with pytest.raises(InvalidParameterError, match="DICOM holds CT, not a photograph"):
        load(sorted(abdomen_series.iterdir())[0], domain="photo")
    png16 = save_png16(ct_slice, tmp_path / "hu.png")
    assert isinstance(load(png16, domain="auto"), CTImage)
    with pytest.raises(InvalidParameterError, match="stores CT in HU"):
        load(png16, domain="photo")
    with pytest.raises(InvalidParameterError, match="unknown image domain"):
        load(png16, domain="xray")
    (series,) = list(iter_load([abdomen_series], domain="photo"))
    assert isinstance(series.error, InvalidParameterError) and series.image is None


def test_a_folder_of_photos_is_no_series_but_load_all_reads_each(tmp_path):
    for name in ("coffee", "rocket"):
        Image.fromarray(load_photo(name)).save(tmp_path / f"{name}.png")
    with pytest.raises(InconsistentSeriesError, match="photographs"):
        load(tmp_path, domain="auto")
    photos = load_all(tmp_path, domain="auto")
    assert [type(p) for p in photos] == [PhotoImage, PhotoImage]
    with pytest.raises(InconsistentSeriesError, match="differ in size"):  # as CT: two slices that do not stack
        load(tmp_path)


def test_photos_may_be_larger_than_ct_slices(tmp_path):
    wide = np.tile(load_photo("coffee")[:64], (1, 8, 1))  # 64 x 4800 px
    path = tmp_path / "panorama.png"
    Image.fromarray(wide).save(path)
    assert isinstance(load(path, domain="auto"), PhotoImage)
    with pytest.raises(ImageSizeError):
        load(path)


def test_replace_keeps_the_photo_domain():
    photo = PhotoImage.from_pixels(load_photo("rocket"), source="r.png")
    assert dataclasses.replace(photo, source="s.png").domain == "photo"
