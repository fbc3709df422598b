"""Reading the one checkpoint format: a folder of model.safetensors + config.json (arch, config, metadata) +
MODEL_CARD.md.

Every checkpoint vliqa makes is this folder, written by `vliqa.models.save_checkpoint`. The registry
(`vliqa.models.load`) reads it here; so do the tool models of the lower layers, which may not import the
registry: the CNN denoiser of `vliqa.simulate` and the lesion net of `vliqa.labels` (`read_checkpoint`,
`config_from_dict`, `restore`). Messages are typed: a missing file is InputNotFoundError, a damaged or
mismatched one CorruptFileError.
"""

from __future__ import annotations

import dataclasses
import json
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vliqa.core import CARD_FILE, CONFIG_FILE, WEIGHTS_FILE
from vliqa.errors import CorruptFileError, InputNotFoundError, InvalidParameterError

#: Where shipped checkpoints live (src/vliqa/models): one folder per name, quality models and tool models alike.
SHIPPED_DIR = Path(__file__).resolve().parents[1] / "models"


@dataclass(frozen=True)
class CheckpointFiles:
    """What a checkpoint folder holds: its architecture, config values, metadata, card and weight tensors."""

    folder: Path
    arch: str
    config: dict[str, Any]
    metadata: dict[str, Any] = field(default_factory=dict)
    card: str = ""
    tensors: dict[str, Any] = field(default_factory=dict, repr=False)


def read_checkpoint(folder: str | Path) -> CheckpointFiles:
    """Gives the files of checkpoint `folder` (the weights as torch tensors), checked for the keys every config has."""
    # lazy: safetensors.torch imports torch, which `import vliqa.models` (listing, names) must not
    from safetensors import SafetensorError  # lazy: imports safetensors
    from safetensors.torch import load_file  # lazy: imports torch, safetensors

    folder = Path(folder)
    cfg_path, weights = folder / CONFIG_FILE, folder / WEIGHTS_FILE
    for needed in (cfg_path, weights):
        if not needed.is_file():
            raise InputNotFoundError(f"the checkpoint has no {needed.name}", path=folder,
                                     hint=f"a checkpoint folder holds {WEIGHTS_FILE}, {CONFIG_FILE} and {CARD_FILE}")
    try:
        payload = json.loads(cfg_path.read_text())
        arch, config_values = payload["arch"], payload["config"]
        if not isinstance(arch, str) or not isinstance(config_values, dict):
            raise TypeError("'arch' must be a name and 'config' an object")
    except (json.JSONDecodeError, UnicodeDecodeError, KeyError, TypeError) as exc:
        raise CorruptFileError(f"config.json is not a vliqa model config ({exc})", path=cfg_path,
                               hint="it needs keys 'arch' and 'config'; re-save the checkpoint") from exc
    try:
        tensors = load_file(str(weights))
    except (SafetensorError, OSError) as exc:
        raise CorruptFileError(f"the weights cannot be read ({exc})", path=weights,
                               hint="re-save or re-download it") from exc
    metadata = payload.get("metadata")
    card = (folder / CARD_FILE).read_text() if (folder / CARD_FILE).is_file() else ""
    return CheckpointFiles(folder=folder, arch=arch, config=config_values,
                           metadata=metadata if isinstance(metadata, dict) else {}, card=card, tensors=tensors)


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


def restore(module: Any, files: CheckpointFiles) -> Any:
    """Gives `module` (built from the checkpoint's config) with its weights loaded, strictly, in eval mode."""
    try:
        module.load_state_dict(files.tensors, strict=True)
    except RuntimeError as exc:  # missing, unexpected or mis-shaped tensors
        first = str(exc).strip().splitlines()[0]
        raise CorruptFileError(f"the weights do not fit architecture '{files.arch}' ({first})",
                               path=files.folder / WEIGHTS_FILE,
                               hint="config.json and model.safetensors must come from the same save") from exc
    module.eval()
    return module


def load_tool(folder: str | Path, cls: type) -> tuple[Any, CheckpointFiles]:
    """Gives (the `cls` module restored from checkpoint `folder`, its files) for a tool model class of a lower layer.

    `cls` names its architecture (`cls.arch`) and config dataclass (`cls.config_class`); a checkpoint of another
    architecture is refused (InvalidParameterError). Quality models load through `vliqa.models.load`.
    """
    files = read_checkpoint(folder)
    if files.arch != cls.arch:
        raise InvalidParameterError(f"the checkpoint holds architecture '{files.arch}', not '{cls.arch}'",
                                    path=Path(folder), hint=f"pass a {cls.arch} checkpoint folder")
    return restore(cls(config_from_dict(cls.config_class, files.config)), files), files


__all__ = ["SHIPPED_DIR", "CheckpointFiles", "config_from_dict", "load_tool", "read_checkpoint", "restore"]
