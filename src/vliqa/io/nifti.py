"""NIfTI (.nii, .nii.gz) to HU, and the shared reorientation of any affine-located volume to axial slices.

Values are taken as HU after the header's scl_slope / scl_inter (nibabel applies them). The volume is
turned to the closest canonical RAS+ orientation, then each slice along the third (inferior -> superior)
axis is laid out like a radiological axial image: anterior at the top, the patient's right on the image
left — the same layout as a standard axial DICOM series, so the spine is at the bottom in both.
"""

from __future__ import annotations

import gzip
import zlib
from pathlib import Path

import nibabel as nib
import numpy as np
from nibabel.filebasedimages import ImageFileError
from nibabel.orientations import apply_orientation, inv_ornt_aff, io_orientation

from vliqa.core import Acquisition, CTImage, CTVolume
from vliqa.errors import CorruptFileError, InvalidImageError
from vliqa.io.common import check_header_size, check_hu_range
from vliqa.io.image import check_pixels


def axial_from_affine(
    data_xyz: np.ndarray, affine_ras: np.ndarray
) -> tuple[np.ndarray, tuple[float, float], float, tuple[float, ...]]:
    """Gives (slices (N, rows, cols), (row, col) spacing mm, slice spacing mm, slice z positions mm) in radiological
    layout."""
    ornt = io_orientation(affine_ras)
    canonical = apply_orientation(data_xyz, ornt)
    affine = affine_ras @ inv_ornt_aff(ornt, data_xyz.shape)
    zooms = np.sqrt((affine[:3, :3] ** 2).sum(axis=0))
    # In RAS+ voxel order i grows toward the patient's right and j toward anterior; a radiological slice has the
    # patient's right on the left (column 0 = largest i) and anterior at the top (row 0 = largest j).
    slices = np.ascontiguousarray(canonical[::-1, ::-1, :].transpose(2, 1, 0))
    z = affine[2, 3] + affine[2, 2] * np.arange(canonical.shape[2])
    return slices, (float(zooms[1]), float(zooms[0])), float(zooms[2]), tuple(float(v) for v in z)


def wrap_slices(
    slices: np.ndarray,
    spacing: tuple[float, float],
    dz: float,
    z: tuple[float, ...],
    source: str,
    description: str | None,
) -> CTImage | CTVolume:
    """Gives a CTImage for one slice, else a CTVolume, with HU-range warnings (NIfTI has no slice thickness:
    the slice spacing stands in for it)."""
    acquisition = Acquisition(series_description=description)
    notes = tuple(check_hu_range(slices, source))
    if slices.shape[0] == 1:
        return CTImage(
            hu=slices[0],
            pixel_spacing_mm=spacing,
            slice_thickness_mm=dz,
            position_mm=(0.0, 0.0, z[0]),
            acquisition=acquisition,
            source=source,
            warnings=notes,
        )
    return CTVolume(
        hu=slices,
        pixel_spacing_mm=spacing,
        slice_thickness_mm=dz,
        slice_positions_mm=z,
        acquisition=acquisition,
        source=source,
        warnings=notes,
    )


def read_nifti(path: str | Path) -> CTImage | CTVolume:
    """Gives the NIfTI file as HU slices (CTImage for one slice, else CTVolume), reoriented to axial."""
    source = str(path)
    try:
        img = nib.load(source)
        shape = tuple(int(v) for v in img.shape)
    except (ImageFileError, EOFError, OSError, ValueError, zlib.error, gzip.BadGzipFile) as exc:
        raise CorruptFileError(
            f"{source}: cannot be read as NIfTI ({exc})", path=source, hint="export it again"
        ) from exc
    while len(shape) > 3 and shape[-1] == 1:
        shape = shape[:-1]
    if len(shape) == 2:
        shape = shape + (1,)
    if len(shape) != 3:
        raise InvalidImageError(
            f"{source}: NIfTI image has shape {tuple(img.shape)}; vliqa reads 2-D and 3-D images",
            path=source,
            hint="split a 4-D (time or multi-channel) image into 3-D volumes first",
        )
    check_header_size(shape[1], shape[0], source)
    try:
        data = np.asarray(img.dataobj, dtype=np.float32).reshape(shape)
    except (EOFError, OSError, ValueError, zlib.error) as exc:
        raise CorruptFileError(f"{source}: NIfTI pixel data is damaged or truncated ({exc})", path=source) from exc
    slices, spacing, dz, z = axial_from_affine(data, img.affine)
    slices = check_pixels(slices, source, allow_nonfinite=True)  # finiteness: in check_hu_range, one pass
    descrip = img.header.get("descrip") if hasattr(img.header, "get") else None
    text = descrip.item().decode("latin-1").strip("\x00 ").strip() if descrip is not None else ""
    return wrap_slices(slices, spacing, dz, z, source, text or None)
