"""The model registry: architectures by name, checkpoints as folders, every model behind one `Predictor` interface.

Typical use::

    from vliqa import models
    net = models.create_model("cnn_regressor", input_px=64)          # an untrained nn.Module
    models.save_checkpoint(net, net.config, "runs/r1", card_text)    # model.safetensors + config.json + MODEL_CARD.md
    predictor = models.load("runs/r1")                               # or a shipped name such as "reader"
    out = predictor.predict(images)                                  # Predictions(overall, aspects, std)

A checkpoint folder holds `model.safetensors` (the weights), `config.json`
(`{"arch": ..., "config": {...}, "metadata": {...}}`) and `MODEL_CARD.md`.
Shipped checkpoints live in `src/vliqa/models/<name>/`; `models.load(name)` loads any of them.

Every architecture has a `kind`: "quality" (the default) for models that score slices, or the job of a
tool model that serves another part of vliqa: the CNN denoiser of `vliqa.simulate` ("simulation",
arch `cnn_denoiser`) and the MedQM-D lesion net of `vliqa.labels` ("diagnostic", arch `lesion_unet`).
They share the checkpoint format and `load`, but only quality models are listed by `shipped_models()`
(what `vliqa assess` offers); a tool checkpoint says its kind in config.json's metadata, so listing
needs no import of its code. Their classes live in layers below this one, which may not import the
registry: they declare `arch`, `kind` and `config_class` and are registered from here on first use,
and they read their checkpoints with the registry's own reader, `vliqa.io.checkpoint`.
Add an architecture with `@register_model("name")` over an `nn.Module` class that has a
`config_class` (a dataclass), an `__init__(self, config)` and, for a quality model,
`predict(images) -> Predictions`.

Names that are no checkpoint come from registered predictor sources (`register_predictor_source`): the
classical baselines ("brisque", "niqe", ...; plugged in by `vliqa/__init__.py`), whose `predict` gives
the baseline's own score, higher is better, not 0-4 (`scale` "own"; see `scale_of`) and no aspects.

`vliqa.load` (the package top level) loads images; models load here.
"""

from __future__ import annotations

import dataclasses
import importlib
import importlib.util
import json
import os
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np

from vliqa.core import CARD_FILE, CONFIG_FILE, WEIGHTS_FILE, CTImage
from vliqa.errors import InputNotFoundError, InvalidParameterError, UnknownNameError
from vliqa.io.checkpoint import SHIPPED_DIR, config_from_dict, read_checkpoint, restore
from vliqa.io.write import atomic_write_bytes, atomic_write_text

CHECKPOINT_FORMAT = 1

#: Built-in architectures and the module whose import registers each (imported on first use, one at a time,
#: so loading a regressor never imports the scorer's code and vice versa). "module:Class" names a tool model
#: of a lower layer (which may not import the registry): its class, registered from here with its own `kind`.
_BUILTIN_ARCHS = {"cnn_regressor": "vliqa.models.regressor", "medqm_i": "vliqa.models.scorer",
                  "reader_mlp": "vliqa.models.reader", "photo_mlp": "vliqa.models.photo",
                  "cnn_denoiser": "vliqa.simulate.cnn_denoiser:DenoiserNet",
                  "lesion_unet": "vliqa.labels.diagnostic_models:LesionUNet",
                  "quality_vlm": "vliqa.models.vlm.model"}
#: The kind of a model that scores slices; tool models name their job instead ("simulation", "diagnostic").
QUALITY = "quality"
#: The `scale` of a predictor whose overall scores are on the LDCTIQAC 0-4 scale (every checkpoint).
QUALITY_SCALE = "0-4"


@dataclass(frozen=True)
class Predictions:
    """What a quality model says about a list of slices: overall scores, optional aspects and uncertainty.

    `overall` is one score per image, higher = better, on the 0-4 scale unless the predictor's `scale`
    says otherwise (a baseline's own scale, see `scale_of`); `aspects` maps each aspect name (noise,
    artifacts, sharpness, contrast, texture) to one score per image; `std` is one predictive standard
    deviation per image, in score units, when the model gives one.
    """

    overall: np.ndarray
    aspects: dict[str, np.ndarray] | None = None
    std: np.ndarray | None = None


