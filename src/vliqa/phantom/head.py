"""An axial slice of the head: scalp, skull with diploe, folded cortex, white matter, ventricles, posterior fossa.

The cortex is drawn in polar coordinates about the head centre: sulci are CSF
clefts running inwards from the brain surface at random angles and depths,
wiggled by a smooth random field, and grey matter is everything within a few
millimetres of the brain surface or of a sulcus. That gives the gyral folding
of a real grey-white boundary at the cost of one pass over the brain.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from vliqa.phantom.body import paint_bone, u
from vliqa.phantom.canvas import Canvas
from vliqa.phantom.shapes import (
    N_ANGLES,
    BBox,
    CanvasLike,
    Capsule,
    ConvexPolygon,
    Ellipse,
    GridShape,
    Intersection,
    StarShape,
    angles,
    bump,
    circle,
    fourier_wobble,
    polyline,
    superellipse_radius,
)

LEVELS = ("high", "ventricular", "posterior fossa")


@dataclass
class Sulci:
    """Sulci of the cortex: angle, depth and width of each, looked up per pixel through an angle table."""

    brain: StarShape  # the brain surface, centred at the origin
    theta_rad: np.ndarray
    depth_mm: np.ndarray
    width_mm: np.ndarray
    grey_mm: float  # cortical thickness
    warp_rad: float = 0.05
    _nearest: np.ndarray = field(init=False, repr=False)
    _cache: dict = field(init=False, repr=False, default_factory=dict)

    def __post_init__(self) -> None:
        d = (angles()[:, None] - self.theta_rad[None, :] + np.pi) % (2 * np.pi) - np.pi
        self._nearest = np.abs(d).argmin(axis=1).astype(np.int32)

    def distances(self, canvas: CanvasLike, sl: tuple[slice, slice]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Gives (depth below the brain surface, distance to the nearest sulcus, that sulcus's half width) in mm."""
        key = (sl[0].start, sl[0].stop, sl[1].start, sl[1].stop)
        if key not in self._cache:
            rho, _ = canvas.polar_origin()
            rho = rho[sl]
            depth = -self.brain.sdf_on(canvas, sl)
            warp = canvas.field("folia")[sl] * np.float32(self.warp_rad)  # type: ignore[attr-defined]
            theta = np.arctan2(canvas.y[sl], canvas.x[sl]) + warp
            idx = ((theta + np.pi) * (N_ANGLES / (2 * np.pi)) + 0.5).astype(np.int32) % N_ANGLES
            k = self._nearest[idx]
            tang = np.abs((theta - self.theta_rad[k] + np.pi) % (2 * np.pi) - np.pi) * rho
            below = np.maximum(depth - self.depth_mm[k], 0.0)
            sulcus = np.sqrt(tang * tang + below * below)
            # clefts are wider at the surface and close towards their floor
            half_w = self.width_mm[k] * (0.5 + 0.5 * np.clip(1.0 - depth / self.depth_mm[k], 0.0, 1.0))
            self._cache[key] = (depth.astype(np.float32), sulcus.astype(np.float32), half_w.astype(np.float32))
        return self._cache[key]


@dataclass
class _WhiteMatter(GridShape):
    sulci: Sulci

    def bbox(self) -> BBox:
        return self.sulci.brain.bbox()

    def sdf_on(self, canvas: CanvasLike, sl: tuple[slice, slice]) -> np.ndarray:
        depth, sulcus, _ = self.sulci.distances(canvas, sl)
        return np.float32(self.sulci.grey_mm) - np.minimum(depth, sulcus)


@dataclass
class _SulcalCsf(GridShape):
    sulci: Sulci

    def bbox(self) -> BBox:
        return self.sulci.brain.bbox()

    def sdf_on(self, canvas: CanvasLike, sl: tuple[slice, slice]) -> np.ndarray:
        depth, sulcus, half_w = self.sulci.distances(canvas, sl)
        return np.maximum(sulcus - half_w, -depth)


