"""MedQM-D diagnostic labels: image quality as the loss a diagnostic model suffers on the image.

A diagnostic model (a lesion segmenter, later a vision-language model answering
diagnostic questions, or any user function) looks at the degraded slice and at its
clean reference. Its *relative diagnostic loss* is the task loss on the degraded
slice minus the same loss on the reference, so a clean image scores ~0 extra loss.
A normalised sigmoid maps that loss to the 0-4 LDCTIQAC scale:

    q(L) = 4 * sigmoid((a - L) / b) / sigmoid(a / b),   clipped to [0, 4]

so q(0) = 4 exactly, q falls through 4 * 0.5 / sigmoid(a / b) ~ 2 at L = a, and
tends to 0 as L grows; b sets how fast. `fit_sigmoid` fits (a, b) by least squares
against target scores (the shipped mapping: the physics overall labels of a
calibration set of phantom samples, see docs/diagnostic_labels.md).

Ground truth: when the true lesion / organ masks are known (phantoms), the loss is
measured against them; otherwise the model's own output on the reference is the
pseudo-truth (the clean image is assumed to be diagnosed correctly).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np
from scipy.optimize import least_squares

from vliqa.core import ASPECTS, SCALE_MAX, CTImage, QualityLabels
from vliqa.errors import DatasetError, InvalidParameterError, UnknownNameError
from vliqa.io.write import atomic_write_text
from vliqa.labels.physics import distortions_of, physics_labels


@dataclass(frozen=True)
class DiagnosticTruth:
    """What is known to be in a slice: the lesion mask and, when known, the organ label map."""

    lesion_mask: np.ndarray
    organ_labels: np.ndarray | None = None

    @classmethod
    def from_phantom(cls, phantom) -> DiagnosticTruth:
        """Gives the truth of a `vliqa.phantom.Phantom` (its lesion mask and organ labels)."""
        return cls(lesion_mask=np.asarray(phantom.lesion_mask, bool), organ_labels=np.asarray(phantom.labels))


@runtime_checkable
class DiagnosticModel(Protocol):
    """A model whose loss on a degraded slice, relative to its clean reference, measures diagnostic quality."""

    name: str

    def loss(self, degraded: CTImage, reference: CTImage, *, truth: DiagnosticTruth | None = None) -> float:
        """Gives the extra diagnostic loss on `degraded` over `reference` (~0 when they are the same image)."""
        ...


class FunctionDiagnosticModel:
    """A diagnostic model made from any function `fn(degraded_hu, reference_hu) -> loss` (HU arrays in, float out).

    The function sees no truth: it is expected to judge the degraded slice against the
    reference itself (pseudo-truth), and to give ~0 for identical inputs.
    """

    def __init__(self, fn: Callable[[np.ndarray, np.ndarray], float], name: str | None = None):
        if not callable(fn):
            raise InvalidParameterError(f"a FunctionDiagnosticModel needs a callable, got {type(fn).__name__}")
        self.fn = fn
        self.name = name or getattr(fn, "__name__", "function")

    def loss(self, degraded: CTImage, reference: CTImage, *, truth: DiagnosticTruth | None = None) -> float:
        """Gives fn(degraded HU, reference HU) as a float (truth is not used)."""
        value = float(self.fn(np.asarray(degraded.hu), np.asarray(reference.hu)))
        if not np.isfinite(value):
            raise InvalidParameterError(f"diagnostic function '{self.name}' gave a non-finite loss ({value})")
        return value


# ---------------------------------------------------------------- registry

_REGISTRY: dict[str, Callable[[], DiagnosticModel]] = {}


def register_diagnostic_model(name: str) -> Callable[[Callable[[], DiagnosticModel]], Callable[[], DiagnosticModel]]:
    """Registers the decorated factory (no arguments -> DiagnosticModel) under `name`; gives it back unchanged.

    Example::

        @register_diagnostic_model("edge_loss")
        def _edge_loss():
            return FunctionDiagnosticModel(lambda d, r: float(np.mean(np.abs(d - r))) / 100.0, name="edge_loss")
    """

    def deco(factory: Callable[[], DiagnosticModel]) -> Callable[[], DiagnosticModel]:
        _REGISTRY[name] = factory
        return factory

    return deco


def _load_builtins() -> None:
    # The built-in models register themselves on import; importing here avoids a cycle.
    import vliqa.labels.diagnostic_models  # lazy: imports torch  # noqa: F401


def list_diagnostic_models() -> list[str]:
    """Gives the names of the registered diagnostic models."""
    _load_builtins()
    return sorted(_REGISTRY)


def get_diagnostic_model(name_or_path: str | Path | DiagnosticModel) -> DiagnosticModel:
    """Gives a diagnostic model by registered name, by checkpoint folder (config.json + model.safetensors), or as is."""
    if not isinstance(name_or_path, (str, Path)):
        if isinstance(name_or_path, DiagnosticModel):
            return name_or_path
        raise InvalidParameterError(f"cannot use a {type(name_or_path).__name__} as a diagnostic model")
    _load_builtins()
    key = str(name_or_path)
    if key in _REGISTRY:
        return _REGISTRY[key]()
    folder = Path(key).expanduser()
    if folder.is_dir() and (folder / "config.json").is_file():
        from vliqa.labels.diagnostic_models import load_lesion_net_model  # lazy: imports torch

        return load_lesion_net_model(folder)
    raise UnknownNameError(
        f"unknown diagnostic model '{key}'",
        hint=f"use one of {', '.join(sorted(_REGISTRY))}, or a checkpoint folder holding config.json and "
             "model.safetensors",
    )


# ---------------------------------------------------------------- loss -> score


@dataclass(frozen=True)
class SigmoidMapping:
    """The normalised sigmoid q(L) = 4 sigmoid((a - L) / b) / sigmoid(a / b) from relative loss L to a 0-4 score."""

    a: float
    b: float
    #: what the parameters were fitted to (free text, kept in the JSON)
    fitted_to: str = ""
    n_samples: int = 0

    def __post_init__(self) -> None:
        if not (np.isfinite(self.a) and np.isfinite(self.b) and self.b > 0):
            raise InvalidParameterError(f"sigmoid mapping needs finite a and b > 0, got a={self.a}, b={self.b}")

    def score(self, loss: float | np.ndarray) -> float | np.ndarray:
        """Gives the 0-4 score(s) of relative diagnostic loss(es); 4 at zero loss, falling to 0 at large loss."""
        loss_arr = np.asarray(loss, dtype=np.float64)
        q = SCALE_MAX * _sigmoid((self.a - loss_arr) / self.b) / _sigmoid(self.a / self.b)
        q = np.clip(q, 0.0, SCALE_MAX)
        return float(q) if q.ndim == 0 else q

    def to_json(self, path: str | Path) -> None:
        """Writes the mapping as JSON (formula included, so the file explains itself)."""
        payload = {"formula": "q = 4 * sigmoid((a - L) / b) / sigmoid(a / b), clipped to [0, 4]", **asdict(self)}
        atomic_write_text(path, json.dumps(payload, indent=2) + "\n")

    @classmethod
    def from_json(cls, path: str | Path) -> SigmoidMapping:
        """Gives the mapping stored in a JSON file written by `to_json`."""
        try:
            raw = json.loads(Path(path).read_text())
            return cls(a=float(raw["a"]), b=float(raw["b"]), fitted_to=str(raw.get("fitted_to", "")),
                       n_samples=int(raw.get("n_samples", 0)))
        except (OSError, KeyError, ValueError, TypeError) as exc:
            raise DatasetError(f"not a sigmoid mapping file ({exc})", path=path,
                               hint="give a JSON file with keys a and b, as written by SigmoidMapping.to_json") from exc


def _sigmoid(x: np.ndarray | float) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * np.asarray(x, dtype=np.float64)))  # overflow-free logistic


def fit_sigmoid(losses: np.ndarray, targets: np.ndarray, *, fitted_to: str = "") -> SigmoidMapping:
    """Gives the SigmoidMapping whose scores of `losses` best match `targets` (0-4) in least squares.

    b is fitted in log space so it stays positive; the start is a = median loss, b = loss spread / 4.
    """
    x = np.asarray(losses, dtype=np.float64).ravel()
    y = np.asarray(targets, dtype=np.float64).ravel()
    ok = np.isfinite(x) & np.isfinite(y)
    x, y = x[ok], y[ok]
    if x.size < 3 or np.ptp(x) <= 0:
        raise InvalidParameterError(f"fitting a sigmoid needs at least 3 distinct finite losses, got {x.size}")

    def residual(p: np.ndarray) -> np.ndarray:
        a, log_b = p
        b = np.exp(log_b)
        return SCALE_MAX * _sigmoid((a - x) / b) / _sigmoid(a / b) - y

    spread = float(np.percentile(x, 90) - np.percentile(x, 10)) or float(np.ptp(x))
    starts = [(float(np.median(x)), np.log(max(spread / 4.0, 1e-6))),
              (float(np.percentile(x, 75)), np.log(max(spread / 8.0, 1e-6)))]
    best = min((least_squares(residual, np.array(s), method="lm") for s in starts), key=lambda r: float(r.cost))
    a, log_b = best.x
    return SigmoidMapping(a=float(a), b=float(np.exp(log_b)), fitted_to=fitted_to, n_samples=int(x.size))


# ---------------------------------------------------------------- labels


def default_mapping(model: DiagnosticModel) -> SigmoidMapping:
    """Gives the model's own fitted mapping (its `mapping` attribute), or explains how to get one."""
    mapping = getattr(model, "mapping", None)
    if isinstance(mapping, SigmoidMapping):
        return mapping
    raise InvalidParameterError(
        f"diagnostic model '{model.name}' has no fitted loss -> score mapping",
        hint="pass mapping=fit_sigmoid(losses, target_scores) (or a SigmoidMapping(a, b)) for this model",
    )


