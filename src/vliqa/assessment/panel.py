"""The comparison panel: A, B (and the reference) side by side with the verdict and explanation under them."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

import numpy as np

from vliqa.assessment.language import Comparison, middle_slice
from vliqa.core import CTImage, resolve_window, to_display
from vliqa.io.write import atomic_path


def _shown(image: Any, window: Any) -> np.ndarray:
    image = middle_slice(image)
    if isinstance(image, CTImage):
        return to_display(image, resolve_window(image, window))
    return np.clip(np.asarray(getattr(image, "rgb", image), dtype=np.float32), 0.0, 1.0)  # a photo, RGB in [0, 1]


def save_comparison_panel(comparison: Comparison, a: Any, b: Any, path: str | Path, *, reference: Any = None,
                          window: Any = None) -> Path:
    """Writes the side-by-side panel of a comparison as a PNG (atomically); gives the path."""
    import matplotlib  # lazy: imports matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure  # lazy: imports matplotlib

    images = [("A", a), ("B", b)] + ([("reference", reference)] if reference is not None else [])
    fig = Figure(figsize=(4.2 * len(images), 5.6), dpi=100)
    for k, (name, image) in enumerate(images):
        ax = fig.add_subplot(1, len(images), k + 1)
        shown = _shown(image, window)
        ax.imshow(shown, cmap=None if shown.ndim == 3 else "gray", vmin=0, vmax=1, interpolation="nearest")
        ax.set_axis_off()
        marker = "  (preferred)" if name == comparison.preferred else ""
        levels = comparison.levels_a if name == "A" else comparison.levels_b if name == "B" else {}
        extra = f"\noverall {levels['overall']}/4" if levels.get("overall") is not None else ""
        ax.set_title(f"{'Image ' + name if name != 'reference' else 'Reference'}{marker}{extra}", fontsize=11,
                     color="#1a7f37" if marker else "black")
    verdict = ("tie" if comparison.preferred == "tie" else f"{comparison.preferred} preferred")
    caption = f"Verdict: {verdict} (probability {comparison.probability:.2f})\n" + "\n".join(
        textwrap.wrap(comparison.explanation, width=int(52 * len(images))))
    fig.text(0.02, 0.02, caption, fontsize=9.5, va="bottom", ha="left", wrap=True)
    fig.subplots_adjust(left=0.02, right=0.98, top=0.9, bottom=0.3, wspace=0.05)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png")
    return Path(path)
