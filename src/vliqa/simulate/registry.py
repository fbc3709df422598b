"""The degradation registry: every degradation is one decorated pure function.

A degradation takes a `CTImage` and keyword parameters (always including `seed`),
and gives a new `CTImage` whose history ends with its name and parameters. Same
seed in, same pixels out. The registry also knows how to turn a severity in
[0, 1] (0 = no visible effect, 1 = the worst we simulate) into parameters, which
is what the dataset builder samples.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from vliqa.core import ASPECTS, CTImage
from vliqa.errors import UnknownNameError


class DegradationFn(Protocol):
    def __call__(self, image: CTImage, *, seed: int = 0, **params: Any) -> CTImage: ...


@dataclass(frozen=True)
class Degradation:
    """A registered degradation: the function, how severity maps to parameters, what it harms."""

    name: str
    fn: DegradationFn
    #: severity in [0, 1] and a random generator -> keyword parameters of `fn` (without seed)
    params_for_severity: Callable[[float, np.random.Generator], dict[str, Any]]
    #: quality aspects this degradation mainly lowers (subset of ASPECTS)
    aspects: tuple[str, ...]
    #: "projection" (sinogram domain), "image", or "denoise" (post-processing / reconstruction texture)
    kind: str
    description: str = ""
    #: (before, after) -> the part of after.hu - before.hu that is artifact, for steps whose change is not all
    #: artifact (residual_streaks also smooths the image); None: the whole change of an artifact-type step
    artifact_part: Callable[[CTImage, CTImage], np.ndarray] | None = None

    def __call__(self, image: CTImage, *, seed: int = 0, **params: Any) -> CTImage:
        return self.fn(image, seed=seed, **params)

    def at_severity(self, image: CTImage, severity: float, *, seed: int = 0) -> CTImage:
        """Gives `image` degraded at `severity` in [0, 1], parameters drawn from `seed`."""
        rng = np.random.default_rng(seed)
        params = self.params_for_severity(float(np.clip(severity, 0.0, 1.0)), rng)
        out = self.fn(image, seed=seed, **params)
        last = dict(out.history[-1]) if out.history else {}
        last["severity"] = float(severity)
        return out.replace(history=out.history[:-1] + (last,))


_REGISTRY: dict[str, Degradation] = {}


def register(
    name: str,
    *,
    params_for_severity: Callable[[float, np.random.Generator], dict[str, Any]],
    aspects: tuple[str, ...],
    kind: str,
    description: str = "",
    artifact_part: Callable[[CTImage, CTImage], np.ndarray] | None = None,
) -> Callable[[DegradationFn], DegradationFn]:
    """Registers the decorated function as degradation `name`; gives the function back unchanged.

    `artifact_part` is for an artifact-type step whose change is not all artifact (see `Degradation`).
    """
    unknown = set(aspects) - set(ASPECTS)
    if unknown:
        raise ValueError(f"unknown aspects {unknown} for degradation {name}")

    def deco(fn: DegradationFn) -> DegradationFn:
        _REGISTRY[name] = Degradation(
            name=name,
            fn=fn,
            params_for_severity=params_for_severity,
            aspects=aspects,
            kind=kind,
            description=description or (fn.__doc__ or "").strip().splitlines()[0] if (description or fn.__doc__)
            else "", artifact_part=artifact_part,
        )
        return fn

    return deco


def get_degradation(name: str) -> Degradation:
    """Gives the registered degradation called `name`."""
    _load_builtin()
    try:
        return _REGISTRY[name]
    except KeyError:
        raise UnknownNameError(
            f"unknown degradation '{name}'", hint=f"registered: {', '.join(sorted(_REGISTRY))}"
        ) from None


def list_degradations() -> list[Degradation]:
    """Gives every registered degradation, sorted by name."""
    _load_builtin()
    return [_REGISTRY[k] for k in sorted(_REGISTRY)]


def _load_builtin() -> None:
    # Importing the modules runs their @register decorators.
    for mod in ("vliqa.simulate.dose", "vliqa.simulate.artifacts", "vliqa.simulate.image_domain",
                "vliqa.simulate.denoise", "vliqa.simulate.metal"):
        try:
            importlib.import_module(mod)
        except ModuleNotFoundError as exc:
            if exc.name != mod:
                raise
