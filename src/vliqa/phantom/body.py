"""Anatomy shared by the body regions: the body wall, bones with a cortical shell, the vertebra, vessel trees."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from vliqa.phantom.canvas import Canvas
from vliqa.phantom.shapes import (
    Capsule,
    Ellipse,
    HalfPlane,
    Inset,
    Intersection,
    Shape,
    StarShape,
    Union,
    angles,
    bump,
    fourier_wobble,
    superellipse_radius,
)

SKIN_HU = 35.0
FAT_HU = -100.0


def u(rng: np.random.Generator, low: float, high: float) -> float:
    """Gives one uniform draw as a float (keeps the anatomy code short)."""
    return float(rng.uniform(low, high))


def body_outline(rng: np.random.Generator, half_width_mm: float, half_height_mm: float, *,
                 wobble: float = 0.025) -> StarShape:
    """Gives an irregular torso outline: rounded in front, flatter at the back, a groove over the spine."""
    th = angles()
    p_front = u(rng, 1.9, 2.3)
    p_back = u(rng, 2.4, 3.2)  # the back rests on the table and is flatter
    front = superellipse_radius(th, half_width_mm, half_height_mm, p_front)
    back = superellipse_radius(th, half_width_mm, half_height_mm, p_back)
    r = np.where(np.sin(th) < 0, front, back)
    r *= fourier_wobble(th, rng, wobble)
    r *= 1.0 - u(rng, 0.02, 0.06) * bump(th, np.pi / 2, 0.1)  # paraspinal groove
    return StarShape(0.0, 0.0, r)


def layer_thickness(rng: np.random.Generator, base_mm: float, *, front: float = 0.0, back: float = 0.0,
                    flanks: float = 0.0, wobble: float = 0.15) -> np.ndarray:
    """Gives a wall-layer thickness per outline angle, thicker in front / at the back / on the flanks as asked."""
    th = angles()
    t = 1.0 + front * bump(th, -np.pi / 2, 0.6) + back * bump(th, np.pi / 2, 0.35)
    t += flanks * (bump(th, np.pi / 2 - 1.0, 0.45) + bump(th, np.pi / 2 + 1.0, 0.45))
    return np.maximum(base_mm * t * fourier_wobble(th, rng, wobble, range(1, 5)), 1.0)


@dataclass
class BodyWall:
    """The nested outlines of the body wall: skin surface, inner surface of fat, inner surface of muscle."""

    outline: StarShape
    fat_inner: StarShape  # where subcutaneous fat ends and muscle begins
    cavity: StarShape  # inside the muscle wall (abdominal or thoracic cavity)
    cavity_cover: np.ndarray  # full-size coverage of the cavity
    fat_inner_cover: np.ndarray


def paint_body_wall(
    canvas: Canvas,
    outline: StarShape,
    fat_mm: np.ndarray,
    muscle_mm: np.ndarray,
    *,
    rng: np.random.Generator,
    cavity_hu: float,
    cavity_label: str,
    muscle_hu: float,
    extra_outline: Shape | None = None,
) -> BodyWall:
    """Draws skin, subcutaneous fat (with septa), the muscle wall and the cavity filling; gives the outlines."""
    skin_mm = u(rng, 1.5, 2.5)
    body: Shape = outline if extra_outline is None else Union([outline, extra_outline])
    canvas.paint(body, SKIN_HU + u(rng, -10, 10), "skin")
    under_skin = Inset(body, skin_mm)
    canvas.paint(under_skin, FAT_HU + u(rng, -8, 8), "subcutaneous fat", texture_hu=3.0, texture="fine")
    canvas.paint(under_skin, 0.0, None, texture="septa", texture_hu=u(rng, 8, 20), add=True)  # faint septa
    fat_inner = outline.offset(skin_mm + fat_mm)
    canvas.paint(fat_inner, muscle_hu, "muscle", texture_hu=4.0, coarse_hu=2.0)
    cavity = fat_inner.offset(muscle_mm)
    canvas.paint(cavity, cavity_hu, cavity_label, texture_hu=4.0)
    return BodyWall(outline, fat_inner, cavity, canvas.cover(cavity), canvas.cover(fat_inner))


def paint_bone(
    canvas: Canvas,
    shape: Shape,
    label: str,
    *,
    cortical_hu: float,
    cancellous_hu: float,
    cortex_mm: float = 1.2,
    trabecular_hu: float = 30.0,
    within: np.ndarray | None = None,
) -> None:
    """Draws a bone: a dense cortical shell around cancellous bone with a trabecular texture."""
    canvas.paint(shape, cortical_hu, label, within=within)
    canvas.paint(Inset(shape, cortex_mm), cancellous_hu, label, texture="trabecular", texture_hu=trabecular_hu,
                 within=within, nominal=False)


@dataclass
class Vertebra:
    """Where the parts of a drawn vertebra are (body-frame mm)."""

    body_cx: float
    body_cy: float
    body_rx: float
    body_ry: float
    canal_cy: float
    canal_r: float
    spinous_tip_y: float


def plan_vertebra(rng: np.random.Generator, cy: float, *, thoracic: bool) -> Vertebra:
    """Gives the size and layout of a vertebra whose body is centred at (0, cy)."""
    rx = u(rng, 14, 17) if thoracic else u(rng, 17, 22)
    ry = rx * u(rng, 0.8, 0.95)
    canal_r = u(rng, 6.5, 8.5)
    canal_cy = cy + ry * 0.85 + canal_r + 1.5
    spinous_tip = canal_cy + canal_r + 4 + u(rng, 14, 22)
    return Vertebra(0.0, cy, rx, ry, canal_cy, canal_r, spinous_tip)


def paint_vertebra(canvas: Canvas, rng: np.random.Generator, v: Vertebra, *, thoracic: bool,
                   within: np.ndarray | None = None) -> None:
    """Draws a vertebra: body (cortical shell, cancellous core), pedicles, laminae, processes and the canal."""
    cortical = u(rng, 750, 1000)
    cancellous = u(rng, 200, 300)
    flat_back = HalfPlane(0.0, 1.0, v.body_cy + v.body_ry * 0.85)
    vb = Intersection(Ellipse(v.body_cx, v.body_cy, v.body_rx, v.body_ry), flat_back)
    paint_bone(canvas, vb, "spine", cortical_hu=cortical, cancellous_hu=cancellous, cortex_mm=u(rng, 1.2, 2.0),
               within=within)
    cy, r = v.canal_cy, v.canal_r
    side = r + 2.5
    lamina_y = cy + r + 3.5
    tp_len = u(rng, 14, 20) if thoracic else u(rng, 12, 20)
    tp_drop = u(rng, 6, 12) if thoracic else u(rng, -2, 4)
    parts: list[Shape] = []
    for sgn in (-1.0, 1.0):
        parts.append(
            Capsule(sgn * v.body_rx * 0.55, v.body_cy + v.body_ry * 0.7, sgn * side, cy - r * 0.2, 3.5, 3.2))  # pedicle
        parts.append(Capsule(sgn * side, cy - r * 0.2, sgn * side * 0.9, cy + r * 0.5, 3.2, 3.0))
        parts.append(Capsule(sgn * side * 0.9, cy + r * 0.5, 0.0, lamina_y, 3.0, 2.8))  # lamina
        if not thoracic:  # thoracic transverse processes are hidden under the rib necks drawn with the ribs
            parts.append(
                Capsule(sgn * side, cy - r * 0.1, sgn * (side + tp_len), cy + tp_drop, 3.0, 2.2))  # transverse process
    parts.append(Capsule(0.0, lamina_y, 0.0, v.spinous_tip_y, 3.0, 2.2))  # spinous process
    paint_bone(canvas, Union(parts), "spine", cortical_hu=cortical * 0.85, cancellous_hu=cancellous, cortex_mm=1.2,
               within=within)
    canal = Ellipse(0.0, cy, r * 1.1, r * 0.95)
    canvas.paint(canal, u(rng, 10, 25), "spinal canal", texture_hu=1.5)


def vessel_tree(
    rng: np.random.Generator,
    start: tuple[float, float],
    angle_rad: float,
    length_mm: float,
    radius_mm: float,
    *,
    depth: int = 6,
    spread_rad: float = 0.5,
    min_radius_mm: float = 0.4,
    stop_prob: float = 0.12,
) -> list[Capsule]:
    """Gives the segments of a recursively branching vessel tree with tapering diameters.

    Each segment forks into two (sometimes three) children whose radii follow
    Murray-like shrinkage, turning away from the parent by up to spread_rad;
    some branches end early, as vessels leaving the slice plane do.
    """
    segments: list[Capsule] = []
    stack = [(start[0], start[1], angle_rad, length_mm, radius_mm, depth)]
    while stack:
        x, y, a, length, r, d = stack.pop()
        a += rng.normal(0.0, 0.12)
        r_end = r * u(rng, 0.8, 0.92)
        x1, y1 = x + length * np.cos(a), y + length * np.sin(a)
        segments.append(Capsule(x, y, float(x1), float(y1), r, r_end))
        if d == 0 or r_end < min_radius_mm or (d < depth and rng.random() < stop_prob):
            continue
        n_child = 3 if rng.random() < 0.15 else 2
        for k in range(n_child):
            share = u(rng, 0.55, 0.85) if k == 0 else u(rng, 0.45, 0.75)
            turn = (1 if k % 2 == 0 else -1) * u(rng, 0.15, spread_rad) * (0.6 if k == 0 else 1.0)
            stack.append((float(x1), float(y1), a + turn, length * u(rng, 0.6, 0.85), r_end * share, d - 1))
    return segments
