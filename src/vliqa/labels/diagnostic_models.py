"""Built-in diagnostic models for MedQM-D: `lesion_net`, a tiny lesion-segmentation U-Net trained on phantoms.

The network sees the slice resampled to a fixed pixel size (so a lesion of a given
size in mm covers the same number of pixels at any matrix size) and windowed three
ways (brain, liver, lung windows as channels), and gives a lesion probability map.
Its task loss is Dice + BCE against the lesion mask; the diagnostic loss of a
degraded slice is that loss minus the loss on the reference. See
docs/diagnostic_labels.md; the training recipe is `vliqa.train.lesion_net`.

The U-Net is architecture `lesion_unet` of kind "diagnostic" in the model registry (`vliqa.models` registers
it on first use; this layer does not import the registry): its checkpoint is shipped as `lesion_net`
(src/vliqa/models/lesion_net) in the one checkpoint format, with the fitted loss -> score mapping in
`sigmoid_mapping.json` beside it; it loads with `vliqa.models.load("lesion_net")` too, and is read here through
the same reader (`vliqa.io.checkpoint`); it is no quality model, so `vliqa.models.shipped_models()` does not list it.

Registry slot for the vision-language model (option 2 of the MedQM-D design): a VLM
that answers diagnostic questions would register itself here with
`@register_diagnostic_model("vlm_nll")`, its loss being the negative log-likelihood of
the correct answer on the degraded slice minus that on the reference. No such model
exists yet, so nothing is registered under that name.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from vliqa.core import CONFIG_FILE, WEIGHTS_FILE, CTImage
from vliqa.errors import DependencyUnavailableError, InputNotFoundError
from vliqa.io.checkpoint import SHIPPED_DIR, load_tool
from vliqa.labels.diagnostic import DiagnosticTruth, SigmoidMapping, register_diagnostic_model

#: The shipped checkpoint's name (`vliqa.models.load(SHIPPED_NAME)`), the registry architecture and kind.
SHIPPED_NAME, ARCH, KIND = "lesion_net", "lesion_unet", "diagnostic"
TRAIN_HINT = "run `python -m vliqa.train.lesion_net --out src/vliqa/models/lesion_net` (make lesion-net) to train it"
MAPPING_FILE = "sigmoid_mapping.json"
#: Field of view assumed for an image without pixel spacing (a typical body scan), in mm.
FALLBACK_FOV_MM = 400.0


@dataclass(frozen=True)
class LesionNetConfig:
    """Architecture and input convention of the lesion U-Net (stored as config.json beside the weights)."""

    channels: tuple[int, ...] = (16, 32, 48)
    #: (level, width) in HU of each input channel: brain, liver, lung
    windows: tuple[tuple[float, float], ...] = ((40.0, 80.0), (30.0, 150.0), (-600.0, 1500.0))
    #: the slice is resampled to this pixel size before the network sees it
    pixel_mm: float = 1.5
    #: Dice smoothing (pixels of the model grid): keeps the loss finite and stable on lesion-free slices
    dice_smooth_px: float = 1.0


def _block(c_in: int, c_out: int) -> nn.Sequential:
    # BatchNorm (running statistics at inference) rather than per-image norms: a crop in training
    # and a whole slice at inference then see the same normalisation.
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, 3, padding=1, padding_mode="replicate", bias=False), nn.BatchNorm2d(c_out),
        nn.ReLU(inplace=True),
        nn.Conv2d(c_out, c_out, 3, padding=1, padding_mode="replicate", bias=False), nn.BatchNorm2d(c_out),
        nn.ReLU(inplace=True),
    )


class LesionUNet(nn.Module):
    """Gives lesion logits (N, 1, H, W) for windowed slices (N, C, H, W); H and W divisible by 2**(levels-1)."""

    arch, kind, config_class = ARCH, KIND, LesionNetConfig

    def __init__(self, config: LesionNetConfig):
        super().__init__()
        self.config = config
        ch = config.channels
        self.down = nn.ModuleList([_block(len(config.windows) if i == 0 else ch[i - 1], c) for i, c in enumerate(ch)])
        self.up = nn.ModuleList([nn.ConvTranspose2d(ch[i + 1], ch[i], 2, stride=2) for i in range(len(ch) - 1)])
        self.dec = nn.ModuleList([_block(2 * ch[i], ch[i]) for i in range(len(ch) - 1)])
        self.head = nn.Conv2d(ch[0], 1, 1)

    @property
    def multiple(self) -> int:
        return 2 ** (len(self.config.channels) - 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skips = []
        for i, block in enumerate(self.down):
            x = block(x)
            if i < len(self.down) - 1:
                skips.append(x)
                x = F.max_pool2d(x, 2)
        for i in reversed(range(len(self.up))):
            x = self.dec[i](torch.cat([self.up[i](x), skips[i]], dim=1))
        return self.head(x)


# ---------------------------------------------------------------- input convention


def pixel_mm_of(image: CTImage) -> float:
    """Gives the image's pixel size in mm (mean of row and column), or FALLBACK_FOV_MM over its width if unknown."""
    if image.pixel_spacing_mm:
        return float(np.mean(image.pixel_spacing_mm))
    return FALLBACK_FOV_MM / max(image.hu.shape)


