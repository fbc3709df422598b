"""MetaImage (.mhd + data file, or single-file .mha) to HU, with a small reader of our own (no SimpleITK).

Header keys used: NDims, DimSize, ElementType, ElementSpacing (or ElementSize), ElementDataFile (LOCAL or a
file name), BinaryDataByteOrderMSB / ElementByteOrderMSB, CompressedData (zlib), HeaderSize, Offset,
TransformMatrix, ElementNumberOfChannels. Coordinates are ITK's LPS; the volume is reoriented to axial
slices in the same radiological layout as DICOM and NIfTI. Values are HU.

A field that is present but malformed (NDims = two, a non-numeric ElementSpacing or Offset, a HeaderSize beyond
the data file, a singular TransformMatrix) gives CorruptFileError naming the field; absent optional fields take
MetaIO's defaults.
"""

from __future__ import annotations

import math
import zlib
from pathlib import Path

import numpy as np

from vliqa.core import CTImage, CTVolume
from vliqa.errors import CorruptFileError, InvalidImageError, UnsupportedFormatError
from vliqa.io.common import check_header_size
from vliqa.io.image import check_pixels
from vliqa.io.nifti import axial_from_affine, wrap_slices

#: MetaIO element types and their numpy dtypes (MET_LONG is 4 bytes in MetaIO).
ELEMENT_TYPES: dict[str, str] = {
    "MET_CHAR": "i1",
    "MET_UCHAR": "u1",
    "MET_SHORT": "i2",
    "MET_USHORT": "u2",
    "MET_INT": "i4",
    "MET_UINT": "u4",
    "MET_LONG": "i4",
    "MET_ULONG": "u4",
    "MET_LONG_LONG": "i8",
    "MET_ULONG_LONG": "u8",
    "MET_FLOAT": "f4",
    "MET_DOUBLE": "f8",
}
_MAX_HEADER_BYTES = 64 * 1024


def parse_header(path: Path) -> tuple[dict[str, str], int]:
    """Gives the header keys of a MetaImage file and the byte offset where its header ends."""
    with open(path, "rb") as fh:
        blob = fh.read(_MAX_HEADER_BYTES)
    header: dict[str, str] = {}
    offset = 0
    for raw_line in blob.splitlines(keepends=True):
        offset += len(raw_line)
        line = raw_line.decode("latin-1").strip()
        if not line:
            continue
        if "=" not in line:
            raise CorruptFileError(
                f"{path}: line '{line[:40]}' is not 'Key = Value'", path=path, hint="is this really a MetaImage header?"
            )
        key, value = (part.strip() for part in line.split("=", 1))
        header[key] = value
        if key == "ElementDataFile":  # always the last key; binary data may follow in .mha
            return header, offset
    raise CorruptFileError(f"{path}: MetaImage header has no ElementDataFile line", path=path, hint="export it again")


def _bad_field(path: Path, key: str, text: str, expected: str) -> CorruptFileError:
    """Gives the CorruptFileError of a header field whose value is not what MetaIO defines for it."""
    shown = text if len(text) <= 40 else text[:40] + "..."
    return CorruptFileError(
        f"{path}: MetaImage header field {key} = '{shown}' is not {expected}",
        path=path,
        hint=f"the header is damaged or was edited by hand; correct the {key} line or export the image again",
    )


def _int(header: dict[str, str], key: str, path: Path, default: int) -> int:
    """Gives the integer value of header field `key` (`default` when absent); raises CorruptFileError if not one."""
    text = header.get(key, "").strip()
    if not text:
        return default
    try:
        return int(text)
    except ValueError:
        raise _bad_field(path, key, text, "an integer") from None


def _ints(header: dict[str, str], key: str, path: Path) -> list[int]:
    """Gives the integers of a required header field; raises CorruptFileError when it is missing or not integers."""
    text = header.get(key, "").strip()
    if not text:
        raise CorruptFileError(
            f"{path}: MetaImage header has no {key} line", path=path, hint="the header is incomplete; export it again"
        )
    try:
        return [int(v) for v in text.split()]
    except ValueError:
        raise _bad_field(path, key, text, "a list of integers") from None


def _floats(header: dict[str, str], key: str, n: int, default: float, path: Path) -> list[float]:
    """Gives the first `n` numbers of header field `key` (`default` n times when absent).

    Raises CorruptFileError when the field is present but holds fewer than `n` finite numbers.
    """
    text = header.get(key, "").strip()
    if not text:
        return [default] * n
    try:
        values = [float(v) for v in text.split()]
    except ValueError:
        raise _bad_field(path, key, text, f"{n} numbers") from None
    if len(values) < n or not all(np.isfinite(values[:n])):
        raise _bad_field(path, key, text, f"{n} finite numbers")
    return values[:n]


def _is_true(header: dict[str, str], *keys: str) -> bool:
    return any(header.get(k, "").strip().lower() in ("true", "1", "yes") for k in keys)


