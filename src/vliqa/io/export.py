"""Display exports of CT slices, as users bring them: 8-bit PNG/JPEG renders in some window, air not quite black.

`display_export` renders a slice the way a viewer, a paper figure or a denoiser's output script does (a window,
8 bits, a background grey, a size, JPEG compression, a colour overlay), encodes it with Pillow and reads it
back through the raster loader, exactly as `vliqa.load("export.png")` would. The reader model trains on such
exports to give one verdict whatever the export, and the reader benchmark checks that it does.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np
from PIL import Image

from vliqa.core import CTImage, Window
from vliqa.io.raster import from_pil


@dataclass(frozen=True)
class ExportSpec:
    """How a slice is exported: window, grey of the air (0-255), long side in px, JPEG quality, colour overlay."""

    level: float = 40.0
    width: float = 400.0
    air_grey: int = 0
    size_px: int | None = None
    jpeg_quality: int | None = None
    overlay: bool = False

    @property
    def name(self) -> str:
        """Gives a short label such as 'W80/L40 air6 256px jpeg75 rgb'."""
        parts = [f"W{self.width:g}/L{self.level:g}"]
        if self.air_grey:
            parts.append(f"air{self.air_grey}")
        if self.size_px:
            parts.append(f"{self.size_px}px")
        if self.jpeg_quality:
            parts.append(f"jpeg{self.jpeg_quality}")
        if self.overlay:
            parts.append("rgb")
        return " ".join(parts)


#: The exports users bring, checked by the reader benchmark: windows from W80 to W1500, lifted air, sizes,
#: JPEG compression and a colour overlay.
STANDARD_EXPORTS = (
    ExportSpec(40, 80), ExportSpec(40, 350), ExportSpec(40, 400), ExportSpec(-600, 1500),
    ExportSpec(40, 400, air_grey=6), ExportSpec(40, 400, air_grey=18),
    ExportSpec(40, 400, jpeg_quality=75), ExportSpec(40, 400, size_px=256), ExportSpec(40, 400, size_px=1024),
    ExportSpec(40, 400, overlay=True),
)


def render_8bit(image: CTImage, spec: ExportSpec) -> np.ndarray:
    """Gives the 8-bit grey render of a slice in HU under the spec's window, air lifted to its grey."""
    window = Window(level=spec.level, width=spec.width)
    display = np.clip((image.hu - window.low_hu) / window.width, 0.0, 1.0)
    grey = spec.air_grey + display * (255 - spec.air_grey)
    return np.clip(np.round(grey), 0, 255).astype(np.uint8)


def _overlay(grey: np.ndarray) -> np.ndarray:
    """Gives an RGB render with a warm 'hot iron' blob blended at 30 % over the centre, as fused PET/CT shows."""
    h, w = grey.shape
    yy, xx = np.mgrid[0:h, 0:w]
    blob = np.exp(-(((yy - h * 0.45) / (h * 0.12)) ** 2 + ((xx - w * 0.55) / (w * 0.15)) ** 2))
    heat = np.stack([np.clip(3 * blob, 0, 1), np.clip(3 * blob - 1, 0, 1), np.clip(3 * blob - 2, 0, 1)], -1) * 255
    rgb = np.repeat(grey[..., None].astype(np.float32), 3, axis=-1)
    alpha = 0.3 * (blob[..., None] > 0.05)
    return np.clip(np.round((1 - alpha) * rgb + alpha * heat), 0, 255).astype(np.uint8)


def display_export(image: CTImage, spec: ExportSpec) -> CTImage:
    """Gives the slice as `vliqa.load` reads its export under `spec` (encoded and decoded with Pillow)."""
    grey = render_8bit(image, spec)
    pil = Image.fromarray(_overlay(grey) if spec.overlay else grey)
    if spec.size_px:
        scale = spec.size_px / max(pil.size)
        pil = pil.resize((max(8, round(pil.size[0] * scale)), max(8, round(pil.size[1] * scale))),
                         Image.Resampling.LANCZOS)
    buffer = io.BytesIO()
    if spec.jpeg_quality:
        pil.save(buffer, format="JPEG", quality=int(spec.jpeg_quality))
    else:
        pil.save(buffer, format="PNG")
    buffer.seek(0)
    with Image.open(buffer) as decoded:
        out = from_pil(decoded, source=f"{image.source or 'slice'} [{spec.name}]")
    return out
