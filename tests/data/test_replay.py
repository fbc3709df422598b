"""Bringing a built dataset up to the current labels by replaying its build (`vliqa data upgrade`)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

from vliqa.data.build import BuildConfig, build_dataset
from vliqa.data.manifest import IMAGE_SCHEMA, write_table
from vliqa.data.replay import REPLAY_FILE, has_artifact_step, replay_labels, upgrade_dataset
from vliqa.data.sources import build_sources
from vliqa.errors import DatasetError
from vliqa.io import load
from vliqa.io.write import save_png16

VLIQA = str(Path(sys.executable).with_name("vliqa"))
SCORES = ("overall", "noise", "artifacts", "sharpness", "contrast", "texture")

pytestmark = pytest.mark.slow  # every test replays a real build (~20 s for the fixture alone)


@pytest.fixture(scope="module")
def built(tmp_path_factory, head_series):
    """Real head DICOM (its header sets kernel and dose, which the stored PNGs lose) and three small phantoms."""
    out = tmp_path_factory.mktemp("replay")
    cfg = BuildConfig(n=8, seed=2, source=str(head_series), phantom_size_px=96)
    sources = build_sources(str(head_series), n=cfg.n, phantoms=3, seed=cfg.seed)
    build_dataset(sources, out, cfg, workers=1, progress=False)
    return out


def _copy(built: Path, tmp_path: Path) -> Path:
    folder = tmp_path / "ds"
    shutil.copytree(built, folder)
    return folder


def _rows(folder: Path) -> dict[str, dict]:
    return {r["id"]: r for r in pq.read_table(folder / "manifest.parquet").to_pylist()}


def _spoil_labels(folder: Path) -> None:
    """Writes overall 0 into every record and manifest row, as labels made by an older labeller."""
    records = [json.loads(line) for line in (folder / "records.jsonl").read_text().splitlines()]
    (folder / "records.jsonl").write_text("".join(json.dumps({**r, "overall": 0.0}) + "\n" for r in records))
    rows = [{**r, "overall": 0.0} for r in pq.read_table(folder / "manifest.parquet").to_pylist()]
    write_table(rows, IMAGE_SCHEMA, folder / "manifest.parquet")


def test_the_build_records_its_phantom_count(built):
    assert json.loads((built / "state.json").read_text())["n_phantoms"] == 3


def test_replaying_every_row_gives_back_the_builds_labels(built, tmp_path):
    folder = _copy(built, tmp_path)
    _spoil_labels(folder)
    assert replay_labels(folder, workers=1, every_row=True, progress=False) == 8
    before, after = _rows(built), _rows(folder)
    for key, row in after.items():
        assert [row[s] for s in SCORES] == pytest.approx([before[key][s] for s in SCORES], abs=1e-6)
        assert row["caption"] == before[key]["caption"]
    records = [json.loads(line) for line in (folder / "records.jsonl").read_text().splitlines()]
    assert all(r["overall"] > 0 for r in records)
    assert not (folder / REPLAY_FILE).exists()
    assert pq.read_table(folder / "pairs.parquet").num_rows == pq.read_table(built / "pairs.parquet").num_rows


def test_by_default_only_rows_with_artifact_steps_are_replayed(built, tmp_path):
    folder = _copy(built, tmp_path)
    _spoil_labels(folder)
    records = [json.loads(line) for line in (folder / "records.jsonl").read_text().splitlines()]
    with_artifacts = {r["id"] for r in records if has_artifact_step(r)}
    assert replay_labels(folder, workers=1, progress=False) == len(with_artifacts)
    assert with_artifacts, "the fixture should hold a row with an artifact step"
    before = _rows(built)
    for key, row in _rows(folder).items():
        assert row["overall"] == (pytest.approx(before[key]["overall"]) if key in with_artifacts else 0.0)


def test_a_stored_image_that_differs_from_the_replay_stops_it(built, tmp_path):
    folder = _copy(built, tmp_path)
    first = json.loads((folder / "records.jsonl").read_text().splitlines()[0])
    image = load(str(folder / first["path"]))
    save_png16(image.replace(hu=image.hu + np.float32(5.0)), folder / first["path"])
    manifest_before = (folder / "manifest.parquet").read_bytes()
    with pytest.raises(DatasetError, match="differs from the stored one"):
        replay_labels(folder, workers=1, every_row=True, progress=False)
    assert (folder / "manifest.parquet").read_bytes() == manifest_before


def test_the_wrong_phantom_count_is_caught(built, tmp_path):
    folder = _copy(built, tmp_path)
    with pytest.raises(DatasetError):
        replay_labels(folder, phantoms=7, workers=1, every_row=True, progress=False)


def test_an_interrupted_replay_resumes_from_its_sidecar(built, tmp_path):
    folder = _copy(built, tmp_path)
    first = json.loads((folder / "records.jsonl").read_text().splitlines()[0])
    labels = {"overall": 1.234, "aspects": {a: 2.0 for a in SCORES[1:]}, "source": "physics", "measures": {}}
    (folder / REPLAY_FILE).write_text(json.dumps({"candidate": first["candidate"], "labels": labels,
                                                  "caption": "from the sidecar"}) + "\n")
    replay_labels(folder, workers=1, every_row=True, progress=False)
    row = _rows(folder)[first["id"]]
    assert row["overall"] == pytest.approx(1.234) and row["caption"] == "from the sidecar"


def test_a_merged_folder_cannot_be_replayed(built, tmp_path):
    from vliqa.data.merge import merge_datasets

    merge_datasets([built, built], tmp_path / "merged")
    with pytest.raises(DatasetError, match="merged"):
        replay_labels(tmp_path / "merged", workers=1, progress=False)


def test_upgrade_replays_then_rescores_and_keeps_current_labels(built, tmp_path):
    folder = _copy(built, tmp_path)
    _spoil_labels(folder)
    records = [json.loads(line) for line in (folder / "records.jsonl").read_text().splitlines()]
    n_artifacts = sum(has_artifact_step(r) for r in records)
    assert upgrade_dataset(folder, workers=1, progress=False) == (n_artifacts, 8)
    before = _rows(built)
    for key, row in _rows(folder).items():  # every row back at the build's labels: replayed or rescored
        assert [row[s] for s in SCORES] == pytest.approx([before[key][s] for s in SCORES], abs=1e-5)
        assert row["caption"] == before[key]["caption"]


def test_cli_upgrade(built, tmp_path):
    folder = _copy(built, tmp_path)
    r = subprocess.run([VLIQA, "data", "upgrade", str(folder), "--workers", "1"], capture_output=True, text=True,
                       timeout=600)
    assert r.returncode == 0, r.stderr
    said = " ".join(r.stdout.split())  # the console wraps long lines
    assert "rows replayed" in said and "8 physics rows rescored" in said
    before = _rows(built)
    for key, row in _rows(folder).items():  # a folder at the current labels keeps them
        assert row["overall"] == pytest.approx(before[key]["overall"], abs=1e-5)
    r = subprocess.run([VLIQA, "data", "label", "--data", str(folder), "--replay"], capture_output=True, text=True,
                       timeout=120)
    assert r.returncode != 0 and "Traceback" not in r.stderr  # the migration flags are `vliqa data upgrade` now