def draw_head(canvas: Canvas, rng: np.random.Generator, half_w: float) -> dict[str, object]:
    """Draws a head slice on `canvas`; gives the parameters drawn (level, atrophy, size)."""
    level = str(rng.choice(LEVELS, p=[0.3, 0.4, 0.3]))
    atrophy = u(rng, 0.0, 1.0)
    gm, wm, csf = u(rng, 36, 42), u(rng, 24, 30), u(rng, 3, 10)
    half_ap = half_w * u(rng, 1.15, 1.3)
    th = angles()
    r_head = superellipse_radius(th, half_w, half_ap,
                                 u(rng, 2.0, 2.3)) * (1 + 0.04 * np.sin(th)) * fourier_wobble(th, rng, 0.012)
    head = StarShape(0.0, 0.0, r_head)
    canvas.paint(head, u(rng, 30, 45), "scalp", texture_hu=3.0)
    scalp_mm = u(rng, 3.5, 6.0) * (1 + 0.4 * bump(th, np.pi / 2, 0.5))
    canvas.paint(head.offset(scalp_mm * 0.4), u(rng, -80, -40), "scalp", texture_hu=5.0, nominal=False)  # galeal fat
    outer = head.offset(scalp_mm)
    skull_mm = u(rng, 5.0, 8.0) * (1 + 0.3 * bump(th, -np.pi / 2, 0.5) + 0.4 * bump(th, np.pi / 2, 0.5)
                                  - 0.35 * bump(th, 0.0, 0.35) - 0.35 * bump(th, np.pi, 0.35))
    if level == "posterior fossa":
        skull_mm = skull_mm * 1.3
    table = u(rng, 1.3, 2.0)
    cortical = u(rng, 1200, 1600)
    canvas.paint(outer, cortical, "skull")
    canvas.paint(outer.offset(table), u(rng, 450, 800), "skull", texture="trabecular", texture_hu=60.0, nominal=False)
    inner_table = outer.offset(np.maximum(skull_mm - table, table + 0.5))
    canvas.paint(inner_table, cortical, "skull", nominal=False)
    inner = outer.offset(np.maximum(skull_mm, 2 * table + 0.5))
    canvas.paint(inner, csf, "cerebrospinal fluid", texture_hu=1.0)
    brain = inner.offset(u(rng, 0.8, 1.5) + 2.0 * atrophy)
    canvas.paint(brain, gm, "grey matter", texture_hu=1.2)

    sulci = _plan_sulci(rng, brain, level, atrophy)
    canvas.paint(_WhiteMatter(sulci), wm, "white matter", texture_hu=1.0, within=None)
    canvas.paint(_SulcalCsf(sulci), csf, "cerebrospinal fluid", nominal=False)
    front, back = brain.radius_at(-np.pi / 2), brain.radius_at(np.pi / 2)
    if level == "posterior fossa":
        _paint_posterior_fossa(canvas, rng, inner, brain, gm, wm, csf, cortical)
    else:
        # the falx: a thin dense sheet in the interhemispheric fissure, front and back
        for y0, y1 in ((-front, -front + u(rng, 25, 40)), (back - u(rng, 30, 50), back)):
            canvas.paint(Capsule(0.0, y0, 0.0, y1, u(rng, 0.4, 0.7)), u(rng, 50, 80), "falx")
        _paint_deep_structures(canvas, rng, level, atrophy, gm, csf)
    return {"level": level, "atrophy": round(atrophy, 3), "head_width_mm": round(2 * half_w, 1)}


