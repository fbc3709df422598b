"""Fixtures of the reader/writer tests (helpers live in io_fixtures.py)."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pydicom
import pytest
from io_fixtures import ABDOMEN, abdomen_files

import vliqa


@pytest.fixture(scope="session")
def abdomen_uncompressed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Gives the bundled series rewritten uncompressed once per test run (decodes 100x faster than JPEG 2000)."""
    out = tmp_path_factory.mktemp("abdomen_plain")
    for f in abdomen_files():
        ds = pydicom.dcmread(f)
        ds.decompress()
        ds.save_as(out / f.name)
    return out


@pytest.fixture
def abdomen_copy(tmp_path: Path, abdomen_uncompressed: Path) -> Path:
    """Gives a temporary, writable copy of the bundled abdomen series (uncompressed, same pixels and headers)."""
    out = tmp_path / "abdomen"
    shutil.copytree(abdomen_uncompressed, out)
    return out


@pytest.fixture(scope="session")
def abdomen_volume():
    """Gives the bundled abdomen series loaded once per test run."""
    return vliqa.load(ABDOMEN)


@pytest.fixture(scope="session")
def abdomen_raw_hu() -> np.ndarray:
    """Gives the bundled series' HU computed with bare pydicom, in slice-position order (the reference)."""
    slices = []
    for f in abdomen_files():
        ds = pydicom.dcmread(f)
        slices.append(
            (float(ds.ImagePositionPatient[2]), ds.pixel_array * float(ds.RescaleSlope) + float(ds.RescaleIntercept))
        )
    slices.sort(key=lambda t: t[0])
    return np.stack([s for _, s in slices]).astype(np.float32)