@runtime_checkable
class Predictor(Protocol):
    """Anything that scores CT slices: a loaded checkpoint, a baseline wrapper, a remote model.

    An optional `scale` attribute says what `overall` is on: "0-4" (the default when absent) or "own"
    (the predictor's own scale, higher is better, e.g. a classical baseline's sign-corrected score).
    """

    name: str

    def predict(self, images: Sequence[CTImage]) -> Predictions:
        """Gives the predictions for `images`, one entry per image, in order."""
        ...


@dataclass(frozen=True)
class ModelSpec:
    """A registered architecture: its nn.Module class, its config dataclass and its kind ("quality" or a tool's job)."""

    arch: str
    cls: type
    config_class: type
    kind: str = QUALITY


_REGISTRY: dict[str, ModelSpec] = {}


def register_model(arch: str, *, kind: str = QUALITY) -> Callable[[type], type]:
    """Gives a class decorator that registers an nn.Module class as architecture `arch` (the class is unchanged).

    `kind` is "quality" for a model that scores slices (it needs `predict`), or the job of a tool model.
    """

    def deco(cls: type) -> type:
        config_class = getattr(cls, "config_class", None)
        if config_class is None or not dataclasses.is_dataclass(config_class):
            raise TypeError(f"model class {cls.__name__} needs a `config_class` dataclass attribute")
        if kind == QUALITY and not callable(getattr(cls, "predict", None)):
            raise TypeError(f"model class {cls.__name__} needs a predict(images) -> Predictions method")
        _REGISTRY[arch] = ModelSpec(arch, cls, config_class, kind)
        cls.arch = arch
        return cls

    return deco


def list_models(kind: str | None = None) -> list[str]:
    """Gives the names of the registered architectures (of `kind` only, when given), sorted."""
    for arch in _BUILTIN_ARCHS:
        _load_builtin(arch)
    return sorted(a for a, spec in _REGISTRY.items() if kind is None or spec.kind == kind)


def get_model_spec(arch: str) -> ModelSpec:
    """Gives the registered architecture called `arch`."""
    _load_builtin(arch)
    if arch in _REGISTRY:
        return _REGISTRY[arch]
    raise UnknownNameError(f"unknown model architecture '{arch}'", hint=f"registered: {', '.join(list_models())}")


def create_model(arch: str, **config: Any) -> Any:
    """Gives a freshly initialised model of architecture `arch` built from config fields `config`."""
    spec = get_model_spec(arch)
    return spec.cls(config_from_dict(spec.config_class, config))


# ---------------------------------------------------------------- checkpoints


def save_checkpoint(model: Any, config: Any, folder: str | Path, card_text: str, *,
                    metadata: dict[str, Any] | None = None) -> Path:
    """Writes `model` as a checkpoint folder (weights, config.json, MODEL_CARD.md), each file atomically; gives the
    folder.

    config.json is written last, so a folder interrupted mid-save is not mistaken for a whole checkpoint.
    A tool model's kind goes into the metadata (`"kind"`), so `shipped_models` can pass it over unimported.
    """
    from safetensors.torch import save as safetensors_bytes  # lazy: imports torch, safetensors

    arch = getattr(type(model), "arch", None)
    if isinstance(arch, str):
        _load_builtin(arch)  # a tool model's class names its arch before the registry has seen it
    if arch is None or arch not in _REGISTRY:
        raise InvalidParameterError(f"{type(model).__name__} is not a registered model",
                                    hint="decorate it with @register_model")
    folder = Path(folder)
    tensors = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    atomic_write_bytes(folder / WEIGHTS_FILE, safetensors_bytes(tensors, metadata={"arch": arch}))
    atomic_write_text(folder / CARD_FILE, card_text.rstrip() + "\n")
    kind = _REGISTRY[arch].kind
    metadata = {**({} if kind == QUALITY else {"kind": kind}), **(metadata or {})}
    payload = {"arch": arch, "format": CHECKPOINT_FORMAT, "config": dataclasses.asdict(config), "metadata": metadata}
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
    """A checkpoint restored for inference: the module, its config, where it came from, its model card and kind."""

    name: str
    model: Any
    config: Any
    folder: Path
    card: str
    metadata: dict[str, Any]
    kind: str = QUALITY

    def predict(self, images: Sequence[CTImage]) -> Predictions:
        """Gives the model's predictions for `images` (quality models only)."""
        if self.kind != QUALITY:
            raise InvalidParameterError(f"'{self.name}' is a {self.kind} model, not a quality model",
                                        hint=f"quality models: {', '.join(shipped_models()) or 'none shipped'}")
        return self.model.predict(list(images))


