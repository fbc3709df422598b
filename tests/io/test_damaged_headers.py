"""Damaged headers of real files (a flipped byte, a hand-edited field) give CorruptFileError naming file and fault."""

from __future__ import annotations

import shutil
import struct
from pathlib import Path

import numpy as np
import pydicom
import pytest
from io_fixtures import HEAD
from pydicom.datadict import tag_for_keyword
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence

from vliqa.errors import CorruptFileError
from vliqa.io import iter_load, load

HEAD_SLICE = HEAD / "12.dcm"  # explicit VR little endian, uncompressed: the VR of each element is in the file


def _vr_offset(path: Path, keyword: str, *, nested_in: str | None = None) -> int:
    """Gives the byte offset of the two VR bytes of element `keyword` (top level, or first in sequence `nested_in`)."""
    ds = pydicom.dcmread(path)
    tag = tag_for_keyword(keyword)
    if nested_in is not None:  # items are parsed from a copy of the sequence's bytes: find the tag after its start
        start = ds.get_item(tag_for_keyword(nested_in), keep_deferred=True).value_tell
        return path.read_bytes().index(struct.pack("<HH", tag >> 16, tag & 0xFFFF), start) + 4
    return ds.get_item(tag, keep_deferred=True).value_tell - 4  # explicit VR: tag (4), VR (2), length (2), value


def _with_vr(src: Path, dst: Path, keyword: str, vr: bytes, *, nested_in: str | None = None) -> Path:
    data = bytearray(src.read_bytes())
    at = _vr_offset(src, keyword, nested_in=nested_in)
    data[at : at + 2] = vr
    dst.write_bytes(bytes(data))
    return dst


@pytest.mark.parametrize("keyword", ["Modality", "StudyDate", "Rows", "PixelSpacing", "RescaleIntercept"])
@pytest.mark.parametrize("vr", [b"XX", b"Qz"])
def test_unknown_vr_in_a_real_dicom_header_is_corrupt_for_file_folder_and_iter_load(
    tmp_path: Path, keyword: str, vr: bytes
):
    # a flipped byte turns a VR such as 'DS' into 'XX': pydicom raised NotImplementedError when the element was read
    folder = tmp_path / "series"
    folder.mkdir()
    bad = _with_vr(HEAD_SLICE, folder / "12.dcm", keyword, vr)
    shutil.copy(HEAD / "13.dcm", folder / "13.dcm")
    for target in (bad, folder):
        with pytest.raises(CorruptFileError) as info:
            load(target)
        message = str(info.value)
        assert "12.dcm" in message and keyword in message and vr.decode() in message
        assert "unknown value representation" in message and "again" in message
    (result,) = list(iter_load(folder))
    assert isinstance(result.error, CorruptFileError) and keyword in str(result.error)


def test_unknown_vr_inside_a_functional_group_sequence_is_corrupt(tmp_path: Path):
    # enhanced-CT layout: the pixel spacing lives in a sequence item, read only when the image is built
    ds = pydicom.dcmread(HEAD_SLICE)
    measures = Dataset()
    measures.PixelSpacing = ds.PixelSpacing
    shared = Dataset()
    shared.PixelMeasuresSequence = Sequence([measures])
    ds.SharedFunctionalGroupsSequence = Sequence([shared])
    del ds.PixelSpacing
    grouped = tmp_path / "grouped.dcm"
    ds.save_as(grouped)
    assert load(grouped).pixel_spacing_mm == pytest.approx((0.488281, 0.488281))
    bad = _with_vr(grouped, tmp_path / "bad.dcm", "PixelSpacing", b"XX", nested_in="SharedFunctionalGroupsSequence")
    with pytest.raises(CorruptFileError, match=r"bad\.dcm: damaged DICOM header.*0028,0030.*again"):
        load(bad)


