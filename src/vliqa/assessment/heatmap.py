"""Where quality is lost: heatmaps over a slice, and the per-slice score plot of a volume, as PNG files.

For the MedQM-I scorer the map is the model's own attention: the prior-concept attention maps, each
weighted by how low the predicted score of the aspect its concept speaks to is (noise concepts count
when noise is poor, ...), upsampled to the slice. When no aspect is low, or the predictor has no maps,
the plain mean attention (MedQM-I) or a measured map is used: the local noise sigma, the std of a
high-pass residual in sliding windows. The PNG title says which map it shows.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from scipy import ndimage

from vliqa.assessment.schema import QUALITY_SCALE, Assessment, VolumeAssessment
from vliqa.core import ASPECTS, CTImage, Window, resolve_window, to_display
from vliqa.io.atomic import atomic_path

#: Sliding window (px) of the local noise map, and the Gaussian (px) whose residual is the high-pass image.
NOISE_WINDOW_PX, HIGHPASS_SIGMA_PX = 15, 1.5
#: Pixels where the smoothed HU gradient exceeds this are edges, not noise, and are left out of the noise map.
EDGE_GRADIENT_HU_PER_PX = 15.0
#: Aspect scores (0-4) at or above this count as fine: their concepts get no weight in the heatmap.
FINE_ASPECT_SCORE = 3.5


@dataclass(frozen=True)
class Heatmap:
    """A map laid over a slice (same shape, values in [0, 1]) and what it shows, for the title."""

    values: np.ndarray
    kind: str


def local_noise_map(image: CTImage) -> Heatmap:
    """Gives the measured local noise sigma map (HU, std of the high-pass residual in sliding windows), scaled to
    [0, 1]."""
    hu = image.hu.astype(np.float64)
    residual = hu - ndimage.gaussian_filter(hu, HIGHPASS_SIGMA_PX)
    # anatomical edges survive the high-pass and would read as noise: only flat soft tissue is counted,
    # each window's sigma taken over its flat pixels (a masked local RMS of the zero-mean residual)
    flat = ((hu > -300) & (hu < 300) & (ndimage.gaussian_gradient_magnitude(hu, 2.0) < EDGE_GRADIENT_HU_PER_PX))
    weight = ndimage.uniform_filter(flat.astype(np.float64), NOISE_WINDOW_PX)
    power = ndimage.uniform_filter(np.where(flat, residual**2, 0.0), NOISE_WINDOW_PX)
    body = ndimage.binary_erosion((hu > -300) & (hu < 300), iterations=2) & (weight > 0.25)
    sigma = np.where(body, np.sqrt(np.clip(power, 0.0, None) / np.maximum(weight, 1e-9)), 0.0)
    top = float(np.percentile(sigma[body], 99)) if body.any() else 0.0
    values = np.clip(sigma / top, 0.0, 1.0) if top > 0 else np.zeros_like(sigma)
    return Heatmap(values.astype(np.float32), f"measured local noise sigma (0..{top:.0f} HU)")


def attention_map(scorer: Any, image: CTImage, aspects: dict[str, float]) -> Heatmap:
    """Gives MedQM-I's attention over `image`, weighted toward the concepts of its low aspects, scaled to [0, 1]."""
    import torch  # lazy: imports torch

    from vliqa.models.scorer_input import upsample_maps  # lazy: imports torch

    with torch.inference_mode():
        out = scorer(scorer.preprocess([image]), return_maps=True)
    concepts = getattr(scorer, "prior_concepts", ())
    weights = torch.tensor([max(0.0, FINE_ASPECT_SCORE - aspects[c.group]) if c.group in ASPECTS else 0.0
                            for c in concepts], dtype=torch.float32)
    if out.prior_attention is not None and out.prior_attention.shape[1] and float(weights.sum()) > 0:
        low = sorted((a for a in ASPECTS if aspects.get(a, 4.0) < FINE_ASPECT_SCORE), key=lambda a: aspects[a])
        maps = (out.prior_attention[0] * (weights / weights.sum())[:, None, None]).sum(0)
        kind = f"model attention to {', '.join(low)} concepts"
    else:
        parts = [m for m in (out.prior_attention, out.query_attention) if m is not None and m.shape[1]]
        maps = torch.cat(parts, dim=1)[0].mean(0)
        kind = "model attention (mean of all queries)"
    up = upsample_maps(maps[None, None].float(), image.shape)[0, 0].numpy()
    # stretched min..max: attention is spread thin over 256 tokens, so its max-scaled map would look flat
    span = float(up.max() - up.min())
    up = (up - up.min()) / span if span > 1e-9 else np.zeros_like(up)
    return Heatmap(up.astype(np.float32), f"{kind}, relative")