def model_grid_shape(shape: tuple[int, int], pixel_mm: float, config: LesionNetConfig) -> tuple[int, int]:
    """Gives the (rows, cols) of a slice of `shape` resampled to the model's pixel size."""
    scale = pixel_mm / config.pixel_mm
    return max(8, int(round(shape[0] * scale))), max(8, int(round(shape[1] * scale)))


def resample(arr: np.ndarray, size: tuple[int, int]) -> torch.Tensor:
    """Gives `arr` (H, W) resampled to `size` as a (1, 1, h, w) float32 tensor (area-preserving when shrinking)."""
    t = torch.from_numpy(np.ascontiguousarray(arr, dtype=np.float32))[None, None]
    if tuple(t.shape[-2:]) == tuple(size):
        return t
    return F.interpolate(t, size=size, mode="bilinear", align_corners=False, antialias=True)


def windowed(hu: torch.Tensor, config: LesionNetConfig) -> torch.Tensor:
    """Gives the (N, C, H, W) network input in [0, 1]: one display window per channel, from (N, 1, H, W) HU."""
    chans = [((hu - (level - width / 2)) / width).clamp(0.0, 1.0) for level, width in config.windows]
    return torch.cat(chans, dim=1)


def _pad_to(x: torch.Tensor, multiple: int) -> tuple[torch.Tensor, tuple[int, int]]:
    h, w = x.shape[-2:]
    ph, pw = (-h) % multiple, (-w) % multiple
    return (F.pad(x, (0, pw, 0, ph), mode="replicate") if ph or pw else x), (h, w)


def soft_dice_bce(prob: torch.Tensor, target: torch.Tensor, weight: torch.Tensor, smooth_px: float) -> torch.Tensor:
    """Gives (1 - soft Dice) + mean BCE over the pixels where weight > 0, per leading index (N,)."""
    dims = tuple(range(1, prob.ndim))
    inter = (prob * target * weight).sum(dims)
    denom = ((prob + target) * weight).sum(dims)
    dice = (2 * inter + smooth_px) / (denom + smooth_px)
    bce = F.binary_cross_entropy(prob.clamp(1e-6, 1 - 1e-6), target, reduction="none")
    bce = (bce * weight).sum(dims) / weight.sum(dims).clamp_min(1.0)
    return (1.0 - dice) + bce


# ---------------------------------------------------------------- the diagnostic model


