"""Training loops: plain, readable, resumable; each writes a checkpoint folder that `vliqa.models.load` reads.

- `vliqa.train.regressor`: the image-only CNN regressor baseline (`train_regressor`, `RegressorTrainConfig`).
- `vliqa.train.scorer`: the MedQM-I scorer (`train_scorer`, `ScorerTrainConfig`): RPS or regression + rank,
  window / PNG-export / resampling augmentation, `--init` fine-tuning.
- `vliqa.train.common`: what trainers share (manifest rows and images of a split, seeding, config files,
  the resume state in the out folder).

The trainers are loaded on first use, so reading a dataset split through `vliqa.train.common` does not import torch.
"""

from __future__ import annotations

from typing import Any

_LAZY = {"TINY": "vliqa.train.regressor", "RegressorTrainConfig": "vliqa.train.regressor",
         "TrainResult": "vliqa.train.common", "train_regressor": "vliqa.train.regressor",
         "ScorerTrainConfig": "vliqa.train.scorer", "train_scorer": "vliqa.train.scorer"}

__all__ = sorted(_LAZY)


def __getattr__(name: str) -> Any:
    """Gives the trainer objects lazily (importing torch only when training is asked for)."""
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'vliqa.train' has no attribute {name!r}")
