"""Training loops: plain, readable, resumable; each writes a checkpoint folder that `vliqa.models.load` reads.

- `vliqa.train.regressor`: the image-only CNN regressor baseline (`train_regressor`, `RegressorTrainConfig`).
- `vliqa.train.common`: what trainers share (manifest rows and images of a split, seeding, config files,
  the resume state in the out folder).
"""

from vliqa.train.regressor import TINY, RegressorTrainConfig, TrainResult, train_regressor

__all__ = ["TINY", "RegressorTrainConfig", "TrainResult", "train_regressor"]
