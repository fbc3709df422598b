"""Degradation recipes: which degradations, at which severities, one dataset sample gets.

Families mirror what users meet: one physical degradation; low dose followed by a
denoiser (the denoiser benchmark case, where too little and too much smoothing both
cost quality); two degradations composed; and untouched references.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from vliqa.errors import InvalidParameterError
from vliqa.simulate.denoise import OPTIONAL_DEGRADATIONS
from vliqa.simulate.registry import Degradation, list_degradations

#: family -> probability
FAMILIES: dict[str, float] = {"single": 0.5, "dose_denoise": 0.3, "combo": 0.15, "clean": 0.05}


@dataclass(frozen=True)
class Step:
    """One degradation of a recipe and its severity in [0, 1]."""

    name: str
    severity: float


@dataclass(frozen=True)
class Recipe:
    family: str
    steps: tuple[Step, ...]

    def to_dict(self) -> dict:
        return {"family": self.family, "steps": [{"name": s.name, "severity": s.severity} for s in self.steps]}


def available(kind: str | None = None, *, exclude: tuple[str, ...] = ()) -> list[Degradation]:
    """Gives the registered degradations of `kind` (all kinds when None), without the excluded names."""
    return [d for d in list_degradations() if (kind is None or d.kind == kind) and d.name not in exclude]


def check_names(names: tuple[str, ...] | list[str], option: str) -> None:
    """Raises InvalidParameterError when `names` holds a degradation that is not registered.

    A degradation registered only with an optional package (`smooth_bm3d`) is known even where that package is
    missing, so a recipe that names it runs on every machine.
    """
    known = [d.name for d in available()]
    unknown = sorted(set(names) - set(known) - set(OPTIONAL_DEGRADATIONS))
    if unknown:
        raise InvalidParameterError(f"unknown degradation(s) in {option}: {', '.join(unknown)}",
                                    hint=f"registered: {', '.join(known)}")


def excluded_except(only: tuple[str, ...] | list[str]) -> list[str]:
    """Gives the registered degradations not in `only`, in registry order (what --only X means as --exclude)."""
    check_names(only, "--only")
    return [d.name for d in available() if d.name not in only]


#: Degradations whose order in a chain is fixed: physics first (projection), then image processing.
_KIND_ORDER = {"projection": 0, "denoise": 1, "image": 2}


def sample_recipe(rng: np.random.Generator, *, exclude: tuple[str, ...] = ()) -> Recipe:
    """Gives a random recipe; severities are uniform so every quality level is reached."""
    families = list(FAMILIES)
    family = str(rng.choice(families, p=np.array([FAMILIES[f] for f in families])))
    names = {d.name for d in available(exclude=exclude)}
    if family == "dose_denoise" and ("low_dose" not in names or not available("denoise", exclude=exclude)):
        family = "single"
    if family == "clean":
        return Recipe("clean", ())
    if family == "single":
        pool = available(exclude=exclude)
        d = pool[int(rng.integers(len(pool)))]
        return Recipe("single", (Step(d.name, float(rng.uniform(0.05, 1.0))),))
    if family == "dose_denoise":
        denoisers = available("denoise", exclude=exclude)
        d = denoisers[int(rng.integers(len(denoisers)))]
        return Recipe(
            "dose_denoise",
            (Step("low_dose", float(rng.uniform(0.3, 1.0))), Step(d.name, float(rng.uniform(0.0, 1.0)))),
        )
    pool = available(exclude=exclude)
    first, second = rng.choice(len(pool), size=2, replace=False)
    a, b = pool[int(first)], pool[int(second)]
    steps = sorted(
        [Step(a.name, float(rng.uniform(0.05, 0.8))), Step(b.name, float(rng.uniform(0.05, 0.8)))],
        key=lambda s: _KIND_ORDER.get(next(d.kind for d in pool if d.name == s.name), 3),
    )
    return Recipe("combo", tuple(steps))
