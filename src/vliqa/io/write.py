"""Writing CT images: windowed 8-bit previews, HU-exact 16-bit PNG, .npy and NIfTI — every write atomic.

HU conventions of the files written:
- `save_preview_png`: 8-bit display image under a window; not HU (reading it back maps through that window).
- `save_png16`: 16-bit grey PNG storing round(HU) + 1024, clipped to [0, 65535] (so -1024..64511 HU), with a
  'vliqa' text chunk (format, offset, pixel spacing) that `vliqa.io.load` recognises to give exact integer HU back.
- `save_npy`: float32 HU, 2-D or 3-D (spacing is not stored).
- `save_nifti`: float32 HU with the spacing and slice positions in the affine; reading it back with `load`
  gives the same slices in the same layout.
"""

from __future__ import annotations

import json
from pathlib import Path

import nibabel as nib
import numpy as np
from PIL import Image, PngImagePlugin

from vliqa.core import CTImage, CTVolume, Window, apply_window, resolve_window
from vliqa.errors import InvalidParameterError
from vliqa.io.atomic import atomic_path, atomic_write_bytes, atomic_write_text
from vliqa.io.raster import PNG16_FORMAT, PNG16_KEY

__all__ = [
    "atomic_path",
    "atomic_write_bytes",
    "atomic_write_text",
    "save_nifti",
    "save_npy",
    "save_png16",
    "save_preview_png",
]

#: Offset added to HU in 16-bit PNGs so that air (-1024 HU) is stored as 0.
PNG16_HU_OFFSET = 1024


def _one_slice(image: CTImage | CTVolume, slice_index: int | None, what: str) -> CTImage:
    if isinstance(image, CTVolume):
        return image.slice(len(image) // 2 if slice_index is None else slice_index)
    if not isinstance(image, CTImage):
        raise InvalidParameterError(f"{what} needs a CTImage or CTVolume, got {type(image).__name__}")
    return image


def save_preview_png(
    image: CTImage | CTVolume,
    path: str | Path,
    window: str | Window | tuple[float, float] | None = None,
    *,
    slice_index: int | None = None,
) -> Path:
    """Writes an 8-bit PNG of the slice under `window` (default: its display window or 'ldctiqac'); gives the path.

    For a volume the middle slice is written unless `slice_index` is given.
    """
    ct = _one_slice(image, slice_index, "save_preview_png")
    win = resolve_window(ct, window)
    grey = np.rint(apply_window(ct.hu, win) * 255.0).astype(np.uint8)
    info = PngImagePlugin.PngInfo()
    info.add_text("vliqa-window", json.dumps(win.to_dict()))
    with atomic_path(path) as tmp:
        Image.fromarray(grey, mode="L").save(tmp, format="PNG", pnginfo=info)
    return Path(path)


def save_png16(image: CTImage | CTVolume, path: str | Path, *, slice_index: int | None = None) -> Path:
    """Writes a 16-bit PNG of round(HU) + 1024 (clipped to 0..65535) with a text chunk `load` reads back; gives the
    path."""
    ct = _one_slice(image, slice_index, "save_png16")
    stored = np.clip(np.rint(ct.hu.astype(np.float64)) + PNG16_HU_OFFSET, 0, 65535).astype(np.uint16)
    meta = {
        "format": PNG16_FORMAT,
        "hu_offset": PNG16_HU_OFFSET,
        "pixel_spacing_mm": list(ct.pixel_spacing_mm) if ct.pixel_spacing_mm else None,
    }
    if ct.display_window is not None:  # a display export stays one: its clipped HU are unknown, not real values
        meta["display_window"] = [ct.display_window.level, ct.display_window.width]
    info = PngImagePlugin.PngInfo()
    info.add_text(PNG16_KEY, json.dumps(meta))
    with atomic_path(path) as tmp:
        Image.fromarray(stored).save(tmp, format="PNG", pnginfo=info)
    return Path(path)


def save_npy(image: CTImage | CTVolume, path: str | Path) -> Path:
    """Writes the HU pixels (float32, 2-D or 3-D) as a .npy file; gives the path."""
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as fh:
            np.save(fh, np.asarray(image.hu, dtype=np.float32), allow_pickle=False)
    return Path(path)


def nifti_affine(image: CTImage | CTVolume) -> np.ndarray:
    """Gives the RAS+ affine of the array `save_nifti` writes (x: columns reversed, y: rows reversed, z: slices)."""
    row_mm, col_mm = image.pixel_spacing_mm or (1.0, 1.0)
    if isinstance(image, CTVolume):
        dz = image.slice_spacing_mm or image.slice_thickness_mm or 1.0
        z0 = image.slice_positions_mm[0] if image.slice_positions_mm else 0.0
    else:
        dz = image.slice_thickness_mm or 1.0
        z0 = image.position_mm[2] if image.position_mm else 0.0
    return np.diag([col_mm, row_mm, dz, 1.0]) + np.array([[0, 0, 0, 0], [0, 0, 0, 0], [0, 0, 0, z0], [0, 0, 0, 0]])


def save_nifti(image: CTImage | CTVolume, path: str | Path) -> Path:
    """Writes the slice or volume as NIfTI (.nii or .nii.gz) in float32 HU with spacing in the affine; gives the
    path."""
    suffix = "".join(Path(path).suffixes[-2:]).lower()
    if not (suffix.endswith(".nii") or suffix.endswith(".nii.gz")):
        raise InvalidParameterError(f"{path}: a NIfTI file name must end in .nii or .nii.gz")
    stack = image.hu[None] if isinstance(image, CTImage) else image.hu
    # inverse of the reader's layout: slices (k, row, col) -> voxels (i, j, k) with i toward patient right, j anterior
    data = np.ascontiguousarray(stack[:, ::-1, ::-1].transpose(2, 1, 0), dtype=np.float32)
    nii = nib.Nifti1Image(data, nifti_affine(image))
    nii.header.set_xyzt_units("mm")
    nii.header.set_qform(nii.affine, code=1)
    nii.header.set_sform(nii.affine, code=1)
    with atomic_path(path) as tmp:
        nib.save(nii, str(tmp))
    return Path(path)
