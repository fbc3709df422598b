"""Reading DICOM: the bundled series, single files, compressed and multi-frame objects, mixed and gappy folders."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pydicom
import pytest
from io_fixtures import ABDOMEN, HEAD, SHARED, abdomen_files, ct_dataset
from pydicom.data import get_testdata_file
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence
from pydicom.uid import EnhancedCTImageStorage, RLELossless

import vliqa
from vliqa.core import CTImage, CTVolume
from vliqa.errors import InvalidParameterError, NotCTError
from vliqa.io import load


def test_bundled_series_loads_as_hu_volume_with_its_acquisition(abdomen_volume: CTVolume, abdomen_raw_hu):
    vol = abdomen_volume
    assert isinstance(vol, CTVolume) and vol.shape == (20, 512, 512)
    assert vol.hu.dtype == np.float32
    assert vol.hu.min() == -1024 and vol.hu.max() == 1839
    np.testing.assert_array_equal(vol.hu, abdomen_raw_hu)
    assert vol.pixel_spacing_mm == pytest.approx((0.9765625, 0.9765625))
    assert vol.slice_spacing_mm == pytest.approx(2.0)
    assert vol.slice_thickness_mm == pytest.approx(3.0)
    assert list(vol.slice_positions_mm) == sorted(vol.slice_positions_mm)
    acq = vol.acquisition
    assert acq.modality == "CT" and acq.manufacturer == "SIEMENS"
    assert acq.kernel.split(",")[0] == "Br38f"
    assert acq.ctdi_vol_mgy == pytest.approx(18.54, abs=0.01)
    assert acq.kvp == 120 and acq.tube_current_ma == 615 and acq.exposure_mas == 253
    assert acq.study_date == "2022-12-08" and acq.series_description == "CT Body 3.0"
    assert (acq.window_center, acq.window_width) == (40, 300)  # first of the multi-valued tags
    assert vol.warnings == ()
    assert len(vol.slice_sources) == 20


def test_single_dicom_file_gives_a_slice_with_its_position():
    path = abdomen_files()[0]
    image = load(path)
    assert isinstance(image, CTImage) and image.shape == (512, 512)
    ds = pydicom.dcmread(path)
    np.testing.assert_array_equal(image.hu, ds.pixel_array.astype(np.float32) - 1024)
    assert image.position_mm == pytest.approx(tuple(float(v) for v in ds.ImagePositionPatient))
    assert image.source == str(path)


def test_pydicom_ct_test_file_reads_and_mr_is_refused_unless_allowed():
    ct = load(get_testdata_file("CT_small.dcm"))
    ds = pydicom.dcmread(get_testdata_file("CT_small.dcm"))
    expected = ds.pixel_array * float(ds.RescaleSlope) + float(ds.RescaleIntercept)
    np.testing.assert_array_equal(ct.hu, np.maximum(expected, -1024).astype(np.float32))
    mr_path = get_testdata_file("MR_small.dcm")
    with pytest.raises(NotCTError, match="MR"):
        load(mr_path)
    mr = load(mr_path, allow_non_ct=True)
    assert mr.shape == (64, 64) and any("not CT" in w for w in mr.warnings)


def test_rle_compressed_copy_decodes_bit_for_bit(tmp_path: Path):
    ds = pydicom.dcmread(abdomen_files()[3])
    ds.decompress()
    plain = tmp_path / "plain.dcm"
    ds.save_as(plain)
    ds.compress(RLELossless)
    rle = tmp_path / "rle.dcm"
    ds.save_as(rle)
    assert pydicom.dcmread(rle).file_meta.TransferSyntaxUID == RLELossless
    np.testing.assert_array_equal(load(rle).hu, load(plain).hu)


def test_jpeg2000_series_matches_its_uncompressed_copy(tmp_path: Path):
    path = abdomen_files()[5]
    assert pydicom.dcmread(path, stop_before_pixels=True).file_meta.TransferSyntaxUID.is_compressed
    ds = pydicom.dcmread(path)
    ds.decompress()
    ds.save_as(tmp_path / "plain.dcm")
    np.testing.assert_array_equal(load(path).hu, load(tmp_path / "plain.dcm").hu)


def _enhanced_ct(frames_stored: list[np.ndarray], z_mm: list[float], intercepts: list[float]) -> Dataset:
    ds = ct_dataset(np.stack(frames_stored).astype(np.uint16), SOPClassUID=EnhancedCTImageStorage)
    for keyword in (
        "RescaleSlope",
        "RescaleIntercept",
        "PixelSpacing",
        "ImagePositionPatient",
        "ImageOrientationPatient",
    ):
        delattr(ds, keyword)
    ds.NumberOfFrames = len(frames_stored)
    measures = Dataset()
    measures.PixelSpacing = [0.7, 0.8]
    measures.SliceThickness = 1.5
    orientation = Dataset()
    orientation.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
    exposure = Dataset()
    exposure.CTDIvol = 7.5
    exposure.XRayTubeCurrentInmA = 210
    recon = Dataset()
    recon.ConvolutionKernel = ["B30f", "3"]
    shared = Dataset()
    shared.PixelMeasuresSequence = Sequence([measures])
    shared.PlaneOrientationSequence = Sequence([orientation])
    shared.CTExposureSequence = Sequence([exposure])
    shared.CTReconstructionSequence = Sequence([recon])
    ds.SharedFunctionalGroupsSequence = Sequence([shared])
    per_frame = []
    for z, intercept in zip(z_mm, intercepts, strict=True):
        item, pos, rescale = Dataset(), Dataset(), Dataset()
        pos.ImagePositionPatient = [0, 0, z]
        rescale.RescaleSlope = 1
        rescale.RescaleIntercept = intercept
        item.PlanePositionSequence = Sequence([pos])
        item.PixelValueTransformationSequence = Sequence([rescale])
        per_frame.append(item)
    ds.PerFrameFunctionalGroupsSequence = Sequence(per_frame)
    return ds


def test_enhanced_multiframe_ct_uses_per_frame_rescale_and_positions(tmp_path: Path, abdomen_raw_hu):
    hu = abdomen_raw_hu[:4, :64, :64].astype(np.int32)
    # frames stored in reverse order along z, the third with a different intercept
    intercepts = [-1024.0, -1024.0, -2048.0, -1024.0]
    stored = [(hu[3 - i] - intercepts[i]).astype(np.uint16) for i in range(4)]
    ds = _enhanced_ct(stored, z_mm=[30.0, 20.0, 10.0, 0.0], intercepts=intercepts)
    path = tmp_path / "enhanced.dcm"
    ds.save_as(path, enforce_file_format=True)
    vol = load(path)
    assert isinstance(vol, CTVolume) and vol.shape == (4, 64, 64)
    np.testing.assert_array_equal(vol.hu, hu.astype(np.float32))
    assert vol.slice_positions_mm == (0.0, 10.0, 20.0, 30.0)
    assert vol.pixel_spacing_mm == (0.7, 0.8) and vol.slice_thickness_mm == 1.5
    assert vol.acquisition.ctdi_vol_mgy == 7.5 and vol.acquisition.tube_current_ma == 210
    assert vol.acquisition.kernel == "B30f, 3"


def test_folder_with_two_series_loads_the_largest_and_names_the_other(abdomen_copy: Path):
    for f in HEAD.glob("*.dcm"):
        shutil.copy(f, abdomen_copy / f"head_{f.name}")
    head_uid = str(pydicom.dcmread(next(HEAD.glob("*.dcm")), stop_before_pixels=True).SeriesInstanceUID)
    vol = load(abdomen_copy)
    assert len(vol) == 20 and vol.acquisition.manufacturer == "SIEMENS"
    assert any(head_uid in w and "series_uid=" in w for w in vol.warnings)
    head = load(abdomen_copy, series_uid=head_uid)
    assert len(head) == 2 and head.acquisition.manufacturer.startswith("GE")
    with pytest.raises(InvalidParameterError, match="no series"):
        load(abdomen_copy, series_uid="1.2.3.4")


def test_missing_slice_is_reported_with_its_gap(abdomen_copy: Path, abdomen_volume: CTVolume):
    positions = abdomen_volume.slice_positions_mm
    removed = [
        f
        for f in abdomen_copy.iterdir()
        if float(pydicom.dcmread(f, stop_before_pixels=True).ImagePositionPatient[2]) == positions[10]
    ]
    removed[0].unlink()
    vol = load(abdomen_copy)
    assert len(vol) == 19
    gap = [w for w in vol.warnings if "missing" in w]
    assert gap and f"{positions[9]:.2f} to {positions[11]:.2f} mm" in gap[0]


def test_slices_out_of_file_order_are_sorted_by_position(abdomen_copy: Path, abdomen_raw_hu):
    files = sorted(abdomen_copy.iterdir())
    for i, f in enumerate(files):  # scramble the names: the order must come from the headers
        f.rename(abdomen_copy / f"{(i * 7) % 20:02d}.dcm")
    np.testing.assert_array_equal(load(abdomen_copy).hu, abdomen_raw_hu)


def test_padding_value_becomes_air_and_is_recorded_in_history():
    stored = np.full((32, 32), 24, dtype=np.int16)  # soft tissue 24 HU with intercept 0
    stored[:4] = -2000  # padding outside the field of view
    stored[4:8] = -1010  # real air, left alone
    ds = ct_dataset(stored, intercept=0.0, PixelPaddingValue=-2000)
    image = load(ds)
    assert image.hu[:4].max() == -1024 and image.hu[4:8].max() == -1010 and image.hu[8:].min() == 24
    assert image.history[0]["name"] == "padding_to_air" and image.history[0]["n_pixels"] == 4 * 32
    assert image.warnings == ()


def test_in_memory_dataset_loads_like_its_file():
    ds = pydicom.dcmread(abdomen_files()[0])
    np.testing.assert_array_equal(load(ds).hu, load(abdomen_files()[0]).hu)


@pytest.mark.skipif(not (SHARED / "dcm_qa_ct_ge_head").is_dir(), reason="shared head CT set not present")
def test_tilted_head_series_with_variable_spacing_loads_with_warnings():
    vol = load(SHARED / "dcm_qa_ct_ge_head")
    assert len(vol) == 28 and vol.hu.min() == -1024  # -1500 padding mapped to air
    text = " ".join(vol.warnings)
    assert "gantry tilt of 18.5 degrees" in text
    assert "uneven slice spacing, 1.08 to 7.00 mm" in text


def test_vliqa_top_level_load_is_the_io_loader():
    assert vliqa.load(ABDOMEN / abdomen_files()[0].name).shape == (512, 512)
