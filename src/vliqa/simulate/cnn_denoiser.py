"""A tiny residual CNN denoiser (DnCNN-lite) trained with plain MSE: the waxy look of deep-learning denoisers.

An MSE-trained network predicts the conditional mean of the clean image, so it
removes noise together with the fine texture and faint detail that the noise
hides: exactly the over-smoothed, plastic look readers dislike in many
deep-learning denoised CT images. That look is what `smooth_cnn` simulates; the
network is not meant to be a good denoiser.

The network is architecture `cnn_denoiser` of kind "simulation" in the model registry (`vliqa.models`
registers it on first use; this layer does not import the registry): its checkpoint is shipped as `denoiser`
(src/vliqa/models/denoiser) in the one checkpoint format, loads with `vliqa.models.load("denoiser")` too, and
is read here through the same reader (`vliqa.io.checkpoint`); it is no quality model, so
`vliqa.models.shipped_models()` does not list it. Its training recipe is `vliqa.train.denoiser` (`make denoiser`).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch
from torch import nn

from vliqa.core import CONFIG_FILE, WEIGHTS_FILE
from vliqa.errors import DependencyUnavailableError, InputNotFoundError
from vliqa.io.checkpoint import SHIPPED_DIR, load_tool

#: The shipped checkpoint's name (`vliqa.models.load(SHIPPED_NAME)`), the registry architecture and kind.
SHIPPED_NAME, ARCH, KIND = "denoiser", "cnn_denoiser", "simulation"
TRAIN_HINT = "run `python -m vliqa.train.denoiser --out src/vliqa/models/denoiser` (make denoiser) to train it"


@dataclass(frozen=True)
class DenoiserConfig:
    """Architecture and input scaling of the CNN denoiser (stored as config.json beside the weights)."""

    channels: int = 16
    #: one 3x3 conv per entry; receptive field = 1 + 2 * sum(dilations) pixels
    dilations: tuple[int, ...] = (1, 2, 3, 3, 2, 1)
    #: network input = (HU - hu_offset) / hu_scale: soft tissue near 0, air and bone a few units away
    hu_offset: float = 40.0
    hu_scale: float = 400.0


class DenoiserNet(nn.Module):
    """Gives the denoised normalised image: input minus a predicted noise map (residual learning)."""

    arch, kind, config_class = ARCH, KIND, DenoiserConfig

    def __init__(self, config: DenoiserConfig):
        super().__init__()
        self.config = config
        layers: list[nn.Module] = []
        n = len(config.dilations)
        for i, d in enumerate(config.dilations):
            c_in = 1 if i == 0 else config.channels
            c_out = 1 if i == n - 1 else config.channels
            layers.append(nn.Conv2d(c_in, c_out, 3, padding=d, dilation=d, padding_mode="reflect", bias=True))
            if i < n - 1:
                layers.append(nn.ReLU(inplace=True))
        self.body = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x - self.body(x)


# ---------------------------------------------------------------- CT-like noise


def ct_noise(shape: tuple[int, ...], generator: torch.Generator, cutoff: torch.Tensor) -> torch.Tensor:
    """Gives unit-variance noise with a CT-like power spectrum (ramp times window), one field per leading index.

    Filtered back projection shapes white projection noise into an image noise
    power spectrum proportional to |f| times the squared reconstruction window:
    no power at DC, a peak at mid frequencies. The filter on white noise is
    therefore sqrt(|f|) times a Hann window reaching zero at `cutoff`
    (cycles/pixel, one per field: softer or sharper kernels).
    """
    h, w = shape[-2:]
    fy = torch.fft.fftfreq(h).view(-1, 1)
    fx = torch.fft.fftfreq(w).view(1, -1)
    f = torch.sqrt(fy**2 + fx**2)
    cut = cutoff.view(-1, *([1] * (len(shape) - 1)))
    window = torch.where(f < cut, 0.5 * (1 + torch.cos(torch.pi * f / cut)), torch.zeros(()))
    filt = torch.sqrt(f) * window
    white = torch.randn(shape, generator=generator)
    noise = torch.fft.ifft2(torch.fft.fft2(white) * filt).real
    # unit variance: white noise of variance 1 filtered by H has variance mean(|H|^2)
    return noise / torch.sqrt((filt**2).mean(dim=(-2, -1), keepdim=True))


# ---------------------------------------------------------------- inference


@lru_cache(maxsize=4)
def load_denoiser(path: str | None = None) -> DenoiserNet:
    """Gives the denoiser stored in checkpoint folder `path` (default: the shipped one), loaded once per process.

    A missing checkpoint is a DependencyUnavailableError (it says how to train one); a broken one is a
    CorruptFileError, one of another architecture an InvalidParameterError.
    """
    folder = Path(path) if path else SHIPPED_DIR / SHIPPED_NAME
    try:
        model, _ = load_tool(folder, DenoiserNet)
    except InputNotFoundError as exc:
        raise DependencyUnavailableError(f"no denoiser checkpoint in {folder} (need {CONFIG_FILE} and {WEIGHTS_FILE})",
                                         path=folder, hint=TRAIN_HINT) from exc
    return model


def denoise_hu(hu: np.ndarray, *, passes: int = 1, path: str | None = None, threads: int = 2) -> list[np.ndarray]:
    """Gives the HU image after 1..`passes` applications of the denoiser (one array per pass)."""
    model = load_denoiser(path)
    cfg = model.config
    old_threads = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        x = torch.from_numpy((np.asarray(hu, dtype=np.float32) - cfg.hu_offset) / cfg.hu_scale)[None, None]
        outs = []
        with torch.inference_mode():
            for _ in range(passes):
                x = model(x)
                outs.append(x[0, 0].numpy() * cfg.hu_scale + cfg.hu_offset)
    finally:
        torch.set_num_threads(old_threads)
    return outs