def diagnostic_labels(
    degraded: CTImage,
    reference: CTImage,
    *,
    model: str | Path | DiagnosticModel = "lesion_net",
    truth: DiagnosticTruth | None = None,
    mapping: SigmoidMapping | None = None,
    aspects: dict[str, float] | None = None,
) -> QualityLabels:
    """Gives MedQM-D labels: overall = sigmoid-mapped relative diagnostic loss, source "diagnostic".

    The diagnostic model judges only *how much the image still serves diagnosis*; it says
    nothing about *why*. So the five aspect scores stay the physics ones (computed here
    unless `aspects` gives them), which keeps captions and per-aspect training meaningful,
    and only `overall` is diagnostic. measures holds the physics measures plus
    "diagnostic_loss" (the relative loss L).
    """
    dm = get_diagnostic_model(model)
    mapping = mapping or default_mapping(dm)
    loss = dm.loss(degraded, reference, truth=truth)
    measures: dict[str, float] = {}
    if aspects is None:
        phys = physics_labels(degraded, reference, lesion_mask=truth.lesion_mask if truth is not None else None)
        aspects, measures = phys.aspects, dict(phys.measures)
    missing = set(ASPECTS) - set(aspects)
    if missing:
        raise InvalidParameterError(f"aspect scores missing for {sorted(missing)}")
    measures["diagnostic_loss"] = float(loss)
    return QualityLabels(
        overall=float(mapping.score(loss)),
        aspects={k: float(aspects[k]) for k in ASPECTS},
        distortions=distortions_of(degraded, reference),
        source="diagnostic",
        measures=measures,
    )
