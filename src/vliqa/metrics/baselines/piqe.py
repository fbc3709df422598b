"""PIQE, the Perception-based Image Quality Evaluator (Venkatanath et al. 2015), lower is better, 0-100.

No training: the MSCN image is cut into 16x16 blocks; blocks whose MSCN
variance exceeds 0.1 are "spatially active". An active block is distorted by
a noticeable artefact when a 6-pixel segment of one of its edges is almost
flat (std < 0.1), and by noise when its std exceeds twice the relative
difference between it and the std ratio of its two centre columns to the rest.
PIQE = (sum of block distortions + 1) / (number of active blocks + 1) * 100.

Follows the paper and the MATLAB reference (replicate borders, 8-bit scaling,
symmetric padding to whole blocks), vectorised over blocks. A constant image
has no active block and scores 100 (the worst), as in the reference.
"""

from __future__ import annotations

import numpy as np

from vliqa.metrics.baselines.nss import mscn
from vliqa.metrics.baselines.registry import register_baseline

PIQE_BLOCK_PX = 16
#: MSCN variance above which a block is spatially active (salient).
ACTIVITY_THRESHOLD = 0.1
#: Std below which an edge segment is flat enough to be an artefact.
SEGMENT_FLAT_THRESHOLD = 0.1
SEGMENT_PX = 6


def _blocks(a: np.ndarray, n: int) -> np.ndarray:
    """Gives the non-overlapping n x n blocks of `a` as (B, n, n)."""
    h, w = a.shape[0] // n, a.shape[1] // n
    return a[: h * n, : w * n].reshape(h, n, w, n).swapaxes(1, 2).reshape(h * w, n, n)


def _has_flat_edge_segment(blocks: np.ndarray) -> np.ndarray:
    """Gives, per block, whether any 6-pixel segment of its four edges has std below the threshold."""
    edges = np.stack([blocks[:, 0, :], blocks[:, -1, :], blocks[:, :, 0], blocks[:, :, -1]], axis=1)  # (B, 4, n)
    segments = np.lib.stride_tricks.sliding_window_view(edges, SEGMENT_PX, axis=2)  # (B, 4, n-5, 6)
    return np.any(segments.std(axis=-1, ddof=1) < SEGMENT_FLAT_THRESHOLD, axis=(1, 2))


def _is_noisy(blocks: np.ndarray, block_var: np.ndarray) -> np.ndarray:
    """Gives, per block, the centre-surround noise criterion of the paper (sigma > 2 beta)."""
    n = blocks.shape[-1]
    c1, c2 = n // 2 - 1, n // 2  # the two centre columns
    center = np.concatenate([blocks[:, :, c1], blocks[:, :, c2]], axis=1)
    surround = np.delete(blocks, [c1, c2], axis=2).reshape(blocks.shape[0], -1)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = center.std(axis=1, ddof=1) / surround.std(axis=1, ddof=1)
    ratio = np.nan_to_num(ratio, nan=0.0, posinf=0.0)
    sigma = np.sqrt(block_var)
    with np.errstate(divide="ignore", invalid="ignore"):
        beta = np.abs(sigma - ratio) / np.maximum(sigma, ratio)
    return sigma > 2.0 * np.nan_to_num(beta, nan=0.0)


def piqe_details(display: np.ndarray) -> dict[str, np.ndarray | float]:
    """Gives the PIQE score with its block masks: activity, noticeable artefact and noise
    (each (rows, cols) of blocks)."""
    img = np.round(np.asarray(display, dtype=np.float64) * 255.0)
    pad = [(0, (-s) % PIQE_BLOCK_PX) for s in img.shape]
    if any(p for _, p in pad):
        img = np.pad(img, pad, mode="symmetric")
    coeffs, _ = mscn(img, mode="nearest")
    blocks = _blocks(coeffs, PIQE_BLOCK_PX)
    block_var = blocks.reshape(blocks.shape[0], -1).var(axis=1, ddof=1)
    active = block_var > ACTIVITY_THRESHOLD
    artefact = active & _has_flat_edge_segment(blocks)
    noisy = active & _is_noisy(blocks, block_var)
    distortion = np.where(artefact, 1.0 - block_var, 0.0) + np.where(noisy, block_var, 0.0)
    score = (float(distortion[active].sum()) + 1.0) / (float(active.sum()) + 1.0) * 100.0
    grid = (img.shape[0] // PIQE_BLOCK_PX, img.shape[1] // PIQE_BLOCK_PX)
    return {
        "score": score,
        "activity": active.reshape(grid),
        "artefact": artefact.reshape(grid),
        "noise": noisy.reshape(grid),
    }


def piqe(display: np.ndarray) -> float:
    """Gives the PIQE score of a display image in [0, 1] (0 = excellent, 100 = bad)."""
    return float(piqe_details(display)["score"])


@register_baseline(
    "piqe",
    higher_is_better=False,
    description="PIQE: share of salient 16 px blocks with blocking artefacts or noise (0 best, 100 worst); no training",
    reference="Venkatanath et al., National Conference on Communications (NCC), 2015",
)
def piqe_baseline(display: np.ndarray) -> float:
    """Gives the PIQE score of a display image (lower is better)."""
    return piqe(display)
