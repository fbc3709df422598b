"""`vliqa batch` on a small archive in this process: every slice once, unreadable files as error rows, resuming."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from batch_archive import ERROR_FILES, GOOD_SLICES

from vliqa.batch import WalkStats, plan_units, read_slices, run_batch, summarize
from vliqa.batch.engines import import_ray
from vliqa.batch.store import LEDGER_FILE, SETTINGS_KEYS, BatchStore
from vliqa.cli.main import invoke
from vliqa.errors import BatchStateError, DependencyUnavailableError, InputNotFoundError
from vliqa.io import load, save_nifti


@pytest.fixture(scope="module")
def finished(archive: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A finished local run over the archive (no physics measures, 2 slices a unit)."""
    out = tmp_path_factory.mktemp("batch") / "out"
    run_batch(archive, out, measures=False, shard_size=2)
    return out


def _keys(out: Path) -> list[tuple[str, int | None]]:
    table = read_slices(out, columns=["path", "slice_index"])
    return sorted(zip(table["path"].to_pylist(), table["slice_index"].to_pylist(), strict=True),
                  key=lambda k: (k[0], -1 if k[1] is None else k[1]))


def test_walk_groups_slices_into_series_by_uid_and_cuts_long_series(archive: Path):
    stats = WalkStats()
    units = list(plan_units(archive, shard_size=2, stats=stats))
    dicom = [u for u in units if u.kind == "dicom"]
    assert len({u.series_uid for u in dicom}) == 4
    assert all(len(u.paths) <= 2 for u in dicom)
    assert [u.first_index for u in dicom if "abdomen_100kv" in u.paths[0]] == [0, 2]
    assert stats.skipped == {"not an image file": 1}  # notes.txt
    assert [u.unit_id for u in plan_units(archive, shard_size=2)] == [u.unit_id for u in units]  # stable ids


def test_every_slice_is_scored_once_and_unreadable_files_are_error_rows(finished: Path):
    table = read_slices(finished)
    ok = table.filter(pc.equal(table["status"], "ok"))
    assert ok.num_rows == GOOD_SLICES
    assert table.num_rows == GOOD_SLICES + ERROR_FILES
    assert len(set(_keys(finished))) == table.num_rows
    errors = {Path(r["path"]).name: r for r in table.to_pylist() if r["status"] == "error"}
    assert set(errors) == {"CT.truncated", "header_cut.dcm", "junk.dcm"}
    assert all(r["error_type"] == "CorruptFileError" and r["error_message"] for r in errors.values())
    assert errors["CT.truncated"]["series_uid"] is not None  # its header was read: it belongs to its series
    row = next(r for r in ok.to_pylist() if "abdomen_100kv" in r["path"])
    assert row["kvp"] == 100 and row["kernel"] == "Br40f" and row["study_date"] == "2023-01-10"
    assert row["manufacturer"] == "SIEMENS" and 0 <= row["score"] <= 4 and row["level"]
    assert json.loads(row["measures"]) == {} and isinstance(json.loads(row["distortions"]), list)


def test_series_table_has_one_row_per_series_with_worst_slices(finished: Path):
    series = pq.read_table(finished / "series.parquet").to_pylist()
    assert len(series) == 4
    assert sum(r["n_slices"] for r in series) == GOOD_SLICES
    abdomen = next(r for r in series if r["folder"].endswith("abdomen"))
    assert abdomen["n_slices"] == 4 and abdomen["n_errors"] == 1
    assert abdomen["min_score"] <= abdomen["median_score"] <= abdomen["max_score"]
    assert len(abdomen["worst_slices"]) == 3 and abdomen["kvp"] == 120
    summary = json.loads((finished / "summary.json").read_text())
    assert summary["complete"] and summary["n_slices"] == GOOD_SLICES and summary["n_errors"] == ERROR_FILES


