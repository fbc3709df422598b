"""Helpers of the reader/writer tests: where the bundled and shared data are, and a CT DICOM builder."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian, generate_uid

import vliqa

SAMPLES = Path(vliqa.__file__).parent / "samples"
ABDOMEN = SAMPLES / "abdomen_ct_dicom"
HEAD = SAMPLES / "head_ct_dicom"
SHARED = Path(__file__).resolve().parents[3] / "shared" / "data"
if not SHARED.is_dir():
    SHARED = Path("/work/shared/data")


def abdomen_files() -> list[Path]:
    """Gives the 20 bundled abdomen slices in file-name order."""
    return sorted(p for p in ABDOMEN.iterdir() if p.name.startswith("CT."))


def ct_dataset(stored: np.ndarray, *, slope: float = 1.0, intercept: float = -1024.0, **tags) -> Dataset:
    """Gives a minimal, valid single-frame CT DICOM dataset holding `stored` (uint16 or int16) pixels."""
    stored = np.asarray(stored)
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = tags.pop("SOPClassUID", CTImageStorage)
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID = meta.MediaStorageSOPClassUID
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.Modality = "CT"
    ds.SeriesInstanceUID = generate_uid()
    ds.StudyInstanceUID = generate_uid()
    ds.Rows, ds.Columns = stored.shape[-2:]
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated = 16
    ds.BitsStored = 16
    ds.HighBit = 15
    ds.PixelRepresentation = 1 if stored.dtype.kind == "i" else 0
    ds.RescaleSlope = slope
    ds.RescaleIntercept = intercept
    ds.PixelSpacing = [0.5, 0.5]
    ds.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
    ds.ImagePositionPatient = [0, 0, 0]
    for key, value in tags.items():
        setattr(ds, key, value)
    ds.PixelData = stored.astype(stored.dtype.newbyteorder("<")).tobytes()
    return ds
