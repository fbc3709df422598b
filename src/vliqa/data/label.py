"""Relabel a built dataset: recompute physics labels, or apply human scores from a CSV."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa

from vliqa.data.manifest import IMAGE_SCHEMA, dumps, read_manifest, write_table
from vliqa.errors import DatasetError
from vliqa.simulate.registry import ASPECTS


def relabel_physics(folder: str | Path, *, progress: bool = True) -> int:
    """Recomputes the physics labels of every image in a dataset; gives the number of rows updated."""
    from rich.progress import track

    from vliqa.io import load
    from vliqa.labels.physics import physics_labels

    folder = Path(folder)
    rows = read_manifest(folder).to_pylist()
    n = 0
    for row in track(rows, description="relabelling", disable=not progress):
        if row["label_source"] == "human":
            continue  # human scores take precedence
        deg = load(str(folder / row["path"]))
        ref = load(str(folder / row["reference_path"]))
        labels = physics_labels(deg, ref)
        row.update({"overall": labels.overall, **labels.aspects, "label_source": "physics",
                    "measures": dumps(labels.measures)})
        n += 1
    write_table(rows, IMAGE_SCHEMA, folder / "manifest.parquet")
    return n


def apply_human_scores(folder: str | Path, csv_path: str | Path) -> int:
    """Writes human scores from a CSV into a dataset's manifest (matched by path or id); gives rows matched."""
    from vliqa.labels.human import read_human_scores

    folder = Path(folder)
    table: pa.Table = read_manifest(folder)
    rows = table.to_pylist()
    index = {}
    for i, r in enumerate(rows):
        index[r["path"]] = i
        index[r["id"]] = i
        index[str((folder / r["path"]).resolve())] = i
    unmatched = []
    n = 0
    for hs in read_human_scores(csv_path):
        key = hs.path if hs.path in index else str(Path(hs.path).resolve())
        i = index.get(key)
        if i is None:
            unmatched.append(hs.path)
            continue
        rows[i].update({"overall": hs.labels.overall, **{a: hs.labels.aspects[a] for a in ASPECTS},
                        "label_source": "human",
                        "measures": dumps({**json.loads(rows[i]["measures"]), "human": 1.0})})
        n += 1
    if n == 0:
        raise DatasetError(
            f"none of the {len(unmatched)} paths in the score file matches an image of the dataset",
            path=csv_path,
            hint="use paths relative to the dataset folder (images/....png) or image ids",
        )
    write_table(rows, IMAGE_SCHEMA, folder / "manifest.parquet")
    return n
