"""The scorer's losses give the hand-computed values on small cases."""

from __future__ import annotations

import math

import pytest
import torch

from vliqa.models.losses import (
    LossWeights,
    aspect_loss,
    gaussian_nll_loss,
    gaussian_targets,
    load_balancing_loss,
    pairwise_rank_loss,
    rps_loss,
    scorer_loss,
    two_hot_targets,
)
from vliqa.models.scorer import ScorerOutput, score_bins

NAN = float("nan")


def test_two_hot_targets_split_a_score_between_its_neighbour_bins():
    bins = score_bins(21)
    target = two_hot_targets(torch.tensor([0.3, 0.0, 4.0, 5.0]), bins)
    assert target[0, 1] == pytest.approx(0.5) and target[0,
                                                         2] == pytest.approx(0.5) and target[0].sum() == pytest.approx(
                                                             1)
    assert target[1, 0] == 1 and target[2, 20] == 1 and target[3, 20] == 1  # scores beyond the scale are clamped
    torch.testing.assert_close(target @ bins, torch.tensor([0.3, 0.0, 4.0, 4.0]))


def test_gaussian_targets_are_normalised_and_centred():
    bins = score_bins(21)
    target = gaussian_targets(torch.tensor([2.0]), bins, sigma=0.3)
    assert float(target.sum()) == pytest.approx(1.0) and int(target.argmax()) == 10
    torch.testing.assert_close(target[0, :10], target[0, 11:].flip(0))


def test_rps_is_zero_when_right_one_when_all_mass_is_at_the_wrong_end():
    bins = torch.tensor([0.0, 2.0, 4.0])
    sure_low = torch.tensor([[100.0, 0.0, 0.0]])
    assert float(rps_loss(sure_low, torch.tensor([0.0]), bins)) == pytest.approx(0.0, abs=1e-6)
    # CDF (1, 1, 1) against (0, 0, 1): (1 + 1) / (3 - 1)
    assert float(rps_loss(sure_low, torch.tensor([4.0]), bins)) == pytest.approx(1.0, abs=1e-6)
    # uniform prediction, target 0: CDF (1/3, 2/3) against (1, 1): ((2/3)^2 + (1/3)^2) / 2 = 5/18
    assert float(rps_loss(torch.zeros(1, 3), torch.tensor([0.0]), bins)) == pytest.approx(5 / 18, abs=1e-6)


def test_rps_charges_a_near_miss_less_than_a_far_one():
    logits = torch.full((1, 21), -20.0)
    logits[0, 10] = 20.0  # sure of 2.0
    near, far = rps_loss(logits, torch.tensor([2.2])), rps_loss(logits, torch.tensor([4.0]))
    assert 0 < float(near) < float(far)


def test_pairwise_rank_loss_counts_wrongly_ordered_pairs():
    assert float(pairwise_rank_loss(torch.tensor([1.0, 2.0]), torch.tensor([2.0, 1.0]))) == pytest.approx(1.0)
    right = torch.tensor([2.0, 1.0])
    assert float(pairwise_rank_loss(right, torch.tensor([2.0, 1.0]), margin=0.5)) == 0.0
    assert float(pairwise_rank_loss(right, torch.tensor([2.0, 1.0]), margin=1.5)) == pytest.approx(0.5)
    # three ordered pairs, each short of the margin by 1
    assert float(pairwise_rank_loss(torch.zeros(3), torch.tensor([0.0, 1.0, 2.0]), margin=1.0)) == pytest.approx(1.0)


def test_pairwise_rank_loss_is_zero_with_a_gradient_when_all_targets_tie():
    pred = torch.tensor([0.3, 0.9], requires_grad=True)
    loss = pairwise_rank_loss(pred, torch.tensor([1.0, 1.0]))
    loss.backward()
    assert loss.item() == 0.0 and pred.grad is not None


def test_aspect_loss_skips_unknown_targets():
    pred = torch.tensor([[1.0, 2.0], [3.0, 4.0]])
    assert float(aspect_loss(pred, torch.tensor([[1.0, NAN], [4.0, 4.0]]))) == pytest.approx(1 / 3)
    assert float(aspect_loss(pred, torch.full((2, 2), NAN))) == 0.0


def test_gaussian_nll_on_hand_cases():
    one, three = torch.tensor([1.0]), torch.tensor([3.0])
    assert float(gaussian_nll_loss(one, torch.tensor([0.0]), three)) == pytest.approx(2.0)
    assert float(gaussian_nll_loss(one, torch.tensor([math.log(4.0)]), three)) == pytest.approx(0.5 * (math.log(4) + 1))


def test_load_balancing_loss_is_one_when_balanced_and_e_at_collapse():
    assert float(load_balancing_loss(torch.tensor([[1.0, 0.0], [0.0, 1.0]]))) == pytest.approx(1.0)
    assert float(load_balancing_loss(torch.tensor([[1.0, 0.0], [1.0, 0.0]]))) == pytest.approx(2.0)
    assert float(load_balancing_loss(torch.full((4, 4), 0.25))) == pytest.approx(1.0)


def test_scorer_loss_weights_its_terms():
    logits = torch.log(torch.full((2, 21), 1 / 21))
    out = ScorerOutput(overall=torch.tensor([2.0, 2.0]), overall_logits=logits, aspects=torch.full((2, 5), 2.0),
                       std=torch.ones(2), gates=torch.tensor([[1.0, 0.0], [0.0, 1.0]]))
    overall, aspects = torch.tensor([1.0, 3.0]), torch.full((2, 5), 3.0)
    w = LossWeights(overall=1.0, rank=2.0, rank_margin=0.5, aspects=0.5, balance=0.1)
    terms = scorer_loss(out, overall, aspects, w)
    assert float(terms["rank"]) == pytest.approx(0.5) and float(terms["aspects"]) == pytest.approx(1.0)
    assert float(terms["balance"]) == pytest.approx(1.0)
    expected = float(terms["overall"]) + 2 * 0.5 + 0.5 * 1.0 + 0.1 * 1.0
    assert float(terms["total"]) == pytest.approx(expected)
    regression = ScorerOutput(overall=torch.tensor([1.0, 3.0]), overall_logits=None, aspects=torch.full((2, 5), 3.0),
                              std=torch.ones(2), gates=torch.full((2, 2), 0.5), overall_log_variance=torch.zeros(2))
    assert float(scorer_loss(regression, overall, aspects)["overall"]) == pytest.approx(0.0)
