"""The model registry: architectures by name, checkpoints as folders, every model behind one `Predictor` interface.

Typical use::

    from vliqa import models
    net = models.create_model("cnn_regressor", input_px=64)          # an untrained nn.Module
    models.save_checkpoint(net, net.config, "runs/r1", card_text)    # model.safetensors + config.json + MODEL_CARD.md
    predictor = models.load("runs/r1")                               # or a shipped name such as "default"
    out = predictor.predict(images)                                  # Predictions(overall, aspects, std)

A checkpoint folder holds `model.safetensors` (the weights), `config.json`
(`{"arch": ..., "config": {...}, "metadata": {...}}`) and `MODEL_CARD.md`.
Shipped checkpoints live in `src/vliqa/models/<name>/`; a folder there counts as a
shipped model when its config.json names a registered `arch` (the denoiser used by
`vliqa.simulate` is a simulation component, not a quality model, and is not listed).
Add an architecture with `@register_model("name")` over an `nn.Module` class that has a
`config_class` (a dataclass), an `__init__(self, config)` and `predict(images) -> Predictions`.

`vliqa.load` (the package top level) loads images; models load here.
"""

from __future__ import annotations

import dataclasses
import importlib
import importlib.util
import json
import os
import typing
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np

from vliqa.errors import CorruptFileError, InputNotFoundError, InvalidParameterError, UnknownNameError
from vliqa.io.image import CTImage

#: Where shipped checkpoints live: one folder per name.
SHIPPED_DIR = Path(__file__).resolve().parent
CHECKPOINT_FORMAT = 1
WEIGHTS_FILE, CONFIG_FILE, CARD_FILE = "model.safetensors", "config.json", "MODEL_CARD.md"

#: Built-in architectures and the module whose import registers each (imported on first use, one at a time,
#: so loading a regressor never imports the scorer's code and vice versa).
_BUILTIN_ARCHS = {"cnn_regressor": "vliqa.models.regressor", "medqm_i": "vliqa.models.scorer",
                  "reader_mlp": "vliqa.models.reader"}


@dataclass(frozen=True)
class Predictions:
    """What a quality model says about a list of slices: overall scores, optional aspects and uncertainty.

    `overall` is one score per image on the 0-4 scale (higher = better); `aspects` maps each aspect
    name (noise, artifacts, sharpness, contrast, texture) to one score per image; `std` is one
    predictive standard deviation per image, in score units, when the model gives one.
    """

    overall: np.ndarray
    aspects: dict[str, np.ndarray] | None = None
    std: np.ndarray | None = None


@runtime_checkable
class Predictor(Protocol):
    """Anything that scores CT slices: a loaded checkpoint, a baseline wrapper, a remote model."""

    name: str

    def predict(self, images: Sequence[CTImage]) -> Predictions:
        """Gives the predictions for `images`, one entry per image, in order."""
        ...


@dataclass(frozen=True)
class ModelSpec:
    """A registered architecture: its nn.Module class and its config dataclass."""

    arch: str
    cls: type
    config_class: type


_REGISTRY: dict[str, ModelSpec] = {}


def register_model(arch: str) -> Callable[[type], type]:
    """Gives a class decorator that registers an nn.Module class as architecture `arch` (the class is unchanged)."""

    def deco(cls: type) -> type:
        config_class = getattr(cls, "config_class", None)
        if config_class is None or not dataclasses.is_dataclass(config_class):
            raise TypeError(f"model class {cls.__name__} needs a `config_class` dataclass attribute")
        if not callable(getattr(cls, "predict", None)):
            raise TypeError(f"model class {cls.__name__} needs a predict(images) -> Predictions method")
        _REGISTRY[arch] = ModelSpec(arch, cls, config_class)
        cls.arch = arch
        return cls

    return deco