def test_rerun_of_a_finished_run_skips_every_unit(finished: Path, archive: Path):
    before = _keys(finished)
    result = run_batch(archive, finished, measures=False, shard_size=2)
    assert result.n_units_resumed == result.n_units and result.slices_this_run == 0
    assert _keys(finished) == before


def test_resume_deletes_an_orphan_shard_and_a_torn_ledger_line(finished: Path, archive: Path, tmp_path: Path):
    out = tmp_path / "out"
    shutil.copytree(finished, out)
    ledger = out / LEDGER_FILE
    lines = ledger.read_text().splitlines(keepends=True)
    # the state a kill -9 leaves: one shard renamed but its line never written, another line cut mid-write
    ledger.write_text("".join(lines[:-2]) + lines[-2][:15])
    (out / "slices" / ".part-x.parquet.tmp.parquet").write_bytes(b"half a shard")
    result = run_batch(archive, out, measures=False, shard_size=2)
    assert result.slices_this_run > 0 and result.n_units_resumed == len(lines) - 2
    assert _keys(out) == _keys(finished)
    assert not any(p.name.startswith(".") for p in (out / "slices").iterdir())


def test_rerun_with_other_settings_is_refused(finished: Path, archive: Path):
    with pytest.raises(BatchStateError, match="shard_size"):
        run_batch(archive, finished, measures=False, shard_size=3)


def test_a_second_run_into_a_folder_in_use_is_refused(finished: Path, archive: Path, tmp_path: Path):
    out = tmp_path / "out"
    shutil.copytree(finished, out)
    settings = json.loads((out / "run.json").read_text())
    running = BatchStore(out)
    running.open({k: settings[k] for k in SETTINGS_KEYS})
    try:
        with pytest.raises(BatchStateError, match="another"):
            run_batch(archive, out, measures=False, shard_size=2)
    finally:
        running.close()


def test_missing_source_gives_a_clear_error(tmp_path: Path):
    with pytest.raises(InputNotFoundError):
        run_batch(tmp_path / "nowhere", tmp_path / "out")


def test_ray_engine_without_ray_names_the_extra(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setitem(sys.modules, "ray", None)
    with pytest.raises(DependencyUnavailableError, match=r"vliqa\[ray\]"):
        import_ray()


def test_summarize_groups_by_scanner_protocol_and_date(finished: Path):
    summary = summarize(finished)
    assert {g.key for g in summary.by_scanner} == {"SIEMENS Biograph40_mCT 4R", "GE MEDICAL SYSTEMS HiSpeed Dual"}
    assert sum(g.n_slices for g in summary.by_protocol) == GOOD_SLICES
    assert any(g.key.startswith("100 kVp, 100-200 mAs, Br40f, ") for g in summary.by_protocol)
    assert [g.key for g in summary.by_date] == ["2022-12-01", "2022-12-08", "2023-01-10", "2023-03-01"]
    assert summary.worst_series[0]["median_score"] <= summary.worst_series[-1]["median_score"]


def test_cli_summarize_prints_tables_and_unfinished_run_is_refused(finished: Path, tmp_path: Path, capsys):
    assert invoke(["batch", "summarize", str(finished)]) == 0
    out = capsys.readouterr().out
    assert "By scanner" in out and "HiSpeed Dual" in out and "By protocol" in out
    (tmp_path / "run.json").write_text("{}")
    assert invoke(["batch", "summarize", str(tmp_path)]) == 1
    assert "has not finished" in capsys.readouterr().err


def test_a_folder_of_nifti_volumes_gives_a_row_per_slice(head_series: Path, tmp_path: Path):
    src = tmp_path / "nifti"
    src.mkdir()
    save_nifti(load(head_series), src / "head.nii.gz")
    result = run_batch(src, tmp_path / "out", measures=False)
    table = read_slices(tmp_path / "out")
    assert result.n_slices == 2 and result.n_series == 1
    assert table["slice_index"].to_pylist() == [0, 1]
    assert table["series_uid"].to_pylist() == [str(src / "head.nii.gz")] * 2
