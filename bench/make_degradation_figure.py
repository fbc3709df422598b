"""Makes docs/degradations.png: a real CT slice beside every registered degradation at three severities.

Run: .venv/bin/python bench/make_degradation_figure.py [--out docs/degradations.png]
Each row is one degradation; columns are the clean reference and severities 0.33, 0.66, 1.0,
with the physics label (overall 0-4) measured against the reference under each tile.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from vliqa.core import PRESETS, apply_window
from vliqa.data.sources import bundled_samples_dir
from vliqa.io import load
from vliqa.io.write import atomic_path
from vliqa.labels.physics import physics_labels
from vliqa.simulate import list_degradations
from vliqa.simulate.recipe import degrade_with_artifact_field

SEVERITIES = (0.33, 0.66, 1.0)
CROP = (slice(150, 406), slice(110, 366))  # 256 x 256 px around the liver, native resolution
TILE = 256
LABEL_H = 18


def tile(hu: np.ndarray, text: str) -> Image.Image:
    disp = (apply_window(hu[CROP], PRESETS["abdomen"]) * 255).astype(np.uint8)
    canvas = Image.new("L", (TILE, TILE + LABEL_H), 0)
    canvas.paste(Image.fromarray(disp), (0, LABEL_H))
    ImageDraw.Draw(canvas).text((4, 3), text, fill=255)
    return canvas


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", default="docs/degradations.png")
    args = parser.parse_args()
    ref = load(str(bundled_samples_dir() / "abdomen_ct_dicom")).slice(10)
    rows = []
    for deg in list_degradations():
        cells = [tile(ref.hu, f"{deg.name}: reference")]
        for s in SEVERITIES:
            try:
                out, art = degrade_with_artifact_field(ref, [(deg.name, {"severity": s})], seed=3)
            except Exception as exc:  # noqa: BLE001 - an unavailable optional method gets a note, not a crash
                cells.append(tile(np.full(ref.shape, -1000, np.float32), f"unavailable: {type(exc).__name__}"))
                continue
            lab = physics_labels(out, ref, artifact_hu=art)
            cells.append(tile(out.hu, f"sev {s:.2f}  overall {lab.overall:.1f}"))
        rows.append(cells)
        print(f"{deg.name}: done")
    fig = Image.new("L", (TILE * 4, (TILE + LABEL_H) * len(rows)), 0)
    for r, cells in enumerate(rows):
        for c, cell in enumerate(cells):
            fig.paste(cell, (c * TILE, r * (TILE + LABEL_H)))
    out = Path(args.out)
    with atomic_path(out) as tmp:
        fig.save(tmp, format="PNG", optimize=True)
    print(f"wrote {out} ({len(rows)} degradations)")


if __name__ == "__main__":
    main()
