"""Uploads are judged by their bytes, never their names: sniffing, zip and gzip limits, dimension limits."""

from __future__ import annotations

import gzip
import io
import stat
import struct
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from serve_helpers import zip_bytes

from vliqa.serve import ImageLimitError, Limits, UnsafeArchiveError, UploadRejectedError, UploadTooLargeError
from vliqa.serve.uploads import label_of, sniff, store_upload


def _png(width: int, height: int) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(np.zeros((height, width), np.uint8)).save(buffer, format="PNG")
    return buffer.getvalue()


def _store(tmp_path: Path, parts: list[tuple[str, bytes]], **limits):
    return store_upload([(name, io.BytesIO(data)) for name, data in parts], tmp_path / "uploads", Limits(**limits))


def test_formats_are_told_by_their_first_bytes(sample_slices: list[Path]) -> None:
    assert sniff(sample_slices[0].read_bytes()[:352]) == "dicom"
    assert sniff(_png(4, 4)) == "png"
    assert sniff(b"II*\x00" + bytes(400)) == "tiff"
    assert sniff(gzip.compress(b"x")) == "gzip"
    assert sniff(zip_bytes({"a": b"b"})) == "zip"
    nifti = struct.pack("<i", 348) + bytes(340) + b"n+1\x00"
    assert sniff(nifti) == "nifti"
    assert sniff(b"GIF89a" + bytes(400)) is None


def test_a_dicom_slice_is_stored_under_a_name_the_server_chose(tmp_path: Path, sample_slices: list[Path]) -> None:
    stored = _store(tmp_path, [("../../etc/passwd.png", sample_slices[0].read_bytes())])
    assert stored.format == "dicom" and stored.path.name == "image.dcm" and stored.label == "passwd.png"
    assert stored.path.parent.parent == tmp_path / "uploads"
    assert (stored.rows, stored.columns, stored.n_slices) == (512, 512, 1)
    assert stat.S_IMODE(stored.folder.stat().st_mode) == 0o700


def test_a_zipped_series_keeps_its_dicom_files_and_drops_the_rest(tmp_path: Path, sample_zip: bytes) -> None:
    stored = _store(tmp_path, [("series.zip", sample_zip)])
    assert stored.format == "dicom-series" and stored.n_files == 20 and stored.path.is_dir()
    assert sorted(p.name for p in stored.path.iterdir())[0] == "slice_00000.dcm"
    assert not (tmp_path / "staging" / stored.id).exists()


def test_a_wrong_extension_does_not_make_text_an_image(tmp_path: Path) -> None:
    with pytest.raises(UploadRejectedError, match="extension is not trusted"):
        _store(tmp_path, [("scan.dcm", b"just some text, not DICOM" * 20)])
    assert list((tmp_path / "uploads").glob("*")) == [] if (tmp_path / "uploads").exists() else True
    assert list((tmp_path / "staging").iterdir()) == []


@pytest.mark.parametrize("name", ["../evil.dcm", "/etc/evil.dcm", "C:/evil.dcm", "a/../../evil.dcm"])
def test_zip_slip_and_absolute_member_paths_are_refused(tmp_path: Path, sample_slices: list[Path], name: str) -> None:
    data = zip_bytes({"ok.dcm": sample_slices[0].read_bytes(), name: sample_slices[1].read_bytes()})
    with pytest.raises(UnsafeArchiveError, match="outside"):
        _store(tmp_path, [("x.zip", data)])
    assert not (tmp_path / "evil.dcm").exists() and not (tmp_path.parent / "evil.dcm").exists()


def test_a_symlink_in_a_zip_is_refused(tmp_path: Path) -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        link = zipfile.ZipInfo("link.dcm")
        link.external_attr = (stat.S_IFLNK | 0o777) << 16
        zf.writestr(link, "/etc/passwd")
    with pytest.raises(UnsafeArchiveError, match="symbolic link"):
        _store(tmp_path, [("x.zip", buffer.getvalue())])


def test_a_zip_bomb_is_refused_before_it_is_unpacked(tmp_path: Path) -> None:
    bomb = zip_bytes({"zeros.dcm": bytes(50 * 1024 * 1024)}, compression=zipfile.ZIP_DEFLATED)
    assert len(bomb) < 100_000
    with pytest.raises(UploadTooLargeError) as info:
        _store(tmp_path, [("bomb.zip", bomb)])
    assert info.value.limit["name"] == "max_zip_ratio"
    assert not any((tmp_path / "staging").rglob("member_*"))


def test_too_many_zip_members_are_refused(tmp_path: Path) -> None:
    data = zip_bytes({f"f{i}.dcm": b"x" for i in range(30)})
    with pytest.raises(UploadTooLargeError) as info:
        _store(tmp_path, [("x.zip", data)], max_zip_members=10)
    assert info.value.limit == {"name": "max_zip_members", "value": 10, "unit": "files"}


def test_a_gzip_bomb_stops_at_the_ratio_limit(tmp_path: Path) -> None:
    header = struct.pack("<i", 348) + bytes(340) + b"n+1\x00"
    bomb = gzip.compress(header + bytes(40 * 1024 * 1024))
    with pytest.raises(UploadTooLargeError) as info:
        _store(tmp_path, [("x.nii.gz", bomb)])
    assert info.value.limit["name"] == "max_zip_ratio"


def test_an_upload_over_the_size_limit_is_refused(tmp_path: Path) -> None:
    with pytest.raises(UploadTooLargeError) as info:
        _store(tmp_path, [("big.png", _png(8, 8) + bytes(2 * 1024 * 1024))], max_upload_mb=1)
    assert info.value.limit == {"name": "max_upload_mb", "value": 1, "unit": "MB"}


def test_an_image_over_the_side_limit_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ImageLimitError) as info:
        _store(tmp_path, [("wide.png", _png(5000, 4))])
    assert info.value.limit["name"] == "max_image_side_px" and info.value.status == 422


def test_an_image_over_the_voxel_limit_is_refused(tmp_path: Path) -> None:
    header = bytearray(struct.pack("<i", 348) + bytes(340) + b"n+1\x00")
    header[40:56] = struct.pack("<8h", 3, 1024, 1024, 1500, 1, 1, 1, 1)  # a 1024² x 1500 volume, header only
    with pytest.raises(ImageLimitError) as info:
        _store(tmp_path, [("big.nii", bytes(header))])
    assert info.value.limit["name"] == "max_megavoxels"


def test_a_client_name_is_only_a_label() -> None:
    assert label_of("C:\\Users\\x\\scan\x00\x07.dcm") == "scan.dcm"
    assert label_of("") == "upload"
    assert len(label_of("a" * 1000)) == 200
