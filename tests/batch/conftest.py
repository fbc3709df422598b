"""Fixtures of the batch tests: the small archive of batch_archive.py, built once per session."""

from __future__ import annotations

from pathlib import Path

import pytest
from batch_archive import build_archive


@pytest.fixture(scope="session")
def archive(tmp_path_factory: pytest.TempPathFactory, abdomen_series: Path, head_series: Path) -> Path:
    """The archive folder (11 readable slices in 4 series, 3 unreadable files, 1 text file)."""
    return build_archive(tmp_path_factory.mktemp("archive"), abdomen_series, head_series)
