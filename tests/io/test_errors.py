"""Bad inputs give typed errors whose messages name the file, what is wrong and what to do."""

from __future__ import annotations

import os
import struct
import zlib
from pathlib import Path

import numpy as np
import pydicom
import pytest
from io_fixtures import abdomen_files, ct_dataset
from pydicom.data import get_testdata_file
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import BasicTextSRStorage, ExplicitVRLittleEndian, RTStructureSetStorage, generate_uid

from vliqa.errors import (
    CorruptFileError,
    EmptyInputError,
    ImageSizeError,
    InconsistentSeriesError,
    InputNotFoundError,
    InvalidImageError,
    MissingPixelDataError,
    PermissionDeniedError,
    UnsupportedFormatError,
)
from vliqa.io import load


def test_truncated_dicom_gives_clear_error(tmp_path: Path):
    for name, source in (("j2k.dcm", abdomen_files()[0]), ("plain.dcm", get_testdata_file("CT_small.dcm"))):
        data = Path(source).read_bytes()
        cut = tmp_path / name
        cut.write_bytes(data[: len(data) // 2])
        with pytest.raises(CorruptFileError, match=name) as info:
            load(cut)
        assert "again" in str(info.value)


@pytest.mark.parametrize("name", ["slice.png", "vol.nii.gz", "vol.nii", "vol.npy", "page.tif"])
def test_truncated_files_of_every_format_are_corrupt(tmp_path: Path, name: str):
    import tifffile
    from PIL import Image

    from vliqa.core import CTVolume
    from vliqa.io.write import save_nifti, save_npy

    rng = np.random.default_rng(0)
    whole = tmp_path / f"whole_{name}"
    if name.endswith(".png"):
        Image.fromarray(rng.integers(0, 255, (200, 200), dtype=np.uint8)).save(whole)
    elif name.endswith(".tif"):
        tifffile.imwrite(whole, rng.random((64, 64), dtype=np.float32))
    else:
        vol = CTVolume(hu=rng.random((3, 64, 64), dtype=np.float32) * 1000)
        (save_npy if name.endswith(".npy") else save_nifti)(vol, whole)
    data = whole.read_bytes()
    (tmp_path / name).write_bytes(data[: len(data) // 2])
    with pytest.raises(CorruptFileError, match=name):
        load(tmp_path / name)


def test_zero_byte_file_is_corrupt(tmp_path: Path):
    empty = tmp_path / "empty.dcm"
    empty.touch()
    with pytest.raises(CorruptFileError, match="empty"):
        load(empty)


def _no_pixel_object(sop_class: str, modality: str) -> Dataset:
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.MediaStorageSOPClassUID = sop_class
    ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.SOPClassUID = sop_class
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID
    ds.Modality = modality
    ds.SeriesInstanceUID = generate_uid()
    return ds


@pytest.mark.parametrize("sop_class, modality", [(BasicTextSRStorage, "SR"), (RTStructureSetStorage, "RTSTRUCT")])
def test_dicom_without_pixels_is_refused(tmp_path: Path, sop_class: str, modality: str):
    path = tmp_path / f"{modality}.dcm"
    _no_pixel_object(sop_class, modality).save_as(path, enforce_file_format=True)
    with pytest.raises(MissingPixelDataError, match=modality):
        load(path)
    with pytest.raises(EmptyInputError, match="none holds an image"):
        load(tmp_path)


def test_one_pixel_images_are_too_small(tmp_path: Path):
    with pytest.raises(ImageSizeError, match="at least 16"):
        load(ct_dataset(np.zeros((1, 1), np.uint16)))
    with pytest.raises(ImageSizeError):
        load(np.zeros((1, 1), np.float32))
    from PIL import Image

    Image.new("L", (1, 1)).save(tmp_path / "dot.png")
    with pytest.raises(ImageSizeError):
        load(tmp_path / "dot.png")


def test_huge_dicom_is_refused_from_its_header_before_decoding(tmp_path: Path):
    ds = ct_dataset(np.zeros((16, 16), np.uint16))
    ds.Rows = ds.Columns = 10000  # the 512 bytes of pixel data could never be decoded to this size
    path = tmp_path / "huge.dcm"
    ds.save_as(path, enforce_file_format=True)
    with pytest.raises(ImageSizeError, match="10000x10000.*at most 4096"):
        load(path)


def _png_header_only(width: int, height: int) -> bytes:
    """Gives a PNG whose header claims width x height but whose data is a few bytes (decoding would fail)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\x00" * 10)) + chunk(b"IEND", b"")
    )


def test_huge_png_is_refused_before_allocating(tmp_path: Path):
    path = tmp_path / "huge.png"
    path.write_bytes(_png_header_only(10000, 10000))
    with pytest.raises(ImageSizeError, match="10000x10000"):
        load(path)


def test_nan_values_are_invalid(tmp_path: Path):
    hu = np.zeros((32, 32), np.float32)
    hu[3, 4] = np.nan
    with pytest.raises(InvalidImageError, match="NaN"):
        load(hu)
    np.save(tmp_path / "bad.npy", np.where(hu == 0, np.inf, hu))
    with pytest.raises(InvalidImageError, match="bad.npy"):
        load(tmp_path / "bad.npy")


def test_empty_folder_says_what_is_read(tmp_path: Path):
    (tmp_path / "notes.txt").write_text("no images here")
    with pytest.raises(EmptyInputError) as info:
        load(tmp_path)
    message = str(info.value)
    assert str(tmp_path) in message and ".nii.gz" in message and "notes.txt" in message


def test_missing_path_is_not_found(tmp_path: Path):
    with pytest.raises(InputNotFoundError, match="no such file"):
        load(tmp_path / "nowhere.dcm")


def test_unknown_extension_is_unsupported(tmp_path: Path):
    path = tmp_path / "scan.xyz"
    path.write_bytes(b"not an image at all" * 10)
    with pytest.raises(UnsupportedFormatError, match="PNG"):
        load(path)
    with pytest.raises(UnsupportedFormatError):
        load({"not": "an image"})


@pytest.mark.skipif(hasattr(os, "geteuid") and os.geteuid() == 0, reason="root reads files whatever their mode")
def test_unreadable_file_gives_permission_error(tmp_path: Path):
    path = tmp_path / "secret.npy"
    np.save(path, np.zeros((32, 32), np.float32))
    path.chmod(0)
    with pytest.raises(PermissionDeniedError):
        load(path)


def test_file_the_user_may_not_read_gives_permission_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    path = tmp_path / "secret.npy"
    np.save(path, np.zeros((32, 32), np.float32))
    real_access = os.access
    monkeypatch.setattr(os, "access", lambda p, mode, **kw: False if Path(p) == path else real_access(p, mode, **kw))
    with pytest.raises(PermissionDeniedError, match="chmod"):
        load(path)


def test_series_with_slices_of_two_sizes_is_inconsistent(tmp_path: Path):
    uid = generate_uid()
    for i, size in enumerate((32, 32, 48)):
        ds = ct_dataset(np.zeros((size, size), np.uint16), SeriesInstanceUID=uid, ImagePositionPatient=[0, 0, i])
        ds.save_as(tmp_path / f"{i}.dcm", enforce_file_format=True)
    with pytest.raises(InconsistentSeriesError, match="32x32: 2 slices.*48x48: 1 slices"):
        load(tmp_path)


def test_damaged_pixel_data_is_corrupt(tmp_path: Path):
    ds = pydicom.dcmread(get_testdata_file("CT_small.dcm"))
    ds.PixelData = ds.PixelData[:100]
    path = tmp_path / "short.dcm"
    ds.save_as(path)
    with pytest.raises(CorruptFileError, match="short.dcm"):
        load(path)
