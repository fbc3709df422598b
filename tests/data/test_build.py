"""Building a tiny CT-IQA dataset end to end, as a user would, and checking what it holds."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

from vliqa.data.build import BuildConfig, build_dataset
from vliqa.data.manifest import IMAGE_SCHEMA, PAIR_SCHEMA, read_manifest, read_pairs
from vliqa.data.sources import assign_splits, noisy_reference_variants, phantom_sources, real_sources
from vliqa.errors import DatasetError, InvalidParameterError
from vliqa.io import load

SIZE = 128


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    out = tmp_path_factory.mktemp("ds")
    sources = assign_splits(phantom_sources(10, seed=3), seed=3)
    cfg = BuildConfig(n=12, seed=3, source="phantom", phantom_size_px=SIZE)
    result = build_dataset(sources, out, cfg, workers=1, progress=False)
    return out, result, sources, cfg


@pytest.mark.slow
def test_manifest_and_pairs_follow_the_schema(tiny):
    out, result, _, _ = tiny
    table = read_manifest(out)
    assert table.num_rows == result.n_images == 12
    assert set(IMAGE_SCHEMA.names) <= set(table.column_names)
    pairs = read_pairs(out)
    assert set(PAIR_SCHEMA.names) <= set(pairs.column_names)
    assert pairs.num_rows == result.n_pairs


@pytest.mark.slow
def test_images_hold_hu_and_labels_are_on_the_scale(tiny):
    out, _, _, _ = tiny
    rows = read_manifest(out).to_pylist()
    for row in rows[:4]:
        img = load(str(out / row["path"]))
        ref = load(str(out / row["reference_path"]))
        assert img.shape == (SIZE, SIZE) == ref.shape
        assert img.hu.min() < -900 and img.hu.max() > 200  # air and bone survive as HU
        assert img.pixel_spacing_mm == pytest.approx((row["pixel_spacing_mm"],) * 2, rel=1e-4)
    for row in rows:
        assert 0.0 <= row["overall"] <= 4.0
        for a in ("noise", "artifacts", "sharpness", "contrast", "texture"):
            assert 0.0 <= row[a] <= 4.0
        assert len(row["caption"]) > 40
        json.loads(row["degradations"])


@pytest.mark.slow
def test_no_patient_is_in_two_splits(tiny):
    out, _, _, _ = tiny
    rows = read_manifest(out).to_pylist()
    split_of: dict[str, str] = {}
    for r in rows:
        assert split_of.setdefault(r["patient_id"], r["split"]) == r["split"]


@pytest.mark.slow
def test_same_seed_gives_the_same_dataset(tiny, tmp_path):
    out, _, sources, cfg = tiny
    build_dataset(sources, tmp_path, cfg, workers=2, progress=False)
    a = pq.read_table(out / "manifest.parquet").to_pylist()
    b = pq.read_table(tmp_path / "manifest.parquet").to_pylist()
    assert [r["id"] for r in a] == [r["id"] for r in b]
    assert [r["overall"] for r in a] == [r["overall"] for r in b]
    assert np.array_equal(load(str(out / a[5]["path"])).hu, load(str(tmp_path / b[5]["path"])).hu)


@pytest.mark.slow
def test_interrupted_build_resumes_where_it_stopped(tiny, tmp_path):
    out, _, sources, cfg = tiny
    build_dataset(sources, tmp_path, BuildConfig(**{**cfg.__dict__}), workers=1, progress=False)
    records = (tmp_path / "records.jsonl").read_text().splitlines()
    # Simulate a crash: keep 5 records plus half a line, drop the manifest.
    (tmp_path / "records.jsonl").write_text("\n".join(records[:5]) + "\n" + records[5][:20])
    (tmp_path / "manifest.parquet").unlink()
    result = build_dataset(sources, tmp_path, cfg, workers=1, progress=False)
    assert result.n_images == 12
    resumed = pq.read_table(tmp_path / "manifest.parquet").to_pylist()
    first = pq.read_table(out / "manifest.parquet").to_pylist()
    assert [r["id"] for r in resumed[:5]] == [r["id"] for r in first[:5]]


@pytest.mark.slow
def test_resume_with_other_settings_is_refused(tiny, tmp_path):
    _, _, sources, cfg = tiny
    build_dataset(sources, tmp_path, cfg, workers=1, progress=False)
    with pytest.raises(DatasetError, match="different configuration"):
        build_dataset(sources, tmp_path, BuildConfig(n=12, seed=4, source="phantom", phantom_size_px=SIZE),
                      workers=1, progress=False)


def test_real_sources_split_by_patient(abdomen_series, head_series):
    sources = assign_splits(real_sources([abdomen_series, head_series]) + phantom_sources(10), seed=0)
    patients = {}
    for s in sources:
        assert patients.setdefault(s.patient_id, s.split) == s.split
    assert {s.kind for s in sources} == {"real", "phantom"}


@pytest.mark.slow
def test_a_folder_built_before_a_config_key_existed_still_resumes(tiny, tmp_path):
    out, _, sources, cfg = tiny
    build_dataset(sources, tmp_path, cfg, workers=1, progress=False)
    state = json.loads((tmp_path / "state.json").read_text())
    del state["config"]["noisy_references"]  # as a build before 0.3.0 wrote it
    (tmp_path / "state.json").write_text(json.dumps(state))
    assert build_dataset(sources, tmp_path, cfg, workers=1, progress=False).n_images == cfg.n


def test_noisy_reference_variants_keep_patient_and_split(head_series):
    base = assign_splits(real_sources([head_series]) + phantom_sources(10), seed=0)
    variants = noisy_reference_variants(base, 2, seed=0)
    real = [s for s in base if s.kind == "real"]
    assert len(variants) == 2 * len(real)
    by_id = {s.source_id: s for s in real}
    for v in variants:
        original = by_id[v.source_id.split("~")[0]]
        assert (v.patient_id, v.split, v.path, v.slice_index) == (original.patient_id, original.split,
                                                                   original.path, original.slice_index)
        assert 25.0 <= v.reference_noise_hu <= 60.0
    assert variants == noisy_reference_variants(base, 2, seed=0)
    assert noisy_reference_variants(base, 0) == []


def test_a_noisy_reference_is_the_real_slice_at_the_target_noise(abdomen_series):
    from vliqa.data.build import noisy_reference
    from vliqa.simulate.image_domain import estimate_noise_sigma_hu

    image = load(abdomen_series).slice(10)
    before = estimate_noise_sigma_hu(image.hu)
    noisy = noisy_reference(image, 40.0, seed=3)
    assert 30.0 < estimate_noise_sigma_hu(noisy.hu) < 52.0 and before < 20.0
    assert noisy.history[-1]["name"] == "low_dose"
    assert noisy_reference(image, before * 0.5, seed=3) is image  # already noisier than asked: unchanged


@pytest.mark.slow
def test_a_build_with_noisy_references_labels_against_them(head_series, tmp_path):
    sources = assign_splits(real_sources([head_series]), seed=0)
    sources = assign_splits(sources + noisy_reference_variants(sources, 1, seed=0), seed=0)
    cfg = BuildConfig(n=8, seed=2, source=str(head_series), real_fraction=1.0, noisy_references=1)
    build_dataset(sources, tmp_path, cfg, workers=1, progress=False)
    rows = pq.read_table(tmp_path / "manifest.parquet").to_pylist()
    noisy = [r for r in rows if "~noisy" in r["source_id"]]
    assert noisy and len(noisy) < len(rows)
    for r in noisy:  # measured against the noisy reference, whose noise the labels see
        assert json.loads(r["measures"])["noise_sigma_ref_hu"] > 20.0


def test_excluding_an_unknown_or_every_degradation_is_refused():
    from vliqa.simulate.registry import list_degradations

    with pytest.raises(InvalidParameterError, match="unknown degradation.*smooth_tvv"):
        BuildConfig(n=4, exclude=("smooth_tvv",))
    assert BuildConfig(n=4, exclude=("smooth_bm3d",)).exclude == ("smooth_bm3d",)  # optional: fine with or without it
    with pytest.raises(InvalidParameterError, match="every degradation is excluded"):
        BuildConfig(n=4, exclude=tuple(d.name for d in list_degradations()))


@pytest.mark.slow
def test_only_is_the_complement_of_exclude_in_registry_order(tmp_path):
    import subprocess
    import sys

    from vliqa.data.recipes import excluded_except
    from vliqa.simulate.registry import list_degradations

    kept = ["smooth_tv", "low_dose"]
    excluded = excluded_except(kept)
    assert excluded == [d.name for d in list_degradations() if d.name not in kept]  # the same state.json as --exclude
    vliqa = str(Path(sys.executable).with_name("vliqa"))
    r = subprocess.run([vliqa, "data", "build", "--source", "phantom", "--n", "2", "--out", str(tmp_path / "d"),
                        "--only", "smooth_tvv"], capture_output=True, text=True, timeout=120)
    assert r.returncode == 1 and "smooth_tvv" in r.stderr and "Traceback" not in r.stderr
    assert not (tmp_path / "d").exists()
