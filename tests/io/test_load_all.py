"""`load_all` finds every image under many inputs: each DICOM series once, each other file once."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from io_fixtures import HEAD, abdomen_files
from PIL import Image

from vliqa.core import CTImage, CTVolume
from vliqa.errors import EmptyInputError, NotCTError
from vliqa.io import iter_load, load_all
from vliqa.io.write import save_nifti


@pytest.fixture
def mixed_tree(tmp_path: Path) -> Path:
    """Gives a folder tree with two DICOM series (one in a subfolder), a NIfTI, two PNGs and a stray text file."""
    (tmp_path / "abdomen").mkdir()
    for f in abdomen_files()[:3]:
        shutil.copy(f, tmp_path / "abdomen" / f.name)
    (tmp_path / "abdomen" / "nested").mkdir()
    for f in HEAD.glob("*.dcm"):
        shutil.copy(f, tmp_path / "abdomen" / "nested" / f.name)
    save_nifti(CTVolume(hu=np.zeros((2, 32, 32), np.float32)), tmp_path / "vol.nii.gz")
    for k in (1, 2):
        Image.fromarray(np.full((32, 32), 100, np.uint8)).save(tmp_path / f"shot{k}.png")
    (tmp_path / "README.txt").write_text("not an image")
    return tmp_path


def test_load_all_reads_each_series_and_file_once(mixed_tree: Path):
    images = load_all([mixed_tree])
    volumes = [im for im in images if isinstance(im, CTVolume)]
    slices = [im for im in images if isinstance(im, CTImage)]
    assert sorted(len(v) for v in volumes) == [2, 2, 3]  # head series, NIfTI, abdomen series
    assert len(slices) == 2 and all(s.display_window is not None for s in slices)


def test_load_all_accepts_single_files_and_in_memory_objects(mixed_tree: Path):
    already = CTVolume(hu=np.zeros((2, 32, 32), np.float32))
    images = load_all([mixed_tree / "shot1.png", np.zeros((32, 32), np.float32), already])
    assert [type(im).__name__ for im in images] == ["CTImage", "CTImage", "CTVolume"]
    assert images[2] is already


def test_load_all_of_an_empty_folder_raises(tmp_path: Path):
    (tmp_path / "notes.md").write_text("x")
    with pytest.raises(EmptyInputError, match="DICOM"):
        load_all([tmp_path])


def test_errors_are_raised_or_skipped(mixed_tree: Path, tmp_path_factory: pytest.TempPathFactory):
    from pydicom.data import get_testdata_file

    mr_dir = tmp_path_factory.mktemp("mr")
    shutil.copy(get_testdata_file("MR_small.dcm"), mr_dir / "mr.dcm")
    with pytest.raises(NotCTError):
        load_all([mixed_tree, mr_dir])
    images = load_all([mixed_tree, mr_dir], skip_errors=True)
    assert len(images) == 5
    results = list(iter_load([mr_dir, mixed_tree / "missing.png"]))
    assert [type(r.error).__name__ for r in results] == ["NotCTError", "InputNotFoundError"]
