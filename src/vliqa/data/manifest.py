"""The dataset manifest: one Parquet row per image, one per comparison pair, with a fixed schema."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from vliqa.core import ASPECTS
from vliqa.errors import DatasetError
from vliqa.io.write import atomic_path

MANIFEST_VERSION = 1

#: Columns of manifest.parquet. Paths are relative to the dataset folder; images are 16-bit PNG
#: holding HU + 1024 (see vliqa.io.write.save_png16), readable with vliqa.load.
IMAGE_SCHEMA = pa.schema(
    [
        ("id", pa.string()),
        ("path", pa.string()),
        ("reference_path", pa.string()),
        ("reference_id", pa.string()),
        ("source_id", pa.string()),
        ("patient_id", pa.string()),
        ("source_kind", pa.string()),  # real | phantom
        ("region", pa.string()),
        ("split", pa.string()),  # train | val | test
        ("family", pa.string()),
        ("degradations", pa.string()),  # JSON list of {name, severity, params...}
        ("overall", pa.float32()),
        *[(a, pa.float32()) for a in ASPECTS],
        ("label_source", pa.string()),  # physics | diagnostic | human
        ("measures", pa.string()),  # JSON dict of measured facts
        ("caption", pa.string()),
        ("organs", pa.string()),  # JSON list of anatomy words in the slice
        ("seed", pa.int64()),
        ("pixel_spacing_mm", pa.float32()),
    ]
)

PAIR_SCHEMA = pa.schema(
    [
        ("a_id", pa.string()),
        ("b_id", pa.string()),
        ("reference_id", pa.string()),
        ("split", pa.string()),
        ("preferred", pa.string()),  # A | B | tie
        ("overall_a", pa.float32()),
        ("overall_b", pa.float32()),
        ("text_with_reference", pa.string()),
        ("text_without_reference", pa.string()),
    ]
)


def write_table(rows: list[dict[str, Any]], schema: pa.Schema, path: Path) -> None:
    """Writes `rows` as a Parquet file with `schema`, atomically."""
    table = pa.Table.from_pylist(rows, schema=schema)
    with atomic_path(path) as tmp:
        pq.write_table(table, tmp)


def read_manifest(folder: str | Path) -> pa.Table:
    """Gives the image manifest of a dataset folder, checked against the schema."""
    path = Path(folder) / "manifest.parquet"
    if not path.is_file():
        raise DatasetError(
            "no manifest.parquet here", path=folder, hint="build a dataset with `vliqa data build --out DIR` first"
        )
    try:
        table = pq.read_table(path)
    except Exception as exc:  # pyarrow raises several types for damaged files
        raise DatasetError(f"manifest cannot be read ({exc})", path=path, hint="rebuild the dataset") from exc
    validate(table, IMAGE_SCHEMA, path)
    return table


def read_pairs(folder: str | Path) -> pa.Table:
    """Gives the comparison pairs of a dataset folder, checked against the schema."""
    path = Path(folder) / "pairs.parquet"
    if not path.is_file():
        raise DatasetError("no pairs.parquet here", path=folder, hint="rebuild the dataset")
    table = pq.read_table(path)
    validate(table, PAIR_SCHEMA, path)
    return table


def validate(table: pa.Table, schema: pa.Schema, path: str | Path = "manifest") -> None:
    """Raises DatasetError unless `table` has every column of `schema` with the right type."""
    for fld in schema:
        if fld.name not in table.column_names:
            raise DatasetError(f"column '{fld.name}' is missing", path=path,
                               hint="rebuild the dataset with this vliqa version")
        if not table.schema.field(fld.name).type.equals(fld.type):
            raise DatasetError(f"column '{fld.name}' has type {table.schema.field(fld.name).type}, expected {fld.type}",
                               path=path)


def dumps(obj: Any) -> str:
    """Gives compact JSON for a manifest cell."""
    return json.dumps(obj, separators=(",", ":"), default=float)
