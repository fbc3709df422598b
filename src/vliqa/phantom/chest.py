"""An axial slice of the chest: lungs with branching vessel trees, mediastinum, heart, airways, chest wall.

Three random levels: "upper" (aortic arch, trachea, scapulae), "hilar" (carina,
main bronchi, pulmonary trunk, ascending and descending aorta) and "cardiac"
(the heart with its chambers, descending aorta). Half the slices are
contrast-enhanced (bright vessels and heart chambers).
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
from vliqa.phantom.shapes import Capsule, Ellipse, HalfPlane, Inset, Intersection, Shape, Union, circle, polyline

LUNG_HU = -860.0
LEVELS = ("upper", "hilar", "cardiac")


def draw_chest(canvas: Canvas, rng: np.random.Generator, half_w: float) -> dict[str, object]:
    """Draws a chest slice on `canvas`; gives the parameters drawn (level, contrast, size)."""
    level = str(rng.choice(LEVELS, p=[0.25, 0.35, 0.4]))
    contrast = bool(rng.random() < 0.5)
    blood = u(rng, 35, 50)
    hu = {
        "muscle": u(rng, 45, 60),
        "aorta": u(rng, 200, 320) if contrast else blood,
        "pulmonary": u(rng, 220, 380) if contrast else blood,
        "vein": u(rng, 150, 300) if contrast else blood,
        "heart right": u(rng, 200, 350) if contrast else blood,
        "heart left": u(rng, 170, 280) if contrast else blood,
        "myocardium": u(rng, 90, 120) if contrast else blood + u(rng, 3, 8),
        "lung vessel": u(rng, 150, 300) if contrast else u(rng, 35, 50),
    }
    half_h = half_w * u(rng, 0.6, 0.72)
    outline = body_outline(rng, half_w, half_h, wobble=0.02)
    breasts = None
    if level != "hilar" and rng.random() < 0.35:
        parts = []
        for sgn in (-1.0, 1.0):
            bx, by = sgn * half_w * u(rng, 0.35, 0.5), -half_h * u(rng, 0.72, 0.85)
            parts.append(Ellipse(bx, by, u(rng, 45, 70), u(rng, 30, 48), sgn * u(rng, 0.1, 0.4)))
        breasts = Union(parts)
    fat_mm = layer_thickness(rng, u(rng, 5, 22), front=0.2, back=-0.3, flanks=0.3)
    muscle_mm = layer_thickness(rng, u(rng, 9, 14), front=0.6 if level == "upper" else 0.2, back=2.2, wobble=0.08)
    wall = paint_body_wall(canvas, outline, fat_mm, muscle_mm, rng=rng, cavity_hu=LUNG_HU, cavity_label="right lung",
                           muscle_hu=hu["muscle"], extra_outline=breasts)
    if breasts is not None:
        for part in breasts.parts:  # fibroglandular tissue: mottled soft tissue in the fat of the breast
            assert isinstance(part, Ellipse)
            gland = Ellipse(part.cx * 0.95, part.cy + part.b * 0.15, part.a * 0.6, part.b * 0.55, part.angle_rad)
            canvas.paint(gland, u(rng, -40, 10), "breast", texture_hu=25.0, edge_mm=3.0,
                         within=1.0 - wall.fat_inner_cover)

    cav = wall.cavity
    bc_a, bc_p = cav.radius_at(-np.pi / 2), cav.radius_at(np.pi / 2)
    y_top, y_bot = -bc_a, bc_p
    lung_span = y_bot - y_top

    def lung_hu(x: np.ndarray, y: np.ndarray) -> np.ndarray:
        # dependent (posterior) lung is denser in a supine patient
        return LUNG_HU + 45.0 * np.clip((y - y_top) / lung_span, 0.0, 1.0) - 15.0

    for label, sgn in (("right lung", -1.0), ("left lung", 1.0)):
        side = Intersection(cav, HalfPlane(-sgn, 0.0, 0.0))  # x <= 0 for the right lung, x >= 0 for the left
        canvas.paint(side, lung_hu, label, texture_hu=10.0)
        canvas.organ_hu[label] = LUNG_HU + 22.5 - 15.0

    back_inner = wall.fat_inner.radius_at(np.pi / 2)
    probe = plan_vertebra(np.random.default_rng(rng.integers(1 << 31)), 0.0, thoracic=True)
    vert = plan_vertebra(np.random.default_rng(rng.integers(1 << 31)), back_inner - probe.spinous_tip_y - u(rng, 3, 8),
                         thoracic=True)
    front_of_spine = vert.body_cy - vert.body_ry
    med_w = u(rng, 22, 32)  # half-width of the mediastinum behind the sternum
    hilum_y = front_of_spine - u(rng, 25, 45)

    _paint_lung_vessels(canvas, rng, wall, med_w, hilum_y, level, hu["lung vessel"])
    _paint_mediastinum(canvas, rng, wall, vert, med_w, hilum_y, level, hu)
    paint_vertebra(canvas, rng, vert, thoracic=True, within=wall.fat_inner_cover)
    _paint_ribs(canvas, rng, wall, vert, level)
    return {"level": level, "contrast": contrast, "body_width_mm": round(2 * half_w, 1), "breasts": breasts is not None}


def _paint_lung_vessels(canvas: Canvas, rng: np.random.Generator, wall: BodyWall, med_w: float, hilum_y: float,
                        level: str, vessel_hu: float) -> None:
    """Draws recursive pulmonary vessel trees from each hilum, vessels cut across, and a few bronchi."""
    within = wall.cavity_cover
    root_r = {"upper": 2.5, "hilar": 4.5, "cardiac": 3.5}[level]
    x0, x1, y0, y1 = wall.cavity.bbox()
    for sgn in (-1.0, 1.0):
        hilum = (sgn * (med_w + u(rng, 0, 10)), hilum_y + u(rng, -10, 10))
        n_trees = int(rng.integers(4, 7))
        for k in range(n_trees):
            # spread the trees over the lung: from anterior through lateral to posterior
            base = -np.pi / 2 + (k + u(rng, 0.2, 0.8)) / n_trees * np.pi
            ang = base if sgn > 0 else np.pi - base
            for seg in vessel_tree(rng, hilum, ang, u(rng, 15, 26), root_r * u(rng, 0.6, 1.0), depth=5, spread_rad=0.6,
                                   min_radius_mm=0.45, stop_prob=0.35):
                canvas.paint(seg, vessel_hu, "pulmonary vessels", within=within)
        for _ in range(int(rng.integers(70, 140))):
            # vessels running through the slice plane are cut across: dots, larger nearer the hilum
            x = sgn * u(rng, med_w, max(abs(x0), abs(x1)))
            y = u(rng, y0, y1)
            dist = np.hypot(x - hilum[0], y - hilum[1])
            r = float(np.clip(u(rng, 0.5, 1.4) * (1.0 + 80.0 / (dist + 20.0)) * 0.7, 0.4, 3.5))
            canvas.paint(circle(x, y, r), vessel_hu, "pulmonary vessels", within=within)
        for _ in range(int(rng.integers(3, 8))):
            # bronchi with their companion artery ("signet ring") near the hilum
            ang = u(rng, -np.pi / 2, np.pi / 2)
            ang = ang if sgn > 0 else np.pi - ang
            d = u(rng, 15, 45)
            bx, by = hilum[0] + d * np.cos(ang), hilum[1] + d * np.sin(ang)
            rb = u(rng, 1.8, 3.5)
            canvas.paint(circle(bx, by, rb), u(rng, 0, 40), "bronchi", within=within)
            canvas.paint(circle(bx, by, rb - u(rng, 0.7, 1.1)), -950.0, "bronchi", within=within)
            canvas.paint(circle(bx + rb * 1.8, by, rb * 0.8), vessel_hu, "pulmonary vessels", within=within)


def _paint_mediastinum(canvas: Canvas, rng: np.random.Generator, wall: BodyWall, vert, med_w: float, hilum_y: float,
                       level: str, hu: dict[str, float]) -> None:
    """Draws mediastinal fat, the heart or great vessels, airways and the oesophagus for the level."""
    cav = wall.cavity
    front = -cav.radius_at(-np.pi / 2)
    front_of_spine = vert.body_cy - vert.body_ry
    within = wall.cavity_cover
    # a band of mediastinal fat from the sternum to the spine, widening towards the heart
    band = Union(
        [Ellipse(0.0, (front + front_of_spine) / 2, med_w * u(rng, 0.3, 0.45), (front_of_spine - front) / 2 + 15),
         Ellipse(u(rng, 0, 8), front_of_spine - 18, med_w * 0.9, 30)])
    canvas.paint(band, FAT_HU + u(rng, 0, 15), "mediastinal fat", texture_hu=5.0, within=within)
    eso = (u(rng, 3, 10), front_of_spine - u(rng, 4, 8))
    ao_desc_r = u(rng, 10, 14)
    ao_desc = (vert.body_rx * u(rng, 0.6, 1.0) + 4, front_of_spine + u(rng, 0, 8))
    if level == "upper":
        trachea = (u(rng, -4, 2), front_of_spine - u(rng, 14, 22))
        eso = (trachea[0] + u(rng, 5, 12), front_of_spine - u(rng, 2, 6))
        arch = Capsule(-u(rng, 12, 22), front * 0.45 + front_of_spine * 0.55 - 8, ao_desc[0], ao_desc[1] - 4,
                       u(rng, 11, 15))
        canvas.paint(Inset(arch, -u(rng, 4, 8)), FAT_HU + 5, "mediastinal fat", within=within)
        canvas.paint(arch, hu["aorta"], "aorta", texture_hu=1.5)
        canvas.paint(circle(trachea[0] - u(rng, 22, 30), trachea[1] - u(rng, 5, 15), u(rng, 8, 11)), hu["vein"],
                     "superior vena cava")
        _paint_airway(canvas, rng, circle(*trachea, u(rng, 8, 11)), "trachea")
    elif level == "hilar":
        carina = (u(rng, -3, 3), front_of_spine - u(rng, 10, 16))
        asc = (-u(rng, 8, 18), hilum_y - u(rng, 10, 25))
        trunk = (u(rng, 12, 24), asc[1] - u(rng, 0, 12))
        pa_r = u(rng, 12, 16)
        canvas.paint(Union([circle(*asc, u(rng, 18, 22)), circle(*trunk, pa_r + 5)]), FAT_HU + 5, "mediastinal fat",
                     within=within)
        # pulmonary trunk and its branches to both hila
        canvas.paint(
            polyline([trunk, (trunk[0] + 15, trunk[1] + 20), (med_w + 12, hilum_y + 5)], [pa_r, pa_r * 0.7, pa_r * 0.6])
            , hu["pulmonary"], "pulmonary artery", within=within)
        canvas.paint(
            polyline([trunk, (asc[0] + 5, asc[1] + 22), (-med_w - 12, hilum_y + 5)],
                     [pa_r * 0.7, pa_r * 0.65, pa_r * 0.55]), hu["pulmonary"], "pulmonary artery", within=within)
        canvas.paint(circle(*asc, u(rng, 13, 17)), hu["aorta"], "aorta", texture_hu=1.5)
        canvas.paint(circle(*trunk, pa_r), hu["pulmonary"], "pulmonary artery", texture_hu=1.5)
        canvas.paint(circle(asc[0] - u(rng, 18, 26), asc[1] + u(rng, 0, 10), u(rng, 8, 11)), hu["vein"],
                     "superior vena cava")
        for sgn in (-1.0, 1.0):
            end = (sgn * (med_w + u(rng, 2, 10)), carina[1] + u(rng, 8, 18))
            _paint_airway(canvas, rng, Capsule(*carina, *end, u(rng, 5.5, 7), u(rng, 4.0, 5.5)), "bronchi",
                          within=within)
    else:
        _paint_heart(canvas, rng, wall, front, front_of_spine, hu)
    canvas.paint(circle(*ao_desc, ao_desc_r + u(rng, 2, 4)), FAT_HU + 5, "mediastinal fat", within=within)
    canvas.paint(circle(*ao_desc, ao_desc_r), hu["aorta"], "aorta", texture_hu=1.5)
    canvas.paint(circle(*eso, u(rng, 5, 8)), u(rng, 35, 50), "esophagus", texture_hu=2.0)
    if rng.random() < 0.5:
        canvas.paint(circle(eso[0] + u(rng, -1, 1), eso[1] + u(rng, -1, 1), u(rng, 1, 2.5)), -1000.0, "esophagus")


def _paint_airway(canvas: Canvas, rng: np.random.Generator, shape: Shape, label: str,
                  within: np.ndarray | None = None) -> None:
    """Draws an airway: a soft-tissue wall around air."""
    canvas.paint(shape, u(rng, 30, 60), label, within=within)
    canvas.paint(Inset(shape, u(rng, 1.5, 2.5)), -1000.0 + u(rng, 0, 30), label, within=within)


def _paint_heart(canvas: Canvas, rng: np.random.Generator, wall: BodyWall, front: float, front_of_spine: float,
                 hu: dict[str, float]) -> None:
    """Draws the heart in its pericardial fat: four chambers when enhanced, myocardium, coronary arteries."""
    cx = u(rng, 10, 30)
    cy = front + (front_of_spine - front) * u(rng, 0.42, 0.55)
    a, b = u(rng, 55, 72), u(rng, 42, 55)
    ang = -u(rng, 0.35, 0.7)  # long axis points to the front and the patient's left
    heart = Ellipse(cx, cy, a, b, ang)
    canvas.paint(Inset(heart, -u(rng, 3, 7)), FAT_HU + u(rng, 0, 20), "mediastinal fat", texture_hu=5.0,
                 within=wall.cavity_cover)
    canvas.paint(heart, hu["myocardium"], "heart", texture_hu=2.0, within=wall.cavity_cover)
    c, s = np.cos(ang), np.sin(ang)

    def at(lx: float, ly: float) -> tuple[float, float]:
        return (cx + c * lx - s * ly, cy + s * lx + c * ly)

    # chambers in the heart's own frame: +lx towards the apex (left, front), +ly towards the back
    lv = Ellipse(*at(0.2 * a, 0.15 * b), 0.42 * a, 0.38 * b, ang)
    rv = Ellipse(*at(0.05 * a, -0.45 * b), 0.5 * a, 0.28 * b, ang + 0.15)
    ra = Ellipse(*at(-0.6 * a, -0.05 * b), 0.3 * a, 0.4 * b, ang)
    la = Ellipse(*at(-0.45 * a, 0.6 * b), 0.32 * a, 0.28 * b, ang)
    for chamber, key in ((rv, "heart right"), (ra, "heart right"), (la, "heart left")):
        canvas.paint(Inset(chamber, 1.5), hu[key], "heart", within=wall.cavity_cover, nominal=False)
    canvas.paint(Inset(lv, u(rng, 8, 11)), hu["heart left"], "heart", within=wall.cavity_cover, nominal=False)
    for t in (0.15, 0.45, 0.8):  # coronary arteries run in the epicardial fat
        px, py = at(a * np.cos(2 * np.pi * t + 1.0), b * np.sin(2 * np.pi * t + 1.0))
        canvas.paint(circle(px, py, u(rng, 1.2, 2.0)), hu["aorta"] if hu["aorta"] > 100 else u(rng, 200, 600), "heart",
                     nominal=False)


def _paint_ribs(canvas: Canvas, rng: np.random.Generator, wall: BodyWall, vert, level: str) -> None:
    """Draws the rib cage, sternum and (at the upper levels) the scapulae."""
    cortical = u(rng, 700, 1000)
    marrow = u(rng, 180, 280)
    n_side = int(rng.integers(5, 8))
    for sgn in (-1.0, 1.0):
        for k in range(n_side):
            from_front = 0.35 + (k + u(rng, 0.2, 0.8)) / n_side * 2.35
            theta = float((-np.pi / 2 + sgn * from_front + np.pi) % (2 * np.pi) - np.pi)
            px, py = wall.cavity.point_at(theta, -u(rng, 3, 6))
            rib = Ellipse(px, py, u(rng, 8, 18), u(rng, 3.5, 5.5), theta + np.pi / 2 + sgn * u(rng, -0.2, 0.2))
            if from_front < 0.7:
                canvas.paint(rib, u(rng, 90, 200), "ribs", texture_hu=8.0)
            else:
                paint_bone(canvas, rib, "ribs", cortical_hu=cortical, cancellous_hu=marrow, cortex_mm=1.3)
        # the posterior rib meets the transverse process beside the vertebra
        head = (sgn * (vert.body_rx + 3), vert.body_cy + vert.body_ry * 0.2)
        neck = (sgn * (vert.body_rx + u(rng, 14, 20)), vert.canal_cy + u(rng, 0, 5))
        paint_bone(canvas, polyline([head, neck, (neck[0] + sgn * 9, neck[1] - 2)], [4.0, 4.5, 4.0]), "ribs",
                   cortical_hu=cortical, cancellous_hu=marrow)
    front = wall.fat_inner.radius_at(-np.pi / 2)
    sternum = Ellipse(u(rng, -2, 2), -front + u(rng, 6, 9), u(rng, 12, 20), u(rng, 5, 8))
    paint_bone(canvas, sternum, "sternum", cortical_hu=cortical * 0.9, cancellous_hu=marrow, cortex_mm=1.5)
    if level in ("upper", "hilar"):
        for sgn in (-1.0, 1.0):
            p0 = wall.cavity.point_at(np.pi / 2 - sgn * u(rng, 0.45, 0.6), -u(rng, 10, 18))
            p1 = wall.cavity.point_at(np.pi / 2 - sgn * u(rng, 0.95, 1.2), -u(rng, 8, 14))
            blade = polyline([p0, p1], [u(rng, 2.5, 3.5), u(rng, 3.5, 5.0)])
            paint_bone(canvas, blade, "scapula", cortical_hu=cortical * 0.9, cancellous_hu=marrow, cortex_mm=1.5,
                       within=wall.fat_inner_cover)
