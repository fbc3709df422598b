"""Relabel a built dataset: recompute physics labels, MedQM-D diagnostic labels, or apply human scores from a CSV."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa

from vliqa.data.manifest import IMAGE_SCHEMA, dumps, read_manifest, write_table
from vliqa.errors import DatasetError, VliqaError
from vliqa.simulate.registry import ASPECTS


def _machine_labelled(folder: Path, rows: list[dict], description: str, progress: bool):
    """Yields (row, degraded, reference) for every row not labelled by humans (their scores take precedence).

    Pixel spacing comes from the manifest, which holds it for every row (older builds wrote PNGs without it).
    """
    from dataclasses import replace

    from rich.progress import track

    from vliqa.io import load

    for row in track(rows, description=description, disable=not progress):
        if row["label_source"] == "human":
            continue
        deg = load(str(folder / row["path"]))
        ref = load(str(folder / row["reference_path"]))
        if row.get("pixel_spacing_mm"):
            spacing = (float(row["pixel_spacing_mm"]),) * 2
            deg, ref = replace(deg, pixel_spacing_mm=spacing), replace(ref, pixel_spacing_mm=spacing)
        yield row, deg, ref


def caption_of(row: dict) -> str:
    """Gives the caption of a manifest row from its current scores, as the builder wrote it (same seed and context).

    Every relabelling writes it, so captions never describe scores the row no longer has.
    """
    from vliqa.labels.physics import distortions_from_steps
    from vliqa.labels.schema import QualityLabels
    from vliqa.text import DescriptionContext, describe

    labels = QualityLabels(
        overall=float(row["overall"]), aspects={a: float(row[a]) for a in ASPECTS}, source=str(row["label_source"]),
        distortions=distortions_from_steps(json.loads(row["degradations"] or "[]")),
        measures=json.loads(row["measures"] or "{}"),
    )
    context = DescriptionContext(body_region=row.get("region"), organs=tuple(json.loads(row.get("organs") or "[]")))
    return describe(labels, context, seed=int(row.get("seed") or 0))


def rescore_physics(folder: str | Path) -> int:
    """Recomputes physics scores from the measures stored in the manifest (after a `Calibration` change); gives rows updated.

    No image is read, and what only the build knew (the simulator's artifact field, the phantoms' lesion
    masks) is kept, unlike `relabel_physics`. Human and diagnostic rows are left alone.
    """
    from vliqa.labels.physics import scores_from_measures

    folder = Path(folder)
    rows = read_manifest(folder).to_pylist()
    n = 0
    for row in rows:
        if row["label_source"] != "physics":
            continue
        overall, aspects = scores_from_measures(json.loads(row["measures"]))
        row.update({"overall": overall, **aspects})
        row["caption"] = caption_of(row)
        n += 1
    write_table(rows, IMAGE_SCHEMA, folder / "manifest.parquet")
    return n


def relabel_physics(folder: str | Path, *, progress: bool = True) -> int:
    """Recomputes the physics labels of every image in a dataset; gives the number of rows updated."""
    from vliqa.labels.physics import physics_labels

    folder = Path(folder)
    rows = read_manifest(folder).to_pylist()
    n = 0
    for row, deg, ref in _machine_labelled(folder, rows, "relabelling", progress):
        labels = physics_labels(deg, ref)
        row.update({"overall": labels.overall, **labels.aspects, "label_source": "physics",
                    "measures": dumps(labels.measures)})
        row["caption"] = caption_of(row)
        n += 1
    write_table(rows, IMAGE_SCHEMA, folder / "manifest.parquet")
    return n


def _phantom_truth(source_id: str, shape: tuple[int, ...], manifest: Path):
    """Gives the DiagnosticTruth of a phantom row, regenerated from its source id "phantom:{region}:{seed}"."""
    from vliqa.labels.diagnostic import DiagnosticTruth
    from vliqa.phantom import make_phantom

    try:
        _, region, seed = source_id.split(":")
        phantom = make_phantom(region, size_px=int(shape[0]), seed=int(seed))
    except (ValueError, VliqaError) as exc:
        raise DatasetError(f"phantom source id '{source_id}' cannot be regenerated ({exc})", path=manifest,
                           hint="phantom rows need source_id 'phantom:REGION:SEED' as written by `vliqa data build`") from exc
    if phantom.lesion_mask.shape != tuple(shape):
        raise DatasetError(f"phantom '{source_id}' regenerates at {phantom.lesion_mask.shape}, the image is {tuple(shape)}",
                           path=manifest, hint="phantom images must be square, as `vliqa data build` writes them")
    return DiagnosticTruth.from_phantom(phantom)


def relabel_diagnostic(folder: str | Path, *, model: str = "lesion_net", calibration=None, progress: bool = True) -> int:
    """Writes MedQM-D diagnostic overall scores into a dataset's manifest; gives the number of rows updated.

    Phantom rows are judged against their true lesion masks (the phantom is regenerated from
    its source id), real rows against the model's output on the reference (pseudo-truth).
    Aspect scores stay as they are; measures gain "diagnostic_loss" and keep the physics
    overall as "physics_overall". `calibration`: None (the model's fitted mapping), a
    SigmoidMapping, or a JSON file written by SigmoidMapping.to_json. Human rows are untouched.
    """
    from vliqa.labels.diagnostic import SigmoidMapping, default_mapping, get_diagnostic_model

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
    write_table(rows, IMAGE_SCHEMA, manifest)
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
        rows[i]["caption"] = caption_of(rows[i])
        n += 1
    if n == 0:
        raise DatasetError(
            f"none of the {len(unmatched)} paths in the score file matches an image of the dataset",
            path=csv_path,
            hint="use paths relative to the dataset folder (images/....png) or image ids",
        )
    write_table(rows, IMAGE_SCHEMA, folder / "manifest.parquet")
    return n
