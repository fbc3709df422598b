"""Reading the small fixed-purpose checkpoints (the CNN denoiser, the lesion net): config.json + model.safetensors.

The scorer family goes through the registry (`vliqa.models.load_checkpoint`); these tools have one
architecture each and their own config keys, so they only share how the two files are found and read.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from vliqa.errors import CorruptFileError, DependencyUnavailableError
from vliqa.models import CONFIG_FILE, WEIGHTS_FILE


def read_plain_checkpoint(folder: str | Path, *, what: str, hint: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """Gives (config.json as a dict, the tensors of model.safetensors) of checkpoint `folder`.

    `what` names the checkpoint in messages ("denoiser", "lesion_net"); `hint` says how to make one.
    """
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    folder = Path(folder)
    cfg_path, weights = folder / CONFIG_FILE, folder / WEIGHTS_FILE
    if not cfg_path.is_file() or not weights.is_file():
        raise DependencyUnavailableError(f"no {what} checkpoint in {folder} (need {CONFIG_FILE} and {WEIGHTS_FILE})",
                                         path=folder, hint=hint)
    try:
        config = json.loads(cfg_path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise CorruptFileError(f"the {what} config is not JSON ({exc})", path=cfg_path, hint=hint) from exc
    if not isinstance(config, dict):
        raise CorruptFileError(f"the {what} config is not a JSON object", path=cfg_path, hint=hint)
    try:
        tensors = load_file(str(weights))
    except (SafetensorError, OSError) as exc:
        raise CorruptFileError(f"the {what} weights cannot be read ({exc})", path=weights, hint=hint) from exc
    return config, tensors


def load_state(module: Any, tensors: dict[str, Any], *, what: str, folder: str | Path) -> Any:
    """Gives `module` with `tensors` loaded (strict) and in eval mode; a mismatch is a CorruptFileError."""
    try:
        module.load_state_dict(tensors, strict=True)
    except RuntimeError as exc:
        first = str(exc).strip().splitlines()[0]
        raise CorruptFileError(f"the {what} weights do not fit its config ({first})", path=Path(folder),
                               hint="config.json and model.safetensors must come from the same training run") from exc
    module.eval()
    return module
