"""The per-series summary of a batch run: score statistics, worst slices, error counts and acquisition metadata."""

from __future__ import annotations

import os
from typing import Any

import numpy as np
import pyarrow as pa

#: How many of a series' lowest-scoring slices its summary names, worst first.
WORST_SLICES = 3

SERIES_SCHEMA = pa.schema([
    ("series_uid", pa.string()), ("study_uid", pa.string()), ("folder", pa.string()),
    ("n_slices", pa.int64()), ("n_errors", pa.int64()), ("n_out_of_distribution", pa.int64()),
    ("mean_score", pa.float64()), ("median_score", pa.float64()), ("min_score", pa.float64()),
    ("max_score", pa.float64()), ("std_score", pa.float64()),
    ("worst_slices", pa.list_(pa.int32())), ("worst_paths", pa.list_(pa.string())),
    ("manufacturer", pa.string()), ("scanner_model", pa.string()), ("kvp", pa.float64()),
    ("exposure_mas", pa.float64()), ("ctdi_vol_mgy", pa.float64()), ("kernel", pa.string()),
    ("slice_thickness_mm", pa.float64()), ("study_date", pa.string()), ("series_description", pa.string()),
    ("model", pa.string()),
])
#: The slice columns the series summary reads.
SERIES_INPUT_COLUMNS = ["series_uid", "study_uid", "path", "slice_index", "status", "score", "out_of_distribution",
                        "manufacturer", "scanner_model", "kvp", "exposure_mas", "ctdi_vol_mgy", "kernel",
                        "slice_thickness_mm", "study_date", "series_description", "model"]
_FIRST = ("study_uid", "manufacturer", "scanner_model", "kvp", "kernel", "slice_thickness_mm", "study_date",
          "series_description", "model")
_MEDIAN = ("exposure_mas", "ctdi_vol_mgy")  # per slice under tube-current modulation: the series' median


def _first(values: list[Any]) -> Any:
    return next((v for v in values if v is not None), None)


def _median(values: list[Any]) -> float | None:
    found = [float(v) for v in values if v is not None]
    return float(np.median(found)) if found else None


def _score_stats(scores: np.ndarray) -> dict[str, float | None]:
    funcs = {"mean_score": np.mean, "median_score": np.median, "min_score": np.min, "max_score": np.max,
             "std_score": np.std}
    return {k: float(f(scores)) if scores.size else None for k, f in funcs.items()}


def series_table(slices: pa.Table) -> pa.Table:
    """Gives one row per series found in `slices` (rows without a series, such as unreadable files, are left out)."""
    cols = slices.select(SERIES_INPUT_COLUMNS).to_pydict()
    groups: dict[str, list[int]] = {}
    for i, uid in enumerate(cols["series_uid"]):
        if uid is not None:
            groups.setdefault(uid, []).append(i)
    rows = []
    for uid, idx in groups.items():
        ok = [i for i in idx if cols["status"][i] == "ok" and cols["score"][i] is not None]
        scores = np.array([cols["score"][i] for i in ok], dtype=np.float64)
        order = [ok[j] for j in np.argsort(scores, kind="stable")[:WORST_SLICES]]
        row = {"series_uid": uid, "folder": os.path.dirname(cols["path"][idx[0]] or ""),
               "n_slices": len(ok), "n_errors": len(idx) - len(ok),
               "n_out_of_distribution": sum(bool(cols["out_of_distribution"][i]) for i in ok),
               **_score_stats(scores),
               "worst_slices": [cols["slice_index"][i] for i in order], "worst_paths": [cols["path"][i] for i in order]}
        row |= {k: _first([cols[k][i] for i in idx]) for k in _FIRST}
        row |= {k: _median([cols[k][i] for i in idx]) for k in _MEDIAN}
        rows.append(row)
    rows.sort(key=lambda r: (r["folder"], r["series_uid"]))
    return pa.Table.from_pylist(rows, schema=SERIES_SCHEMA)