def heatmap_for(predictor: Any, image: CTImage, aspects: dict[str, float]) -> Heatmap:
    """Gives the model's attention heatmap when the predictor is MedQM-I, else the measured local noise map."""
    model = getattr(predictor, "model", predictor)
    if callable(getattr(model, "preprocess", None)) and hasattr(model, "prior_concepts"):
        return attention_map(model, image, aspects)
    return local_noise_map(image)


def save_heatmap_png(image: CTImage, heatmap: Heatmap, path: str | Path, *,
                     window: str | Window | tuple[float, float] | None = None,
                     assessment: Assessment | None = None) -> Path:
    """Writes the heatmap blended over the windowed slice as a PNG (atomically); gives the path."""
    import matplotlib  # lazy: imports matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure  # lazy: imports matplotlib

    win = resolve_window(image, window)
    grey = to_display(image, win)
    fig = Figure(figsize=(6, 6.4), dpi=100)
    ax = fig.add_subplot()
    ax.imshow(grey, cmap="gray", vmin=0, vmax=1, interpolation="nearest")
    shown = ax.imshow(heatmap.values, cmap="inferno", vmin=0, vmax=1, alpha=0.45, interpolation="bilinear")
    fig.colorbar(shown, ax=ax, fraction=0.046, pad=0.04)
    ax.set_axis_off()
    title = heatmap.kind
    if assessment is not None:
        if assessment.scale == QUALITY_SCALE:
            title = f"score {assessment.score:.2f} ({assessment.level})\n{title}"
        else:
            title = f"score {assessment.score:.4g} ({assessment.model}, own scale)\n{title}"
        if assessment.out_of_distribution:
            title += "\nOUT OF DISTRIBUTION"
    ax.set_title(title, fontsize=9)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png")
    return Path(path)


def save_volume_plot(volume: VolumeAssessment, path: str | Path) -> Path:
    """Writes the per-slice score with its uncertainty band and the worst slices marked as a PNG; gives the path."""
    import matplotlib  # lazy: imports matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure  # lazy: imports matplotlib
    from matplotlib.ticker import MaxNLocator  # lazy: imports matplotlib

    index = np.array([s.slice_index if s.slice_index is not None else i for i, s in enumerate(volume.slices)])
    score = np.array([s.score for s in volume.slices])
    std = np.nan_to_num(np.array([s.uncertainty for s in volume.slices]), nan=0.0)
    fig = Figure(figsize=(8, 3.6), dpi=100)
    ax = fig.add_subplot()
    own_scale = any(s.scale != QUALITY_SCALE for s in volume.slices)  # a baseline's own scale: no 0-4 axis
    low, high = (-np.inf, np.inf) if own_scale else (0, 4)
    if np.any(std > 0):
        ax.fill_between(index, np.clip(score - std, low, high), np.clip(score + std, low, high), alpha=0.25,
                        label="± uncertainty")
    ax.plot(index, score, marker="o", ms=3, label="score")
    worst = [i for i in volume.summary.worst_slices]
    ax.scatter(worst, [score[list(index).index(i)] for i in worst], color="red", zorder=3, label="worst slices")
    ood = [i for i, s in zip(index, volume.slices, strict=True) if s.out_of_distribution]
    if ood:
        ax.scatter(ood, [score[list(index).index(i)] for i in ood], marker="x", color="black",
                   label="out of distribution")
    if not own_scale:
        ax.set_ylim(0, 4)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("slice index")
    ax.set_ylabel(f"{volume.model} score (own scale, higher is better)" if own_scale else "quality score (0-4)")
    ax.set_title(f"{Path(volume.path).name if volume.path else 'volume'}: mean {volume.summary.mean:.2f}, "
                 f"min {volume.summary.min:.2f} ({volume.model})", fontsize=9)
    ax.legend(fontsize=8, loc="best" if own_scale else "lower right")
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png")
    return Path(path)