def test_misread_header_of_a_ct_image_is_corrupt_not_a_report(tmp_path: Path):
    # a VR byte outside A-Z makes pydicom read the rest as implicit VR: the pixel data is lost in the misparse
    bad = _with_vr(HEAD_SLICE, tmp_path / "misread.dcm", "Rows", b"\x00\x01")
    with pytest.raises(CorruptFileError, match=r"misread\.dcm: CT / CT Image Storage object without pixel data"):
        load(bad)
    with pytest.raises(CorruptFileError, match="misread.dcm"):
        load(tmp_path)


def test_truncated_real_dicom_header_is_corrupt(tmp_path: Path):
    cut = tmp_path / "cut.dcm"
    cut.write_bytes(HEAD_SLICE.read_bytes()[:1000])  # inside the header, before the pixel data
    with pytest.raises(CorruptFileError, match="cut.dcm"):
        load(cut)


@pytest.fixture(scope="module")
def head_hu() -> np.ndarray:
    """Gives the real head slice as int16 HU, the data of the MetaImage files below."""
    return load(HEAD_SLICE).hu.astype("<i2")


def _write_mhd(folder: Path, hu: np.ndarray, **fields: str) -> Path:
    """Writes a 2-D MetaImage (.mhd + .raw) of `hu` with the given header fields changed; gives the .mhd path."""
    (folder / "slice.raw").write_bytes(hu.tobytes())
    header = {
        "ObjectType": "Image",
        "NDims": "2",
        "BinaryData": "True",
        "BinaryDataByteOrderMSB": "False",
        "CompressedData": "False",
        "TransformMatrix": "1 0 0 1",
        "Offset": "-125 -125",
        "ElementSpacing": "0.488281 0.488281",
        "DimSize": f"{hu.shape[1]} {hu.shape[0]}",
        "ElementNumberOfChannels": "1",
        "HeaderSize": "0",
        "ElementType": "MET_SHORT",
        **fields,
    }
    path = folder / "slice.mhd"
    path.write_text("".join(f"{k} = {v}\n" for k, v in header.items()) + "ElementDataFile = slice.raw\n")
    return path


def test_valid_metaimage_of_a_real_slice_reads(tmp_path: Path, head_hu: np.ndarray):
    image = load(_write_mhd(tmp_path, head_hu))
    np.testing.assert_array_equal(image.hu, head_hu.astype(np.float32))
    assert image.pixel_spacing_mm == pytest.approx((0.488281, 0.488281))


@pytest.mark.parametrize(
    "field, value, expected",
    [
        ("NDims", "two", "NDims = 'two' is not an integer"),
        ("NDims", "2.0", "NDims = '2.0' is not an integer"),
        ("DimSize", "512 x", "DimSize = '512 x' is not a list of integers"),
        ("DimSize", "512 0", "DimSize = '512 0' is not a list of positive sizes"),
        ("ElementSpacing", "abc 0.5", "ElementSpacing = 'abc 0.5' is not 2 numbers"),
        ("ElementSpacing", "nan nan", "ElementSpacing = 'nan nan' is not 2 finite numbers"),
        ("ElementSpacing", "1e308 1e308", "do not describe an image grid"),
        ("Offset", "a b", "Offset = 'a b' is not 2 numbers"),
        ("TransformMatrix", "1 0 zero 1", "TransformMatrix = '1 0 zero 1' is not 4 numbers"),
        ("TransformMatrix", "0 0 0 0", "do not describe an image grid"),
        ("HeaderSize", "big", "HeaderSize = 'big' is not an integer"),
        ("HeaderSize", "99999999999999999999", "HeaderSize = '99999999999999999999' is not -1 or a byte count"),
        ("ElementNumberOfChannels", "one", "ElementNumberOfChannels = 'one' is not an integer"),
    ],
)
def test_metaimage_header_with_a_bad_field_is_corrupt(
    tmp_path: Path, head_hu: np.ndarray, field: str, value: str, expected: str
):
    path = _write_mhd(tmp_path, head_hu, **{field: value})
    with pytest.raises(CorruptFileError) as info:
        load(path)
    message = str(info.value)
    assert str(path) in message and expected in message
    assert "export the image again" in message