def _read_payload(path: Path, header: dict[str, str], header_end: int, n_bytes: int) -> bytes:
    target = header["ElementDataFile"]
    compressed = _is_true(header, "CompressedData")
    if target.upper() == "LOCAL":
        data_path, start = path, header_end
    elif target.upper().startswith("LIST") or "%" in target:
        raise UnsupportedFormatError(
            f"{path}: MetaImage with one data file per slice (ElementDataFile = {target}) is not supported",
            path=path,
            hint="convert it to a single .mha or .nii.gz first",
        )
    else:
        data_path = path.parent / target
        if not data_path.exists():
            raise CorruptFileError(
                f"{path}: its data file {data_path.name} is missing", path=path, hint="keep the .raw beside the .mhd"
            )
        start = 0
    head_size = _int(header, "HeaderSize", path, 0)
    data_size = data_path.stat().st_size
    if head_size < -1 or head_size > data_size:
        raise _bad_field(path, "HeaderSize", str(head_size),
                         f"-1 or a byte count within the data file ({data_size} bytes)")
    with open(data_path, "rb") as fh:
        if head_size == -1 and not compressed:  # -1: the data are the last n bytes of the file
            fh.seek(0, 2)
            start = max(0, fh.tell() - n_bytes)
        elif head_size > 0:
            start += head_size
        fh.seek(start)
        payload = fh.read()
    if compressed:
        try:
            payload = zlib.decompressobj().decompress(payload, n_bytes)  # no more than the header's size
        except zlib.error as exc:
            raise CorruptFileError(f"{path}: compressed MetaImage data cannot be inflated ({exc})", path=path) from exc
    if len(payload) < n_bytes:
        raise CorruptFileError(
            f"{path}: MetaImage data is truncated ({len(payload)} of {n_bytes} bytes)",
            path=path,
            hint="the data file was cut short; export it again",
        )
    return payload[:n_bytes]


def read_metaimage(path: str | Path) -> CTImage | CTVolume:
    """Gives the MetaImage file as HU slices (CTImage for one slice, else CTVolume), reoriented to axial."""
    path = Path(path)
    source = str(path)
    header, header_end = parse_header(path)
    ndims = _int(header, "NDims", path, 0)
    dims = _ints(header, "DimSize", path)
    if ndims not in (2, 3) or len(dims) != ndims:
        raise InvalidImageError(
            f"{source}: MetaImage has NDims={ndims}, DimSize={dims}; vliqa reads 2-D and 3-D images", path=source
        )
    if _int(header, "ElementNumberOfChannels", path, 1) != 1:
        raise InvalidImageError(f"{source}: MetaImage has several channels per pixel; CT has one", path=source)
    etype = header.get("ElementType", "")
    if etype not in ELEMENT_TYPES:
        raise UnsupportedFormatError(
            f"{source}: MetaImage ElementType {etype or 'missing'} is not supported", path=source
        )
    if any(d < 1 for d in dims):
        raise _bad_field(path, "DimSize", header["DimSize"], "a list of positive sizes")
    check_header_size(dims[1], dims[0], source)
    dtype = np.dtype(ELEMENT_TYPES[etype]).newbyteorder(
        ">" if _is_true(header, "BinaryDataByteOrderMSB", "ElementByteOrderMSB") else "<"
    )
    shape_zyx = tuple(reversed(dims)) if ndims == 3 else (1, dims[1], dims[0])
    n_bytes = math.prod(shape_zyx) * dtype.itemsize  # Python ints: a hostile DimSize cannot overflow
    payload = _read_payload(path, header, header_end, n_bytes)
    data = np.frombuffer(payload, dtype=dtype).reshape(shape_zyx).astype(np.float32)
    data = check_pixels(data, source, allow_nonfinite=True)  # finiteness: checked with the HU range

    spacing = _floats(header, "ElementSpacing", ndims, 0.0, path)
    if not any(spacing):
        spacing = _floats(header, "ElementSize", ndims, 1.0, path)
    spacing_xyz = np.array((spacing + [1.0])[:3], dtype=np.float64)
    origin = np.array((_floats(header, "Offset", ndims, 0.0, path) + [0.0])[:3])
    direction = np.eye(3)
    matrix = _floats(header, "TransformMatrix", ndims * ndims, np.nan, path)
    if np.all(np.isfinite(matrix)):
        # MetaIO stores the direction cosines of each axis one after another, i.e. the columns of the matrix
        direction[:ndims, :ndims] = np.array(matrix).reshape(ndims, ndims).T
    affine_lps = np.eye(4)
    affine_lps[:3, :3] = direction * spacing_xyz
    affine_lps[:3, 3] = origin
    with np.errstate(all="ignore"):
        det = float(np.linalg.det(affine_lps[:3, :3])) if np.all(np.isfinite(affine_lps)) else np.nan
    if not (np.isfinite(det) and abs(det) > 1e-12):
        raise CorruptFileError(
            f"{source}: MetaImage TransformMatrix ({header.get('TransformMatrix', 'identity')}) and ElementSpacing "
            f"({' '.join(f'{v:g}' for v in spacing)}) do not describe an image grid (collapsed or infinite axes)",
            path=source,
            hint="the header is damaged or was edited by hand; correct those lines or export the image again",
        )
    affine_ras = np.diag([-1.0, -1.0, 1.0, 1.0]) @ affine_lps  # ITK's LPS to the RAS convention of nibabel
    slices, pix, dz, z = axial_from_affine(data.transpose(2, 1, 0), affine_ras)
    return wrap_slices(slices, pix, dz, z, source, None)
