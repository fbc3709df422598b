"""Bring a built dataset up to the current labels by replaying its build: `vliqa data upgrade DATA`.

A build makes each candidate from (build seed, candidate index) alone (`vliqa.data.build.make_candidate`), so
the records of a finished build say how to make every image again, with the current labeller. Replaying is the
only relabelling that recovers what the stored PNGs lose: the reference's scanner header (kernel, dose, slice
thickness, which set the simulated noise), the float HU below -1024, the phantoms' lesion masks and the exact
artifact field of the simulator. `vliqa.data.label.relabel_physics` measures the stored images instead and has
to estimate the artifact amplitude.

Every replayed image is checked against the stored one (the same pixels up to the PNG's rounding, where the PNG
did not clip): the replay stops with a DatasetError when the sources or the simulator changed since the build,
rather than writing labels of images that are not in the folder. Only the labels, measures and captions of
the records change (records.jsonl, manifest.parquet and pairs.parquet, each written atomically at the end);
human and diagnostic labels in the manifest are kept. Replayed records are appended to replay.jsonl as they
finish, so an interrupted replay resumes; the file is removed when the labels are written.
"""

from __future__ import annotations

import json
import multiprocessing as mp
from pathlib import Path
from typing import Any

import numpy as np
from rich.progress import track

from vliqa.data.build import _init_worker, label_fields, make_candidate, make_pairs, read_jsonl, saved_build
from vliqa.data.label import rescore_physics
from vliqa.data.manifest import IMAGE_SCHEMA, PAIR_SCHEMA, read_manifest, write_table
from vliqa.data.sources import build_sources
from vliqa.errors import DatasetError
from vliqa.io import load
from vliqa.io.write import PNG16_HU_OFFSET, atomic_write_text
from vliqa.simulate.recipe import is_artifact_step

#: largest |replayed - stored| HU where the stored PNG did not clip: its rounding is 0.5 HU
MATCH_TOLERANCE_HU = 1.0
#: PNG16 stores HU + 1024 in 0..65535: a pixel at either end may have been clipped
PNG_LOW_HU, PNG_HIGH_HU = -float(PNG16_HU_OFFSET), 65535.0 - PNG16_HU_OFFSET
REPLAY_FILE = "replay.jsonl"


def has_artifact_step(record: dict[str, Any]) -> bool:
    """Gives True when the record's recipe holds an artifact-type step (its labels use the simulator's artifact
    field)."""
    return any(is_artifact_step(step["name"]) for step in json.loads(record["degradations"] or "[]"))


def _read_records(folder: Path) -> list[dict[str, Any]]:
    path = folder / "records.jsonl"
    if not path.is_file():
        raise DatasetError("no records.jsonl: this folder was not made by `vliqa data build`", path=folder,
                           hint="a merged dataset has none: replay the folders it was merged from, then merge again")
    records = read_jsonl(path)
    if any("candidate" not in r for r in records):
        raise DatasetError("records without a candidate index cannot be replayed", path=path)
    return records


def check_replayed(stored_hu: np.ndarray, replayed_hu: np.ndarray, what: str, path: Path) -> None:
    """Raises DatasetError unless the replayed image is the stored one (where the PNG did not clip)."""
    if stored_hu.shape != replayed_hu.shape:
        raise DatasetError(f"{what}: the replay is {replayed_hu.shape}, the stored image {stored_hu.shape}", path=path,
                           hint="the sources changed since the build")
    inside = (stored_hu > PNG_LOW_HU) & (stored_hu < PNG_HIGH_HU)
    worst = float(np.abs(replayed_hu - stored_hu)[inside].max(initial=0.0))
    if worst > MATCH_TOLERANCE_HU:
        raise DatasetError(
            f"{what}: the replayed image differs from the stored one by up to {worst:.1f} HU",
            path=path, hint="the sources or the simulator changed since the build (or --phantoms differs from the "
                            "build's); relabel from the stored images with `vliqa data label --method physics` instead")