def _plan_sulci(rng: np.random.Generator, brain: StarShape, level: str, atrophy: float) -> Sulci:
    """Gives the sulci: ~15 mm apart along the surface, the interhemispheric fissure front and back, Sylvian
    fissures."""
    theta = []
    t = u(rng, 0, 0.2)
    mean_r = float(brain.radius_mm.mean())
    while t < 2 * np.pi:
        theta.append(t)
        t += u(rng, 11, 19) / mean_r
    theta_arr = np.array(theta) - np.pi
    depth = rng.uniform(7, 18, theta_arr.size) * (1.15 if level == "high" else 1.0)
    width = rng.uniform(0.5, 1.0, theta_arr.size) * (1.0 + 1.5 * atrophy)
    extra_t, extra_d, extra_w = [-np.pi / 2, np.pi / 2], [u(rng, 30, 45),
                                                          u(rng, 30, 50)], [1.0 + atrophy, 1.0 + atrophy]
    if level == "ventricular":
        for sgn in (-1.0, 1.0):  # Sylvian fissures: deep, wide clefts on the anterolateral surface
            extra_t.append(-np.pi / 2 + sgn * u(rng, 1.0, 1.25))
            extra_d.append(u(rng, 22, 32))
            extra_w.append(u(rng, 1.5, 2.5) * (1.0 + atrophy))
    # the fixed fissures replace the random sulci nearest to them
    keep = np.ones(theta_arr.size, bool)
    for e in extra_t:
        keep &= np.abs((theta_arr - e + np.pi) % (2 * np.pi) - np.pi) > 0.06
    return Sulci(brain, np.r_[theta_arr[keep], extra_t], np.r_[depth[keep], extra_d], np.r_[width[keep], extra_w],
                 grey_mm=u(rng, 2.4, 3.4), warp_rad=u(rng, 0.012, 0.025))


def _paint_deep_structures(canvas: Canvas, rng: np.random.Generator, level: str, atrophy: float, gm: float,
                           csf: float) -> None:
    """Draws the lateral and third ventricles, basal ganglia, thalami and common calcifications."""
    size = u(rng, 0.7, 1.1) + 0.8 * atrophy
    if level == "high":
        if rng.random() < 0.6:  # the roofs of the lateral ventricle bodies
            for sgn in (-1.0, 1.0):
                canvas.paint(
                    polyline([(sgn * 8, -15), (sgn * 11, 5), (sgn * 13, 20)], [2.0 * size, 2.5 * size, 2.0 * size]),
                    csf, "ventricles")
        return
    sep = 1.5 + 1.0 * size  # half the septum pellucidum gap
    for sgn in (-1.0, 1.0):
        caudate = Ellipse(sgn * (sep + 9 * size + u(rng, 2, 4)), -u(rng, 12, 18), u(rng, 4, 6), u(rng, 7, 10),
                          sgn * 0.4)
        canvas.paint(caudate, gm - u(rng, 1, 4), "basal ganglia", texture_hu=1.0)
        lentiform = Ellipse(sgn * u(rng, 20, 26), u(rng, -6, 2), u(rng, 5, 8), u(rng, 13, 17),
                            -sgn * u(rng, 0.15, 0.35))
        canvas.paint(lentiform, gm - u(rng, 1, 4), "basal ganglia", texture_hu=1.0)
        thalamus = Ellipse(sgn * (u(rng, 9, 12)), u(rng, 10, 16), u(rng, 7, 9), u(rng, 10, 13), sgn * 0.2)
        canvas.paint(thalamus, gm - u(rng, 2, 5), "thalamus", texture_hu=1.0)
        pts = [(sgn * (sep + 3 * size), -u(rng, 22, 30)), (sgn * (sep + 4 * size), -10),
               (sgn * (sep + 12), 10 + 4 * size), (sgn * (sep + 17), 27), (sgn * (sep + 12), 38 + 5 * size)]
        radii = [3.5 * size, 3.0 * size, 2.0 * size, 5.0 * size, 2.0 * size]
        canvas.paint(polyline(pts, radii), csf, "ventricles")
        if rng.random() < 0.6:  # calcified choroid plexus in the atrium
            canvas.paint(circle(pts[3][0], pts[3][1] + 1, u(rng, 1.5, 3.0)), u(rng, 80, 250), "ventricles",
                         nominal=False)
    canvas.paint(Capsule(0.0, -2.0, 0.0, 12.0, 0.8 + 1.2 * size), csf, "ventricles")  # third ventricle
    if rng.random() < 0.5:
        canvas.paint(circle(0.0, u(rng, 18, 24), u(rng, 1.5, 3.0)), u(rng, 100, 300), "thalamus",
                     nominal=False)  # pineal