def _shipped_configs() -> dict[str, dict[str, Any]]:
    """Gives name -> config.json of every checkpoint folder shipped inside the package (unreadable ones left out)."""
    found = {}
    for sub in sorted(SHIPPED_DIR.iterdir()):
        cfg = sub / CONFIG_FILE
        if sub.is_dir() and cfg.is_file() and (sub / WEIGHTS_FILE).is_file():
            try:
                payload = json.loads(cfg.read_text())
            except (OSError, json.JSONDecodeError):
                continue
            if isinstance(payload, dict):
                found[sub.name] = payload
    return found


def shipped_models(domain: str | None = "ct") -> list[str]:
    """Gives the names of the quality models shipped inside the package whose architecture is registered.

    Tool checkpoints (the denoiser, the lesion net) are shipped too, and load by name, but are not listed.
    `domain`: only the models of that image domain, "ct" (the default: what scores CT) or "photo" (the photo
    model); None for all. A checkpoint names its domain in config.json's metadata ("domain"; "ct" when absent).
    """
    names = []
    for name, payload in _shipped_configs().items():
        metadata = payload.get("metadata")
        if isinstance(metadata, dict) and metadata.get("kind", QUALITY) != QUALITY:
            continue  # known from the file alone: its code is not imported
        model_domain = metadata.get("domain", "ct") if isinstance(metadata, dict) else "ct"
        if domain is not None and model_domain != domain:
            continue
        arch = payload.get("arch")
        if isinstance(arch, str):
            _load_builtin(arch)
            if arch in _REGISTRY and _REGISTRY[arch].kind == QUALITY:
                names.append(name)
    return names


#: The model `vliqa assess` uses unless told otherwise: the reader model (agrees with radiologists on real CT).
DEFAULT_MODEL = "reader"
#: The name that always means DEFAULT_MODEL, whichever model that is.
DEFAULT_ALIAS = "default"


def load(name_or_path: str | os.PathLike, *, kind: str | None = None) -> LoadedModel | Predictor:
    """Gives the model of a checkpoint folder, a shipped checkpoint or a baseline named `name_or_path`, ready to
    predict.

    A name of a registered predictor source (`register_predictor_source`; the facade plugs in the classical
    baselines, so "brisque", "niqe", ... give a `vliqa.metrics.baselines.BaselinePredictor`: scores on the
    baseline's own scale, higher is better, no aspects) gives that predictor.

    With `kind`, a checkpoint of another kind is refused (InvalidParameterError).
    """
    text = str(name_or_path)
    if text == DEFAULT_ALIAS:
        text = DEFAULT_MODEL
    path = Path(text).expanduser()
    if path.is_dir():
        return load_checkpoint(path, kind=kind)
    if path.exists():
        raise InvalidParameterError(f"{path} is a file; a checkpoint is a folder", path=path,
                                    hint=f"pass the folder holding {WEIGHTS_FILE} and {CONFIG_FILE}")
    if os.sep not in text and text in _shipped_configs():  # any shipped checkpoint, tool models too
        return load_checkpoint(SHIPPED_DIR / text, name=text, kind=kind)
    if os.sep in text or text.startswith(".") or text.endswith(".safetensors"):
        raise InputNotFoundError("checkpoint folder not found", path=text)
    key = text.strip().lower()
    if kind in (None, QUALITY):
        for source in _SOURCES.values():
            if key in source.names():
                return source.make(key)
    shipped = shipped_models()
    listing = (", ".join(shipped) + f"; '{DEFAULT_ALIAS}' is {DEFAULT_MODEL}") if shipped else \
        "none is shipped with this version yet"
    others = "".join(f"; {s.kind}s: {', '.join(s.names())}" for s in _SOURCES.values())
    raise UnknownNameError(
        f"unknown model '{text}' (shipped models: {listing}{others})",
        hint="pass a checkpoint folder made by `vliqa train ...`, a shipped model name"
             + "".join(f" or a {s.kind} name" for s in _SOURCES.values()),
    )


#: Checkpoints read by `load_shared`, by (folder, weights mtime).
_SHARED: dict[tuple[str, float], Any] = {}
_SHARED_LOCK = threading.Lock()


