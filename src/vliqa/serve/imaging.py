"""What the slice viewer shows, as PNG bytes: a slice under a display window, and a heatmap overlay for it."""

from __future__ import annotations

import io
from typing import Any

import numpy as np
from PIL import Image

from vliqa.assessment import heatmap_for
from vliqa.core import PRESETS, CTImage, CTVolume, get_window, to_display
from vliqa.serve.errors import NotFoundError

#: The window presets the viewer offers, in its order (any preset of vliqa.core or LEVEL,WIDTH is accepted).
VIEWER_WINDOWS = ("soft_tissue", "lung", "bone", "brain")
#: Heatmap overlay opacity at the map's maximum.
OVERLAY_ALPHA = 0.6


def n_slices(image: CTImage | CTVolume) -> int:
    return len(image) if isinstance(image, CTVolume) else 1


def slice_of(image: CTImage | CTVolume, index: int) -> CTImage:
    """Gives slice `index` of a series (0 for a single slice); NotFoundError past its end."""
    count = n_slices(image)
    if not 0 <= index < count:
        raise NotFoundError(f"slice {index} does not exist; the image has {count} slice(s)",
                            hint=f"ask for a slice from 0 to {count - 1}")
    return image.slice(index) if isinstance(image, CTVolume) else image


def window_spec(name: str | None) -> Any:
    """Gives the window for a query value: a preset name, "LEVEL,WIDTH", "dicom", or the soft-tissue default."""
    if not name:
        return PRESETS["soft_tissue"]
    if name.strip().lower() == "dicom":
        return "dicom"
    return get_window(name)  # UnknownNameError names the presets


def _png(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG", compress_level=3)
    return buffer.getvalue()


def slice_png(image: CTImage | CTVolume, index: int, window: str | None = None) -> bytes:
    """Gives slice `index` of `image` as an 8-bit greyscale PNG under `window`."""
    shown = slice_of(image, index)
    display = to_display(shown, window_spec(window))
    return _png(np.round(display * 255.0).astype(np.uint8))


def heatmap_png(predictor: Any, image: CTImage | CTVolume, index: int, aspects: dict[str, float]) -> tuple[bytes, str]:
    """Gives the model's heatmap of slice `index` as a transparent RGBA overlay PNG, and what it shows."""
    import matplotlib  # lazy: the colour map only; matplotlib is slow to import

    matplotlib.use("Agg")
    from matplotlib import colormaps  # lazy: as above

    shown = slice_of(image, index)
    heat = heatmap_for(predictor, shown, aspects)
    values = np.clip(np.nan_to_num(heat.values), 0.0, 1.0)
    rgba = colormaps["inferno"](values)
    rgba[..., 3] = OVERLAY_ALPHA * values
    return _png(np.round(rgba * 255.0).astype(np.uint8)), heat.kind