def list_models() -> list[str]:
    """Gives the names of the registered architectures, sorted."""
    for arch in _BUILTIN_ARCHS:
        _load_builtin(arch)
    return sorted(_REGISTRY)


def get_model_spec(arch: str) -> ModelSpec:
    """Gives the registered architecture called `arch`."""
    _load_builtin(arch)
    if arch in _REGISTRY:
        return _REGISTRY[arch]
    raise UnknownNameError(f"unknown model architecture '{arch}'", hint=f"registered: {', '.join(list_models())}")


def config_from_dict(config_class: type, values: dict[str, Any]) -> Any:
    """Gives a `config_class` instance from JSON-like `values`, turning lists into tuples where the field is a tuple."""
    fields = {f.name: f for f in dataclasses.fields(config_class)}
    unknown = sorted(set(values) - set(fields))
    if unknown:
        raise InvalidParameterError(
            f"{config_class.__name__} has no field(s) {', '.join(unknown)}", hint=f"fields: {', '.join(fields)}"
        )
    hints = typing.get_type_hints(config_class)
    converted = {}
    for name, value in values.items():
        wants_tuple = typing.get_origin(hints.get(name)) is tuple or hints.get(name) is tuple
        converted[name] = _to_tuple(value) if wants_tuple and isinstance(value, list) else value
    try:
        return config_class(**converted)
    except (TypeError, ValueError) as exc:
        raise InvalidParameterError(f"invalid {config_class.__name__}: {exc}") from exc


def _to_tuple(value: Any) -> Any:
    return tuple(_to_tuple(v) for v in value) if isinstance(value, list) else value


def create_model(arch: str, **config: Any) -> Any:
    """Gives a freshly initialised model of architecture `arch` built from config fields `config`."""
    spec = get_model_spec(arch)
    return spec.cls(config_from_dict(spec.config_class, config))


# ---------------------------------------------------------------- checkpoints


def save_checkpoint(model: Any, config: Any, folder: str | Path, card_text: str, *,
                    metadata: dict[str, Any] | None = None) -> Path:
    """Writes `model` as a checkpoint folder (weights, config.json, MODEL_CARD.md), each file atomically; gives the folder.

    config.json is written last, so a folder interrupted mid-save is not mistaken for a whole checkpoint.
    """
    from safetensors.torch import save as safetensors_bytes

    from vliqa.io.write import atomic_write_bytes, atomic_write_text

    arch = getattr(type(model), "arch", None)
    if arch is None or arch not in _REGISTRY:
        raise InvalidParameterError(f"{type(model).__name__} is not a registered model", hint="decorate it with @register_model")
    folder = Path(folder)
    tensors = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    atomic_write_bytes(folder / WEIGHTS_FILE, safetensors_bytes(tensors, metadata={"arch": arch}))
    atomic_write_text(folder / CARD_FILE, card_text.rstrip() + "\n")
    payload = {"arch": arch, "format": CHECKPOINT_FORMAT, "config": dataclasses.asdict(config),
               "metadata": metadata or {}}
    atomic_write_text(folder / CONFIG_FILE, json.dumps(payload, indent=2, default=_json_default) + "\n")
    return folder


def _json_default(obj: Any) -> Any:
    if isinstance(obj, (np.floating, np.integer)):
        return obj.item()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"{type(obj).__name__} is not JSON serialisable")


@dataclass
class LoadedModel:
    """A checkpoint restored for inference: the module, its config, where it came from and its model card."""

    name: str
    model: Any
    config: Any
    folder: Path
    card: str
    metadata: dict[str, Any]

    def predict(self, images: Sequence[CTImage]) -> Predictions:
        """Gives the model's predictions for `images`."""
        return self.model.predict(list(images))


