"""Losses of the MedQM-I scorer: ranked probability score, pairwise ranking, aspects, Gaussian NLL, gate balance.

`scorer_loss` combines them for one batch the way a trainer uses them; each part is also a plain
function of tensors, unit-tested on hand-computed cases.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from vliqa.models.scorer import ScorerOutput, score_bins


def two_hot_targets(scores: torch.Tensor, bins: torch.Tensor) -> torch.Tensor:
    """Gives (B, K) soft targets splitting each score between its two nearest bins, so their mean is the score."""
    scores = scores.to(bins.dtype).clamp(float(bins[0]), float(bins[-1]))
    step = bins[1] - bins[0]
    pos = (scores - bins[0]) / step
    lower = pos.floor().clamp(max=len(bins) - 2).long()
    upper_weight = pos - lower.to(pos.dtype)
    target = torch.zeros(len(scores), len(bins), dtype=bins.dtype, device=bins.device)
    target.scatter_(1, lower[:, None], (1.0 - upper_weight)[:, None])
    target.scatter_add_(1, (lower + 1)[:, None], upper_weight[:, None])
    return target


def gaussian_targets(scores: torch.Tensor, bins: torch.Tensor, sigma: float) -> torch.Tensor:
    """Gives (B, K) soft targets: a Gaussian of width `sigma` (score units) around each score, normalised over bins."""
    weights = torch.exp(-0.5 * ((bins[None, :] - scores.to(bins.dtype)[:, None]) / sigma) ** 2)
    return weights / weights.sum(dim=1, keepdim=True)


def rps_loss(logits: torch.Tensor, scores: torch.Tensor, bins: torch.Tensor | None = None,
             soft_sigma: float | None = None) -> torch.Tensor:
    """Gives the mean ranked probability score of softmax(logits) (B, K) against soft targets at `scores` (B,).

    RPS = sum_k (CDF_pred[k] - CDF_target[k])^2 / (K - 1) over the first K - 1 bins: 0 for a perfect
    prediction, 1 for all mass on the wrong end. Unlike cross-entropy it charges a near miss less than a far
    one. Targets are two-hot (`soft_sigma` None) or Gaussian of width `soft_sigma`.
    """
    n_bins = logits.shape[1]
    bins = score_bins(n_bins).to(logits) if bins is None else bins.to(logits)
    target = two_hot_targets(scores, bins) if soft_sigma is None else gaussian_targets(scores, bins, soft_sigma)
    cdf_gap = torch.cumsum(torch.softmax(logits, dim=1), dim=1) - torch.cumsum(target, dim=1)
    return (cdf_gap[:, :-1] ** 2).sum(dim=1).mean() / (n_bins - 1)


def pairwise_rank_loss(pred: torch.Tensor, target: torch.Tensor, margin: float = 0.0) -> torch.Tensor:
    """Gives the mean hinge max(0, margin - (pred_i - pred_j)) over all pairs of the batch with target_i > target_j.

    Zero (with a gradient path) when no pair differs in target.
    """
    pred_gap = pred[:, None] - pred[None, :]
    ordered = target[:, None] > target[None, :]
    if not bool(ordered.any()):
        return pred.sum() * 0.0
    return F.relu(margin - pred_gap[ordered]).mean()


def aspect_loss(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Gives the mean squared error of aspect scores (B, A) over the known targets (NaN marks an unknown one)."""
    known = torch.isfinite(target)
    if not bool(known.any()):
        return pred.sum() * 0.0
    return ((pred[known] - target[known]) ** 2).mean()


def gaussian_nll_loss(pred: torch.Tensor, log_variance: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Gives the mean Gaussian negative log-likelihood 0.5 * (log var + (pred - target)^2 / var), constant dropped."""
    return 0.5 * (log_variance + (pred - target) ** 2 * torch.exp(-log_variance)).mean()


def load_balancing_loss(gates: torch.Tensor) -> torch.Tensor:
    """Gives the Switch-Transformer balance loss E * sum_e f_e * P_e of gates (B, E): 1 when balanced, E at collapse.

    f_e is the fraction of images whose largest gate is expert e (no gradient), P_e the mean gate of e.
    """
    n_experts = gates.shape[1]
    top1 = F.one_hot(gates.argmax(dim=1), n_experts).to(gates.dtype)
    return n_experts * (top1.mean(dim=0) * gates.mean(dim=0)).sum()


@dataclass(frozen=True)
class LossWeights:
    """How much each term counts in `scorer_loss` (JSON-serialisable, part of a training config)."""

    overall: float = 1.0
    rank: float = 0.5
    rank_margin: float = 0.1
    aspects: float = 0.5
    balance: float = 0.01
    #: None: two-hot RPS targets; a number: Gaussian targets of that width (score units)
    soft_sigma: float | None = None


def scorer_loss(out: ScorerOutput, overall: torch.Tensor, aspects: torch.Tensor | None = None,
                weights: LossWeights = LossWeights()) -> dict[str, torch.Tensor]:
    """Gives the loss terms and their weighted "total" for a batch: targets overall (B,), aspects (B, 5) or None.

    The overall term is the RPS in ordinal mode and the Gaussian NLL in regression mode; the rank term
    compares the overall scores of every pair in the batch (margin in score units).
    """
    if out.overall_logits is not None:
        main = rps_loss(out.overall_logits, overall, soft_sigma=weights.soft_sigma)
    else:
        main = gaussian_nll_loss(out.overall, out.overall_log_variance, overall)
    terms = {
        "overall": main,
        "rank": pairwise_rank_loss(out.overall, overall, weights.rank_margin),
        "aspects": aspect_loss(out.aspects, aspects) if aspects is not None else out.aspects.sum() * 0.0,
        "balance": load_balancing_loss(out.gates),
    }
    terms["total"] = (weights.overall * terms["overall"] + weights.rank * terms["rank"]
                      + weights.aspects * terms["aspects"] + weights.balance * terms["balance"])
    return terms
