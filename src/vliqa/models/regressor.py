"""An image-only CNN quality regressor: the "multi-task classification and regression" baseline of IQAGPT.

It sees what a radiologist sees, the windowed display image: one channel under the LDCTIQAC
window (W350/L40) and, by default, a second under a wide window (W2000/L0) so metal streaks
and bone edges that saturate the narrow window stay visible. Both are padded to a square with
air and resized (antialiased) to `input_px`. A stack of conv blocks with global average and
max pooling feeds three heads: the overall score (regression, 0-4), the five aspect scores
(regression) and the overall score as one of five classes (0..4, cross-entropy). The
spread of the class posterior is reported as the prediction's standard deviation.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from vliqa.core import ASPECTS, CTImage, apply_window, get_window
from vliqa.errors import InvalidParameterError
from vliqa.models import Predictions, register_model

N_CLASSES = 5
MAX_SCORE = 4.0


@dataclass(frozen=True)
class RegressorConfig:
    """Architecture and input of the CNN regressor (stored in config.json beside the weights)."""

    input_px: int = 256
    #: display windows, one input channel each: preset names or "LEVEL,WIDTH"
    windows: tuple[str, ...] = ("ldctiqac", "0,2000")
    #: output channels of the conv blocks; every block after the first halves the resolution
    channels: tuple[int, ...] = (16, 24, 32, 48, 64, 64)
    hidden: int = 64
    dropout: float = 0.1

    def __post_init__(self) -> None:
        if self.input_px < 16 or self.input_px > 1024:
            raise InvalidParameterError(f"input_px must be in 16..1024, got {self.input_px}")
        if not self.windows:
            raise InvalidParameterError("the regressor needs at least one display window")
        for spec in self.windows:
            get_window(spec)  # raises UnknownNameError for a bad name
        if not self.channels or any(c < 1 for c in self.channels):
            raise InvalidParameterError(f"channels must be positive, got {self.channels}")
        if self.input_px >> (len(self.channels) - 1) < 2:
            raise InvalidParameterError(
                f"{len(self.channels)} blocks shrink {self.input_px} px below 2 px",
                hint="use fewer blocks or a larger input"
            )
        if not 0.0 <= self.dropout < 1.0:
            raise InvalidParameterError(f"dropout must be in [0, 1), got {self.dropout}")


def _block(c_in: int, c_out: int, stride: int) -> nn.Sequential:
    # GroupNorm rather than BatchNorm: the same behaviour in training and inference, even on tiny batches
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1, bias=False),
        nn.GroupNorm(min(8, c_out), c_out),
        nn.ReLU(inplace=True),
        nn.Conv2d(c_out, c_out, 3, padding=1, bias=False),
        nn.GroupNorm(min(8, c_out), c_out),
        nn.ReLU(inplace=True),
    )


@register_model("cnn_regressor")
class CNNRegressor(nn.Module):
    """The multi-task CNN: display image(s) in, overall score, aspect scores and class logits out."""

    config_class = RegressorConfig

    def __init__(self, config: RegressorConfig):
        super().__init__()
        self.config = config
        blocks, c_in = [], len(config.windows)
        for i, c_out in enumerate(config.channels):
            # the first block keeps full resolution so pixel-level noise texture reaches a conv layer
            blocks.append(_block(c_in, c_out, stride=1 if i == 0 else 2))
            c_in = c_out
        self.features = nn.Sequential(*blocks)
        self.trunk = nn.Sequential(nn.Linear(2 * c_in, config.hidden), nn.ReLU(inplace=True),
                                   nn.Dropout(config.dropout))
        self.overall_head = nn.Linear(config.hidden, 1)
        self.aspect_head = nn.Linear(config.hidden, len(ASPECTS))
        self.class_head = nn.Linear(config.hidden, N_CLASSES)

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """Gives {"overall": (N,), "aspects": (N, 5), "logits": (N, 5)} for a batch of preprocessed inputs."""
        f = self.features(x)
        pooled = torch.cat([f.mean(dim=(2, 3)), f.amax(dim=(2, 3))], dim=1)
        h = self.trunk(pooled)
        # sigmoid keeps regression outputs on the 0-4 scale without clipping gradients away
        return {
            "overall": MAX_SCORE * torch.sigmoid(self.overall_head(h)).squeeze(1),
            "aspects": MAX_SCORE * torch.sigmoid(self.aspect_head(h)),
            "logits": self.class_head(h),
        }

    def preprocess(self, images: Sequence[CTImage]) -> torch.Tensor:
        """Gives the model input (N, channels, input_px, input_px) float32 for CT slices of any size."""
        return preprocess(images, self.config)

    @torch.inference_mode()
    def predict(self, images: Sequence[CTImage], *, batch_size: int = 32) -> Predictions:
        """Gives the overall and aspect scores (0-4) of `images` and the class-posterior std as uncertainty."""
        was_training = self.training
        self.eval()
        overall, aspects, stds = [], [], []
        for start in range(0, len(images), batch_size):
            out = self(self.preprocess(images[start:start + batch_size]))
            overall.append(out["overall"])
            aspects.append(out["aspects"])
            stds.append(class_std(out["logits"]))
        self.train(was_training)
        if not overall:
            empty = np.zeros(0)
            return Predictions(overall=empty, aspects={a: empty for a in ASPECTS}, std=empty)
        aspect_arr = torch.cat(aspects).double().numpy()
        return Predictions(
            overall=torch.cat(overall).double().numpy(),
            aspects={a: aspect_arr[:, i] for i, a in enumerate(ASPECTS)},
            std=torch.cat(stds).double().numpy(),
        )


def class_std(logits: torch.Tensor) -> torch.Tensor:
    """Gives the standard deviation of the score under the class posterior softmax(logits), per row."""
    probs = torch.softmax(logits.float(), dim=1)
    levels = torch.arange(N_CLASSES, dtype=probs.dtype)
    mean = probs @ levels
    return torch.sqrt(torch.clamp(probs @ levels**2 - mean**2, min=0.0))


def score_class(overall: torch.Tensor) -> torch.Tensor:
    """Gives the 0..4 class of each overall score (nearest integer level, as LDCTIQAC readers scored)."""
    return torch.clamp(torch.round(overall), 0, N_CLASSES - 1).long()


def preprocess(images: Sequence[CTImage], config: RegressorConfig) -> torch.Tensor:
    """Gives the windowed, air-padded, square-resized inputs (N, len(windows), input_px, input_px) for `images`."""
    windows = [get_window(spec) for spec in config.windows]
    batch = []
    for image in images:
        channels = np.stack([apply_window(image.hu, w) for w in windows])
        h, w = channels.shape[1:]
        side = max(h, w)
        if h != w:  # pad to a square with air (display 0 under every window used) so anatomy keeps its shape
            top, left = (side - h) // 2, (side - w) // 2
            channels = np.pad(channels, ((0, 0), (top, side - h - top), (left, side - w - left)))
        x = torch.from_numpy(np.ascontiguousarray(channels, dtype=np.float32)).unsqueeze(0)
        if side != config.input_px:
            x = F.interpolate(x, size=(config.input_px, config.input_px), mode="bilinear", align_corners=False,
                              antialias=side > config.input_px)
        batch.append(x)
    if not batch:
        return torch.zeros(0, len(windows), config.input_px, config.input_px)
    # centre the [0, 1] display values: a mid-grey pixel is 0
    return (torch.cat(batch) - 0.5) * 4.0


def n_parameters(model: nn.Module) -> int:
    """Gives the number of trainable parameters of `model`."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
