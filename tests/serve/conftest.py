"""Fixtures of the serve tests: the bundled sample series as files and as a zip."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest

pytest.importorskip("fastapi", reason="the serve extra is not installed (pip install 'vliqa[serve]')")
from serve_helpers import zip_bytes  # noqa: E402


@pytest.fixture(scope="session")
def sample_slices(abdomen_series: Path) -> list[Path]:
    return sorted(abdomen_series.glob("CT*"))


@pytest.fixture(scope="session")
def sample_zip(sample_slices: list[Path]) -> bytes:
    """The bundled abdomen series (20 DICOM slices) zipped as a user would, in a folder, with its licence."""
    files = {f"abdomen_ct_dicom/{p.name}": p.read_bytes() for p in sample_slices}
    files["abdomen_ct_dicom/LICENSE.txt"] = b"licence text"
    return zip_bytes(files, compression=zipfile.ZIP_DEFLATED)
