"""Shared fixtures: the bundled real CT samples and ../shared/data when present."""

from __future__ import annotations

from pathlib import Path

import pytest

SAMPLES = Path(__file__).resolve().parents[1] / "src" / "vliqa" / "samples"
SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


@pytest.fixture(scope="session")
def abdomen_series() -> Path:
    """The bundled real abdomen DICOM series (20 slices, 512x512, JPEG 2000 lossless)."""
    return SAMPLES / "abdomen_ct_dicom"


@pytest.fixture(scope="session")
def head_series() -> Path:
    """Two bundled real head CT slices (GE, uncompressed)."""
    return SAMPLES / "head_ct_dicom"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """../shared/data, or skip when this checkout has none beside it."""
    if not SHARED_DATA.is_dir():
        pytest.skip("../shared/data is not present")
    return SHARED_DATA