def replay_labels(folder: str | Path, *, phantoms: int | None = None, workers: int = 2, every_row: bool = False,
                  progress: bool = True) -> int:
    """Replays the build of `folder` and writes the current physics labels of its records; gives the number replayed.

    By default only records whose recipe holds an artifact-type step are replayed (the others' labels do not use
    the artifact field and are what `relabel_physics` gives); `every_row` replays them all. `phantoms`: the
    build's number of phantom sources, needed only for folders built before state.json recorded it.
    """

    folder = Path(folder)
    cfg, state = saved_build(folder)
    if phantoms is None:
        phantoms = state.get("n_phantoms")
    sources = build_sources(cfg.source, n=cfg.n, phantoms=phantoms, seed=cfg.seed,
                            noisy_references=cfg.noisy_references)
    records = _read_records(folder)
    by_candidate = {int(r["candidate"]): r for r in records}
    todo = sorted(c for c, r in by_candidate.items() if every_row or has_artifact_step(r))

    sidecar = folder / REPLAY_FILE
    done = {int(item["candidate"]): item for item in (read_jsonl(sidecar) if sidecar.is_file() else [])}
    pending = [c for c in todo if c not in done]

    ctx = mp.get_context("spawn")  # as the builder: a forked child deadlocks in torch ops
    pool = ctx.Pool(workers, initializer=_init_worker, initargs=(sources, cfg)) if workers > 1 and pending else None
    if pool is None and pending:
        _init_worker(sources, cfg)  # in this process, as the builder does with one worker
    try:
        results = pool.imap(make_candidate, pending) if pool else map(make_candidate, pending)
        with open(sidecar, "a") as fh:
            for c in track(results, total=len(pending), description="replaying", disable=not progress):
                record = by_candidate[c["candidate"]]
                src = sources[c["source_index"]]
                if src.source_id != record["source_id"]:
                    raise DatasetError(
                        f"candidate {c['candidate']} replays from source '{src.source_id}', the record says "
                        f"'{record['source_id']}'", path=folder,
                        hint="the source list differs from the build's: pass the build's --phantoms, and keep "
                             "../shared/data as it was")
                check_replayed(load(str(folder / record["path"])).hu, c["hu"], f"image {record['id']}", folder)
                item = {"candidate": c["candidate"], "labels": c["labels"], "caption": c["caption"]}
                fh.write(json.dumps(item) + "\n")
                fh.flush()
                done[c["candidate"]] = item
    finally:
        if pool is not None:
            pool.terminate()
            pool.join()

    replayed = {}
    for candidate in todo:
        fields = label_fields(done[candidate]["labels"], done[candidate]["caption"])
        by_candidate[candidate].update(fields)
        replayed[by_candidate[candidate]["id"]] = fields
    atomic_write_text(folder / "records.jsonl", "".join(json.dumps(r) + "\n" for r in records))
    rows = read_manifest(folder).to_pylist()
    for row in rows:  # human and diagnostic labels written after the build stay
        if row["id"] in replayed and row["label_source"] == "physics":
            row.update(replayed[row["id"]])
    write_table(rows, IMAGE_SCHEMA, folder / "manifest.parquet")
    write_table(make_pairs(records, cfg), PAIR_SCHEMA, folder / "pairs.parquet")
    sidecar.unlink(missing_ok=True)
    return len(todo)


def upgrade_dataset(folder: str | Path, *, phantoms: int | None = None, workers: int = 2,
                    progress: bool = True) -> tuple[int, int]:
    """Brings a folder made by `vliqa data build` with an older labeller up to the current labels; gives
    (rows replayed, rows rescored).

    Two steps, in this order (`vliqa data upgrade`): the rows with an artifact step are replayed (`replay_labels`:
    their labels depend on the simulator's artifact field, which the stored images lose), then every physics row
    is rescored from its stored measures (`vliqa.data.label.rescore_physics`: a change of the calibration, and the
    measures of the reference alone that older builds did not store). On a folder already at the current labels
    both steps give back the labels it has. Human and diagnostic labels are kept. A merged folder has no build
    records: upgrade the folders it was merged from, then merge them again.
    """
    replayed = replay_labels(folder, phantoms=phantoms, workers=workers, progress=progress)
    return replayed, rescore_physics(folder)
