"""The output folder of a batch run, written so that a run killed at any moment resumes with every slice once.

    DIR/run.json        what the run scores (source, model, options): a rerun with other options is refused
    DIR/ledger.jsonl    one line per finished unit, appended (and fsynced) after its shard is in place
    DIR/slices/         part-<unit id>.parquet: one shard per finished unit; the folder reads as one Parquet dataset
    DIR/series.parquet  the per-series summary, written when the walk is complete
    DIR/summary.json    counts of the finished run (slices, errors by type, files skipped)
    DIR/.lock           held (flock) by the run writing into DIR: a second run into it is refused

A shard is written under a hidden temporary name and renamed into place; only then is its ledger line written.
On opening, shards without a ledger line (the run died between the two) and temporary files are deleted, and a
torn last ledger line is cut off: the ledger is the truth, and a unit is either in it with its whole shard or
scored again. Shard names are unit ids, so a unit scored twice replaces its own shard and never adds rows.
"""

from __future__ import annotations

import fcntl
import json
import os
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from vliqa.batch.rows import KEY_COLUMNS, SLICE_SCHEMA
from vliqa.errors import BatchStateError, PermissionDeniedError
from vliqa.io.atomic import atomic_path, atomic_write_text

RUN_FILE, LEDGER_FILE, SLICES_DIR, LOCK_FILE = "run.json", "ledger.jsonl", "slices", ".lock"
SERIES_FILE, SUMMARY_FILE = "series.parquet", "summary.json"
#: run.json keys that must match for a rerun to resume into the same folder.
SETTINGS_KEYS = ("src", "model", "measures", "describe", "shard_size")


@dataclass(frozen=True)
class LedgerEntry:
    """One finished unit: its id, shard file, rows written and how many of them are errors."""

    unit_id: str
    shard: str
    n_rows: int
    n_errors: int
    series_uid: str | None = None
    seconds: float = 0.0

    def to_json(self) -> str:
        return json.dumps(self.__dict__, sort_keys=True)


