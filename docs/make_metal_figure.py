"""Writes docs/metal.png: the bundled abdomen slice with metal implants at three severities (W400/L40).

Run: .venv/bin/python docs/make_metal_figure.py   (also prints the time per slice and the streak energy)
"""

from __future__ import annotations

import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from scipy import ndimage  # noqa: E402

import vliqa  # noqa: E402
from vliqa.simulate import get_degradation, metal  # noqa: E402
from vliqa.simulate.metal_placement import MetalPart  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
SEVERITIES = (0.2, 0.6, 1.0)


def main() -> None:
    """Gives nothing; renders the figure and prints timings."""
    source = vliqa.load(ROOT / "src" / "vliqa" / "samples" / "abdomen_ct_dicom").slice(10)
    deg = get_degradation("metal")
    deg.at_severity(source, 0.0)  # builds the projector plan once (cached), not part of the timing
    outs = []
    for s in SEVERITIES:
        t0 = time.perf_counter()
        out = deg.at_severity(source, s, seed=3)
        step = out.history[-1]
        occ = metal.occupancy([MetalPart(**p) for p in step["parts"]], out.hu.shape, step["pixel_mm"])
        dist = ndimage.distance_transform_edt(occ == 0) * step["pixel_mm"]
        ring = (dist > 10) & (dist < 40) & (source.hu > -500)
        print(f"severity {s}: {time.perf_counter() - t0:.2f} s, {step['kind']} {step['material']} x{step['count']}, "
              f"region '{step['region']}', streak energy {np.std((out.hu - source.hu)[ring]):.0f} HU")
        outs.append(out)
    fig, axes = plt.subplots(2, 4, figsize=(16, 8.6))
    panels = [(source, "source (Br38f, 18.5 mGy)")] + [
        (o, f"severity {s}: {o.history[-1]['kind']}, {o.history[-1]['material']} — {o.history[-1]['region']}") for s, o in zip(SEVERITIES, outs, strict=True)
    ]
    r0, c0 = outs[-1].history[-1]["centres_px"][0]
    for col, (img, title) in enumerate(panels):
        axes[0, col].imshow(img.hu[130:460, 20:492], cmap="gray", vmin=-160, vmax=240)
        axes[0, col].set_title(title, fontsize=9)
        # Zoom: 120 mm around the first implant of the column's own image (the source uses the middle one).
        ref = outs[min(max(col - 1, 0), 2)].history[-1]["centres_px"][0] if col else outs[1].history[-1]["centres_px"][0]
        r, c = int(ref[0]), int(ref[1])
        half = 62
        r, c = min(max(r, half), 512 - half), min(max(c, half), 512 - half)
        axes[1, col].imshow(img.hu[r - half : r + half, c - half : c + half], cmap="gray", vmin=-160, vmax=240)
        axes[1, col].set_title("zoom 120 mm", fontsize=9)
    del r0, c0
    for ax in axes.ravel():
        ax.set_axis_off()
    fig.suptitle("vliqa metal: polychromatic beam hardening + photon starvation, abdomen window W400/L40", fontsize=11)
    fig.tight_layout()
    fig.savefig(ROOT / "docs" / "metal.png", dpi=80)


if __name__ == "__main__":
    main()