def shipped_models() -> list[str]:
    """Gives the names of the checkpoints shipped inside the package whose architecture is registered."""
    known = set(list_models())
    names = []
    for sub in sorted(SHIPPED_DIR.iterdir()):
        cfg = sub / CONFIG_FILE
        if sub.is_dir() and cfg.is_file() and (sub / WEIGHTS_FILE).is_file():
            try:
                arch = json.loads(cfg.read_text()).get("arch")
            except (OSError, json.JSONDecodeError):
                continue
            if arch in known:
                names.append(sub.name)
    return names


def load(name_or_path: str | os.PathLike) -> LoadedModel:
    """Gives the model of a checkpoint folder, or of a shipped checkpoint named `name_or_path`, ready to predict."""
    text = str(name_or_path)
    path = Path(text).expanduser()
    if path.is_dir():
        return load_checkpoint(path)
    if path.exists():
        raise InvalidParameterError(f"{path} is a file; a checkpoint is a folder", path=path,
                                    hint=f"pass the folder holding {WEIGHTS_FILE} and {CONFIG_FILE}")
    shipped = shipped_models()
    if text in shipped:
        return load_checkpoint(SHIPPED_DIR / text, name=text)
    if os.sep in text or text.startswith(".") or text.endswith(".safetensors"):
        raise InputNotFoundError("checkpoint folder not found", path=text)
    listing = ", ".join(shipped) if shipped else "none is shipped with this version yet"
    raise UnknownNameError(
        f"unknown model '{text}' (shipped models: {listing})",
        hint="pass a checkpoint folder made by `vliqa train ...`, or a shipped model name",
    )


def load_checkpoint(folder: str | Path, *, name: str | None = None) -> LoadedModel:
    """Gives the model stored in checkpoint `folder` (model.safetensors + config.json), in eval mode."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    folder = Path(folder)
    cfg_path, weights = folder / CONFIG_FILE, folder / WEIGHTS_FILE
    for needed in (cfg_path, weights):
        if not needed.is_file():
            raise InputNotFoundError(f"the checkpoint has no {needed.name}", path=folder,
                                     hint=f"a checkpoint folder holds {WEIGHTS_FILE}, {CONFIG_FILE} and {CARD_FILE}")
    try:
        payload = json.loads(cfg_path.read_text())
        arch, config_values = payload["arch"], payload["config"]
    except (json.JSONDecodeError, KeyError, TypeError) as exc:
        raise CorruptFileError(f"config.json is not a vliqa model config ({exc})", path=cfg_path,
                               hint="it needs keys 'arch' and 'config'; re-save the checkpoint") from exc
    spec = get_model_spec(arch)
    config = config_from_dict(spec.config_class, config_values)
    model = spec.cls(config)
    try:
        state = load_file(str(weights))
    except (SafetensorError, OSError) as exc:
        raise CorruptFileError(f"the weights cannot be read ({exc})", path=weights, hint="re-save or re-download it") from exc
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as exc:  # missing, unexpected or mis-shaped tensors
        first = str(exc).strip().splitlines()[0]
        raise CorruptFileError(f"the weights do not fit architecture '{arch}' ({first})", path=weights,
                               hint="config.json and model.safetensors must come from the same save") from exc
    model.eval()
    card = (folder / CARD_FILE).read_text() if (folder / CARD_FILE).is_file() else ""
    return LoadedModel(name=name or folder.resolve().name, model=model, config=config, folder=folder, card=card,
                       metadata=payload.get("metadata") or {})


def _load_builtin(arch: str) -> None:
    # Importing the module runs its @register_model decorator; a module not in this version is skipped, while
    # an error inside an existing module propagates (it is a bug to see, not an architecture to hide).
    module = _BUILTIN_ARCHS.get(arch)
    if arch not in _REGISTRY and module is not None and importlib.util.find_spec(module) is not None:
        importlib.import_module(module)


__all__ = [
    "LoadedModel", "ModelSpec", "Predictions", "Predictor", "config_from_dict", "create_model", "get_model_spec",
    "list_models", "load", "load_checkpoint", "register_model", "save_checkpoint", "shipped_models",
]
