"""An axial slice of the upper abdomen: liver, spleen, kidneys, stomach, bowel, pancreas, vessels, spine, ribs.

Radiological orientation: the patient's right is on the image left (the liver),
anterior is up, the spine is at the bottom. One random "level" in [0, 1] moves
the slice from the liver dome (large liver and spleen, stomach, many ribs) to
the renal hilum (large kidneys, psoas, more bowel).
"""

from __future__ import annotations

import numpy as np

from vliqa.phantom.body import (
    FAT_HU,
    BodyWall,
    body_outline,
    layer_thickness,
    paint_body_wall,
    paint_bone,
    paint_vertebra,
    plan_vertebra,
    u,
    vessel_tree,
)
from vliqa.phantom.canvas import Canvas
from vliqa.phantom.shapes import (
    Difference,
    Ellipse,
    HalfPlane,
    Inset,
    Intersection,
    Shape,
    StarShape,
    Union,
    angles,
    bump,
    circle,
    fourier_wobble,
    polyline,
    superellipse_radius,
)

#: Organ HU ranges per contrast phase (low, high).
PHASES: dict[str, dict[str, tuple[float, float]]] = {
    "non-contrast": {
        "liver": (55, 65), "spleen": (44, 50), "kidney": (30, 36), "medulla": (30, 36), "aorta": (38, 48),
        "ivc": (36, 45), "portal": (38, 45), "pancreas": (38, 45), "bowel wall": (35, 45), "muscle": (45, 55),
    },
    "arterial": {
        "liver": (68, 82), "spleen": (100, 130), "kidney": (180, 240), "medulla": (60, 95), "aorta": (250, 330),
        "ivc": (60, 90), "portal": (120, 150), "pancreas": (105, 130), "bowel wall": (70, 95), "muscle": (50, 60),
    },
    "portal venous": {
        "liver": (100, 120), "spleen": (105, 125), "kidney": (150, 190), "medulla": (150, 190), "aorta": (150, 200),
        "ivc": (140, 170), "portal": (160, 190), "pancreas": (90, 110), "bowel wall": (80, 100), "muscle": (55, 65),
    },
}
PHASE_PROBS = {"non-contrast": 0.25, "arterial": 0.2, "portal venous": 0.55}


def draw_abdomen(canvas: Canvas, rng: np.random.Generator, half_w: float) -> dict[str, object]:
    """Draws an abdomen slice on `canvas`; gives the parameters drawn (level, phase, size)."""
    phase = str(rng.choice(list(PHASE_PROBS), p=list(PHASE_PROBS.values())))
    hu = {k: u(rng, *v) for k, v in PHASES[phase].items()}
    level = u(rng, 0.0, 1.0)
    half_h = half_w * u(rng, 0.66, 0.8)
    fat_base = float(np.clip(6 + (half_w - 125) * 0.3 + rng.normal(0, 5), 5, 45))

    outline = body_outline(rng, half_w, half_h)
    fat_mm = layer_thickness(rng, fat_base, front=0.4, back=-0.5, flanks=0.3)
    muscle_mm = layer_thickness(rng, u(rng, 7, 12), front=0.3, back=1.5, wobble=0.1)
    muscle_mm *= 1.0 - 0.7 * bump(angles(), -np.pi / 2, 0.04)  # the thin linea alba between the recti
    wall = paint_body_wall(canvas, outline, fat_mm, muscle_mm, rng=rng, cavity_hu=FAT_HU + u(rng, -2, 10),
                           cavity_label="intra-abdominal fat", muscle_hu=hu["muscle"])
    cav = wall.cavity
    ac_l, ac_r = cav.radius_at(0.0), cav.radius_at(np.pi)  # patient's left (image right) / right extent
    bc_a, bc_p = cav.radius_at(-np.pi / 2), cav.radius_at(np.pi / 2)

    # spine first in the plan: everything posterior hangs on it
    back_inner = wall.fat_inner.radius_at(np.pi / 2)
    vert = plan_vertebra(rng, 0.0, thoracic=False)
    vert_cy = back_inner - (vert.spinous_tip_y + 4 + u(rng, 0, 8))
    vert = plan_vertebra(np.random.default_rng(rng.integers(1 << 31)), max(vert_cy, 5.0), thoracic=False)
    ao_r = u(rng, 9, 12.5)
    ao = (u(rng, 2, 10), vert.body_cy - vert.body_ry - ao_r - u(rng, 1, 4))

    organs = _plan_organs(rng, level, cav, ac_l, ac_r, bc_a, bc_p, vert.body_cy, vert.body_rx, ao, ao_r)
    _paint_bowel(canvas, rng, wall, organs, level, hu)
    canvas.paint(organs["pancreas"], hu["pancreas"], "pancreas", texture_hu=8.0, coarse_hu=3.0)
    _paint_liver(canvas, rng, wall, organs, hu)
    _paint_stomach(canvas, rng, organs["stomach"], hu)
    canvas.paint(organs["spleen"], hu["spleen"], "spleen", texture_hu=3.0, coarse_hu=2.0, within=wall.cavity_cover)
    for side in ("right", "left"):
        _paint_kidney(canvas, rng, organs[f"{side} kidney"], f"{side} kidney", hu, phase)
    _paint_retroperitoneum(canvas, rng, wall, vert, level, ao, ao_r, hu)
    if rng.random() < 0.6:
        # adrenal-like soft tissue strand and crura give the space around the aorta its usual look
        for sgn in (-1.0, 1.0):
            crus = polyline([(sgn * vert.body_rx * 0.5, vert.body_cy - vert.body_ry * 0.6),
                             (ao[0] + sgn * (ao_r + 5), ao[1]), (ao[0] + sgn * ao_r * 0.5, ao[1] - ao_r - 5)], 2.2)
            canvas.paint(crus, hu["muscle"], "muscle", within=wall.cavity_cover)
    canvas.paint(circle(*ao, ao_r), hu["aorta"], "aorta", texture_hu=1.5)
    ivc = Ellipse(-u(rng, 18, 28), vert.body_cy - vert.body_ry - u(rng, 8, 16), u(rng, 10, 15), u(rng, 7, 11),
                  u(rng, -0.4, 0.2))
    canvas.paint(ivc, hu["ivc"], "inferior vena cava", texture_hu=1.5)
    _paint_ribs(canvas, rng, wall, muscle_mm, level)
    return {"level": round(level, 3), "phase": phase, "body_width_mm": round(2 * half_w, 1),
            "fat_mm": round(fat_base, 1)}


