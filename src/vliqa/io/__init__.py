"""Reading every common CT format into `CTImage` / `CTVolume`, and writing images atomically.

`load(path_or_obj)` reads one file, folder or in-memory object; `load_all(paths)` reads every image found.
The readers and writers are imported on first use, so a module that needs one of them (or `vliqa.io.atomic`,
`vliqa.io.checkpoint`) does not load every format library. The image types live in `vliqa.core`.
"""

from __future__ import annotations

import importlib
from typing import Any

_LAZY = {
    "load": "vliqa.io.load",
    "load_all": "vliqa.io.load",
    "iter_load": "vliqa.io.load",
    "LoadResult": "vliqa.io.load",
    "save_preview_png": "vliqa.io.write",
    "save_png16": "vliqa.io.write",
    "save_npy": "vliqa.io.write",
    "save_nifti": "vliqa.io.write",
    "atomic_path": "vliqa.io.atomic",
    "atomic_write_bytes": "vliqa.io.atomic",
    "atomic_write_text": "vliqa.io.atomic",
}

__all__ = [*_LAZY]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'vliqa.io' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
