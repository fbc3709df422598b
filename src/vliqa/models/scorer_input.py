"""The scorer's input: CT slices in HU -> display-window channels plus a known-HU mask, square, resized.

Each window of the config gives one channel, `apply_window(hu, window)` in [0, 1]: the reading window
(LDCTIQAC W350/L40) where noise and low-contrast detail are judged, a lung window (W1500/L-600) and a
bone window (W1800/L400) where streaks, rings and edges that saturate the narrow window stay visible.

Display-domain inputs (PNG/JPEG/TIFF exports, `image.display_window` set) hold HU reconstructed through
the export window, so HU outside that window are unknown: they were clipped to its ends. The channels
are computed from those HU in the same way, so a channel whose window lies inside the export window gets
the same values as from the DICOM (up to 8-bit quantisation), while wider windows show the clipped
regions as flat plateaux. The last channel (with `known_mask`) says which pixels those are: 1 where
the HU are known, 0 where the export clipped them (always 1 for DICOM, NIfTI, ...), so the network can
learn not to read a clipped plateau as missing noise or as an artefact. `as_display_export` makes such
inputs from HU images for training.

Windowing happens at full resolution and the channels are then area-averaged down to `input_px`, so
the clipping of each window acts on the true pixels, as on a reader's screen, not on a blurred copy.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import torch
import torch.nn.functional as F

from vliqa.core import CTImage, Window, apply_window, display_to_hu, get_window, resolve_window

if TYPE_CHECKING:
    from vliqa.models.scorer import ScorerConfig

#: HU used to pad non-square slices to a square: air, dark under every window.
AIR_HU = -1024.0
#: A pixel within this fraction of the window width from a clip end counts as clipped.
CLIP_TOLERANCE = 1e-3


def input_windows(config: ScorerConfig) -> list[Window]:
    """Gives the display windows of the input channels, in channel order."""
    return [get_window(spec) for spec in config.windows]


def known_hu_mask(image: CTImage) -> np.ndarray | None:
    """Gives a float32 mask, 1 where the HU are known and 0 where a display export clipped them, or None if none was."""
    win = image.display_window
    if win is None:
        return None
    tol = CLIP_TOLERANCE * win.width
    return ((image.hu > win.low_hu + tol) & (image.hu < win.high_hu - tol)).astype(np.float32)


def _square(channels: np.ndarray, pad_values: Sequence[float]) -> np.ndarray:
    """Gives (C, S, S) from (C, H, W), centred, padding each channel with its own value (air, or 'known')."""
    _, h, w = channels.shape
    if h == w:
        return channels
    side = max(h, w)
    out = np.empty((len(channels), side, side), dtype=np.float32)
    out[:] = np.asarray(pad_values, dtype=np.float32)[:, None, None]
    top, left = (side - h) // 2, (side - w) // 2
    out[:, top:top + h, left:left + w] = channels
    return out


def _resize(channels: torch.Tensor, px: int) -> torch.Tensor:
    """Gives (C, px, px): area averaging when shrinking (no aliasing of the noise), bilinear when enlarging."""
    side = channels.shape[-1]
    if side > px:
        return F.adaptive_avg_pool2d(channels[None], px)[0]
    return F.interpolate(channels[None], size=(px, px), mode="bilinear", align_corners=False)[0]


def image_channels(image: CTImage, windows: Sequence[Window], known_mask: bool,
                   out: np.ndarray | None = None) -> np.ndarray:
    """Gives the full-resolution channels (len(windows) + known_mask, H, W) in [0, 1] of one slice
    (written to `out`)."""
    channels = np.empty((len(windows) + int(known_mask), *image.shape), dtype=np.float32) if out is None else out
    for c, window in enumerate(windows):
        channels[c] = apply_window(image.hu, window)
    if known_mask:
        mask = known_hu_mask(image)
        channels[-1] = 1.0 if mask is None else mask
    return channels


def preprocess(images: Sequence[CTImage], config: ScorerConfig) -> torch.Tensor:
    """Gives the scorer input (N, len(windows) + known_mask, input_px, input_px), display values in [0, 1].

    Slices of any size are padded to a square with air and resized; see the module docstring for the
    channels and for display-domain inputs.
    """
    windows = input_windows(config)
    n_channels, px = len(windows) + int(config.known_mask), config.input_px
    # numpy allocates a batch this large on transparent huge pages; torch.empty would take ~16k page faults
    out = torch.from_numpy(np.empty((len(images), n_channels, px, px), dtype=np.float32))
    for i, image in enumerate(images):
        if image.shape == (px, px):  # the common case (512 x 512 CT at the default size): no copy, no resize
            image_channels(image, windows, config.known_mask, out=out[i].numpy())
            continue
        # padding is air as this image shows it (a display export shows air at its window's low end); the padded
        # air counts as known for HU images and as clipped for display exports, like the rest of their air
        air_hu = AIR_HU if image.display_window is None else max(AIR_HU, image.display_window.low_hu)
        pad = [float(apply_window(np.array([air_hu], np.float32), w)[0]) for w in windows]
        if config.known_mask:
            pad.append(1.0 if image.display_window is None else 0.0)
        out[i] = _resize(torch.from_numpy(_square(image_channels(image, windows, config.known_mask), pad)), px)
    # no centring or scaling: the stem conv is linear and followed by BatchNorm, which absorbs both
    return out


def as_display_export(image: CTImage, window: str | Window | tuple[float, float] | None = None,
                      levels: int = 256) -> CTImage:
    """Gives the image a PNG export under `window` (default: its display window or 'ldctiqac') reads back as.

    HU are clipped to the window and quantised to `levels` grey levels, exactly as saving an 8-bit preview
    and loading it with that window would give; `display_window` is set. Use it to train the scorer on
    display-domain inputs.
    """
    win = resolve_window(image, window)
    display = np.rint(apply_window(image.hu, win) * (levels - 1)) / (levels - 1)
    hu = display_to_hu(display, win)
    return image.with_step("display_export", {"window": win.to_dict(), "levels": levels}, hu, display_window=win)


def upsample_maps(maps: torch.Tensor, image_shape: tuple[int, int]) -> torch.Tensor:
    """Gives attention maps (B, Q, h, w) laid over a slice of `image_shape` (rows, cols), each rescaled to max 1.

    The maps cover the square the slice was padded to (see `preprocess`), so they are resized to that
    square and its centre is cut out: the inverse of the padding.
    """
    rows, cols = image_shape
    side = max(rows, cols)
    up = F.interpolate(maps, size=(side, side), mode="bilinear", align_corners=False)
    top, left = (side - rows) // 2, (side - cols) // 2
    up = up[..., top:top + rows, left:left + cols]
    return up / up.amax(dim=(-2, -1), keepdim=True).clamp_min(1e-12)