def _plan_organs(rng, level, cav, ac_l, ac_r, bc_a, bc_p, vert_cy, vert_rx, ao, ao_r) -> dict[str, Shape]:
    """Gives the organ shapes (before drawing) so bowel loops can be placed in the free space between them."""
    th = angles()
    size_liver = 1.15 - 0.5 * level
    # the right lobe fills the right upper quadrant up to the abdominal wall (it is clipped to the cavity)
    liver_c = (-ac_r * u(rng, 0.45, 0.6), -bc_a * u(rng, 0.0, 0.15))
    r_liver = superellipse_radius(th, ac_r * 0.75 * size_liver, (bc_a + bc_p) * 0.5 * size_liver, u(rng, 2.2, 2.8))
    right_lobe = StarShape(liver_c[0], liver_c[1], r_liver * fourier_wobble(th, rng, 0.08))
    parts: list[Shape] = [right_lobe]
    if level < 0.75:
        s = u(rng, 0.5, 1.0) * (1.0 - level)
        parts.append(
            Ellipse(u(rng, -0.1, 0.1) * ac_l, -bc_a * u(rng, 0.45, 0.6), ac_l * 0.4 * s + 10, bc_a * 0.25 * s + 6,
                    u(rng, -0.5, 0.1)))
    liver = Union(parts)

    size_sp = u(rng, 0.8, 1.2) * (1.0 - 0.6 * level)
    sp_theta = u(rng, 0.35, 0.75)  # posterolateral on the patient's left
    sp_r = min(ac_l, bc_p * 1.3) * 0.8  # against the posterolateral wall
    sp_c = (sp_r * np.cos(sp_theta), sp_r * np.sin(sp_theta))
    long_r, short_r = u(rng, 50, 70) * size_sp, u(rng, 22, 32) * size_sp
    outer = Ellipse(*sp_c, long_r, short_r, sp_theta + np.pi / 2)
    inward = (-np.cos(sp_theta), -np.sin(sp_theta))
    cut = Ellipse(sp_c[0] + inward[0] * short_r * 1.4, sp_c[1] + inward[1] * short_r * 1.4, long_r * 0.75,
                  short_r * 0.9, sp_theta + np.pi / 2)
    spleen = Difference(outer, cut)

    organs: dict[str, Shape] = {"liver": liver, "spleen": spleen}
    for side, sgn in (("right", -1.0), ("left", 1.0)):
        z = level - (0.15 if side == "right" else 0.0)  # the right kidney sits lower
        size = float(np.clip(0.45 + 0.9 * z, 0.35, 1.05)) * u(rng, 0.9, 1.1)
        c = (sgn * (vert_rx + u(rng, 38, 52)), vert_cy + u(rng, -6, 10))
        long_k, short_k = u(rng, 30, 38) * size, u(rng, 21, 26) * size
        axis = -sgn * u(rng, 0.45, 0.85)  # long axis from posteromedial to anterolateral
        organs[f"{side} kidney"] = Ellipse(c[0], c[1], long_k, short_k, axis)

    st_size = u(rng, 0.8, 1.2) * (1.25 - 0.6 * level)
    st_c = (ac_l * u(rng, 0.25, 0.45), -bc_a * u(rng, 0.3, 0.5))
    st_r = superellipse_radius(th - u(rng, -0.6, 0.2), u(rng, 32, 50) * st_size, u(rng, 20, 34) * st_size, 2.0)
    organs["stomach"] = StarShape(st_c[0], st_c[1], st_r * fourier_wobble(th, rng, 0.1, range(2, 6)))
    # pancreas: a lobulated band from the duodenum across the aorta towards the splenic hilum
    py = ao[1] - ao_r - u(rng, 8, 14)
    pts = [(-u(rng, 25, 40), py + u(rng, -8, 4)), (ao[0], py - u(rng, 2, 8)),
           (ac_l * u(rng, 0.3, 0.45), py + u(rng, -5, 10))]
    thick = 1.0 if 0.2 < level < 0.8 else 0.6
    organs["pancreas"] = polyline(pts, [u(rng, 6, 9) * thick, u(rng, 5, 7) * thick, u(rng, 4, 7) * thick])
    return organs


