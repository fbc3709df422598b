"""Relabelling a built dataset: rescoring from the stored measures after a calibration change (`vliqa data upgrade`)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from tiny_iqa import tiny_dataset

from vliqa.data.label import caption_of, rescore_physics
from vliqa.data.manifest import IMAGE_SCHEMA, write_table

VLIQA = str(Path(sys.executable).with_name("vliqa"))


@pytest.fixture()
def dataset_copy(tmp_path_factory, tmp_path) -> Path:
    folder = tmp_path / "ds"
    shutil.copytree(tiny_dataset(tmp_path_factory), folder)
    return folder


@pytest.mark.slow
def test_rescoring_from_measures_keeps_labels_until_the_measures_say_otherwise(dataset_copy):
    before = pq.read_table(dataset_copy / "manifest.parquet").to_pylist()
    assert rescore_physics(dataset_copy) == len(before)
    after = pq.read_table(dataset_copy / "manifest.parquet").to_pylist()
    for a, b in zip(before, after, strict=True):  # same calibration: the same scores, no image read
        assert b["overall"] == pytest.approx(a["overall"], abs=1e-5)
    # a reference measured at 40 HU (a noisy scan) is no longer excellent once rescored
    row = after[0]
    measures = {**json.loads(row["measures"]), "noise_sigma_ref_hu": 40.0, "noise_sigma_hu": 40.0}
    after[0] = {**row, "measures": json.dumps(measures), "label_source": "physics"}
    after[1] = {**after[1], "label_source": "human", "overall": 1.0}  # human scores are never overwritten
    write_table(after, IMAGE_SCHEMA, dataset_copy / "manifest.parquet")
    r = subprocess.run([VLIQA, "data", "upgrade", str(dataset_copy), "--workers", "1"],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    final = pq.read_table(dataset_copy / "manifest.parquet").to_pylist()
    assert final[0]["noise"] < 3.0 and final[1]["overall"] == 1.0
    # the caption follows the new scores (it said "excellent" noise before), the human row keeps its own
    assert final[0]["caption"] == caption_of(final[0]) != before[0]["caption"]
    assert final[1]["caption"] == before[1]["caption"]


def test_a_rebuilt_caption_is_the_builders_caption(dataset_copy):
    rows = pq.read_table(dataset_copy / "manifest.parquet").to_pylist()
    assert [caption_of(r) for r in rows] == [r["caption"] for r in rows]


@pytest.mark.slow
def test_upgrade_of_a_merged_folder_is_a_user_error(dataset_copy, tmp_path):
    from vliqa.data.merge import merge_datasets

    merge_datasets([dataset_copy, dataset_copy], tmp_path / "merged")
    r = subprocess.run([VLIQA, "data", "upgrade", str(tmp_path / "merged")], capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 1 and "merged" in r.stderr and "Traceback" not in r.stderr
    r = subprocess.run([VLIQA, "data", "upgrade", str(dataset_copy), "--workers", "0"], capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 1 and "--workers" in r.stderr


def test_rescoring_keeps_records_and_pairs_in_step_with_the_manifest(dataset_copy):
    from vliqa.data.build import read_jsonl

    rows = pq.read_table(dataset_copy / "manifest.parquet").to_pylist()
    pairs_before = pq.read_table(dataset_copy / "pairs.parquet").to_pylist()
    paired = pairs_before[0]["a_id"]
    for r in rows:  # measures written before 0.7.0 lack the brain flag: the rescore measures it on the reference
        measures = json.loads(r["measures"])
        measures.pop("reference_is_brain")
        if r["id"] == paired:  # and this image's reference turns out to be a noisy scan
            measures.update(noise_sigma_ref_hu=100.0, noise_sigma_hu=100.0)
        r["measures"] = json.dumps(measures)
    write_table(rows, IMAGE_SCHEMA, dataset_copy / "manifest.parquet")
    rescore_physics(dataset_copy)
    after = {r["id"]: r for r in pq.read_table(dataset_copy / "manifest.parquet").to_pylist()}
    assert all(json.loads(r["measures"])["reference_is_brain"] in (0.0, 1.0) for r in after.values())
    assert after[paired]["overall"] < pairs_before[0]["overall_a"] - 0.3
    # the build's records (which a replay reads) and the A/B pairs say what the manifest says
    for record in read_jsonl(dataset_copy / "records.jsonl"):
        assert record["overall"] == pytest.approx(after[record["id"]]["overall"], abs=1e-6)  # the manifest: float32
        assert record["caption"] == after[record["id"]]["caption"]
    pairs = pq.read_table(dataset_copy / "pairs.parquet").to_pylist()
    assert [(p["a_id"], p["b_id"]) for p in pairs] == [(p["a_id"], p["b_id"]) for p in pairs_before]
    for p, old in zip(pairs, pairs_before, strict=True):
        assert (p["overall_a"],
                p["overall_b"]) == pytest.approx((after[p["a_id"]]["overall"], after[p["b_id"]]["overall"]),
                                                                 abs=1e-6)
        if paired not in (p["a_id"], p["b_id"]):
            assert p["text_with_reference"] == old["text_with_reference"]  # untouched pairs keep the build's answers
    assert pairs[0]["text_with_reference"] != pairs_before[0]["text_with_reference"]
