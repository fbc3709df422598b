"""The real evaluation data loaders (vliqa.data.readers) and the reader benchmark's figures (bench/reader_bench.py)."""

from __future__ import annotations

import importlib.util
import json
import math
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from scipy.stats import kendalltau

from vliqa.core import to_display
from vliqa.data.readers import (
    data_key,
    load_l067_srgan,
    load_mayo_pairs,
    load_mtdgan,
    load_petct,
    read_display,
    resolve_root,
)
from vliqa.errors import DatasetError

BENCH = Path(__file__).resolve().parents[2] / "bench" / "reader_bench.py"


@pytest.fixture(scope="module")
def bench():
    """The reader benchmark script, imported as a module."""
    spec = importlib.util.spec_from_file_location("reader_bench", BENCH)
    module = importlib.util.module_from_spec(spec)
    sys.modules["reader_bench"] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    yield module
    sys.modules.pop("reader_bench", None)


# ------------------------------------------------------------------ loaders on the real data


def test_mtdgan_has_ten_sets_of_twelve_rated_images_and_two_anchors(shared_data):
    items = load_mtdgan(shared_data)
    assert len(items) == 140
    assert sum(i.anchor for i in items) == 20
    sets = Counter(i.group for i in items if not i.anchor)
    assert len(sets) == 10 and set(sets.values()) == {12}
    assert {i.region for i in items} == {"abdomen", "brain"}
    assert all(i.path.is_file() for i in items)
    for i in items:
        if i.method == "NDCT":
            assert i.reference is None
        else:
            assert i.reference == i.path.parent / "ndct.png" and i.reference.is_file()


def test_mtdgan_noise_score_is_minus_distance_from_normal_dose(shared_data):
    items = load_mtdgan(shared_data)
    ldct = next(i for i in items if i.method == "LDCT")
    ndct = next(i for i in items if i.method == "NDCT")
    assert ldct.scores == {"noise_q": -6.0, "contrast": 1.0, "structure": 1.0, "noise_raw": 1.0}
    assert ndct.scores["noise_q"] == 0.0 and ndct.scores["contrast"] == 5.0
    for i in items:  # the mean distance from 7 is at least the distance of the mean from 7
        assert i.scores["noise_q"] <= -abs(i.scores["noise_raw"] - 7.0) + 1e-3
        assert i.scores["noise_q"] <= 0.0


def test_petct_has_ten_groups_of_27_scored_slices(shared_data):
    items = load_petct(shared_data)
    assert len(items) == 270
    assert set(Counter(i.group for i in items).values()) == {27}
    assert all(i.path.is_file() and i.reference is None and 0.0 <= i.scores["overall"] <= 4.0 for i in items)


def test_mayo_has_36_real_pairs_in_two_kernels(shared_data):
    pairs = load_mayo_pairs(shared_data)
    assert len(pairs) == 36
    assert Counter(p.kernel for p in pairs) == {"sharp_D45f": 22, "smooth_B30f": 14}
    assert all(p.full.is_file() and p.quarter.is_file() and p.full != p.quarter for p in pairs)


def test_l067_pairs_full_dose_with_its_srgan_restoration_in_hu(shared_data):
    pairs = load_l067_srgan(shared_data)
    assert len(pairs) == 10
    assert Counter(p.kernel for p in pairs) == {"sharp_D45": 5, "smooth_B30": 5}
    for p in pairs:
        assert p.full.hu.shape == (512, 512) and p.srgan.hu.shape == (512, 512)
        assert np.percentile(p.full.hu, 1) < -950  # air reads as air: the -1024 offset is applied
        assert p.srgan.hu.std() < p.full.hu.std() + 50  # same anatomy, not another slice's scale


def test_rgb_petct_jpeg_reads_as_one_grey_slice_under_the_default_window(shared_data):
    item = load_petct(shared_data)[0]
    image = read_display(item.path)
    assert image.hu.ndim == 2
    assert image.display_window.width == 350 and image.display_window.level == 40
    assert any("colour" in w for w in image.warnings)


def test_reader_png_windows_back_to_its_own_grey_levels(shared_data):
    from PIL import Image

    item = load_mtdgan(shared_data)[3]
    grey = np.asarray(Image.open(item.path).convert("L"), dtype=np.float32) / 255.0
    np.testing.assert_allclose(to_display(read_display(item.path)), grey, atol=1e-5)


def test_data_key_is_the_path_under_the_data_root(shared_data):
    item = load_mtdgan(shared_data)[0]
    assert data_key(item.path, shared_data) == "reader_studies/mtdgan_dev/abdomen/set_1/ldct.png"


