"""Training loops: plain, readable, resumable; each writes a checkpoint folder that `vliqa.models.load` reads.

- `vliqa.train.regressor`: the image-only CNN regressor baseline (`train_regressor`, `RegressorTrainConfig`).
- `vliqa.train.scorer`: the MedQM-I scorer (`train_scorer`, `ScorerTrainConfig`): RPS or regression + rank,
  window / PNG-export / resampling augmentation, `--init` fine-tuning.
- `vliqa.train.denoiser`, `vliqa.train.lesion_net`: the fixed recipes of the tool models that serve the simulator
  (the CNN denoiser of `smooth_cnn`) and the MedQM-D labels (the lesion U-Net); `make denoiser`, `make lesion-net`.
- `vliqa.train.common`: what trainers share (`BaseTrainConfig`, seeding, config files, the resume state in the out
  folder, the epoch loop `run_epochs` and the step loop `run_steps` with one progress bar and "vliqa.train" log).

Reading a dataset split (manifest rows, images and labels) is `vliqa.data.labelled`, which imports no torch; the
trainers are loaded on first use.
"""

from __future__ import annotations

import importlib
from typing import Any

_LAZY = {"TINY": "vliqa.train.regressor", "RegressorTrainConfig": "vliqa.train.regressor",
         "TrainResult": "vliqa.train.common", "train_regressor": "vliqa.train.regressor",
         "ScorerTrainConfig": "vliqa.train.scorer", "train_scorer": "vliqa.train.scorer"}

__all__ = sorted(_LAZY)


def __getattr__(name: str) -> Any:
    """Gives the trainer objects lazily (importing torch only when training is asked for)."""
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'vliqa.train' has no attribute {name!r}")