def _paint_bowel(canvas: Canvas, rng: np.random.Generator, wall: BodyWall, organs: dict[str, Shape], level: float,
                 hu: dict[str, float]) -> None:
    """Draws bowel loops and colon with gas, fluid or faeces in the free space of the cavity."""
    cav = wall.cavity
    ac_l, ac_r = cav.radius_at(0.0), cav.radius_at(np.pi)
    bc_a = cav.radius_at(-np.pi / 2)
    placed: list[tuple[float, float, float]] = []
    n_loops = int(3 + 11 * level + rng.integers(0, 4))
    for _ in range(n_loops * 8):
        if len(placed) >= n_loops:
            break
        r = u(rng, 8, 17)
        x, y = u(rng, -ac_r, ac_l) * 0.85, u(rng, -bc_a, bc_a * 0.4)
        if cav.sdf(np.array([x], np.float32), np.array([y], np.float32))[0] > -r:
            continue
        if any(s.contains(x, y) for s in organs.values()):
            continue
        if any(np.hypot(x - px, y - py) < 0.9 * (r + pr) for px, py, pr in placed):
            continue
        placed.append((x, y, r))
    # colon near the flanks: ascending (patient's right) and descending (patient's left)
    for sgn in (-1.0, 1.0):
        if rng.random() < 0.4 + 0.5 * level:
            ext = ac_l if sgn > 0 else ac_r
            placed.append((sgn * ext * u(rng, 0.62, 0.75), -bc_a * u(rng, -0.1, 0.45), u(rng, 14, 22)))
    th = angles()
    for i, (x, y, r) in enumerate(placed):
        label = "colon" if i >= len(placed) - 2 and r >= 14 else "bowel"
        aspect = u(rng, 0.6, 1.0)
        radius = superellipse_radius(th - u(rng, 0, np.pi), r, r * aspect,
                                     2.0) * fourier_wobble(th, rng, 0.12, range(2, 5))
        _paint_loop(canvas, rng, StarShape(x, y, radius), label, hu["bowel wall"], colon=label == "colon")


