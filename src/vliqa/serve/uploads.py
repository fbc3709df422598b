"""Uploads made safe to read: content sniffed by magic bytes, zips and gzips unpacked within limits, sizes checked.

No name or path from the client is ever opened: every byte goes to a file this module names, in a folder only the
server's user can read (mode 0700). The client's file name is kept as a label for display, nothing more.

    stored = store_upload([("scan.zip", fileobj)], data_dir / "uploads", limits)
    image = vliqa.io.load(stored.path)          # a file, or the folder of a DICOM series
"""

from __future__ import annotations

import gzip
import hashlib
import os
import re
import shutil
import struct
import uuid
import zipfile
import zlib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from vliqa.serve.errors import ImageLimitError, UnsafeArchiveError, UploadRejectedError, UploadTooLargeError
from vliqa.serve.settings import MB, Limits

CHUNK = 1 << 20
#: Bytes read to tell a format: DICOM's "DICM" sits at 128, a NIfTI-1 magic at 344.
SNIFF_BYTES = 352
#: What each accepted format is stored as (the suffix `vliqa.io.load` reads it by).
STORED_NAMES = {"dicom": "image.dcm", "png": "image.png", "tiff": "image.tif", "nifti": "image.nii"}
ACCEPTED = "DICOM (a file, several files of one series, or a zip of them), NIfTI (.nii, .nii.gz), PNG, TIFF"
#: Zip members skipped without complaint: directory indexes and macOS metadata, never images.
_SKIPPED_MEMBER = re.compile(r"(^|/)(__MACOSX/|\.DS_Store$|DICOMDIR$|\._)", re.IGNORECASE)
#: The ratio check applies from this unpacked size on: a small member (a header) can pack tighter than any image.
RATIO_FLOOR_BYTES = 1 * MB
#: A client's file name is kept for display at most this long, with control characters dropped.
MAX_LABEL_CHARS = 200


@dataclass(frozen=True)
class StoredUpload:
    """An accepted upload: where the server put it, what it is, and the label the client gave it."""

    id: str
    folder: Path
    #: what `vliqa.io.load` reads: the stored file, or the folder of a DICOM series
    path: Path
    format: str
    n_files: int
    size_bytes: int
    sha256: str
    label: str
    rows: int
    columns: int
    n_slices: int

    def to_dict(self) -> dict[str, object]:
        """Gives the metadata a client may see (no server path)."""
        return {"id": self.id, "format": self.format, "n_files": self.n_files, "size_bytes": self.size_bytes,
                "sha256": self.sha256, "label": self.label, "rows": self.rows, "columns": self.columns,
                "n_slices": self.n_slices}


