"""Signed-distance shapes in millimetres for drawing anatomy with partial-volume edges.

Every shape gives an (approximate) signed distance in mm, negative inside, for
arrays of body-frame coordinates. The canvas turns a distance into a pixel
coverage fraction in [0, 1] (`coverage`), which is what makes edges
anti-aliased: a pixel straddling an organ boundary gets the area-weighted mix
of both tissues, as in a real reconstruction (partial-volume effect).

The distances only need to be accurate within a pixel or two of the boundary;
deep inside or far outside only the sign matters.

Body frame: x in mm grows to the image right (the patient's LEFT), y in mm
grows downwards (POSTERIOR), origin at the body centre.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Protocol

import numpy as np

#: Samples of the radial function of a `StarShape` over one turn; 0.15 mm steps at r = 200 mm.
N_ANGLES = 8192
_TWO_PI = 2.0 * np.pi

BBox = tuple[float, float, float, float]  # x_min, x_max, y_min, y_max in mm


class CanvasLike(Protocol):
    """What a shape needs from a canvas: body-frame grids and the polar grid about the body centre."""

    x: np.ndarray
    y: np.ndarray

    def polar_origin(self) -> tuple[np.ndarray, np.ndarray]: ...


def coverage(sdf_mm: np.ndarray, pixel_mm: float) -> np.ndarray:
    """Gives the fraction of each pixel inside a shape, from its signed distance (box-filter approximation)."""
    cov = 0.5 - sdf_mm * np.float32(1.0 / pixel_mm)
    return np.clip(cov, 0.0, 1.0, out=cov)


class GridShape(ABC):
    """A region the canvas can draw: a box and a signed distance (mm) on a window of the canvas grid.

    Shapes defined through the canvas grid itself (the folded cortex of the head) are only this;
    every other shape is a `Shape`, whose distance can be evaluated at any point.
    """

    @abstractmethod
    def bbox(self) -> BBox:
        """Gives the (x_min, x_max, y_min, y_max) box in mm that holds the shape."""

    @abstractmethod
    def sdf_on(self, canvas: CanvasLike, sl: tuple[slice, slice]) -> np.ndarray:
        """Gives the signed distance in mm (negative inside) on a pixel window of a canvas."""


class Shape(GridShape):
    """A region of the plane given by a signed distance function in mm, defined at any point."""

    @abstractmethod
    def sdf(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Gives the signed distance in mm (negative inside) at the points (x, y)."""

    def sdf_on(self, canvas: CanvasLike, sl: tuple[slice, slice]) -> np.ndarray:
        """Gives the signed distance on a pixel window of a canvas (shapes override it to reuse cached grids)."""
        return self.sdf(canvas.x[sl], canvas.y[sl])

    def contains(self, x: float, y: float) -> bool:
        """Gives True when the point (x, y) in mm lies inside the shape."""
        return bool(self.sdf(np.array([x], np.float32), np.array([y], np.float32))[0] < 0)


