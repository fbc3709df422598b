"""`run_batch`: score every slice under a folder tree into a resumable Parquet output folder, exactly once."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import pyarrow.compute as pc
import pyarrow.parquet as pq

from vliqa.batch.engines import Engine, ScorerSettings, UnitResult, make_engine
from vliqa.batch.series import SERIES_INPUT_COLUMNS, series_table
from vliqa.batch.store import SERIES_FILE, SUMMARY_FILE, BatchStore, duplicate_keys, read_slices
from vliqa.batch.walk import WalkStats, WorkUnit, plan_units
from vliqa.errors import BatchStateError, InputNotFoundError
from vliqa.io.atomic import atomic_path, atomic_write_text


@dataclass
class BatchProgress:
    """Where a run stands, given to the progress callback after every finished (or skipped) unit."""

    units_done: int = 0
    units_skipped: int = 0
    slices_done: int = 0
    errors: int = 0
    elapsed_s: float = 0.0

    @property
    def slices_per_s(self) -> float:
        return self.slices_done / self.elapsed_s if self.elapsed_s > 0 else 0.0


@dataclass
class BatchResult:
    """What a finished run wrote and how fast: counts over the whole output, rates over this invocation."""

    out_dir: str
    engine: str
    workers: int
    n_units: int
    n_units_resumed: int
    n_slices: int
    n_errors: int
    n_series: int
    errors_by_type: dict[str, int]
    skipped_files: dict[str, int]
    #: slices scored (ok or error) by this invocation, and its wall time from the first unit (model loads included)
    slices_this_run: int
    seconds: float
    stale_units_removed: int = 0
    settings: dict[str, Any] = field(default_factory=dict)

    @property
    def slices_per_s(self) -> float:
        return self.slices_this_run / self.seconds if self.seconds > 0 else 0.0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self) | {"slices_per_s": round(self.slices_per_s, 3)}


def run_batch(src: str | Path, out_dir: str | Path, *, engine: str = "local", address: str | None = None,
              model: str = "default", measures: bool = True, describe: bool = False, shard_size: int = 256,
              workers: int = 1, batch_size: int = 16,
              on_progress: Callable[[BatchProgress], None] | None = None) -> BatchResult:
    """Scores every slice under `src` into `out_dir` (slices/ shards, series.parquet, summary.json) and gives counts.

    A rerun with the same source and options resumes: finished units are skipped, a unit cut short is scored
    again, and the output holds each slice once (docs/batch.md). Units that a changed tree no longer holds are
    removed from the output at the end of a complete walk.
    """
    source = Path(src)
    if not source.exists():
        raise InputNotFoundError(f"{src}: no such file or folder", path=src,
                                 hint="pass the folder of the archive to score")
    settings = {"src": str(source.resolve()), "model": str(model), "measures": bool(measures),
                "describe": bool(describe), "shard_size": int(shard_size)}
    scorer = ScorerSettings(model=str(model), measures=measures, describe=describe, batch_size=batch_size)
    runner = make_engine(engine, scorer, workers=workers, address=address)  # bad options fail before DIR is made
    store = BatchStore(Path(out_dir))
    try:
        n_resumed = len(store.open(settings))
        stats, progress = WalkStats(), BatchProgress()
        start = time.perf_counter()
        with runner:
            planned = _score_units(store, plan_units(source, shard_size=shard_size, stats=stats), runner, progress,
                                   on_progress)
        seconds = time.perf_counter() - start
        stale = store.forget([u for u in list(store.done) if u not in planned])
        return _finalize(store, settings, stats, engine=engine, workers=workers, n_resumed=n_resumed - stale,
                         slices_this_run=progress.slices_done, seconds=seconds, stale=stale)
    finally:
        store.close()


def _score_units(store: BatchStore, units: Iterable[WorkUnit], runner: Engine, progress: BatchProgress,
                 on_progress: Callable[[BatchProgress], None] | None) -> set[str]:
    """Scores the units not in the ledger, committing each as it finishes; gives the ids of every unit walked."""
    planned: set[str] = set()
    start = time.perf_counter()

    def finished(results: list[UnitResult]) -> None:
        for r in results:
            entry = store.commit(r.unit.unit_id, r.table, series_uid=r.unit.series_uid, seconds=r.seconds)
            progress.units_done += 1
            progress.slices_done += entry.n_rows
            progress.errors += entry.n_errors
        if results and on_progress is not None:
            progress.elapsed_s = time.perf_counter() - start
            on_progress(progress)

    for unit in units:
        planned.add(unit.unit_id)
        if unit.unit_id in store.done:
            progress.units_skipped += 1
            continue
        finished(runner.submit(unit))
    for result in runner.drain():
        finished([result])
    return planned


def _finalize(store: BatchStore, settings: dict[str, Any], stats: WalkStats, *, engine: str, workers: int,
              n_resumed: int, slices_this_run: int, seconds: float, stale: int) -> BatchResult:
    """Checks the output has each slice once, writes series.parquet and summary.json, and gives the result."""
    slices = read_slices(store.out_dir, columns=[*SERIES_INPUT_COLUMNS, "error_type"])
    duplicated = duplicate_keys(slices)
    if duplicated:  # cannot happen while shard names are unit ids; checked because the promise is exactly once
        raise BatchStateError(f"{store.out_dir}: {duplicated} slice rows appear twice", path=store.out_dir,
                              hint="report this as a bug; start again in a new --out folder")
    series = series_table(slices)
    with atomic_path(store.out_dir / SERIES_FILE) as tmp:
        pq.write_table(series, tmp)
    errors = slices.filter(pc.equal(slices["status"], "error"))
    by_type: dict[str, int] = {}
    for name in errors["error_type"].to_pylist():
        by_type[name or "?"] = by_type.get(name or "?", 0) + 1
    result = BatchResult(
        out_dir=str(store.out_dir), engine=engine, workers=workers, n_units=len(store.done),
        n_units_resumed=n_resumed, n_slices=slices.num_rows - errors.num_rows, n_errors=errors.num_rows,
        n_series=series.num_rows, errors_by_type=by_type, skipped_files=dict(stats.skipped),
        slices_this_run=slices_this_run, seconds=seconds, stale_units_removed=stale, settings=settings)
    atomic_write_text(store.out_dir / SUMMARY_FILE, json.dumps(result.to_dict() | {"complete": True}, indent=2) + "\n")
    return result
