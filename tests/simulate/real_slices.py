"""Reads bundled real CT slices for the projection-domain simulation tests and benchmarks (pydicom directly)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pydicom

from vliqa.core import Acquisition, CTImage

SAMPLES = Path(__file__).resolve().parents[2] / "src" / "vliqa" / "samples"
ABDOMEN = SAMPLES / "abdomen_ct_dicom"


def read_slice(path: Path) -> CTImage:
    """Gives one DICOM CT slice as a CTImage in HU with spacing, thickness and dose metadata."""
    ds = pydicom.dcmread(str(path))
    hu = ds.pixel_array.astype(np.float32) * float(ds.RescaleSlope) + float(ds.RescaleIntercept)
    acq = Acquisition(
        modality=str(ds.get("Modality", "")) or None,
        manufacturer=str(ds.get("Manufacturer", "")) or None,
        kvp=float(ds.KVP) if "KVP" in ds else None,
        tube_current_ma=float(ds.XRayTubeCurrent) if "XRayTubeCurrent" in ds else None,
        exposure_mas=float(ds.Exposure) if "Exposure" in ds else None,
        ctdi_vol_mgy=float(ds.CTDIvol) if "CTDIvol" in ds else None,
        kernel=str(ds.ConvolutionKernel) if "ConvolutionKernel" in ds else None,
    )
    return CTImage(
        hu=np.maximum(hu, -1024.0),
        pixel_spacing_mm=tuple(float(v) for v in ds.PixelSpacing),
        slice_thickness_mm=float(ds.SliceThickness),
        acquisition=acq,
        source=str(path),
    )


def abdomen_slices(indices: tuple[int, ...] = (10,)) -> list[CTImage]:
    """Gives the bundled abdomen slices at the given positions in the sorted file list."""
    files = sorted(p for p in ABDOMEN.iterdir() if p.name.startswith("CT."))
    return [read_slice(files[i]) for i in indices]
