"""Fixtures of the serve tests: the bundled sample series as files and as a zip."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest

try:  # the serve extra (pip install 'vliqa[serve]'; the dev extra has it): without it these tests are not collected
    import fastapi  # noqa: F401
    import sqlalchemy  # noqa: F401
    import uvicorn  # noqa: F401
except ImportError:
    collect_ignore_glob = ["test_*.py"]
else:
    from serve_helpers import zip_bytes


@pytest.fixture(scope="session")
def sample_slices(abdomen_series: Path) -> list[Path]:
    return sorted(abdomen_series.glob("CT*"))


@pytest.fixture(scope="session")
def sample_zip(sample_slices: list[Path]) -> bytes:
    """The bundled abdomen series (20 DICOM slices) zipped as a user would, in a folder, with its licence."""
    files = {f"abdomen_ct_dicom/{p.name}": p.read_bytes() for p in sample_slices}
    files["abdomen_ct_dicom/LICENSE.txt"] = b"licence text"
    return zip_bytes(files, compression=zipfile.ZIP_DEFLATED)