def sniff(head: bytes) -> str | None:
    """Gives the format the first bytes of a file show ("dicom", "png", "tiff", "gzip", "zip", "nifti"), or None."""
    if len(head) >= 132 and head[128:132] == b"DICM":
        return "dicom"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if head[:4] in (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+"):
        return "tiff"
    if head.startswith(b"\x1f\x8b"):
        return "gzip"
    if head[:4] in (b"PK\x03\x04", b"PK\x05\x06"):
        return "zip"
    if _nifti_header(head) is not None:
        return "nifti"
    return None


def _nifti_header(head: bytes) -> tuple[str, int] | None:
    """Gives (byte order, version) of a single-file NIfTI-1/2 header, or None."""
    for order in "<>":
        if len(head) >= 348 and struct.unpack(f"{order}i", head[:4])[0] == 348 and head[344:348] == b"n+1\x00":
            return order, 1
        if len(head) >= 8 and struct.unpack(f"{order}i", head[:4])[0] == 540 and head[4:8] == b"n+2\x00":
            return order, 2
    return None


def label_of(name: str | None) -> str:
    """Gives a client's file name as a display label: the last path part, printable, at most MAX_LABEL_CHARS."""
    base = re.split(r"[\\/]", name or "")[-1]
    clean = "".join(ch for ch in base if ch.isprintable()).strip()
    return clean[:MAX_LABEL_CHARS] or "upload"


def _private_dir(path: Path) -> Path:
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(path, 0o700)
    return path


def _too_large(what: str, limit_mb: float, name: str) -> UploadTooLargeError:
    return UploadTooLargeError(f"{what} is over the limit of {limit_mb:g} MB",
                               hint="send a smaller file, or start the server with a higher limit",
                               limit={"name": name, "value": limit_mb, "unit": "MB"})


def _copy_limited(src: BinaryIO, dest: Path, budget: int, *, what: str, limit_mb: float, name: str,
                  digest: hashlib._Hash | None = None) -> int:
    """Copies a stream to `dest` (a new file); gives its size. Stops past `budget` bytes."""
    size = 0
    with open(dest, "xb") as out:
        while block := src.read(CHUNK):
            size += len(block)
            if size > budget:
                raise _too_large(what, limit_mb, name)
            if digest is not None:
                digest.update(block)
            out.write(block)
    return size


def _check_member_name(name: str) -> None:
    parts = name.replace("\\", "/").split("/")
    if name.startswith(("/", "\\")) or re.match(r"^[A-Za-z]:", name) or ".." in parts or "\x00" in name:
        raise UnsafeArchiveError(f"the zip holds a member that points outside it ({label_of(name)!r}: an absolute "
                                 "path or '..')", hint="zip the files of the series without such paths")


def check_zip(zf: zipfile.ZipFile, limits: Limits, packed_bytes: int) -> list[zipfile.ZipInfo]:
    """Gives the zip's file members, after refusing an unsafe or oversized archive before anything is unpacked."""
    infos = zf.infolist()
    if len(infos) > limits.max_zip_members:
        raise UploadTooLargeError(f"the zip holds {len(infos)} members; the limit is {limits.max_zip_members}",
                                  hint="send fewer files at once",
                                  limit={"name": "max_zip_members", "value": limits.max_zip_members, "unit": "files"})
    total = 0
    for info in infos:
        _check_member_name(info.filename)
        mode = (info.external_attr >> 16) & 0o170000
        if mode == 0o120000:
            raise UnsafeArchiveError(f"the zip holds a symbolic link ({label_of(info.filename)!r})",
                                     hint="zip the files themselves, not links to them")
        if info.flag_bits & 0x1:
            raise UnsafeArchiveError("the zip is encrypted", hint="send an unencrypted zip")
        total += info.file_size
        if info.file_size > RATIO_FLOOR_BYTES and info.file_size > limits.max_zip_ratio * max(info.compress_size, 1):
            raise _ratio_error(info.file_size, info.compress_size, limits)
    if total > limits.max_unpacked_bytes:
        raise _too_large(f"the zip unpacked ({total / MB:.0f} MB)", limits.max_unpacked_mb, "max_unpacked_mb")
    if total > RATIO_FLOOR_BYTES and total > limits.max_zip_ratio * max(packed_bytes, 1):
        raise _ratio_error(total, packed_bytes, limits)
    return [i for i in infos if not i.is_dir() and not _SKIPPED_MEMBER.search(i.filename.replace("\\", "/"))]


def _ratio_error(unpacked: int, packed: int, limits: Limits) -> UploadTooLargeError:
    return UploadTooLargeError(
        f"the archive unpacks to {unpacked / max(packed, 1):.0f} times its size (a zip bomb?); the limit is "
        f"{limits.max_zip_ratio:g}", hint="send the images uncompressed or in an ordinary zip",
        limit={"name": "max_zip_ratio", "value": limits.max_zip_ratio, "unit": "ratio"})


def _unpack_zip(raw: Path, folder: Path, limits: Limits) -> list[Path]:
    """Unpacks the DICOM members of a zip into `folder` under names chosen here; gives their paths."""
    try:
        zf = zipfile.ZipFile(raw)
    except (zipfile.BadZipFile, OSError) as exc:
        raise UploadRejectedError(f"the zip cannot be read ({exc})", hint="send an intact zip") from exc
    written: list[Path] = []
    budget = limits.max_unpacked_bytes
    with zf:
        members = check_zip(zf, limits, raw.stat().st_size)
        for info in members:
            dest = folder / f"member_{len(written):05d}"
            try:
                with zf.open(info) as src:  # sizes are counted as read: a header can lie about them
                    size = _copy_limited(src, dest, min(budget, info.file_size + 1), what="a zip member unpacked",
                                         limit_mb=limits.max_unpacked_mb, name="max_unpacked_mb")
            except (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError) as exc:
                raise UploadRejectedError(f"a zip member cannot be unpacked ({exc})",
                                          hint="send an intact zip (stored or deflated)") from exc
            budget -= size
            with open(dest, "rb") as fh:
                kind = sniff(fh.read(SNIFF_BYTES))
            if kind != "dicom":  # a README or a licence beside the series: not an image, not kept
                dest.unlink()
                continue
            written.append(dest.rename(folder / f"slice_{len(written):05d}.dcm"))
    if not written:
        raise UploadRejectedError("the zip holds no DICOM file (none has 'DICM' at byte 128)",
                                  hint=f"a zip must hold the DICOM files of one series; accepted: {ACCEPTED}")
    return written


def _gunzip(raw: Path, dest: Path, limits: Limits) -> None:
    """Unpacks a gzip into `dest`, within the unpacked-size and ratio limits."""
    packed = raw.stat().st_size
    budget = min(limits.max_unpacked_bytes, max(int(limits.max_zip_ratio * packed), RATIO_FLOOR_BYTES))
    try:
        with gzip.open(raw, "rb") as src:
            _copy_limited(src, dest, budget, what="the gzip unpacked", limit_mb=limits.max_unpacked_mb,
                          name="max_unpacked_mb")
    except UploadTooLargeError:
        if budget < limits.max_unpacked_bytes:
            raise _ratio_error(budget + 1, packed, limits) from None
        raise
    except (OSError, EOFError, zlib.error) as exc:
        raise UploadRejectedError(f"the gzip cannot be unpacked ({exc})", hint="send an intact .nii.gz") from exc


def _limit(what: str, value: int, limit: int, name: str, unit: str) -> None:
    if value > limit:
        raise ImageLimitError(f"{what} is {value} {unit}; the limit is {limit}", limit={
            "name": name, "value": limit, "unit": unit}, hint="send a smaller image, or crop / resample it first")


def image_shape(path: Path, fmt: str) -> tuple[int, int, int]:
    """Gives (rows, columns, slices) from a stored file's header, without decoding its pixels."""
    if fmt == "png":
        with open(path, "rb") as fh:
            head = fh.read(24)
        width, height = struct.unpack(">II", head[16:24])
        return height, width, 1
    if fmt == "tiff":
        from PIL import Image  # lazy: Pillow is needed only for TIFF headers

        try:
            with Image.open(path) as im:
                return im.size[1], im.size[0], int(getattr(im, "n_frames", 1))
        except Image.DecompressionBombError as exc:
            raise ImageLimitError(f"the TIFF is too large to open safely ({exc})", hint="send a smaller image",
                                  limit={"name": "max_image_side_px", "value": 0, "unit": "px"}) from exc
        except OSError as exc:
            raise UploadRejectedError(f"the TIFF cannot be read ({exc})", hint="send an intact TIFF") from exc
    if fmt == "nifti":
        with open(path, "rb") as fh:
            head = fh.read(SNIFF_BYTES)
        found = _nifti_header(head)
        if found is None:
            raise UploadRejectedError("the gzip does not hold a NIfTI image", hint=f"accepted: {ACCEPTED}")
        order, version = found
        dims = (struct.unpack(f"{order}8h", head[40:56]) if version == 1 else struct.unpack(f"{order}8q", head[16:80]))
        ndim = max(1, min(int(dims[0]), 7))
        shape = [max(1, int(d)) for d in dims[1:ndim + 1]] + [1, 1, 1]
        return shape[1], shape[0], shape[2] * shape[3]
    import pydicom  # lazy: only DICOM headers need it

    try:
        ds = pydicom.dcmread(path, stop_before_pixels=True, specific_tags=["Rows", "Columns", "NumberOfFrames"])
    except Exception as exc:  # noqa: BLE001 - pydicom raises many kinds on damaged files
        raise UploadRejectedError(f"a DICOM file cannot be read ({type(exc).__name__})",
                                  hint="send intact DICOM files") from exc
    return int(getattr(ds, "Rows", 0) or 0), int(getattr(ds, "Columns", 0) or 0), int(
        getattr(ds, "NumberOfFrames", 1) or 1)


def check_dimensions(files: list[Path], fmt: str, limits: Limits) -> tuple[int, int, int]:
    """Gives (rows, columns, slices) of the stored files; refuses an image over a dimension limit (422)."""
    _limit("the series", len(files), limits.max_slices, "max_slices", "slices")
    rows = cols = slices = voxels = 0
    for path in files:
        r, c, n = image_shape(path, fmt)
        _limit("an image side", max(r, c), limits.max_image_side_px, "max_image_side_px", "px")
        rows, cols, slices, voxels = max(rows, r), max(cols, c), slices + n, voxels + r * c * n
        _limit("the image", slices, limits.max_slices, "max_slices", "slices")
        if voxels > limits.max_megavoxels * 1e6:
            raise ImageLimitError(f"the image holds {voxels / 1e6:.0f} million voxels; the limit is "
                                  f"{limits.max_megavoxels:g} million", hint="send fewer or smaller slices",
                                  limit={"name": "max_megavoxels", "value": limits.max_megavoxels, "unit": "Mvoxels"})
    return rows, cols, slices


def store_upload(parts: Iterable[tuple[str | None, BinaryIO]], uploads_dir: Path, limits: Limits) -> StoredUpload:
    """Stores one upload (one file, or several DICOM files of one series) safely; gives what was stored.

    Each part is copied under a name chosen here, its format told by its first bytes; a zip or gzip is unpacked
    within the limits. The folder appears under `uploads_dir` complete or not at all.
    """
    upload_id = uuid.uuid4().hex
    staging = _private_dir(_private_dir(uploads_dir.parent / "staging") / upload_id)
    try:
        stored = _store(list(parts), upload_id, staging, limits)
        final = _private_dir(uploads_dir) / upload_id
        staging.rename(final)
        rel = stored.path.relative_to(staging)
        return StoredUpload(**{**stored.__dict__, "folder": final, "path": final / rel})
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def _store(parts: list[tuple[str | None, BinaryIO]], upload_id: str, folder: Path, limits: Limits) -> StoredUpload:
    if not parts:
        raise UploadRejectedError("no file was uploaded", hint=f"send one file; accepted: {ACCEPTED}")
    digest, total, raws = hashlib.sha256(), 0, []
    for i, (_, stream) in enumerate(parts):
        raw = folder / f"raw_{i:05d}"
        total += _copy_limited(stream, raw, limits.max_upload_bytes - total, what="the upload",
                               limit_mb=limits.max_upload_mb, name="max_upload_mb", digest=digest)
        with open(raw, "rb") as fh:
            raws.append((raw, sniff(fh.read(SNIFF_BYTES))))
    label = label_of(parts[0][0])
    if len(raws) > 1:  # the files of a dropped folder: its DICOM files are the series, the rest (a README) is left
        raws = [(r, k) for r, k in raws if k == "dicom"]
        if not raws:
            raise UploadRejectedError("several files were sent and none is DICOM (none has 'DICM' at byte 128)",
                                      hint="send the DICOM files of one series, or one file of another format")
        label = f"{label_of(parts[0][0])} ({len(raws)} DICOM files)"
    (raw, kind) = raws[0]
    if kind is None:
        raise UploadRejectedError(f"'{label_of(parts[0][0])}' is not a file vliqa accepts (its content is none of: "
                                  f"{ACCEPTED}; the name's extension is not trusted)", hint=f"send {ACCEPTED}")
    if kind == "zip" or len(raws) > 1:
        series = _private_dir(folder / "series")
        files = _unpack_zip(raw, series, limits) if kind == "zip" else [
            r.rename(series / f"slice_{i:05d}.dcm") for i, (r, _) in enumerate(raws)]
        fmt, path = "dicom", series
    elif kind == "gzip":
        path = folder / STORED_NAMES["nifti"]
        _gunzip(raw, path, limits)
        files, fmt = [path], "nifti"
    else:
        path = raw.rename(folder / STORED_NAMES[kind])
        files, fmt = [path], kind
    for leftover in folder.glob("raw_*"):
        leftover.unlink()
    rows, cols, slices = check_dimensions(files, fmt, limits)
    return StoredUpload(id=upload_id, folder=folder, path=path, format=fmt if len(files) == 1 else "dicom-series",
                        n_files=len(files), size_bytes=total, sha256=digest.hexdigest(), label=label, rows=rows,
                        columns=cols, n_slices=slices)
