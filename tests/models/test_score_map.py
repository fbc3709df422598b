"""The overall-score map: strictly increasing (rankings kept), fitted on held-out data, stored in the config."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import kendalltau

from vliqa.errors import InvalidParameterError
from vliqa.models import config_from_dict
from vliqa.models.score_map import apply_score_map, fit_score_map
from vliqa.models.scorer import ScorerConfig
from vliqa.train.scorer import fit_std_scale


def shrunk(n: int = 120, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    # an expected-value readout squeezed toward the middle: targets 0-4, raw 1.2-2.8, plus noise
    rng = np.random.default_rng(seed)
    target = rng.uniform(0, 4, n)
    return 2.0 + 0.4 * (target - 2.0) + rng.normal(0, 0.15, n), target


@pytest.mark.parametrize("kind", ["linear", "isotonic"])
def test_map_undoes_shrinkage_and_keeps_every_ranking(kind):
    raw, target = shrunk()
    knots = fit_score_map(raw, target, kind=kind)
    mapped, _ = apply_score_map(raw, knots)
    assert np.sqrt(np.mean((mapped - target) ** 2)) < 0.6 * np.sqrt(np.mean((raw - target) ** 2))
    inside = (mapped > 0.0) & (mapped < 4.0)  # strictly increasing: no ties made, except where it clips at 0 or 4
    assert kendalltau(mapped[inside], raw[inside]).statistic == pytest.approx(1.0)
    assert kendalltau(mapped, raw).statistic > 0.99
    assert mapped.min() >= 0.0 and mapped.max() <= 4.0


def test_std_scales_with_the_local_slope():
    knots = ((0.0, -2.0), (4.0, 6.0))  # slope 2
    mapped, std = apply_score_map(np.array([1.5, 2.0]), knots, np.array([0.1, 0.2]))
    assert mapped == pytest.approx([1.0, 2.0]) and std == pytest.approx([0.2, 0.4])


def test_too_few_rows_or_no_relation_gives_no_map():
    assert fit_score_map(np.arange(10.0), np.arange(10.0)) == ()
    raw, target = shrunk()
    assert fit_score_map(raw, -target) == ()  # a decreasing relation is not a calibration
    assert apply_score_map(raw, ())[0] is not None and np.array_equal(apply_score_map(raw, ())[0], raw)
    with pytest.raises(InvalidParameterError, match="unknown score map kind"):
        fit_score_map(raw, target, kind="spline")


def test_knots_live_in_the_config_and_bad_knots_are_refused():
    cfg = config_from_dict(ScorerConfig, {"overall_calibration": [[0.0, -1.0], [4.0, 5.0]]})
    assert cfg.overall_calibration == ((0.0, -1.0), (4.0, 5.0))
    with pytest.raises(InvalidParameterError, match="increase strictly"):
        ScorerConfig(overall_calibration=((0.0, 1.0), (4.0, 1.0)))


def test_std_scale_gives_unit_rms_standardised_errors_and_is_checked():
    rng = np.random.default_rng(0)
    target = rng.uniform(0, 4, 400)
    std = np.full(400, 1.2)
    pred = target + rng.normal(0, 0.6, 400)  # the spread says 1.2, the errors are 0.6
    scale = fit_std_scale(pred, std, target)
    assert scale == pytest.approx(0.5, abs=0.05)
    assert fit_std_scale(pred, np.zeros(400), target) == 1.0  # nothing to scale
    with pytest.raises(InvalidParameterError, match="std_scale must be a positive number"):
        ScorerConfig(std_scale=0.0)