def _paint_posterior_fossa(canvas: Canvas, rng: np.random.Generator, inner: StarShape, brain: StarShape,
                           gm: float, wm: float, csf: float, cortical: float) -> None:
    """Draws the skull base level: petrous bones, sphenoid sinus, pons, fourth ventricle and cerebellum with folia."""
    back = brain.radius_at(np.pi / 2)
    side = brain.radius_at(0.0)
    cer_cy = back * u(rng, 0.35, 0.5)
    cerebellum = Intersection(Ellipse(0.0, cer_cy, side * u(rng, 0.8, 0.9), back - cer_cy + 5), brain)
    canvas.paint(cerebellum, csf, "cerebrospinal fluid", nominal=False)
    phase = rng.uniform(0, 2 * np.pi, 3)
    lam = u(rng, 3.0, 4.5)

    def folia(x: np.ndarray, y: np.ndarray) -> np.ndarray:
        # folia: thin CSF lines roughly concentric about the fourth ventricle, gently wavy
        rr = (np.sqrt(x * x + (y - cer_cy + 15) ** 2) + 3.0 * np.sin(x / 11 + phase[0]) + 2.0 * np.sin(y / 8 + phase[1])
              + 1.5 * np.sin((x + y) / 6 + phase[2]))
        return gm - 6.0 * np.exp(-((np.sin(np.pi * rr / lam) / 0.22) ** 2))

    for sgn in (-1.0, 1.0):
        hemi = Ellipse(sgn * side * 0.32, cer_cy + 3, side * 0.52, back - cer_cy + 2)
        canvas.paint(hemi, folia, "cerebellum", within=canvas.cover(Intersection(cerebellum.base, brain.offset(0.8))))
    canvas.organ_hu["cerebellum"] = gm - 4.0
    v4 = (0.0, cer_cy - u(rng, 6, 12))
    pons = Ellipse(0.0, v4[1] - u(rng, 13, 17), u(rng, 13, 17), u(rng, 11, 14))
    canvas.paint(Ellipse(pons.cx, pons.cy - 3, pons.a + 4, pons.b + 4), csf, "cerebrospinal fluid",
                 nominal=False)  # cisterns
    canvas.paint(pons, wm + u(rng, 2, 6), "brainstem", texture_hu=1.0)
    canvas.paint(circle(0.0, pons.cy - pons.b - 2, u(rng, 1.5, 2.2)), u(rng, 40, 55), "brainstem",
                 nominal=False)  # basilar
    canvas.paint(Ellipse(*v4, u(rng, 4, 7), u(rng, 2.5, 4)), csf, "ventricles")
    # sphenoid body with its air sinus, in front of the pons
    sph = Ellipse(0.0, pons.cy - pons.b - u(rng, 10, 15), u(rng, 10, 14), u(rng, 7, 10))
    paint_bone(canvas, sph, "skull", cortical_hu=cortical * 0.8, cancellous_hu=u(rng, 300, 500), cortex_mm=1.5)
    if rng.random() < 0.8:
        canvas.paint(Ellipse(sph.cx, sph.cy, sph.a - 3, sph.b - 3), -1000.0, "sinus air")
    for sgn in (-1.0, 1.0):
        apex = (sgn * u(rng, 13, 18), pons.cy - u(rng, 4, 10))
        a1 = np.pi / 2 - sgn * u(rng, 1.0, 1.1)
        a2 = np.pi / 2 - sgn * u(rng, 1.3, 1.45)
        p1, p2 = inner.point_at(a1, -2.0), inner.point_at(a2, -2.0)
        wedge = ConvexPolygon([apex, p1, p2])
        canvas.paint(wedge, u(rng, 1400, 2200), "petrous bone", texture="trabecular", texture_hu=80.0)
        if rng.random() < 0.8:  # mastoid air cells in the lateral part
            mx, my = 0.25 * apex[0] + 0.375 * (p1[0] + p2[0]), 0.25 * apex[1] + 0.375 * (p1[1] + p2[1])
            for _ in range(int(rng.integers(3, 8))):
                canvas.paint(circle(mx + u(rng, -6, 6), my + u(rng, -5, 5), u(rng, 1.0, 2.5)), -1000.0, "sinus air",
                             within=canvas.cover(wedge))
