"""Archive-scale scoring: `run_batch` walks a folder tree, scores every slice with one `Assessor` per worker (in
this process, a process pool or on Ray) and writes resumable, exactly-once Parquet shards (docs/batch.md);
`summarize` reads them back by scanner, protocol, series and study date.

    from vliqa.batch import run_batch, read_slices, summarize
    result = run_batch("archive/", "out/", measures=False)     # rerun the same line to resume after a crash
    table = read_slices("out/")                                 # a pyarrow Table, one row per slice
"""

from __future__ import annotations

from vliqa.batch.engines import ENGINES, ScorerSettings, UnitScorer, make_engine
from vliqa.batch.rows import KEY_COLUMNS, SLICE_SCHEMA, score_unit
from vliqa.batch.run import BatchProgress, BatchResult, run_batch
from vliqa.batch.series import SERIES_SCHEMA, series_table
from vliqa.batch.store import BatchStore, duplicate_keys, read_slices
from vliqa.batch.summary import (
    BatchSummary,
    GroupStats,
    protocol_label,
    read_series,
    scanner_label,
    summarize,
    write_html,
    write_plots,
)
from vliqa.batch.walk import WalkStats, WorkUnit, plan_units

__all__ = [
    "ENGINES", "KEY_COLUMNS", "SERIES_SCHEMA", "SLICE_SCHEMA", "BatchProgress", "BatchResult", "BatchStore",
    "BatchSummary", "GroupStats", "ScorerSettings", "UnitScorer", "WalkStats", "WorkUnit", "duplicate_keys",
    "make_engine", "plan_units", "protocol_label", "read_series", "read_slices", "run_batch", "scanner_label",
    "score_unit", "series_table", "summarize", "write_html", "write_plots",
]
