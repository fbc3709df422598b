"""Merging dataset folders: every image kept and found, ids unique, splits never mixed, inputs checked first."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from tiny_iqa import tiny_dataset

from vliqa.data.manifest import IMAGE_SCHEMA, read_manifest, read_pairs, write_table
from vliqa.data.merge import merge_datasets
from vliqa.errors import DatasetError, InvalidParameterError
from vliqa.io import load

VLIQA = str(Path(sys.executable).with_name("vliqa"))


@pytest.fixture()
def two(tmp_path_factory, tmp_path) -> tuple[Path, Path]:
    a, b = tmp_path / "a", tmp_path / "b"
    shutil.copytree(tiny_dataset(tmp_path_factory), a)
    shutil.copytree(tiny_dataset(tmp_path_factory), b)
    return a, b


def test_merged_folder_holds_every_image_under_unique_ids(two, tmp_path):
    a, b = two
    n = merge_datasets([a, b], tmp_path / "m")
    rows = read_manifest(tmp_path / "m").to_pylist()
    originals = read_manifest(a).to_pylist()
    assert n == len(rows) == 2 * len(originals)
    assert len({r["id"] for r in rows}) == n
    for r in rows:
        assert (tmp_path / "m" / r["path"]).is_file() and (tmp_path / "m" / r["reference_path"]).is_file()
    first = rows[0]
    assert first["path"].startswith("images/d0_") and first["split"] == originals[0]["split"]
    assert (load(str(tmp_path / "m" / first["path"])).hu == load(str(a / originals[0]["path"])).hu).all()
    pairs = read_pairs(tmp_path / "m").to_pylist()
    ids = {r["id"] for r in rows}
    assert pairs and all(p["a_id"] in ids and p["b_id"] in ids for p in pairs)


def test_a_patient_in_two_splits_is_refused_before_anything_is_written(two, tmp_path):
    a, b = two
    rows = pq.read_table(b / "manifest.parquet").to_pylist()
    moved = rows[0]["patient_id"]
    for r in rows:
        if r["patient_id"] == moved:
            r["split"] = "test" if r["split"] != "test" else "train"
    write_table(rows, IMAGE_SCHEMA, b / "manifest.parquet")
    with pytest.raises(DatasetError, match="leak it between splits"):
        merge_datasets([a, b], tmp_path / "m")
    assert not (tmp_path / "m" / "manifest.parquet").exists()


def test_bad_requests_are_user_errors(two, tmp_path):
    a, b = two
    with pytest.raises(InvalidParameterError, match="at least two"):
        merge_datasets([a], tmp_path / "m")
    with pytest.raises(InvalidParameterError, match="one of the inputs"):
        merge_datasets([a, b], b)
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x").write_text("x")
    with pytest.raises(DatasetError, match="not empty"):
        merge_datasets([a, b], tmp_path / "full")
    with pytest.raises(DatasetError, match="no manifest.parquet"):
        merge_datasets([a, tmp_path / "full"], tmp_path / "m2")


@pytest.mark.slow
def test_cli_merge(two, tmp_path):
    a, b = two
    r = subprocess.run([VLIQA, "data", "merge", str(a), str(b), "--out", str(tmp_path / "m")],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert len(read_manifest(tmp_path / "m")) == 2 * len(read_manifest(a))
    r = subprocess.run([VLIQA, "data", "merge", str(a), "--out", str(tmp_path / "m3")], capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 1 and "at least two" in r.stderr


def test_a_missing_image_in_any_input_is_found_before_anything_is_linked(two, tmp_path):
    a, b = two
    first = read_manifest(b).to_pylist()[-1]
    (b / first["path"]).unlink()
    with pytest.raises(DatasetError, match="missing file"):
        merge_datasets([a, b], tmp_path / "m")
    assert not (tmp_path / "m").exists()

