"""Low-contrast lesions with known size and contrast: liver lesions, lung nodules, brain hypodensities.

The contrast of a lesion is its core HU minus the nominal (texture-free) HU of
its organ. Soft-tissue and brain lesions are added on top of the organ, so they
keep its parenchymal texture; lung nodules replace the lung they sit in. Every
lesion lies wholly inside its organ label, with a margin.
"""

from __future__ import annotations

import numpy as np

from vliqa.phantom.canvas import Canvas
from vliqa.phantom.core import LABEL_IDS, Lesion
from vliqa.phantom.shapes import Ellipse

# organ -> relative chance of holding a lesion, per region
_HOSTS: dict[str, dict[str, float]] = {
    "abdomen": {"liver": 0.7, "spleen": 0.15, "right kidney": 0.075, "left kidney": 0.075},
    "chest": {"right lung": 0.5, "left lung": 0.5},
    "head": {"white matter": 0.7, "basal ganglia": 0.15, "thalamus": 0.05, "cerebellum": 0.1},
}


def _draw_kind(rng: np.random.Generator, region: str, organ_hu: float) -> tuple[str, float, float, bool]:
    """Gives (kind, contrast in HU, radius in mm, whether it replaces the organ) for a new lesion."""
    if region == "chest":
        if rng.random() < 0.7:
            return "solid nodule", float(rng.uniform(-40, 60)) - organ_hu, float(rng.uniform(1.5, 7.5)), True
        return "ground-glass nodule", float(rng.uniform(-700, -450)) - organ_hu, float(rng.uniform(3.0, 9.0)), True
    if region == "head":
        if rng.random() < 0.75:
            return "hypodense", -float(rng.uniform(4, 15)), float(rng.uniform(3.0, 12.0)), False
        return "hyperdense", float(rng.uniform(25, 50)), float(rng.uniform(2.5, 9.0)), False
    if rng.random() < 0.75:
        return "hypodense", -float(rng.uniform(5, 40)), float(rng.uniform(1.5, 7.5)), False
    return "hyperdense", float(rng.uniform(10, 40)), float(rng.uniform(1.5, 7.5)), False


def add_lesions(canvas: Canvas, rng: np.random.Generator, region: str, count: int) -> tuple[list[Lesion], np.ndarray]:
    """Draws up to `count` lesions into organs of the canvas; gives them and their label map (0 none, k lesion k-1).

    A lesion that finds no room in any organ after many tries is left out, so
    fewer than `count` may come back in a small or cramped slice.
    """
    mask = np.zeros(canvas.hu.shape, dtype=bool)
    lesion_labels = np.zeros(canvas.hu.shape, dtype=np.int16)
    lesions: list[Lesion] = []
    hosts = {name: p for name, p in _HOSTS[region].items() if name in canvas.organ_hu
             and name not in canvas.heterogeneous}
    if count == 0 or not hosts:
        return lesions, lesion_labels
    organ_masks = {name: canvas.labels == LABEL_IDS[name] for name in hosts}
    hosts = {n: p for n, p in hosts.items() if organ_masks[n].sum() > 50}
    if not hosts:
        return lesions, lesion_labels
    names = list(hosts)
    probs = np.array([hosts[n] for n in names])
    probs /= probs.sum()
    px = canvas.pixel_mm
    for _ in range(count):
        organ = str(rng.choice(names, p=probs))
        kind, contrast, radius_mm, replace = _draw_kind(rng, region, canvas.organ_hu[organ])
        candidates = np.flatnonzero(organ_masks[organ] & ~mask)
        placed = False
        for attempt in range(40):
            if candidates.size == 0:
                break
            r_mm = radius_mm * (1.0 if attempt < 20 else 0.6)  # shrink if the organ is cramped
            idx = int(candidates[rng.integers(candidates.size)])
            row, col = divmod(idx, canvas.size_px)
            apart = all(np.hypot(row - les.center_px[0], col - les.center_px[1]) > (r_mm + les.radius_mm) / px + 3
                        for les in lesions)
            if apart and _fits(organ_masks[organ], row, col, r_mm / px + 1.5):
                radius_mm = r_mm
                placed = True
                break
        if not placed:
            continue
        cx, cy = canvas.to_body(float(row), float(col))
        aspect = float(rng.uniform(0.85, 1.0))
        shape = Ellipse(cx, cy, radius_mm / np.sqrt(aspect), radius_mm * np.sqrt(aspect), float(rng.uniform(0, np.pi)))
        organ_hu = canvas.organ_hu[organ]
        edge_mm = float(rng.uniform(0.0, 1.5)) if region != "chest" else 0.0  # some lesions have soft margins
        if replace:
            out = canvas.paint(shape, organ_hu + contrast, None, texture_hu=3.0, edge_mm=edge_mm)
        else:
            out = canvas.paint(shape, contrast, None, add=True, edge_mm=edge_mm)
        if out is None:
            continue
        sl, cov = out
        inside = (cov >= 0.5) & organ_masks[organ][sl]
        mask[sl] |= inside
        lesion_labels[sl][inside] = len(lesions) + 1
        lesions.append(Lesion((float(row), float(col)), round(radius_mm, 2), round(contrast, 2), organ, kind))
    return lesions, lesion_labels


def _fits(allowed: np.ndarray, row: int, col: int, r_px: float) -> bool:
    """Gives True when a disc of radius r_px at (row, col) lies inside `allowed`."""
    r = int(np.ceil(r_px))
    r0, r1, c0, c1 = row - r, row + r + 1, col - r, col + r + 1
    if r0 < 0 or c0 < 0 or r1 > allowed.shape[0] or c1 > allowed.shape[1]:
        return False
    yy, xx = np.ogrid[-r : r + 1, -r : r + 1]
    disc = yy * yy + xx * xx <= r_px * r_px
    return bool(np.all(allowed[r0:r1, c0:c1][disc]))

