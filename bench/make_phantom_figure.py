"""Draws docs/phantoms.png: random procedural phantoms beside real bundled CT slices, in clinical windows.

Run: .venv/bin/python bench/make_phantom_figure.py [--out docs/phantoms.png]
Row 1: abdomen phantoms (W400/L40) and the real bundled abdomen slice.
Row 2: two chest phantoms, each in the lung (W1500/L-600) and mediastinal (W400/L40) window.
Row 3: head phantoms (W80/L40) and the real bundled head slice.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pydicom  # noqa: E402

from vliqa.core import (
    Window,  # noqa: E402
    apply_window,  # noqa: E402
)
from vliqa.phantom import make_phantom  # noqa: E402

SAMPLES = Path(__file__).resolve().parents[1] / "src" / "vliqa" / "samples"
ABDOMEN = Window(level=40, width=400)
LUNG = Window(level=-600, width=1500)
BRAIN = Window(level=40, width=80)


def real_slice(folder: str, index: int) -> np.ndarray:
    """Gives one bundled DICOM slice in HU."""
    files = sorted(p for p in (SAMPLES / folder).iterdir() if p.name != "LICENSE.txt")
    ds = pydicom.dcmread(files[index])
    return ds.pixel_array * float(ds.RescaleSlope) + float(ds.RescaleIntercept)


def describe(ph) -> str:
    """Gives a short tile title from the phantom's history."""
    step = ph.image.history[0]
    extra = step.get("phase") or step.get("level")
    if step["region"] == "abdomen":
        extra = f"{step['phase']}, level {step['level']:.2f}"
    elif step["region"] == "chest":
        extra = f"{step['level']}, {'contrast' if step['contrast'] else 'plain'}"
    lesions = f", {len(ph.lesions)} lesion{'s' if len(ph.lesions) != 1 else ''}" if ph.lesions else ""
    return f"phantom {step['region']} seed {step['seed']}\n{extra}{lesions}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", default="docs/phantoms.png")
    parser.add_argument("--seeds", default="1,4,6;2,3;0,2,8", help="abdomen;chest;head seeds")
    args = parser.parse_args()
    abd, chest, head = ([int(s) for s in part.split(",")] for part in args.seeds.split(";"))
    tiles: list[tuple[np.ndarray, str]] = []
    t0 = time.perf_counter()
    for seed in abd[:3]:
        ph = make_phantom("abdomen", seed=seed)
        tiles.append((apply_window(ph.image.hu, ABDOMEN), describe(ph) + " — W400/L40"))
    tiles.append(
        (apply_window(real_slice("abdomen_ct_dicom", 10), ABDOMEN),
         "REAL: bundled abdomen slice\n(Siemens, Br38f, 18.5 mGy) — W400/L40"))
    for seed in chest[:2]:
        ph = make_phantom("chest", seed=seed)
        tiles.append((apply_window(ph.image.hu, LUNG), describe(ph) + " — W1500/L-600"))
        tiles.append((apply_window(ph.image.hu, ABDOMEN), describe(ph) + " — W400/L40"))
    for seed in head[:3]:
        ph = make_phantom("head", seed=seed)
        tiles.append((apply_window(ph.image.hu, BRAIN), describe(ph) + " — W80/L40"))
    tiles.append(
        (apply_window(real_slice("head_ct_dicom", 0), BRAIN), "REAL: bundled head slice\n(GE, STD+) — W80/L40"))
    print(f"rendered 8 phantoms in {time.perf_counter() - t0:.2f} s")

    fig, axes = plt.subplots(3, 4, figsize=(16, 13.4), facecolor="black")
    for ax, (img, title) in zip(axes.ravel(), tiles, strict=True):
        ax.imshow(img, cmap="gray", vmin=0, vmax=1, interpolation="lanczos")
        real = title.startswith("REAL")
        ax.set_title(title, color="#ffcc33" if real else "white", fontsize=9.5, fontweight="bold" if real else "normal")
        ax.set_xticks([])
        ax.set_yticks([])
        for spine in ax.spines.values():
            spine.set_color("#ffcc33" if real else "black")
            spine.set_linewidth(2.5 if real else 0)
    fig.suptitle("vliqa.phantom — procedural noise-free CT slices (HU) beside real bundled slices", color="white",
                 fontsize=13)
    fig.tight_layout(rect=(0, 0, 1, 0.97), h_pad=3.0)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=80, facecolor="black")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
