"""Relabel a built dataset: recompute physics labels, MedQM-D diagnostic labels, or apply human scores from a CSV."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pyarrow as pa
from rich.progress import track

from vliqa.core import ASPECTS, QualityLabels
from vliqa.ct.anatomy import is_brain_slice
from vliqa.data.build import read_jsonl, refresh_pairs
from vliqa.data.manifest import IMAGE_SCHEMA, PAIR_SCHEMA, dumps, read_manifest, read_pairs, write_table
from vliqa.errors import DatasetError, VliqaError
from vliqa.io import load
from vliqa.io.write import atomic_write_text
from vliqa.labels.diagnostic import DiagnosticTruth, SigmoidMapping, default_mapping, get_diagnostic_model
from vliqa.labels.human import read_human_scores
from vliqa.labels.physics import distortions_from_steps, physics_labels, scores_from_measures
from vliqa.phantom import make_phantom
from vliqa.text import DescriptionContext, describe


def _machine_labelled(folder: Path, rows: list[dict], description: str, progress: bool):
    """Yields (row, degraded, reference) for every row not labelled by humans (their scores take precedence)."""
    for row in track(rows, description=description, disable=not progress):
        if row["label_source"] == "human":
            continue
        yield row, _image_of(folder, row, "path"), _image_of(folder, row, "reference_path")


def _image_of(folder: Path, row: dict, key: str):
    """Gives the image a manifest row names under `key`, with the row's pixel spacing.

    Pixel spacing comes from the manifest, which holds it for every row (older builds wrote PNGs without it).
    """

    image = load(str(folder / row[key]))
    if row.get("pixel_spacing_mm"):
        image = replace(image, pixel_spacing_mm=(float(row["pixel_spacing_mm"]),) * 2)
    return image


def caption_of(row: dict) -> str:
    """Gives the caption of a manifest row from its current scores, as the builder wrote it (same seed and context).

    Every relabelling writes it, so captions never describe scores the row no longer has.
    """
    labels = QualityLabels(
        overall=float(row["overall"]), aspects={a: float(row[a]) for a in ASPECTS}, source=str(row["label_source"]),
        distortions=distortions_from_steps(json.loads(row["degradations"] or "[]")),
        measures=json.loads(row["measures"] or "{}"),
    )
    context = DescriptionContext(body_region=row.get("region"), organs=tuple(json.loads(row.get("organs") or "[]")))
    return describe(labels, context, seed=int(row.get("seed") or 0))


def rescore_physics(folder: str | Path) -> int:
    """Recomputes physics scores from the measures stored in the manifest (after a `Calibration` change); gives rows
    updated.

    What only the build knew (the simulator's artifact field, the phantoms' lesion masks) is kept, unlike
    `relabel_physics`. The only images read are references whose measures predate a measure of the reference
    alone (`reference_is_brain`, added in 0.7.0), each once. Human and diagnostic rows are left alone.
    """
    folder = Path(folder)
    rows = read_manifest(folder).to_pylist()
    brain: dict[str, float] = {}
    n = 0
    for row in rows:
        if row["label_source"] != "physics":
            continue
        measures = json.loads(row["measures"])
        if "reference_is_brain" not in measures:
            if row["reference_path"] not in brain:
                brain[row["reference_path"]] = float(is_brain_slice(_image_of(folder, row, "reference_path")))
            measures["reference_is_brain"] = brain[row["reference_path"]]
            row["measures"] = dumps(measures)
        overall, aspects = scores_from_measures(measures)
        row.update({"overall": overall, **aspects})
        row["caption"] = caption_of(row)
        n += 1
    write_labels(folder, rows)
    return n


def relabel_physics(folder: str | Path, *, progress: bool = True) -> int:
    """Recomputes the physics labels of every image in a dataset; gives the number of rows updated."""
    folder = Path(folder)
    rows = read_manifest(folder).to_pylist()
    n = 0
    for row, deg, ref in _machine_labelled(folder, rows, "relabelling", progress):
        labels = physics_labels(deg, ref)
        row.update({"overall": labels.overall, **labels.aspects, "label_source": "physics",
                    "measures": dumps(labels.measures)})
        row["caption"] = caption_of(row)
        n += 1
    write_labels(folder, rows)
    return n


def write_labels(folder: Path, rows: list[dict]) -> None:
    """Writes relabelled manifest rows and what repeats their labels, each atomically, the manifest last.

    records.jsonl (a build's; the replay reads it) gets each row's labels by id, and pairs.parquet keeps its pairs
    with scores, preference and answers from the new labels (`vliqa.data.build.refresh_pairs`).
    """
    fields = ("overall", *ASPECTS, "label_source", "measures", "caption")
    by_id = {r["id"]: r for r in rows}
    records_path = folder / "records.jsonl"
    if records_path.is_file():
        records = read_jsonl(records_path)
        for record in records:
            if record["id"] in by_id:
                record.update({k: by_id[record["id"]][k] for k in fields})
        atomic_write_text(records_path, "".join(json.dumps(r) + "\n" for r in records))
    if (folder / "pairs.parquet").is_file():
        write_table(refresh_pairs(read_pairs(folder).to_pylist(), rows), PAIR_SCHEMA, folder / "pairs.parquet")
    write_table(rows, IMAGE_SCHEMA, folder / "manifest.parquet")


def _phantom_truth(source_id: str, shape: tuple[int, ...], manifest: Path):
    """Gives the DiagnosticTruth of a phantom row, regenerated from its source id "phantom:{region}:{seed}"."""
    try:
        _, region, seed = source_id.split(":")
        phantom = make_phantom(region, size_px=int(shape[0]), seed=int(seed))
    except (ValueError, VliqaError) as exc:
        raise DatasetError(f"phantom source id '{source_id}' cannot be regenerated ({exc})", path=manifest,
                           hint="phantom rows need source_id 'phantom:REGION:SEED' as written by `vliqa data "
                                "build`") from exc
    if phantom.lesion_mask.shape != tuple(shape):
        raise DatasetError(
            f"phantom '{source_id}' regenerates at {phantom.lesion_mask.shape}, the image is {tuple(shape)}",
            path=manifest, hint="phantom images must be square, as `vliqa data build` writes them")
    return DiagnosticTruth.from_phantom(phantom)


def relabel_diagnostic(folder: str | Path, *, model: str = "lesion_net", calibration=None,
                       progress: bool = True) -> int:
    """Writes MedQM-D diagnostic overall scores into a dataset's manifest; gives the number of rows updated.

    Phantom rows are judged against their true lesion masks (the phantom is regenerated from
    its source id), real rows against the model's output on the reference (pseudo-truth).
    Aspect scores stay as they are; measures gain "diagnostic_loss" and keep the physics
    overall as "physics_overall". `calibration`: None (the model's fitted mapping), a
    SigmoidMapping, or a JSON file written by SigmoidMapping.to_json. Human rows are untouched.
    """
    folder = Path(folder)
    manifest = folder / "manifest.parquet"
    rows = read_manifest(folder).to_pylist()
    dm = get_diagnostic_model(model)
    if calibration is None:
        mapping = default_mapping(dm)
    elif isinstance(calibration, SigmoidMapping):
        mapping = calibration
    else:
        mapping = SigmoidMapping.from_json(calibration)
    truths: dict[str, object] = {}
    n = 0
    for row, deg, ref in _machine_labelled(folder, rows, "diagnostic labels", progress):
        truth = None
        if row["source_kind"] == "phantom":
            if row["source_id"] not in truths:
                truths[row["source_id"]] = _phantom_truth(row["source_id"], ref.hu.shape, manifest)
            truth = truths[row["source_id"]]
        loss = dm.loss(deg, ref, truth=truth)
        measures = json.loads(row["measures"] or "{}")
        if row["label_source"] == "physics":
            measures["physics_overall"] = float(row["overall"])
        measures["diagnostic_loss"] = float(loss)
        row.update({"overall": float(mapping.score(loss)), "label_source": "diagnostic", "measures": dumps(measures)})
        row["caption"] = caption_of(row)
        n += 1
    write_labels(folder, rows)
    return n


def apply_human_scores(folder: str | Path, csv_path: str | Path) -> int:
    """Writes human scores from a CSV into a dataset's manifest (matched by path or id); gives rows matched."""
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
        rows[i]["caption"] = caption_of(rows[i])
        n += 1
    if n == 0:
        raise DatasetError(
            f"none of the {len(unmatched)} paths in the score file matches an image of the dataset",
            path=csv_path,
            hint="use paths relative to the dataset folder (images/....png) or image ids",
        )
    write_labels(folder, rows)
    return n
