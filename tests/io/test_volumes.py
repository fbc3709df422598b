"""Reading HU volumes: NIfTI (reoriented to radiological axial slices), MetaImage (.mhd/.raw, zlib, .mha) and .npy."""

from __future__ import annotations

import zlib
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
from io_fixtures import SHARED

from vliqa.core import CTImage, CTVolume
from vliqa.errors import CorruptFileError
from vliqa.io import load

TOTALSEG = SHARED / "totalsegmentator_example"


def _liver_left_spine_down(slice_hu: np.ndarray) -> tuple[bool, bool]:
    """Gives (more soft tissue on the image left = patient right, bone centre in the lower half) of a slice."""
    rows, cols = slice_hu.shape
    soft = (slice_hu > 40) & (slice_hu < 200)
    bone_rows = np.nonzero(slice_hu > 300)[0]
    return soft[:, : cols // 2].sum() > soft[:, cols // 2 :].sum(), bone_rows.mean() > 0.55 * rows


@pytest.mark.skipif(not TOTALSEG.is_dir(), reason="shared TotalSegmentator example not present")
def test_nifti_slices_display_like_the_dicom_series_of_the_same_scanner(abdomen_volume: CTVolume):
    vol = load(TOTALSEG / "example_ct.nii.gz")
    assert isinstance(vol, CTVolume) and vol.shape == (112, 101, 122)
    assert vol.pixel_spacing_mm == (3.0, 3.0) and vol.slice_spacing_mm == pytest.approx(3.0)
    assert vol.hu.min() == -1207 and vol.hu.max() == 3382
    # upper abdomen: liver (patient right) on the image left, spine at the bottom — as in the DICOM series
    assert _liver_left_spine_down(vol.hu[100]) == (True, True)
    assert _liver_left_spine_down(abdomen_volume.hu[10]) == (True, True)


def _marked_volume() -> np.ndarray:
    """Gives voxels (x, y, z) in RAS+ order with a bright marker at the patient's right-anterior corner of slice 0."""
    data = np.full((40, 30, 5), -1000.0, dtype=np.float32)
    data[-4:, -3:, 0] = 1000.0  # high x = patient right, high y = anterior
    data[:, :, 4] = 50.0
    return data


def test_nifti_written_in_any_axis_order_reads_as_the_same_radiological_slices(tmp_path: Path):
    data = _marked_volume()
    ras = np.diag([0.7, 0.8, 2.5, 1.0])
    ras[:3, 3] = (-10, -20, 100)
    nib.save(nib.Nifti1Image(data, ras), tmp_path / "ras.nii.gz")
    # the same voxels stored left-to-right and posterior-to-anterior flipped (an LPS-like file)
    lps = ras @ np.array([[-1, 0, 0, 39], [0, -1, 0, 29], [0, 0, 1, 0], [0, 0, 0, 1]], dtype=float)
    nib.save(nib.Nifti1Image(np.ascontiguousarray(data[::-1, ::-1]), lps), tmp_path / "lps.nii")
    for name in ("ras.nii.gz", "lps.nii"):
        vol = load(tmp_path / name)
        assert vol.shape == (5, 30, 40)
        assert vol.pixel_spacing_mm == pytest.approx((0.8, 0.7))
        assert vol.slice_positions_mm == pytest.approx((100, 102.5, 105, 107.5, 110))
        assert vol.hu[0, :3, :4].min() == 1000  # marker at the top left: anterior up, patient right on the left
        assert vol.hu[0].sum() == pytest.approx(1000 * 12 - 1000 * (30 * 40 - 12))
        assert np.all(vol.hu[4] == 50)


def test_nifti_scaling_is_applied_and_single_slice_gives_an_image(tmp_path: Path):
    stored = np.arange(32 * 32, dtype=np.int16).reshape(32, 32, 1)
    img = nib.Nifti1Image(stored, np.eye(4))
    img.header.set_slope_inter(2.0, -1024.0)
    nib.save(img, tmp_path / "scaled.nii")
    image = load(tmp_path / "scaled.nii")
    assert isinstance(image, CTImage)
    assert image.hu.min() == -1024 and image.hu.max() == 2 * (32 * 32 - 1) - 1024


def _write_mhd(folder: Path, hu_zyx: np.ndarray, *, compressed: bool, single_file: bool = False) -> Path:
    """Writes a MetaImage with identity orientation (ITK's LPS) and gives the header path."""
    body = hu_zyx.astype("<i2").tobytes()
    if compressed:
        body = zlib.compress(body)
    nz, ny, nx = hu_zyx.shape
    lines = [
        "ObjectType = Image",
        "NDims = 3",
        "BinaryData = True",
        "BinaryDataByteOrderMSB = False",
        f"CompressedData = {compressed}",
        *([f"CompressedDataSize = {len(body)}"] if compressed else []),
        "TransformMatrix = 1 0 0 0 1 0 0 0 1",
        "Offset = -50 -60 -200",
        "ElementSpacing = 0.6 0.9 1.25",
        f"DimSize = {nx} {ny} {nz}",
        "ElementType = MET_SHORT",
    ]
    if single_file:
        path = folder / "volume.mha"
        path.write_bytes(("\n".join([*lines, "ElementDataFile = LOCAL"]) + "\n").encode() + body)
        return path
    raw = folder / ("volume.zraw" if compressed else "volume.raw")
    raw.write_bytes(body)
    path = folder / "volume.mhd"
    path.write_text("\n".join([*lines, f"ElementDataFile = {raw.name}"]) + "\n")
    return path


@pytest.mark.parametrize("compressed, single_file", [(False, False), (True, False), (True, True), (False, True)])
def test_metaimage_reads_raw_zlib_and_mha_in_dicom_layout(tmp_path: Path, compressed: bool, single_file: bool):
    rng = np.random.default_rng(0)
    hu = rng.integers(-1024, 2000, size=(3, 24, 20)).astype(np.int16)
    vol = load(_write_mhd(tmp_path, hu, compressed=compressed, single_file=single_file))
    # identity LPS orientation is the standard DICOM axial layout: the array comes back as written
    np.testing.assert_array_equal(vol.hu, hu.astype(np.float32))
    assert vol.pixel_spacing_mm == pytest.approx((0.9, 0.6))
    assert vol.slice_positions_mm == pytest.approx((-200, -198.75, -197.5))


def test_metaimage_with_truncated_data_is_corrupt(tmp_path: Path):
    path = _write_mhd(tmp_path, np.zeros((2, 20, 20), np.int16), compressed=False)
    raw = tmp_path / "volume.raw"
    raw.write_bytes(raw.read_bytes()[:100])
    with pytest.raises(CorruptFileError, match="truncated"):
        load(path)


def test_npy_holds_hu_in_two_or_three_dimensions(tmp_path: Path):
    slice_hu = np.linspace(-1000, 1000, 64 * 48, dtype=np.float32).reshape(64, 48)
    np.save(tmp_path / "slice.npy", slice_hu)
    np.save(tmp_path / "stack.npy", np.stack([slice_hu, slice_hu + 1]).astype(np.int16))
    image = load(tmp_path / "slice.npy")
    assert isinstance(image, CTImage)
    np.testing.assert_array_equal(image.hu, slice_hu)
    stack = load(tmp_path / "stack.npy")
    assert isinstance(stack, CTVolume) and stack.shape == (2, 64, 48) and stack.hu.dtype == np.float32


def test_unit_range_array_is_still_hu_with_a_warning():
    display_like = np.random.default_rng(1).random((32, 32)).astype(np.float32)
    image = load(display_like)
    np.testing.assert_array_equal(image.hu, display_like)  # not rescaled: arrays are HU
    assert image.display_window is None and "[0, 1]" in image.warnings[0]


def test_numpy_array_in_memory_is_copied_not_aliased():
    hu = np.zeros((3, 32, 32), np.float32)
    vol = load(hu)
    hu[:] = 5
    assert isinstance(vol, CTVolume) and vol.hu.max() == 0
