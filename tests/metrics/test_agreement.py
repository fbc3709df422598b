"""Stories of a researcher scoring a quality model against human or physics labels."""

from __future__ import annotations

import itertools
import json

import numpy as np
import pytest
from scipy import stats

from vliqa.errors import InvalidParameterError
from vliqa.metrics import (
    agreement_report,
    bootstrap_ci,
    calibration,
    fit_logistic,
    krcc,
    ldctiqac_score,
    pair_preference_accuracy,
    pairwise_accuracy,
    plcc,
    plcc_logistic,
    rmse,
    rmse_logistic,
    srcc,
)


def noisy_scores(n: int, noise: float, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    target = rng.uniform(0, 4, n)
    return target + rng.normal(0, noise, n), target


def test_correlations_match_scipy_on_noisy_predictions():
    pred, target = noisy_scores(300, 0.7)
    assert srcc(pred, target) == pytest.approx(stats.spearmanr(pred, target).statistic, abs=1e-12)
    assert krcc(pred, target) == pytest.approx(stats.kendalltau(pred, target).statistic, abs=1e-12)
    assert plcc(pred, target) == pytest.approx(stats.pearsonr(pred, target).statistic, abs=1e-12)
    assert rmse(pred, target) == pytest.approx(np.sqrt(np.mean((pred - target) ** 2)))
    expected = sum(abs(f(pred, target).statistic) for f in (stats.pearsonr, stats.spearmanr, stats.kendalltau))
    assert ldctiqac_score(pred, target) == pytest.approx(expected)


def test_hand_computed_small_case():
    # pred 1,2,3,4 vs target 1,3,2,4: one discordant pair of six -> tau = (5-1)/6; rho = 1 - 6*2/(4*15)
    pred, target = [1, 2, 3, 4], [1, 3, 2, 4]
    assert krcc(pred, target) == pytest.approx(4 / 6)
    assert srcc(pred, target) == pytest.approx(0.8)
    assert plcc(pred, target) == pytest.approx(0.8)
    assert rmse(pred, target) == pytest.approx(np.sqrt(2 / 4))
    assert pairwise_accuracy(pred, target) == pytest.approx(5 / 6)


def test_monotone_nonlinear_relation_is_perfect_after_the_logistic_fit():
    pred = np.linspace(0, 4, 60)
    target = 4.0 / (1.0 + np.exp(-(pred - 2.0) / 0.4))  # S-shaped but strictly increasing
    assert srcc(pred, target) == pytest.approx(1.0)
    assert krcc(pred, target) == pytest.approx(1.0)
    assert plcc(pred, target) < 0.98
    assert plcc_logistic(pred, target) == pytest.approx(1.0, abs=1e-6)
    assert rmse_logistic(pred, target) < 1e-4 < rmse(pred, target)
    assert fit_logistic(pred, target).method == "logistic"
    assert ldctiqac_score(pred, target, logistic=True) == pytest.approx(3.0, abs=1e-6)
    assert ldctiqac_score(pred, target) < 3.0 - 0.02


def test_decreasing_relation_fits_a_mirrored_logistic():
    pred = np.linspace(0, 4, 40)
    target = 1.0 - 3.0 / (1.0 + np.exp(-(pred - 1.5) / 0.5))
    assert srcc(pred, target) == pytest.approx(-1.0)
    assert plcc_logistic(pred, target) == pytest.approx(1.0, abs=1e-6)


def test_failed_logistic_fit_falls_back_to_a_line_and_says_so():
    # an exponential is the logistic's lower tail: the fit runs off to infinity and gives up
    pred = np.linspace(0, 4, 50)
    target = np.exp(pred)
    fit = fit_logistic(pred, target)
    assert fit.method == "linear"
    assert "line" in fit.note
    assert plcc_logistic(pred, target) == pytest.approx(plcc(pred, target))


def test_three_or_four_points_get_a_line_not_a_crash():
    # curve_fit refuses more parameters than points: a tiny validation split must still be scored
    for n in (3, 4):
        pred, target = np.arange(n, dtype=float), np.array([0.0, 1.5, 1.0, 3.0])[:n]
        fit = fit_logistic(pred, target)
        assert fit.method == "linear" and "too few" in fit.note
        assert plcc_logistic(pred, target) == pytest.approx(plcc(pred, target))


def test_constant_predictions_give_nan_correlations_not_a_crash():
    pred = np.full(20, 2.0)
    target = np.linspace(0, 4, 20)
    assert np.isnan(srcc(pred, target)) and np.isnan(krcc(pred, target)) and np.isnan(plcc(pred, target))
    assert np.isnan(plcc_logistic(pred, target)) and np.isnan(ldctiqac_score(pred, target))
    assert fit_logistic(pred, target).method == "constant"
    report = agreement_report(pred, target, n_boot=20)
    assert np.isnan(report.srcc) and report.ci["srcc"].n_valid == 0
    assert report.pairwise_accuracy == pytest.approx(0.5)  # every pair is a tie: half a point each
    json.dumps(report.to_dict(), allow_nan=False)  # NaN becomes null, strict JSON holds


@pytest.mark.parametrize(("pred", "target", "words"), [
    ([1, 2, 3], [1, 2], "3 items but target has 2"),
    ([1, 2], [1, 2], "at least 3 items"),
    ([1, np.nan, 3], [1, 2, 3], "NaN/inf"),
    ([1, 2, 3], [1, 2, np.inf], "target holds 1 NaN/inf"),
    ([[1, 2], [3, 4]], [1, 2, 3, 4], "1-D"),
    (["a", "b", "c"], [1, 2, 3], "must be numbers"),
])
def test_bad_input_gives_clear_error(pred, target, words):
    for fn in (srcc, krcc, plcc, plcc_logistic, ldctiqac_score, agreement_report):
        with pytest.raises(InvalidParameterError, match=words):
            fn(pred, target)


def test_bootstrap_ci_contains_the_estimate_and_narrows_with_more_items():
    small = noisy_scores(40, 0.8, seed=3)
    large = noisy_scores(1000, 0.8, seed=3)
    ci_small = bootstrap_ci(srcc, *small, n_boot=400, seed=1)
    ci_large = bootstrap_ci(srcc, *large, n_boot=400, seed=1)
    for ci in (ci_small, ci_large):
        assert ci.low <= ci.estimate <= ci.high
        assert ci.n_valid == 400
    assert ci_large.high - ci_large.low < 0.5 * (ci_small.high - ci_small.low)


@pytest.mark.parametrize("tied", [False, True])
def test_vectorised_bootstrap_equals_the_plain_loop(tied):
    pred, target = noisy_scores(50, 1.0, seed=5)
    if tied:  # integer labels and coarse predictions exercise the tie corrections
        pred, target = np.round(pred), np.round(target)
    for metric in (srcc, plcc, krcc, ldctiqac_score):
        fast = bootstrap_ci(metric, pred, target, n_boot=100, seed=7)
        slow = bootstrap_ci(lambda p, t, m=metric: m(p, t), pred, target, n_boot=100, seed=7)
        assert (fast.low, fast.high) == pytest.approx((slow.low, slow.high), abs=1e-9)


def test_bootstrap_is_reproducible_and_seed_dependent():
    pred, target = noisy_scores(60, 1.0)
    first = bootstrap_ci(plcc, pred, target, n_boot=100, seed=11)
    assert bootstrap_ci(plcc, pred, target, n_boot=100, seed=11) == first
    assert bootstrap_ci(plcc, pred, target, n_boot=100, seed=12) != first
    with pytest.raises(InvalidParameterError, match="alpha"):
        bootstrap_ci(plcc, pred, target, alpha=1.5)
    with pytest.raises(InvalidParameterError, match="n_boot"):
        bootstrap_ci(plcc, pred, target, n_boot=0)


def brute_force_2afc(pred, target, min_diff):
    credit = pairs = 0
    for i, j in itertools.combinations(range(len(pred)), 2):
        if abs(target[i] - target[j]) <= min_diff:
            continue
        pairs += 1
        if pred[i] == pred[j]:
            credit += 0.5
        elif (pred[i] > pred[j]) == (target[i] > target[j]):
            credit += 1
    return credit / pairs


@pytest.mark.parametrize("min_diff", [0.0, 0.5, 1.5])
def test_pairwise_accuracy_matches_a_brute_force_loop(min_diff):
    rng = np.random.default_rng(int(min_diff * 10))
    target = rng.integers(0, 5, 80).astype(float)  # integer labels: many tied targets
    pred = np.round(target + rng.normal(0, 1.0, 80))  # rounded: many tied predictions
    assert pairwise_accuracy(pred, target, min_diff=min_diff) == pytest.approx(
        brute_force_2afc(pred, target, min_diff))


def test_pairwise_accuracy_scales_to_five_thousand_items():
    pred, target = noisy_scores(5000, 0.5, seed=2)
    value = pairwise_accuracy(pred, target)
    assert 0.8 < value < 1.0
    assert pairwise_accuracy(-pred, target) == pytest.approx(1.0 - value)


def test_pair_preference_accuracy_counts_exact_matches_and_decided_pairs():
    result = pair_preference_accuracy(["A", "b", "tie", "A"], ["A", "B", "A", "tie"])
    assert result["accuracy"] == pytest.approx(0.5)
    assert result["accuracy_decided"] == pytest.approx(2 / 3)
    assert result["tie_rate_predicted"] == pytest.approx(0.25)
    assert (result["n"], result["n_decided"]) == (4, 3)
    with pytest.raises(InvalidParameterError, match="unknown preference label 'C'"):
        pair_preference_accuracy(["C"], ["A"])
    with pytest.raises(InvalidParameterError, match="same order"):
        pair_preference_accuracy(["A"], ["A", "B"])


def test_calibrated_gaussian_predictions_cover_near_nominal():
    rng = np.random.default_rng(0)
    n = 20000
    target = rng.uniform(0, 4, n)
    std = rng.uniform(0.1, 1.0, n)
    pred = target + rng.normal(0, 1, n) * std  # errors drawn with exactly the claimed std
    result = calibration(pred, std, target)
    for level, covered in result.coverage.items():
        assert covered == pytest.approx(level, abs=0.015)
    assert result.ece < 0.01
    assert result.error_std_srcc > 0.3  # larger claimed std really does mean larger errors


def test_overconfident_predictions_show_a_large_calibration_error():
    rng = np.random.default_rng(1)
    target = rng.uniform(0, 4, 5000)
    pred = target + rng.normal(0, 1.0, 5000)
    result = calibration(pred, np.full(5000, 0.3), target)  # claims 0.3, errs by 1.0
    assert result.coverage[0.95] < 0.5
    assert result.ece > 0.25
    assert np.isnan(result.error_std_srcc)  # constant std cannot rank errors
    with pytest.raises(InvalidParameterError, match="negative"):
        calibration(pred, -np.ones(5000), target)


def test_agreement_report_carries_everything():
    pred, target = noisy_scores(2000, 0.6, seed=4)
    std = np.full(2000, 0.6)
    report = agreement_report(pred, target, std=std, n_boot=1000, seed=0)
    assert report.srcc == pytest.approx(srcc(pred, target))
    assert report.plcc_logistic == pytest.approx(plcc_logistic(pred, target))
    assert report.ldctiqac == pytest.approx(ldctiqac_score(pred, target))
    assert report.pairwise_accuracy == pytest.approx(pairwise_accuracy(pred, target))
    assert set(report.ci) == {"srcc", "plcc", "krcc", "ldctiqac"}
    assert report.calibration is not None and report.calibration.coverage[0.9] == pytest.approx(0.9, abs=0.03)
    data = json.loads(json.dumps(report.to_dict(), allow_nan=False))
    assert data["ci"]["ldctiqac"]["low"] <= data["ldctiqac"] <= data["ci"]["ldctiqac"]["high"]
    assert data["fit"]["method"] == "logistic"
    assert agreement_report(pred, target, n_boot=0).ci == {}


def test_report_intervals_are_the_ones_bootstrap_ci_gives_alone():
    pred, target = noisy_scores(300, 0.8, seed=6)
    report = agreement_report(pred, target, n_boot=200, seed=3)
    for name, metric in (("srcc", srcc), ("plcc", plcc), ("krcc", krcc), ("ldctiqac", ldctiqac_score)):
        alone = bootstrap_ci(metric, pred, target, n_boot=200, seed=3)
        assert (report.ci[name].low, report.ci[name].high) == pytest.approx((alone.low, alone.high))