def load_shared(name_or_path: str | os.PathLike) -> LoadedModel | Predictor:
    """Gives `load(name_or_path)`, read once per process for checkpoints (shipped or a folder; a re-written
    checkpoint is read again): the models one model runs inside another (the reader's artifacts scorer, the VLM's
    vision encoder) share one instance, so what it computed for an image is reused (`vliqa.core.memo`). Callers
    must not train or modify the model they get."""
    text = DEFAULT_MODEL if str(name_or_path) == DEFAULT_ALIAS else str(name_or_path)
    path = Path(text).expanduser()
    if not path.is_dir() and os.sep not in text and text in _shipped_configs():
        path = SHIPPED_DIR / text
    weights = path / WEIGHTS_FILE
    if not weights.is_file():
        return load(name_or_path)
    key = (str(path.resolve()), weights.stat().st_mtime)
    with _SHARED_LOCK:
        if key not in _SHARED:
            _SHARED[key] = load(text)
        return _SHARED[key]


@dataclass(frozen=True)
class PredictorSource:
    """A family of named predictors that are not checkpoints (the classical baselines), plugged in from a higher layer.

    `names()` gives the (lower-case) names it answers to and `make(name)` the predictor; both may import lazily.
    """

    kind: str
    names: Callable[[], list[str]]
    make: Callable[[str], Any]


_SOURCES: dict[str, PredictorSource] = {}


def register_predictor_source(kind: str, names: Callable[[], list[str]], make: Callable[[str], Any]) -> None:
    """Makes `load(name)` give `make(name)` for every name in `names()` that is no checkpoint (kind: "baseline", ...).

    The registry cannot import the layers above it; they register here instead. `vliqa/__init__.py` registers
    the classical baselines of `vliqa.metrics.baselines`, so every entry point finds them by name.
    """
    _SOURCES[kind] = PredictorSource(kind, names, make)


def predictor_names(kind: str) -> list[str]:
    """Gives the names the predictor source `kind` (e.g. "baseline") answers to; [] when none is registered."""
    source = _SOURCES.get(kind)
    return list(source.names()) if source is not None else []


def scale_of(predictor: Any) -> str:
    """Gives what a predictor's overall scores are on: "0-4" (checkpoints, the default) or "own" (a baseline's)."""
    return str(getattr(predictor, "scale", QUALITY_SCALE))


def load_checkpoint(folder: str | Path, *, name: str | None = None, kind: str | None = None) -> LoadedModel:
    """Gives the model stored in checkpoint `folder` (model.safetensors + config.json), in eval mode.

    With `kind`, a checkpoint whose architecture is of another kind is refused (InvalidParameterError).
    """
    files = read_checkpoint(folder)  # the one reader: typed errors for missing, damaged or mismatched files
    spec = get_model_spec(files.arch)
    if kind is not None and spec.kind != kind:
        raise InvalidParameterError(f"the checkpoint holds a {spec.kind} model ('{files.arch}'), not a {kind} model",
                                    path=folder, hint=f"{kind} architectures: {', '.join(list_models(kind)) or 'none'}")
    config = config_from_dict(spec.config_class, files.config)
    model = restore(spec.cls(config), files)
    return LoadedModel(name=name or files.folder.resolve().name, model=model, config=config, folder=files.folder,
                       card=files.card, metadata=files.metadata, kind=spec.kind)


def _load_builtin(arch: str) -> None:
    # Importing the module runs its @register_model decorator; a tool model's class ("module:Class") is registered
    # here with the kind it declares. A module not in this version is skipped, while an error inside an existing
    # module propagates (it is a bug to see, not an architecture to hide).
    target = _BUILTIN_ARCHS.get(arch)
    if arch in _REGISTRY or target is None:
        return
    module, _, cls_name = target.partition(":")
    if importlib.util.find_spec(module) is None:
        return
    loaded = importlib.import_module(module)
    if cls_name:
        cls = getattr(loaded, cls_name)
        register_model(arch, kind=cls.kind)(cls)


__all__ = [
    "QUALITY", "QUALITY_SCALE", "SHIPPED_DIR", "LoadedModel", "ModelSpec", "Predictions", "Predictor",
    "config_from_dict",
    "create_model", "get_model_spec", "PredictorSource", "DEFAULT_ALIAS", "DEFAULT_MODEL", "list_models", "load",
    "load_checkpoint",
    "predictor_names", "register_model", "register_predictor_source", "save_checkpoint", "scale_of", "shipped_models",
]