def _paint_loop(canvas: Canvas, rng: np.random.Generator, outer: Shape, label: str, wall_hu: float, *,
                colon: bool = False) -> None:
    """Draws one bowel loop: an enhancing wall around gas, fluid, faeces or nothing (collapsed)."""
    canvas.paint(outer, wall_hu, label, texture_hu=3.0)
    lumen = Inset(outer, u(rng, 1.2, 2.2))
    kind = str(
        rng.choice(["gas", "fluid", "faeces", "collapsed", "gas-fluid"],
                   p=[0.12, 0.33, 0.1, 0.3, 0.15] if not colon else [0.3, 0.0, 0.6, 0.0, 0.1]))
    if kind == "collapsed":  # collapsed loop: a soft-tissue blob with a thin fluid or gas core
        canvas.paint(Inset(outer, u(rng, 4, 7)), u(rng, -200, 20), label, edge_mm=2.0)
        return
    if kind == "faeces":
        canvas.paint(lumen, u(rng, -20, 40), label, texture="fine", texture_hu=45.0)
        bx0, bx1, by0, by1 = outer.bbox()
        for _ in range(int(rng.integers(4, 12))):
            canvas.paint(circle(u(rng, bx0, bx1), u(rng, by0, by1), u(rng, 0.8, 3.0)), -1000.0, label,
                         within=canvas.cover(lumen))
        return
    fluid_hu = u(rng, 200, 320) if rng.random() < 0.12 else u(rng, 5, 25)  # sometimes positive oral contrast
    if kind in ("fluid", "gas-fluid"):
        canvas.paint(lumen, fluid_hu, label, texture_hu=1.5)
    if kind in ("gas", "gas-fluid"):
        gas: Shape = lumen
        if kind == "gas-fluid":  # supine patient: gas rises to the anterior side, a flat air-fluid level
            _, _, y0, y1 = lumen.bbox()
            gas = Intersection(lumen, HalfPlane(0.0, 1.0, y0 + (y1 - y0) * u(rng, 0.3, 0.6)))
        canvas.paint(gas, -1000.0, label)


def _paint_stomach(canvas: Canvas, rng: np.random.Generator, stomach: Shape, hu: dict[str, float]) -> None:
    """Draws the stomach with its wall, gastric fluid and an anterior gas cap (or food)."""
    canvas.paint(stomach, hu["bowel wall"], "stomach", texture_hu=3.0)
    lumen = Inset(stomach, u(rng, 3.0, 5.0))
    if rng.random() < 0.25:  # a meal: mottled soft tissue with small gas bubbles
        canvas.paint(lumen, u(rng, 0, 40), "stomach", texture_hu=12.0, coarse_hu=8.0)
        bx0, bx1, by0, by1 = lumen.bbox()
        lumen_cover = canvas.cover(lumen)
        for _ in range(int(rng.integers(5, 15))):
            canvas.paint(circle(u(rng, bx0, bx1), u(rng, by0, by1), u(rng, 0.8, 2.5)), -1000.0, "stomach",
                         within=lumen_cover)
    else:
        canvas.paint(lumen, u(rng, 5, 20), "stomach", texture_hu=1.5)
    if rng.random() < 0.8:  # supine: the gas cap floats anteriorly over a flat air-fluid level
        _, _, y0, y1 = lumen.bbox()
        canvas.paint(Intersection(lumen, HalfPlane(0.0, 1.0, y0 + (y1 - y0) * u(rng, 0.1, 0.55))), -1000.0, "stomach")


def _paint_liver(canvas: Canvas, rng: np.random.Generator, wall: BodyWall, organs: dict[str, Shape],
                 hu: dict[str, float]) -> None:
    """Draws the liver with its portal/hepatic vessel branches and an optional gallbladder."""
    liver = organs["liver"]
    canvas.paint(liver, hu["liver"], "liver", texture_hu=3.0, coarse_hu=2.0, within=wall.cavity_cover)
    liver_cov = canvas.cover(liver) * wall.cavity_cover
    x0, x1, y0, y1 = liver.bbox()
    hilum = (x0 + (x1 - x0) * 0.72, y0 + (y1 - y0) * u(rng, 0.45, 0.6))
    for _ in range(int(rng.integers(1, 3))):  # a portal branch running in the slice plane
        ang = np.pi + u(rng, -1.0, 1.0)
        for seg in vessel_tree(rng, hilum, ang, u(rng, 20, 35), u(rng, 2.5, 4.5), depth=2, spread_rad=0.8,
                               min_radius_mm=1.5, stop_prob=0.4):
            canvas.paint(seg, hu["portal"], "hepatic vessels", within=liver_cov)
    for _ in range(int(rng.integers(4, 12))):  # hepatic veins and portal branches cut across
        canvas.paint(Ellipse(u(rng, x0, x1), u(rng, y0, y1), u(rng, 1.5, 5.0), u(rng, 1.5, 4.0), u(rng, 0, np.pi)),
                     hu["portal"] - u(rng, 0, 25), "hepatic vessels", within=liver_cov)
    if rng.random() < 0.5:
        gb = Ellipse(x0 + (x1 - x0) * u(rng, 0.55, 0.75), y0 + (y1 - y0) * u(rng, 0.15, 0.35), u(rng, 10, 18),
                     u(rng, 8, 13), u(rng, -1, 1))
        canvas.paint(gb, u(rng, 0, 20), "gallbladder", texture_hu=1.0, within=liver_cov)


