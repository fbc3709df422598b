"""Reading display-windowed rasters (PNG, JPEG, TIFF, Pillow images) back to HU through the assumed window."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import tifffile
from PIL import Image

from vliqa.core import PRESETS, CTImage, CTVolume, Window, apply_window
from vliqa.io import load

LDCT = PRESETS["ldctiqac"]  # W350 L40: display 0 is -135 HU, display 1 is 215 HU


def _ramp(rows: int = 64, cols: int = 80) -> np.ndarray:
    return np.tile(np.linspace(0.0, 1.0, cols, dtype=np.float32), (rows, 1))


def test_8bit_png_maps_to_hu_through_the_default_window(tmp_path: Path):
    grey = np.rint(_ramp() * 255).astype(np.uint8)
    Image.fromarray(grey).save(tmp_path / "slice.png")
    image = load(tmp_path / "slice.png")
    assert isinstance(image, CTImage) and image.display_window == LDCT
    assert image.hu.min() == pytest.approx(-135) and image.hu.max() == pytest.approx(215)
    # windowing again with the recorded window gives the stored grey values back
    np.testing.assert_array_equal(np.rint(apply_window(image.hu, image.display_window) * 255), grey)


def test_16bit_png_and_a_named_window(tmp_path: Path):
    grey = np.rint(_ramp() * 65535).astype(np.uint16)
    Image.fromarray(grey).save(tmp_path / "slice16.png")
    image = load(tmp_path / "slice16.png", window="lung")
    assert image.display_window.name == "lung"
    assert image.hu.min() == pytest.approx(-1350) and image.hu.max() == pytest.approx(150)
    custom = load(tmp_path / "slice16.png", window=(0.0, 100.0))
    assert custom.hu.min() == pytest.approx(-50) and custom.hu.max() == pytest.approx(50)


def test_jpeg_is_read_as_display_values(tmp_path: Path):
    grey = np.rint(_ramp() * 255).astype(np.uint8)
    Image.fromarray(grey).save(tmp_path / "slice.jpg", quality=95)
    image = load(tmp_path / "slice.jpg")
    expected = grey.astype(np.float32) / 255 * 350 - 135
    assert np.abs(image.hu - expected).mean() < 3  # lossy, but close


def test_ldctiqac_style_float_tiff_in_unit_range(tmp_path: Path):
    display = _ramp()
    tifffile.imwrite(tmp_path / "0001.tif", display)
    image = load(tmp_path / "0001.tif")
    np.testing.assert_allclose(image.hu, display * 350 - 135, atol=1e-3)
    assert image.warnings == ()
    tifffile.imwrite(tmp_path / "over.tif", display * 1.2 - 0.1)
    clipped = load(tmp_path / "over.tif")
    assert clipped.hu.min() == pytest.approx(-135) and clipped.hu.max() == pytest.approx(215)
    assert "clipped" in clipped.warnings[0]


def test_multipage_tiff_is_a_volume(tmp_path: Path):
    pages = np.stack([np.rint(_ramp() * k * 60).astype(np.uint8) for k in (1, 2, 3)])
    tifffile.imwrite(tmp_path / "stack.tiff", pages, photometric="minisblack")
    vol = load(tmp_path / "stack.tiff")
    assert isinstance(vol, CTVolume) and vol.shape == (3, 64, 80)
    assert vol.hu[0].max() < vol.hu[2].max()


def test_rgb_render_becomes_luminance_with_a_warning(tmp_path: Path):
    rgb = np.zeros((48, 48, 3), np.uint8)
    rgb[..., 0] = 200  # a red overlay
    rgb[..., 1] = 100
    Image.fromarray(rgb).save(tmp_path / "overlay.png")
    image = load(tmp_path / "overlay.png")
    luma = round(0.299 * 200 + 0.587 * 100)
    assert image.hu[0, 0] == pytest.approx(luma / 255 * 350 - 135, abs=1e-3)
    assert "luminance" in image.warnings[0]
    rgba = Image.fromarray(np.dstack([rgb, np.full((48, 48), 255, np.uint8)]), mode="RGBA")
    assert "RGBA" in load(rgba).warnings[0]


def test_folder_of_png_slices_stacks_in_natural_order(tmp_path: Path):
    for k in (1, 2, 10):  # 'slice10' must come after 'slice2'
        Image.fromarray(np.full((32, 40), k * 20, np.uint8)).save(tmp_path / f"slice{k}.png")
    vol = load(tmp_path)
    assert isinstance(vol, CTVolume) and vol.shape == (3, 32, 40)
    assert [Path(s).name for s in vol.slice_sources] == ["slice1.png", "slice2.png", "slice10.png"]
    assert vol.hu[0, 0, 0] < vol.hu[1, 0, 0] < vol.hu[2, 0, 0]


def test_pil_image_in_memory_is_a_raster():
    grey = Image.fromarray(np.full((32, 32), 255, np.uint8))
    image = load(grey, window=Window(level=0, width=2000))
    assert image.hu.max() == pytest.approx(1000) and image.display_window.width == 2000
