"""Writers round-trip through `load`, and every write is atomic (a failed write leaves no file behind)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from vliqa.core import PRESETS, CTImage, CTVolume
from vliqa.io import load
from vliqa.io.write import atomic_path, atomic_write_bytes, save_nifti, save_npy, save_png16, save_preview_png


def _slice() -> CTImage:
    rng = np.random.default_rng(3)
    hu = rng.integers(-1024, 3000, size=(40, 56)).astype(np.float32)
    return CTImage(hu=hu, pixel_spacing_mm=(0.7, 0.8), slice_thickness_mm=2.0, position_mm=(0.0, 0.0, 12.5))


def test_png16_round_trips_integer_hu_exactly(tmp_path: Path):
    image = _slice()
    path = save_png16(image, tmp_path / "slice.png")
    back = load(path)
    np.testing.assert_array_equal(back.hu, image.hu)
    assert back.display_window is None and back.pixel_spacing_mm == (0.7, 0.8)
    with Image.open(path) as im:
        assert json.loads(im.text["vliqa"])["hu_offset"] == 1024 and np.asarray(im).dtype == np.uint16


def test_png16_rounds_and_clips_to_its_range(tmp_path: Path):
    hu = np.full((32, 32), 10.4, np.float32)
    hu[0, 0], hu[0, 1] = -3000, 70000
    back = load(save_png16(CTImage(hu=hu), tmp_path / "clip.png")).hu
    assert back[5, 5] == 10 and back[0, 0] == -1024 and back[0, 1] == 65535 - 1024


def test_preview_png_is_the_windowed_slice(tmp_path: Path):
    image = _slice()
    save_preview_png(image, tmp_path / "preview.png", window="abdomen")
    with Image.open(tmp_path / "preview.png") as im:
        assert im.mode == "L" and im.size == (56, 40)
        grey = np.asarray(im)
    back = load(tmp_path / "preview.png", window="abdomen")
    inside = (image.hu > -160) & (image.hu < 240)
    assert np.abs(back.hu - image.hu)[inside].max() <= 400 / 255 / 2 + 1e-3  # one grey level
    assert grey[image.hu <= -160].max() == 0 and grey[image.hu >= 240].min() == 255


def test_preview_of_a_volume_is_its_middle_slice(tmp_path: Path):
    vol = CTVolume(hu=np.stack([np.full((32, 32), v, np.float32) for v in (-1000, 40, 1000)]))
    save_preview_png(vol, tmp_path / "mid.png", window=PRESETS["ldctiqac"])
    with Image.open(tmp_path / "mid.png") as im:
        assert np.asarray(im)[0, 0] == round((40 + 135) / 350 * 255)


def test_npy_round_trip(tmp_path: Path):
    vol = CTVolume(hu=np.stack([_slice().hu, _slice().hu - 5]))
    np.testing.assert_array_equal(load(save_npy(vol, tmp_path / "vol.npy")).hu, vol.hu)


@pytest.mark.parametrize("name", ["vol.nii.gz", "vol.nii"])
def test_nifti_round_trip_keeps_pixels_spacing_and_positions(tmp_path: Path, name: str, abdomen_volume: CTVolume):
    vol = CTVolume(
        hu=abdomen_volume.hu[:3, ::8, ::4],
        pixel_spacing_mm=(0.977 * 8, 0.977 * 4),
        slice_thickness_mm=3.0,
        slice_positions_mm=(-804.5, -802.5, -800.5),
    )
    back = load(save_nifti(vol, tmp_path / name))
    np.testing.assert_array_equal(back.hu, vol.hu)
    assert back.pixel_spacing_mm == pytest.approx(vol.pixel_spacing_mm, abs=1e-4)
    assert back.slice_positions_mm == pytest.approx(vol.slice_positions_mm, abs=1e-3)


def test_nifti_of_one_slice_reads_back_as_a_slice(tmp_path: Path):
    image = _slice()
    back = load(save_nifti(image, tmp_path / "one.nii.gz"))
    assert isinstance(back, CTImage)
    np.testing.assert_array_equal(back.hu, image.hu)
    assert back.slice_thickness_mm == pytest.approx(2.0)


def test_failed_write_leaves_neither_target_nor_temporary(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    target = tmp_path / "out" / "table.bin"
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_bytes(b"half of it")
        raise RuntimeError("disk full halfway")
    assert not target.exists() and list(target.parent.iterdir()) == []

    def save_half_then_fail(self, fp, *args, **kwargs):  # a disk that fills up during the PNG write
        Path(fp).write_bytes(b"\x89PNG half")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(Image.Image, "save", save_half_then_fail)
    with pytest.raises(OSError, match="No space"):
        save_png16(_slice(), tmp_path / "slice.png")
    assert [p.name for p in tmp_path.iterdir()] == ["out"]


def test_atomic_write_replaces_an_existing_file_whole(tmp_path: Path):
    target = tmp_path / "state.json"
    target.write_text("old")
    atomic_write_bytes(target, b'{"new": true}')
    assert target.read_text() == '{"new": true}' and len(list(tmp_path.iterdir())) == 1
    assert target.stat().st_mode & 0o044  # readable by others like a normal write, not mkstemp's 0600
