"""Physics baseline: the noise standard deviation in HU of the slice itself, lower is better.

It reads the HU image, not the display image: the robust estimate of
`vliqa.ct.measures.noise_sigma_hu` (plane-detrended homogeneous ROIs, with
the Immerkaer median-Laplacian estimate as fallback). This is the single
number most low-dose CT quality work reports, so every learnt score should at
least beat it.
"""

from __future__ import annotations

from vliqa.core import CTImage
from vliqa.ct.measures import noise_sigma_hu
from vliqa.metrics.baselines.registry import register_baseline


@register_baseline(
    "noise_sigma",
    higher_is_better=False,
    description="noise standard deviation in HU from homogeneous ROIs (vliqa.ct.measures.noise_sigma_hu)",
    input="hu",
    reference="AAPM TG-233 style ROI noise; Immerkaer, CVIU 64(2), 1996 as fallback",
)
def noise_sigma_baseline(image: CTImage) -> float:
    """Gives the noise sigma of a CT slice in HU (lower is better)."""
    return float(noise_sigma_hu(image).sigma_hu)
