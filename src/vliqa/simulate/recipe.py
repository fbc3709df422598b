"""Applying a degradation recipe: a chain of registered degradations, and the error field its artifact steps add.

The dataset builder, the lesion net's calibration set and the benchmarks degrade a reference this way, and the
physics labeller (`vliqa.labels.physics`) takes the artifact field as its known artifact part. Which steps a
dataset sample gets is `vliqa.data.recipes`.
"""

from __future__ import annotations

import numpy as np

from vliqa.core import CTImage
from vliqa.simulate.registry import get_degradation


def is_artifact_step(name: str) -> bool:
    """Gives True for degradations whose main harm is an artifact (their error field is artifact)."""
    aspects = get_degradation(name).aspects
    return bool(aspects) and aspects[0] == "artifacts"


def degrade_with_artifact_field(
    reference: CTImage, steps: list[tuple[str, dict]], *, seed: int = 0
) -> tuple[CTImage, np.ndarray]:
    """Gives the reference degraded by `steps` [(name, params)] and the field the artifact steps added.

    params may hold "severity" instead of the function's own parameters. Step k is seeded with seed * 7919 + k.
    """
    image = reference
    # Known to be zero until an artifact step adds to it (None would mean "unknown: estimate it").
    field_hu = np.zeros(reference.shape, np.float32)
    for k, (name, params) in enumerate(steps):
        deg = get_degradation(name)
        step_seed = seed * 7919 + k
        if set(params) == {"severity"}:
            out = deg.at_severity(image, params["severity"], seed=step_seed)
        else:
            out = deg(image, seed=step_seed, **params)
        if is_artifact_step(name):
            field_hu = field_hu + (deg.artifact_part(image, out) if deg.artifact_part else out.hu - image.hu)
        image = out
    return image, field_hu


__all__ = ["degrade_with_artifact_field", "is_artifact_step"]