@dataclass
class BatchStore:
    """The output folder of one batch run (module notes)."""

    out_dir: Path
    done: dict[str, LedgerEntry] = field(default_factory=dict)

    @property
    def slices_dir(self) -> Path:
        return self.out_dir / SLICES_DIR

    def shard_path(self, unit_id: str) -> Path:
        return self.slices_dir / f"part-{unit_id}.parquet"

    # ------------------------------------------------------------ opening and resuming

    def open(self, settings: dict[str, Any]) -> dict[str, LedgerEntry]:
        """Checks or writes run.json, reads the ledger and clears what a killed run left; gives the finished units."""
        try:
            self.slices_dir.mkdir(parents=True, exist_ok=True)
        except PermissionError as exc:
            raise PermissionDeniedError(f"{self.out_dir}: cannot write here ({exc.strerror})", path=self.out_dir,
                                        hint="choose an --out folder you may write to") from exc
        self._lock()
        self._check_settings(settings)
        for name in (SUMMARY_FILE, SERIES_FILE):  # written again when this run completes; until then it has not
            (self.out_dir / name).unlink(missing_ok=True)
        self.done = self._read_ledger(repair=True)
        for path in self.slices_dir.iterdir():
            unit = path.name.removeprefix("part-").removesuffix(".parquet")
            if path.name.startswith(".") or not path.name.startswith("part-") or unit not in self.done:
                path.unlink()  # a temporary file or a shard whose ledger line was never written: scored again
        missing = [e.shard for e in self.done.values() if not (self.slices_dir / e.shard).is_file()]
        if missing:
            raise BatchStateError(
                f"{self.out_dir}: the ledger lists {len(missing)} shard(s) that are gone (e.g. {missing[0]})",
                path=self.out_dir, hint="start again in a new --out folder (or delete this one)")
        return self.done

    def _lock(self) -> None:
        """Takes the folder's lock for this process's lifetime (the OS drops it when the process dies, even by
        SIGKILL), so two runs never write into one folder."""
        self._lock_file = open(self.out_dir / LOCK_FILE, "a")  # noqa: SIM115 - held open while the run lives
        try:
            fcntl.flock(self._lock_file.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            self._lock_file.close()
            raise BatchStateError(f"{self.out_dir}: another `vliqa batch` is writing into this folder",
                                  path=self.out_dir, hint="wait for it to end, or choose another --out folder") from exc

    def close(self) -> None:
        """Releases the folder's lock."""
        lock = getattr(self, "_lock_file", None)
        if lock is not None:
            lock.close()
            self._lock_file = None

    def _check_settings(self, settings: dict[str, Any]) -> None:
        run_file = self.out_dir / RUN_FILE
        if run_file.is_file():
            try:
                old = json.loads(run_file.read_text(encoding="utf-8"))
            except (OSError, json.JSONDecodeError) as exc:
                raise BatchStateError(f"{run_file}: cannot be read ({exc})", path=run_file,
                                      hint="start again in a new --out folder") from exc
            differ = [k for k in SETTINGS_KEYS if old.get(k) != settings.get(k)]
            if differ:
                shown = ", ".join(f"{k}: {old.get(k)!r} there, {settings.get(k)!r} now" for k in differ)
                raise BatchStateError(
                    f"{self.out_dir}: holds a batch run with other settings ({shown})", path=self.out_dir,
                    hint="rerun with the same source and options to resume it, or choose a new --out folder")
        else:
            atomic_write_text(run_file, json.dumps({**settings, "created": time.time()}, indent=2) + "\n")

    def _read_ledger(self, *, repair: bool = False) -> dict[str, LedgerEntry]:
        """Gives the ledger's entries; a torn last line is left out (and cut off the file under `repair`)."""
        path = self.out_dir / LEDGER_FILE
        if not path.is_file():
            return {}
        data = path.read_bytes()
        done: dict[str, LedgerEntry] = {}
        good_end = 0
        for line in data.splitlines(keepends=True):
            if not line.endswith(b"\n"):
                break  # a line torn by a kill mid-write: its unit is scored again
            try:
                entry = LedgerEntry(**json.loads(line))
            except (json.JSONDecodeError, TypeError) as exc:
                raise BatchStateError(f"{path}: line {len(done) + 1} is damaged ({exc})", path=path,
                                      hint="start again in a new --out folder") from exc
            done[entry.unit_id] = entry
            good_end += len(line)
        if repair and good_end < len(data):
            with open(path, "r+b") as fh:
                fh.truncate(good_end)
        return done

    # ------------------------------------------------------------ writing

    def commit(self, unit_id: str, table: pa.Table, *, series_uid: str | None, seconds: float) -> LedgerEntry:
        """Writes a unit's shard atomically, then its ledger line (fsynced); gives the ledger entry."""
        target = self.shard_path(unit_id)
        with atomic_path(target) as tmp:
            pq.write_table(table, tmp)
        n_errors = int(pc.sum(pc.equal(table["status"], "error")).as_py() or 0)
        entry = LedgerEntry(unit_id, target.name, table.num_rows, n_errors, series_uid, round(seconds, 3))
        with open(self.out_dir / LEDGER_FILE, "a", encoding="utf-8") as fh:
            fh.write(entry.to_json() + "\n")
            fh.flush()
            os.fsync(fh.fileno())
        self.done[unit_id] = entry
        return entry

    def forget(self, unit_ids: Iterable[str]) -> int:
        """Drops units from the ledger and deletes their shards (units no longer in the source tree); gives how many."""
        stale = [u for u in unit_ids if u in self.done]
        if not stale:
            return 0
        for u in stale:
            self.done.pop(u)
        atomic_write_text(self.out_dir / LEDGER_FILE, "".join(e.to_json() + "\n" for e in self.done.values()))
        for u in stale:
            self.shard_path(u).unlink(missing_ok=True)
        return len(stale)

    # ------------------------------------------------------------ reading

    def shard_files(self) -> list[str]:
        """Gives the shard paths of the finished units, in ledger order."""
        return [str(self.slices_dir / e.shard) for e in self.done.values()]


def read_slices(out_dir: str | Path, columns: list[str] | None = None) -> pa.Table:
    """Gives every slice row of a batch output folder (the shards its ledger lists) as one table."""
    store = BatchStore(Path(out_dir))
    if not (store.out_dir / RUN_FILE).is_file():
        raise BatchStateError(f"{out_dir}: not a batch output folder (no {RUN_FILE})", path=out_dir,
                              hint="pass the --out folder of `vliqa batch`")
    store.done = store._read_ledger()
    files = store.shard_files()
    if not files:
        return SLICE_SCHEMA.empty_table().select(columns) if columns else SLICE_SCHEMA.empty_table()
    tables = [pq.read_table(f, columns=columns) for f in files]
    return pa.concat_tables(tables)


def duplicate_keys(table: pa.Table) -> int:
    """Gives the number of slice rows whose key (path, slice index) another row also has."""
    keys = table.select(list(KEY_COLUMNS)).to_pylist()
    seen = {(k["path"], k["slice_index"]) for k in keys}
    return len(keys) - len(seen)
