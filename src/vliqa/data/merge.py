"""Merging dataset folders into one: a simulated set with a noisy-reference supplement, or with your own scored images.

Each input folder's images and references are linked (hard links where the file system allows,
copies otherwise) into the output under a per-input prefix (`d0_`, `d1_`, ...), and the manifests and
pair tables are concatenated with the ids and paths prefixed the same way, so ids stay unique and
every row still points at its own files. Splits are kept as they are: a patient or phantom seed that
is in two inputs under different splits is refused, because it would leak between splits.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from vliqa.data.manifest import IMAGE_SCHEMA, PAIR_SCHEMA, read_manifest, read_pairs, write_table
from vliqa.errors import DatasetError, InvalidParameterError


def _link(src: Path, dst: Path) -> None:
    try:
        os.link(src, dst)
    except OSError:  # another file system, or links not allowed: copy
        shutil.copy2(src, dst)


def merge_datasets(folders: list[str | Path], out: str | Path) -> int:
    """Gives the number of images in `out`, a new dataset folder holding every image of `folders`."""
    folders = [Path(f) for f in folders]
    out = Path(out)
    if len(folders) < 2:
        raise InvalidParameterError(f"merging needs at least two dataset folders, got {len(folders)}")
    if any(out.resolve() == f.resolve() for f in folders):
        raise InvalidParameterError("the output folder is one of the inputs", hint="merge into a new folder")
    if out.exists() and any(out.iterdir()):
        raise DatasetError("the output folder is not empty", path=out, hint="merge into a new folder")
    manifests = [read_manifest(f).to_pylist() for f in folders]  # checks every input before writing anything
    pairs = [read_pairs(f).to_pylist() if (f / "pairs.parquet").is_file() else [] for f in folders]
    split_of: dict[str, tuple[str, Path]] = {}
    for folder, rows in zip(folders, manifests, strict=True):
        for r in rows:
            seen = split_of.setdefault(r["patient_id"], (r["split"], folder))
            if seen[0] != r["split"]:
                raise DatasetError(
                    f"patient '{r['patient_id']}' is in split '{seen[0]}' in {seen[1]} and '{r['split']}' here: "
                    "merging would leak it between splits", path=folder,
                    hint="build the inputs with the same seed and sources (splits follow patients and phantom seeds)")
    for folder, rows in zip(folders, manifests, strict=True):
        missing = next((r[k] for r in rows for k in ("path", "reference_path") if not (folder / r[k]).is_file()), None)
        if missing is not None:
            raise DatasetError(f"the manifest names a missing file {missing}", path=folder, hint="rebuild that dataset")
    (out / "images").mkdir(parents=True, exist_ok=True)
    (out / "references").mkdir(parents=True, exist_ok=True)
    all_rows, all_pairs = [], []
    for k, (folder, rows, prs) in enumerate(zip(folders, manifests, pairs, strict=True)):
        prefix = f"d{k}_"
        linked: set[str] = set()
        for r in rows:
            for key in ("path", "reference_path"):
                rel = Path(r[key])
                target = rel.parent / (prefix + rel.name)
                if str(target) not in linked:
                    _link(folder / rel, out / target)
                    linked.add(str(target))
                r[key] = target.as_posix()
            r["id"], r["reference_id"] = prefix + r["id"], prefix + r["reference_id"]
            all_rows.append(r)
        for p in prs:
            p.update(
                {"a_id": prefix + p["a_id"], "b_id": prefix + p["b_id"], "reference_id": prefix + p["reference_id"]})
            all_pairs.append(p)
    write_table(all_pairs, PAIR_SCHEMA, out / "pairs.parquet")
    write_table(all_rows, IMAGE_SCHEMA, out / "manifest.parquet")  # last: a folder with a manifest is complete
    return len(all_rows)
