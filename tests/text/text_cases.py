"""Random and hand-made quality labels shared by the text tests."""

from __future__ import annotations

import random

from vliqa.core import ASPECTS, Distortion, QualityLabels
from vliqa.text import KNOWN_DISTORTIONS, DescriptionContext

CONTEXTS = (
    None,
    DescriptionContext("abdomen", ("liver", "right kidney", "spine")),
    DescriptionContext("head", ("brain", "posterior fossa")),
    DescriptionContext("chest", ("lung",)),
    DescriptionContext("chest"),
)


def random_labels(rng: random.Random) -> QualityLabels:
    """Gives labels with uniform aspect and overall scores and up to three random known distortions."""
    names = rng.sample(KNOWN_DISTORTIONS, rng.randint(0, 3))
    distortions = tuple(Distortion(n, rng.random(), region=rng.choice([None, None, "liver", "periphery"]))
                        for n in names)
    return QualityLabels(overall=rng.uniform(0, 4), aspects={a: rng.uniform(0, 4) for a in ASPECTS},
                         distortions=distortions)


def labels(overall: float, distortions: tuple[Distortion, ...] = (), **aspects: float) -> QualityLabels:
    """Gives labels with the named aspect scores and 4.0 for the rest."""
    return QualityLabels(overall=overall, aspects={a: float(aspects.get(a, 4.0)) for a in ASPECTS},
                         distortions=distortions)