class LesionNetModel:
    """The `lesion_net` diagnostic model: relative Dice + BCE loss of the lesion U-Net (see module docstring)."""

    def __init__(self, net: LesionUNet, *, name: str = "lesion_net", mapping: SigmoidMapping | None = None,
                 threads: int = 1):
        self.net = net
        self.config = net.config
        self.name = name
        self.mapping = mapping
        self.threads = threads

    def _logits(self, hu_grid: torch.Tensor) -> torch.Tensor:
        x, (h, w) = _pad_to(windowed(hu_grid, self.config), self.net.multiple)
        old = torch.get_num_threads()
        torch.set_num_threads(self.threads)
        try:
            with torch.inference_mode():
                return self.net(x)[..., :h, :w]
        finally:
            torch.set_num_threads(old)

    def predict_lesions(self, image: CTImage) -> np.ndarray:
        """Gives the lesion probability map of `image` on its own pixel grid (float32 in [0, 1])."""
        size = model_grid_shape(image.hu.shape, pixel_mm_of(image), self.config)
        prob = torch.sigmoid(self._logits(resample(image.hu, size)))
        return F.interpolate(prob, size=image.hu.shape, mode="bilinear", align_corners=False)[0, 0].numpy()

    def losses(self, degraded: CTImage, reference: CTImage, *,
               truth: DiagnosticTruth | None = None) -> tuple[float, float]:
        """Gives (task loss on degraded, task loss on reference) against truth, or against the reference's output."""
        if degraded.hu.shape != reference.hu.shape:
            raise ValueError(f"degraded {degraded.hu.shape} and reference {reference.hu.shape} differ in shape")
        size = model_grid_shape(reference.hu.shape, pixel_mm_of(reference), self.config)
        ref_grid = resample(reference.hu, size)
        hu = torch.cat([resample(degraded.hu, size), ref_grid], dim=0)
        prob = torch.sigmoid(self._logits(hu))
        # Loss is counted inside the body (dilated), so the air around a head does not dilute it.
        body = (F.max_pool2d((ref_grid > -500).float(), 7, stride=1, padding=3)).expand_as(prob)
        if truth is not None:
            if truth.lesion_mask.shape != reference.hu.shape:
                raise ValueError(f"truth mask {truth.lesion_mask.shape} does not match the image {reference.hu.shape}")
            target = resample(truth.lesion_mask.astype(np.float32), size).clamp(0, 1).expand_as(prob)
        else:
            target = prob[1:2].expand_as(prob)  # pseudo-truth: the model's own soft output on the reference
        loss = soft_dice_bce(prob, target, body, self.config.dice_smooth_px)
        return float(loss[0]), float(loss[1])

    def loss(self, degraded: CTImage, reference: CTImage, *, truth: DiagnosticTruth | None = None) -> float:
        """Gives the task loss on `degraded` minus that on `reference` (0 for the reference itself)."""
        on_degraded, on_reference = self.losses(degraded, reference, truth=truth)
        return on_degraded - on_reference


# ---------------------------------------------------------------- loading


@lru_cache(maxsize=4)
def _load_net(folder: str) -> tuple[LesionUNet, SigmoidMapping | None]:
    path = Path(folder)
    try:
        net, _ = load_tool(path, LesionUNet)
    except InputNotFoundError as exc:
        raise DependencyUnavailableError(f"no lesion_net checkpoint in {path} (need {CONFIG_FILE} and {WEIGHTS_FILE})",
                                         path=path, hint=TRAIN_HINT) from exc
    mapping = SigmoidMapping.from_json(path / MAPPING_FILE) if (path / MAPPING_FILE).is_file() else None
    return net, mapping


def forget_loaded_checkpoints() -> None:
    """Forgets the lesion_net checkpoints loaded so far, so a checkpoint rewritten in place is read again."""
    _load_net.cache_clear()


def load_lesion_net_model(folder: str | Path | None = None) -> LesionNetModel:
    """Gives the lesion_net diagnostic model from a checkpoint folder (default: the shipped one), with its mapping."""
    net, mapping = _load_net(str(Path(folder).resolve() if folder else SHIPPED_DIR / SHIPPED_NAME))
    return LesionNetModel(net, name="lesion_net" if folder is None else str(folder), mapping=mapping)


@register_diagnostic_model("lesion_net")
def _lesion_net() -> LesionNetModel:
    return load_lesion_net_model(None)
