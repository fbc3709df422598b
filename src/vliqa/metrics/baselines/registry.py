"""The baseline registry: every classical no-reference IQA metric is one decorated function.

A baseline scores one slice. Most see what the models see, the windowed display
image in [0, 1] (`input="display"`, `fn(display) -> float`); physics measures
such as the noise sigma in HU need the CT image itself (`input="hu"`,
`fn(image: CTImage) -> float`). `score_images` does the windowing so that every
baseline is compared with the models on the same pixels. `quality_sign` turns
any score into "higher is better" for correlation tables.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from vliqa.core import CTImage, Window, to_display
from vliqa.errors import InvalidImageError, UnknownNameError

BaselineInput = Literal["display", "hu"]
#: A window preset name, a Window, (level, width), or None for the image's own display window (raster inputs).
WindowSpec = str | Window | tuple[float, float] | None

#: Modules whose import registers the built-in baselines.
_BUILTIN_MODULES = (
    "vliqa.metrics.baselines.niqe",
    "vliqa.metrics.baselines.brisque",
    "vliqa.metrics.baselines.piqe",
    "vliqa.metrics.baselines.sharpness",
    "vliqa.metrics.baselines.blockiness",
    "vliqa.metrics.baselines.noise",
)


@dataclass(frozen=True)
class Baseline:
    """A registered baseline: its scoring function, what it reads, and which direction is good."""

    name: str
    fn: Callable[[Any], float]
    higher_is_better: bool
    description: str
    #: "display": fn takes the windowed display image (H, W) float32 in [0, 1]; "hu": fn takes the CTImage.
    input: BaselineInput = "display"
    #: Citation of the method (paper), shown in tables and reports.
    reference: str = ""

    @property
    def quality_sign(self) -> float:
        """Gives +1 or -1 such that quality_sign * score grows with quality."""
        return 1.0 if self.higher_is_better else -1.0

    def score_display(self, display: np.ndarray) -> float:
        """Gives the score of one display image in [0, 1] (only for baselines with input="display")."""
        if self.input != "display":
            raise InvalidImageError(
                f"baseline '{self.name}' reads HU, not a display image",
                hint="call score_image(CTImage) or score_images([...]) instead",
            )
        return _finite(self.name, self.fn(_check_display(self.name, display)))

    def score_image(self, image: CTImage, *, window: WindowSpec = "ldctiqac") -> float:
        """Gives the score of one CT slice, windowed with `window` first when the baseline reads display images."""
        if self.input == "hu":
            return _finite(self.name, self.fn(image), source=image.source)
        try:
            return self.score_display(to_display(image, window))
        except InvalidImageError as exc:
            # Name the slice: the display-level message cannot know which file it came from.
            if image.source and image.source not in str(exc):
                raise InvalidImageError(str(exc), path=image.source) from exc
            raise

    def __call__(self, x: np.ndarray | CTImage) -> float:
        if isinstance(x, CTImage):
            return self.score_image(x)
        return self.score_display(x)


_REGISTRY: dict[str, Baseline] = {}


def register_baseline(
    name: str,
    *,
    higher_is_better: bool,
    description: str,
    input: BaselineInput = "display",
    reference: str = "",
) -> Callable[[Callable[[Any], float]], Callable[[Any], float]]:
    """Gives a decorator that registers a scoring function as baseline `name` (the function is returned unchanged)."""
    if input not in ("display", "hu"):
        raise ValueError(f"baseline input must be 'display' or 'hu', got {input!r}")

    def deco(fn: Callable[[Any], float]) -> Callable[[Any], float]:
        _REGISTRY[name] = Baseline(
            name=name,
            fn=fn,
            higher_is_better=bool(higher_is_better),
            description=description,
            input=input,
            reference=reference,
        )
        return fn

    return deco


def get_baseline(name: str) -> Baseline:
    """Gives the registered baseline called `name` (case-insensitive)."""
    _load_builtin()
    key = str(name).strip().lower()
    if key in _REGISTRY:
        return _REGISTRY[key]
    raise UnknownNameError(f"unknown baseline '{name}'", hint=f"registered baselines: {', '.join(sorted(_REGISTRY))}")


def list_baselines() -> list[Baseline]:
    """Gives every registered baseline, sorted by name."""
    _load_builtin()
    return [_REGISTRY[k] for k in sorted(_REGISTRY)]


def quality_sign(name: str) -> float:
    """Gives +1 for a higher-is-better baseline and -1 otherwise, so sign * score is higher-is-better."""
    return get_baseline(name).quality_sign


def score_images(name: str, images: Sequence[CTImage], *, window: WindowSpec = "ldctiqac") -> np.ndarray:
    """Gives the scores (float64, one per image) of baseline `name`, display baselines seeing `window`."""
    baseline = get_baseline(name)
    return np.array([baseline.score_image(img, window=window) for img in images], dtype=np.float64)


def _check_display(name: str, display: np.ndarray) -> np.ndarray:
    """Gives `display` as a 2-D float32 array in [0, 1]; raises InvalidImageError otherwise."""
    arr = np.asarray(display)
    if arr.ndim != 2:
        raise InvalidImageError(
            f"baseline '{name}' needs a 2-D display image, got shape {arr.shape}",
            hint="pass one slice; window HU with vliqa.core.to_display first",
        )
    arr = arr.astype(np.float32, copy=False)
    if not np.all(np.isfinite(arr)):
        raise InvalidImageError(f"baseline '{name}': the display image holds NaN or inf",
                                hint="fix or mask those pixels")
    lo, hi = float(arr.min()), float(arr.max())
    if lo < -1e-3 or hi > 1.0 + 1e-3:
        raise InvalidImageError(
            f"baseline '{name}' needs display values in [0, 1], got [{lo:.4g}, {hi:.4g}]",
            hint="window HU with vliqa.core.to_display, or divide 8-bit images by 255",
        )
    return np.clip(arr, 0.0, 1.0)


def _finite(name: str, value: float, *, source: str | None = None) -> float:
    """Gives `value` as float, raising InvalidImageError when the metric produced NaN or inf."""
    out = float(value)
    if not np.isfinite(out):
        raise InvalidImageError(f"baseline '{name}' is undefined for this image (gave {out})", path=source)
    return out


def _load_builtin() -> None:
    # Importing the modules runs their @register_baseline decorators.
    for mod in _BUILTIN_MODULES:
        importlib.import_module(mod)