def _paint_kidney(canvas: Canvas, rng: np.random.Generator, kidney: Shape, label: str, hu: dict[str, float],
                  phase: str) -> None:
    """Draws a kidney: cortex, medullary pyramids in the arterial phase, and the renal sinus fat at the hilum."""
    assert isinstance(kidney, Ellipse)
    k = kidney
    # hilum faces anteromedially: towards the midline and forwards
    hx, hy = -np.sign(k.cx), -1.0
    n = np.hypot(hx, hy)
    hx, hy = hx / n, hy / n
    notch = Ellipse(k.cx + hx * k.b * 1.05, k.cy + hy * k.b * 1.05, k.b * 0.4, k.a * 0.22, k.angle_rad + np.pi / 2)
    canvas.paint(Difference(k, notch), hu["kidney"], label, texture_hu=3.0)
    if phase == "arterial":
        canvas.heterogeneous.add(label)
        for j in range(6):
            t = (j + 0.5) / 6 * 2 * np.pi
            ca, sa = np.cos(k.angle_rad), np.sin(k.angle_rad)
            lx, ly = 0.55 * k.a * np.cos(t), 0.5 * k.b * np.sin(t)
            pc = (k.cx + ca * lx - sa * ly, k.cy + sa * lx + ca * ly)
            canvas.paint(Ellipse(*pc, k.a * 0.18, k.b * 0.22, t + k.angle_rad), hu["medulla"], label, nominal=False)
    sinus = Ellipse(k.cx + hx * k.b * 0.4, k.cy + hy * k.b * 0.4, k.b * 0.32, k.a * 0.3, k.angle_rad + np.pi / 2)
    canvas.paint(Intersection(sinus, Inset(k, 2.0)), FAT_HU + u(rng, 10, 30), "renal sinus", texture_hu=4.0)


def _paint_retroperitoneum(canvas: Canvas, rng: np.random.Generator, wall: BodyWall, vert, level: float, ao, ao_r,
                           hu) -> None:
    """Draws psoas and paraspinal muscles and the lumbar vertebra."""
    for sgn in (-1.0, 1.0):
        ps_r = 4 + 10 * level * u(rng, 0.8, 1.2)
        canvas.paint(
            Ellipse(sgn * (vert.body_rx + ps_r * 0.7), vert.body_cy + vert.body_ry * 0.2, ps_r * 1.1, ps_r, sgn * 0.3),
            hu["muscle"], "psoas", texture_hu=3.0)
        para = Ellipse(sgn * u(rng, 24, 32), vert.canal_cy + u(rng, 10, 16), u(rng, 22, 30), u(rng, 20, 26),
                       sgn * u(rng, -0.3, 0.1))
        canvas.paint(para, hu["muscle"], "paraspinal muscle", texture_hu=4.0, within=wall.fat_inner_cover)
    paint_vertebra(canvas, rng, vert, thoracic=False, within=wall.fat_inner_cover)


def _paint_ribs(canvas: Canvas, rng: np.random.Generator, wall: BodyWall, muscle_mm: np.ndarray, level: float) -> None:
    """Draws rib cross-sections (and costal cartilage in front) in the lateral abdominal wall at upper levels."""
    n_side = int(round(6 - 4.5 * level)) + int(rng.integers(-1, 2))
    cortical = u(rng, 700, 1000)
    for sgn in (-1.0, 1.0):
        for k in range(max(n_side, 0)):
            # angle from anterior (-pi/2) round to posterolateral, mirrored for each side
            frac = (k + u(rng, 0.2, 0.8)) / max(n_side, 1)
            from_front = 0.55 + 1.9 * frac
            theta = -np.pi / 2 + sgn * from_front
            theta = float(np.angle(np.exp(1j * theta)))
            inset = float(muscle_mm[int((theta + np.pi) / (2 * np.pi) * len(muscle_mm)) % len(muscle_mm)]) * 0.45
            cx, cy = wall.fat_inner.point_at(theta, inset)
            rib = Ellipse(cx, cy, u(rng, 6, 13), u(rng, 3.5, 5.0), theta + np.pi / 2)
            if from_front < 0.9:  # costal cartilage in front
                canvas.paint(rib, u(rng, 90, 180), "ribs", texture_hu=5.0)
            else:
                paint_bone(canvas, rib, "ribs", cortical_hu=cortical, cancellous_hu=u(rng, 200, 300), cortex_mm=1.2)


__all__ = ["PHASES", "draw_abdomen"]