@dataclass
class Ellipse(Shape):
    """An ellipse with semi-axes a (along its own x) and b, rotated by angle_rad."""

    cx: float
    cy: float
    a: float
    b: float
    angle_rad: float = 0.0

    def bbox(self) -> BBox:
        c, s = np.cos(self.angle_rad), np.sin(self.angle_rad)
        hx = float(np.hypot(self.a * c, self.b * s))
        hy = float(np.hypot(self.a * s, self.b * c))
        return (self.cx - hx, self.cx + hx, self.cy - hy, self.cy + hy)

    def sdf(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        dx, dy = x - np.float32(self.cx), y - np.float32(self.cy)
        if self.angle_rad:
            c, s = np.float32(np.cos(self.angle_rad)), np.float32(np.sin(self.angle_rad))
            dx, dy = c * dx + s * dy, c * dy - s * dx
        ia2, ib2 = np.float32(1.0 / self.a**2), np.float32(1.0 / self.b**2)
        q = np.sqrt(dx * dx * ia2 + dy * dy * ib2)
        # first-order distance (q - 1) / |grad q| = (q - 1) * q / g, exact on the boundary;
        # at the very centre q / g -> between a and b, so use the smaller semi-axis there
        g = np.sqrt(dx * dx * (ia2 * ia2) + dy * dy * (ib2 * ib2))
        scale = np.divide(q, g, out=np.full_like(q, min(self.a, self.b)), where=g > 1e-12)
        return (q - 1.0) * scale


def circle(cx: float, cy: float, r: float) -> Ellipse:
    """Gives a circle of radius r mm centred at (cx, cy)."""
    return Ellipse(cx, cy, r, r)


@dataclass
class Capsule(Shape):
    """A segment from (x0, y0) to (x1, y1) thickened by a radius tapering from r0 to r1 (a vessel, a rib)."""

    x0: float
    y0: float
    x1: float
    y1: float
    r0: float
    r1: float | None = None

    def bbox(self) -> BBox:
        r = max(self.r0, self.r1 if self.r1 is not None else self.r0)
        return (min(self.x0, self.x1) - r, max(self.x0, self.x1) + r, min(self.y0, self.y1) - r,
                max(self.y0, self.y1) + r)

    def sdf(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        r1 = self.r0 if self.r1 is None else self.r1
        vx, vy = self.x1 - self.x0, self.y1 - self.y0
        len2 = vx * vx + vy * vy
        px, py = x - np.float32(self.x0), y - np.float32(self.y0)
        if len2 < 1e-9:
            return np.sqrt(px * px + py * py) - np.float32(self.r0)
        t = np.clip((px * np.float32(vx) + py * np.float32(vy)) * np.float32(1.0 / len2), 0.0, 1.0)
        ex, ey = px - t * np.float32(vx), py - t * np.float32(vy)
        return np.sqrt(ex * ex + ey * ey) - (np.float32(self.r0) + t * np.float32(r1 - self.r0))


def polyline(points: Sequence[tuple[float, float]], radii: Sequence[float] | float) -> Union:
    """Gives a chain of capsules through `points`, radius per point (a curved rib, a vessel, the pancreas)."""
    rs = [float(radii)] * len(points) if np.isscalar(radii) else [float(r) for r in radii]  # type: ignore[arg-type]
    parts = [Capsule(*points[i], *points[i + 1], rs[i], rs[i + 1]) for i in range(len(points) - 1)]
    return Union(parts)


@dataclass
class ConvexPolygon(Shape):
    """A convex polygon (vertices counter-clockwise or clockwise), e.g. a petrous bone wedge."""

    vertices: Sequence[tuple[float, float]]
    _planes: list[tuple[float, float, float]] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        v = np.asarray(self.vertices, dtype=float)
        centre = v.mean(axis=0)
        planes = []
        for i in range(len(v)):
            p, q = v[i], v[(i + 1) % len(v)]
            n = np.array([q[1] - p[1], p[0] - q[0]])
            n /= np.linalg.norm(n) + 1e-12
            if np.dot(centre - p, n) > 0:  # make every normal point outwards
                n = -n
            planes.append((float(n[0]), float(n[1]), float(np.dot(n, p))))
        self._planes = planes

    def bbox(self) -> BBox:
        v = np.asarray(self.vertices, dtype=float)
        return (float(v[:, 0].min()), float(v[:, 0].max()), float(v[:, 1].min()), float(v[:, 1].max()))

    def sdf(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        out = None
        for nx, ny, d in self._planes:
            h = x * np.float32(nx) + y * np.float32(ny) - np.float32(d)
            out = h if out is None else np.maximum(out, h)
        return out  # type: ignore[return-value]


@dataclass
class StarShape(Shape):
    """A region whose boundary is r = R(theta) around a centre: body outlines, skull, lungs.

    R is tabulated at `N_ANGLES` angles; theta is measured in the body frame
    (0 = patient's left / image right, pi/2 = posterior / image down).
    """

    cx: float
    cy: float
    radius_mm: np.ndarray  # R(theta) at N_ANGLES samples from -pi
    _inv_norm: np.ndarray = field(init=False, repr=False)

    def __post_init__(self) -> None:
        r = np.asarray(self.radius_mm, dtype=np.float64)
        dr = (np.roll(r, -1) - np.roll(r, 1)) / (2 * _TWO_PI / N_ANGLES)
        # distance along the normal = radial distance * cos(angle between radius and normal)
        self._inv_norm = (1.0 / np.sqrt(1.0 + (dr / np.maximum(r, 1e-3)) ** 2)).astype(np.float32)
        self.radius_mm = r.astype(np.float32)

    @classmethod
    def from_function(cls, cx: float, cy: float, fn: Callable[[np.ndarray], np.ndarray]) -> StarShape:
        """Gives the star shape with boundary r = fn(theta)."""
        return cls(cx, cy, fn(angles()))

    def offset(self, inset_mm: np.ndarray | float) -> StarShape:
        """Gives the shape shrunk by `inset_mm` (scalar, or one value per tabulated angle)."""
        return StarShape(self.cx, self.cy, np.maximum(self.radius_mm - np.asarray(inset_mm, np.float32), 0.5))

    def radius_at(self, theta: float) -> float:
        """Gives R(theta) in mm."""
        return float(self.radius_mm[_angle_index(np.array([theta]))[0]])

    def point_at(self, theta: float, inset_mm: float = 0.0) -> tuple[float, float]:
        """Gives the body-frame point at angle theta, `inset_mm` inside the boundary."""
        r = self.radius_at(theta) - inset_mm
        return (self.cx + r * float(np.cos(theta)), self.cy + r * float(np.sin(theta)))

    def bbox(self) -> BBox:
        cos_t, sin_t = _cos_sin()
        xs = self.cx + self.radius_mm * cos_t
        ys = self.cy + self.radius_mm * sin_t
        return (float(xs.min()), float(xs.max()), float(ys.min()), float(ys.max()))

    def sdf(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        dx, dy = x - np.float32(self.cx), y - np.float32(self.cy)
        idx = _angle_index(np.arctan2(dy, dx))
        return (np.sqrt(dx * dx + dy * dy) - self.radius_mm[idx]) * self._inv_norm[idx]

    def sdf_on(self, canvas: CanvasLike, sl: tuple[slice, slice]) -> np.ndarray:
        if self.cx != 0.0 or self.cy != 0.0:
            return self.sdf(canvas.x[sl], canvas.y[sl])
        rho, idx = canvas.polar_origin()  # body outlines share the body centre: reuse one polar grid
        idx = idx[sl]
        return (rho[sl] - self.radius_mm[idx]) * self._inv_norm[idx]


@dataclass
class Union(Shape):
    """The union of shapes (minimum of their distances)."""

    parts: Sequence[Shape]

    def bbox(self) -> BBox:
        boxes = np.array([p.bbox() for p in self.parts])
        return (float(boxes[:, 0].min()), float(boxes[:, 1].max()), float(boxes[:, 2].min()), float(boxes[:, 3].max()))

    def sdf(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        out = self.parts[0].sdf(x, y)
        for p in self.parts[1:]:
            out = np.minimum(out, p.sdf(x, y))
        return out

    def sdf_on(self, canvas: CanvasLike, sl: tuple[slice, slice]) -> np.ndarray:
        out = self.parts[0].sdf_on(canvas, sl)
        for p in self.parts[1:]:
            out = np.minimum(out, p.sdf_on(canvas, sl))
        return out


@dataclass
class Difference(Shape):
    """`base` with `cut` removed (a crescent spleen, a kidney with its hilum)."""

    base: Shape
    cut: Shape

    def bbox(self) -> BBox:
        return self.base.bbox()

    def sdf(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        return np.maximum(self.base.sdf(x, y), -self.cut.sdf(x, y))

    def sdf_on(self, canvas: CanvasLike, sl: tuple[slice, slice]) -> np.ndarray:
        return np.maximum(self.base.sdf_on(canvas, sl), -self.cut.sdf_on(canvas, sl))


@dataclass
class Intersection(Shape):
    """The part of `base` that is also inside `keep`."""

    base: Shape
    keep: Shape

    def bbox(self) -> BBox:
        b, k = self.base.bbox(), self.keep.bbox()
        return (max(b[0], k[0]), min(b[1], k[1]), max(b[2], k[2]), min(b[3], k[3]))

    def sdf(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        return np.maximum(self.base.sdf(x, y), self.keep.sdf(x, y))

    def sdf_on(self, canvas: CanvasLike, sl: tuple[slice, slice]) -> np.ndarray:
        return np.maximum(self.base.sdf_on(canvas, sl), self.keep.sdf_on(canvas, sl))


@dataclass
class HalfPlane(Shape):
    """Points with n . p <= d (unit normal n pointing outwards), limited to a bounding box for speed."""

    nx: float
    ny: float
    d: float
    box: BBox = (-1e4, 1e4, -1e4, 1e4)

    def bbox(self) -> BBox:
        return self.box

    def sdf(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        return x * np.float32(self.nx) + y * np.float32(self.ny) - np.float32(self.d)


@lru_cache(maxsize=1)
def _angles() -> np.ndarray:
    out = np.linspace(-np.pi, np.pi, N_ANGLES, endpoint=False)
    out.flags.writeable = False
    return out


@lru_cache(maxsize=1)
def _cos_sin() -> tuple[np.ndarray, np.ndarray]:
    return np.cos(_angles()), np.sin(_angles())


def angles() -> np.ndarray:
    """Gives the N_ANGLES tabulation angles of `StarShape` radial functions, from -pi (read-only)."""
    return _angles()


def _angle_index(theta: np.ndarray) -> np.ndarray:
    idx = ((theta + np.pi) * (N_ANGLES / _TWO_PI) + 0.5).astype(np.int32)
    idx[idx >= N_ANGLES] -= N_ANGLES
    return idx


def superellipse_radius(theta: np.ndarray, a: float, b: float, power: float) -> np.ndarray:
    """Gives the radius of the superellipse |x/a|^p + |y/b|^p = 1 at angles theta (p=2: an ellipse)."""
    c, s = np.abs(np.cos(theta)), np.abs(np.sin(theta))
    return (np.power(c / a, power) + np.power(s / b, power)) ** (-1.0 / power)


def fourier_wobble(theta: np.ndarray, rng: np.random.Generator, amplitude: float,
                   orders: range = range(2, 7)) -> np.ndarray:
    """Gives 1 + a smooth random periodic perturbation of relative size ~amplitude (irregular outlines)."""
    out = np.ones_like(theta)
    for k in orders:
        out += amplitude / k * rng.normal() * np.cos(k * theta + rng.uniform(0, _TWO_PI))
    return out


def bump(theta: np.ndarray, centre_rad: float, width_rad: float) -> np.ndarray:
    """Gives a periodic Gaussian bump of height 1 around centre_rad (a groove, a local thickening)."""
    d = (theta - centre_rad + np.pi) % (2 * np.pi) - np.pi
    return np.exp(-0.5 * (d / width_rad) ** 2)


@dataclass
class Inset(Shape):
    """`base` shrunk by `inset_mm` along its normals (the marrow inside a cortical shell, a lumen inside a wall)."""

    base: Shape
    inset_mm: float

    def bbox(self) -> BBox:
        return self.base.bbox()

    def sdf(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        return self.base.sdf(x, y) + np.float32(self.inset_mm)

    def sdf_on(self, canvas: CanvasLike, sl: tuple[slice, slice]) -> np.ndarray:
        return self.base.sdf_on(canvas, sl) + np.float32(self.inset_mm)
