"""vliqa: vision-language image quality assessment for CT."""

import os
from pathlib import Path
from typing import Any

from vliqa.errors import VliqaError
from vliqa.io import CTImage, CTVolume
from vliqa.io import load as load_image

__version__ = "0.1.0"

__all__ = ["CTImage", "CTVolume", "VliqaError", "__version__", "assess", "create_model", "load", "load_image",
           "load_model"]

def _is_model(path_or_obj: Any) -> bool:
    """True for a checkpoint folder (weights + config.json) or the name of a shipped checkpoint."""
    if not isinstance(path_or_obj, (str, os.PathLike)):
        return False
    from vliqa.models import CONFIG_FILE, SHIPPED_DIR, WEIGHTS_FILE  # the registry's names; imports no torch

    path = Path(path_or_obj).expanduser()
    if path.is_dir():
        return (path / WEIGHTS_FILE).is_file() and (path / CONFIG_FILE).is_file()
    text = str(path_or_obj)
    return not path.exists() and os.sep not in text and (SHIPPED_DIR / text / WEIGHTS_FILE).is_file()


def load(path_or_obj: Any, **kwargs: Any) -> Any:
    """Gives what `path_or_obj` holds: a CT image or volume, or a quality model.

    A checkpoint folder (model.safetensors + config.json) or a shipped model name ("default") gives the model,
    ready to predict (`vliqa.models.load`); anything else is read as CT by `vliqa.io.load` (files, folders,
    DICOM series, arrays of HU, Pillow images; keyword arguments such as `window` go there). Use
    `vliqa.load_image` / `vliqa.load_model` to say which one you mean.
    """
    if _is_model(path_or_obj):
        from vliqa import models

        return models.load(path_or_obj)
    return load_image(path_or_obj, **kwargs)


def __getattr__(name: str):
    # Imported on first use: `import vliqa` stays light (no torch) for the CLI's file commands.
    if name == "assess":  # the vliqa.assess package, callable: vliqa.assess(path_or_array)
        import importlib

        return importlib.import_module("vliqa.assess")
    if name in ("create_model", "load_model"):
        from vliqa import models

        return models.create_model if name == "create_model" else models.load
    raise AttributeError(f"module 'vliqa' has no attribute '{name}'")