def test_missing_data_root_gives_a_dataset_error_with_a_hint(tmp_path, monkeypatch):
    with pytest.raises(DatasetError, match="does not exist") as err:
        load_mtdgan(tmp_path / "absent")
    assert "VLIQA_SHARED_DATA" in str(err.value)
    monkeypatch.setenv("VLIQA_SHARED_DATA", str(tmp_path / "also_absent"))
    with pytest.raises(DatasetError):
        resolve_root()


def test_data_root_without_a_study_names_the_missing_table(tmp_path):
    with pytest.raises(DatasetError, match="mean_scores.csv"):
        load_mtdgan(tmp_path)


# ------------------------------------------------------------------ the bench's figures


def test_within_group_spearman_averages_each_groups_rho(bench):
    scores = [1, 2, 3, 4, 1, 2, 3, 4]
    targets = [1, 3, 2, 4, 4, 3, 2, 1]  # group a: rho = 1 - 6 * 2 / (4 * 15) = 0.8; group b: -1
    mean, per_group = bench.within_group_spearman(scores, targets, ["a"] * 4 + ["b"] * 4)
    assert per_group == pytest.approx({"a": 0.8, "b": -1.0})
    assert mean == pytest.approx(-0.1)


def test_within_group_spearman_leaves_out_a_group_with_constant_targets(bench):
    mean, per_group = bench.within_group_spearman([1, 2, 3, 1, 2, 3], [1, 2, 3, 5, 5, 5], list("aaabbb"))
    assert math.isnan(per_group["b"]) and mean == pytest.approx(1.0)


def test_composite_is_the_mean_within_group_rank_ties_averaged(bench):
    aspects = {"noise_q": [0, 0, -2, 5, 6, 7], "contrast": [1, 2, 3, 3, 2, 1]}
    groups = list("aaabbb")
    # group a: noise ranks 2.5, 2.5, 1 and contrast ranks 1, 2, 3; group b: 1, 2, 3 and 3, 2, 1
    np.testing.assert_allclose(bench.composite_ranks(aspects, groups), [1.75, 2.25, 2.0, 2.0, 2.0, 2.0])


def test_pairwise_wins_counts_only_strictly_better(bench):
    assert bench.pairwise_wins([3.0, 2.0, np.nan, 1.0], [1.0, 2.0, 0.0, 0.5]) == 2


def test_kendall_tau_b_matches_scipy_and_is_zero_for_a_constant_score(bench):
    doses = [0.1, 0.25, 0.55, 1.0]
    assert bench.kendall_tau_b([1, 2, 3, 4], doses) == pytest.approx(1.0)
    assert bench.kendall_tau_b([4, 3, 2, 1], doses) == pytest.approx(-1.0)
    assert bench.kendall_tau_b([2, 2, 2, 2], doses) == 0.0
    tied = [1.0, 3.0, 3.0, 2.0]
    assert bench.kendall_tau_b(tied, doses) == pytest.approx(kendalltau(tied, doses).statistic)


def test_a_saturated_score_cannot_reach_tau_one(bench):
    doses = [0.1, 0.25, 0.55, 1.0]
    scores = [2.0, 3.0, 4.0, 4.0]  # clipped at 4 for the two highest doses
    ceiling = 5 / math.sqrt(6 * 5)  # 5 concordant pairs, the tied one counts for neither
    assert bench.max_tau_with_ties(scores, doses) == pytest.approx(ceiling)
    assert bench.kendall_tau_b(scores, doses) == pytest.approx(ceiling)
    assert bench.max_tau_with_ties([4.0, 2.0, 3.0, 1.0], doses) == pytest.approx(1.0)


# ------------------------------------------------------------------ the bench end to end


@pytest.mark.slow
def test_quick_bench_uses_out_of_fold_predictions_and_writes_every_section(bench, shared_data, tmp_path):
    oracle = {data_key(i.path, shared_data): {"overall": i.scores["noise_q"], "aspects": {}}
              for i in load_mtdgan(shared_data) if i.group.endswith("set_1")}
    oracle.update({data_key(i.path, shared_data): {"overall": i.scores["overall"]} for i in load_petct(shared_data)})
    oof = tmp_path / "oof.json"
    oof.write_text(json.dumps({"predictions": oracle}))
    out, md = tmp_path / "bench.json", tmp_path / "bench.md"
    bench.main(["--quick", "--data-root", str(shared_data), "--oof", f"oracle={oof}", "--json", str(out),
                "--markdown", str(md)])
    results = json.loads(out.read_text())
    assert results["mtdgan"]["abdomen"]["oracle (CV)"]["noise_q"]["within"] == pytest.approx(1.0)
    assert results["petct"]["oracle (CV)"]["within"] == pytest.approx(1.0)
    assert results["real_pairs"]["mayo"]["medqm"]["wins"] <= 4
    assert set(results["export"]["medqm"]) >= {"dicom", "W350/L40", "RGB overlay"}
    text = md.read_text()
    assert text.startswith("### Reader benchmark") and "| oracle (CV) |" in text
