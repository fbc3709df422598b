"""`vliqa batch` as a user runs it: the real console script killed with SIGKILL mid-run and rerun, the Ray engine
and a process pool against the plain local run, and the HTML summary."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from batch_archive import ERROR_FILES, GOOD_SLICES

from vliqa.batch import read_slices, run_batch
from vliqa.batch.store import LEDGER_FILE, SUMMARY_FILE

pytestmark = pytest.mark.slow
VLIQA = str(Path(sys.executable).with_name("vliqa"))
ENV = {**os.environ, "RAY_AUTH_MODE": "disabled", "OMP_NUM_THREADS": "1"}


def _scores(out: Path) -> dict[tuple[str, int | None], float | None]:
    table = read_slices(out, columns=["path", "slice_index", "score"])
    rows = table.to_pylist()
    keys = {(r["path"], r["slice_index"]) for r in rows}
    assert len(keys) == len(rows), "a slice appears twice"
    return {(r["path"], r["slice_index"]): r["score"] for r in rows}


def _same(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    for key, score in a.items():
        assert (score is None and b[key] is None) or abs(score - b[key]) < 1e-5, key


@pytest.fixture(scope="module")
def clean(archive: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An uninterrupted run with the physics measures, one slice a unit (what the killed run is checked against)."""
    out = tmp_path_factory.mktemp("clean") / "out"
    run_batch(archive, out, shard_size=1)
    return out


def test_run_killed_with_sigkill_resumes_to_the_same_rows_as_a_clean_run(archive: Path, clean: Path, tmp_path: Path):
    out = tmp_path / "killed"
    args = [VLIQA, "batch", str(archive), "--out", str(out), "--shard-size", "1"]
    proc = subprocess.Popen(args, env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    ledger = out / LEDGER_FILE
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline and proc.poll() is None:
        if ledger.is_file() and ledger.read_bytes().count(b"\n") >= 3:
            break
        time.sleep(0.005)
    assert proc.poll() is None, f"the run ended before it could be killed: {proc.stderr.read().decode()}"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not (out / SUMMARY_FILE).exists()
    done_before = ledger.read_bytes().count(b"\n")

    rerun = subprocess.run([*args, "--json"], env=ENV, capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 0, rerun.stderr
    result = json.loads(rerun.stdout)
    assert result["n_units_resumed"] >= done_before >= 3
    assert result["n_slices"] == GOOD_SLICES and result["n_errors"] == ERROR_FILES
    _same(_scores(out), _scores(clean))


def test_ray_engine_with_two_workers_gives_the_local_rows(archive: Path, tmp_path: Path):
    pytest.importorskip("ray", reason="the Ray engine needs the ray extra: pip install 'vliqa[ray]'")
    local, on_ray = tmp_path / "local", tmp_path / "ray"
    run_batch(archive, local, measures=False, shard_size=2)
    r = subprocess.run([VLIQA, "batch", str(archive), "--out", str(on_ray), "--engine", "ray", "--workers", "2",
                        "--no-measures", "--shard-size", "2", "--json"], env=ENV, capture_output=True, text=True,
                       timeout=300)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["engine"] == "ray"
    _same(_scores(on_ray), _scores(local))


def test_local_process_pool_gives_the_inline_rows(archive: Path, tmp_path: Path):
    inline, pooled = tmp_path / "inline", tmp_path / "pooled"
    run_batch(archive, inline, measures=False, shard_size=2)
    result = run_batch(archive, pooled, measures=False, shard_size=2, workers=2)
    assert result.workers == 2 and result.n_slices == GOOD_SLICES
    _same(_scores(pooled), _scores(inline))


def test_describe_adds_the_vlm_descriptions(head_series: Path, tmp_path: Path):
    run_batch(head_series, tmp_path / "out", measures=False, describe=True)
    rows = read_slices(tmp_path / "out").to_pylist()
    assert len(rows) == 2 and all(r["description_source"] == "vlm" and r["description"] for r in rows)


def test_summarize_writes_plots_and_a_self_contained_html_page(clean: Path, tmp_path: Path):
    page, plots = tmp_path / "summary.html", tmp_path / "plots"
    r = subprocess.run([VLIQA, "batch", "summarize", str(clean), "--html", str(page), "--plots", str(plots)],
                       env=ENV, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert "By protocol" in r.stdout and "Lowest-scoring series" in r.stdout
    assert sorted(p.name for p in plots.iterdir()) == ["score_histogram.png", "scores_by_date.png",
                                                       "scores_by_protocol.png", "scores_by_scanner.png"]
    text = page.read_text()
    assert text.count("data:image/png;base64,") == 4 and "Br40f" in text and "HiSpeed Dual" in text
