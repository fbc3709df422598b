"""Where a metal implant goes in a CT slice, and its shape: simple HU-threshold anatomy and analytic parts.

The anatomy is read with thresholds only (body > -500 HU, bone > 250 HU, lung < -600 HU), enough to
tell head / chest / abdomen / pelvis apart, find the vertebra (for pedicle screws), the large lateral
bones of the pelvis (for hip prostheses) and the body's edge (to keep every implant inside the body).
Implants are unions of ellipses and rotated rectangles ("parts"), whose line integrals are exact
(`vliqa.simulate.metal.chord_sinogram`), so no pixelated metal mask is ever forward projected.

Radiological orientation: the patient's right is on the image LEFT (smaller column index).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
from scipy import ndimage

#: Implant kinds, each with the material it is usually made of.
DEFAULT_MATERIAL = {"clip": "titanium", "coil": "platinum", "dental": "amalgam", "screws": "titanium", "hip": "cocr"}
KINDS = tuple(DEFAULT_MATERIAL)
BODY_HU, BONE_HU, LUNG_HU = -500.0, 250.0, -600.0
#: Threshold on the 2 mm-smoothed image for the big lateral bones (femoral heads have marrow below 250 HU).
LATERAL_BONE_HU = 150.0


@dataclass(frozen=True)
class MetalPart:
    """One analytic piece of an implant: an ellipse or a rectangle, in image pixels (row down, col right)."""

    shape: str  # "ellipse" or "rect"
    row_px: float
    col_px: float
    #: Half extent along the long axis and across it (mm).
    half_length_mm: float
    half_width_mm: float
    #: Direction of the long axis, counter-clockwise from the image's +column direction (degrees).
    angle_deg: float
    material: str
    #: +1 adds metal; -1 carves a hole out of the part before it (a shell = outer ellipse + inner hole).
    sign: float = 1.0

    def to_dict(self) -> dict[str, float | str]:
        """Gives the part as a JSON-ready dict (positions rounded to 0.1 px)."""
        d = asdict(self)
        return {k: (round(v, 2) if isinstance(v, float) else v) for k, v in d.items()}


@dataclass(frozen=True)
class Anatomy:
    """What the thresholds found: body part, masks and landmarks (pixels)."""

    part: str  # "head", "chest", "abdomen" or "pelvis"
    body: np.ndarray
    depth_px: np.ndarray  # distance to the body edge inside the body, 0 outside
    centre_rc: tuple[float, float]
    half_height_px: float
    half_width_px: float
    top_row: int
    #: Anterior-most point (row, col) of the vertebra, or None.
    vertebra_rc: tuple[float, float] | None
    #: Centroids of the large lateral bones (iliac wing / acetabulum / femoral head) by patient side.
    lateral_bone_rc: dict[str, tuple[float, float]]


def find_anatomy(hu: np.ndarray, px_mm: float) -> Anatomy:
    """Gives the body part and landmarks of a slice from HU thresholds."""
    body = ndimage.binary_opening(hu > BODY_HU, structure=np.ones((3, 3)), iterations=2)
    labels, n = ndimage.label(body)
    if n == 0:  # nothing body-like: treat the whole image as the body
        body = np.ones_like(hu, dtype=bool)
    else:
        sizes = ndimage.sum_labels(body, labels, index=np.arange(1, n + 1))
        body = ndimage.binary_fill_holes(labels == 1 + int(np.argmax(sizes)))
    rows, cols = np.nonzero(body)
    r0, r1, c0, c1 = rows.min(), rows.max(), cols.min(), cols.max()
    centre = (float(rows.mean()), float(cols.mean()))
    half_h, half_w = (r1 - r0 + 1) / 2.0, (c1 - c0 + 1) / 2.0
    depth = ndimage.distance_transform_edt(body)
    bone = (hu > BONE_HU) & body
    smoothed = ndimage.gaussian_filter(hu.astype(np.float32), 2.0 / px_mm)
    lateral = _lateral_bones(smoothed, body, centre, half_w, px_mm)
    part = _body_part(hu, body, depth, centre, (half_h, half_w), lateral, px_mm)
    return Anatomy(
        part=part, body=body, depth_px=depth, centre_rc=centre, half_height_px=half_h, half_width_px=half_w,
        top_row=int(r0), vertebra_rc=_vertebra(bone, centre, half_h, half_w) if part != "head" else None,
        lateral_bone_rc=lateral,
    )


def _body_part(hu: np.ndarray, body: np.ndarray, depth: np.ndarray, centre: tuple[float, float],
               half_hw: tuple[float, float], lateral: dict[str, tuple[float, float]], px_mm: float) -> str:
    half_h, half_w = half_hw
    lung_share = float(((hu < LUNG_HU) & body & (depth > 5)).sum()) / max(int(body.sum()), 1)
    width_mm = 2 * half_w * px_mm
    if width_mm < 230 and lung_share <= 0.15:
        # Narrower than any adult trunk: a head (skull ring or skull base / face). Small children are missed.
        return "head"
    if lung_share > 0.15 or _has_trachea(hu, body, depth, centre, half_hw, px_mm):
        return "chest"
    if len(lateral) == 2:
        return "pelvis"
    return "abdomen"


def _has_trachea(hu: np.ndarray, body: np.ndarray, depth: np.ndarray, centre: tuple[float, float],
                 half_hw: tuple[float, float], px_mm: float) -> bool:
    """Gives True when an airway-sized air pocket sits in the front midline (neck, shoulders, upper chest)."""
    air = (hu < -900) & body & (depth > 10.0 / px_mm)
    labels, n = ndimage.label(air)
    if n == 0:
        return False
    index = np.arange(1, n + 1)
    areas = ndimage.sum_labels(air, labels, index=index) * px_mm**2
    for area, (r, c) in zip(areas, ndimage.center_of_mass(air, labels, index=index), strict=True):
        if (80.0 <= area <= 700.0 and abs(c - centre[1]) < 0.12 * half_hw[1]
            and centre[0] - 0.7 * half_hw[0] < r < centre[0]):
            return True
    return False


def _vertebra(bone: np.ndarray, centre: tuple[float, float], half_h: float,
              half_w: float) -> tuple[float, float] | None:
    """Gives the anterior-most point of the largest bone near the midline behind the body centre."""
    rows = np.arange(bone.shape[0])[:, None]
    cols = np.arange(bone.shape[1])[None, :]
    near = bone & (np.abs(cols - centre[1]) < 0.25 * half_w) & (rows > centre[0] - 0.2 * half_h)
    labels, n = ndimage.label(near)
    if n == 0:
        return None
    sizes = ndimage.sum_labels(near, labels, index=np.arange(1, n + 1))
    rr, cc = np.nonzero(labels == 1 + int(np.argmax(sizes)))
    if rr.size < 30:
        return None
    mid = float(np.median(cc))
    column = np.abs(cc - mid) < 0.04 * half_w + 2
    return float(rr[column].min()), mid


def _lateral_bones(smoothed_hu: np.ndarray, body: np.ndarray, centre: tuple[float, float], half_w: float,
                   px_mm: float) -> dict[str, tuple[float, float]]:
    """Gives, per patient side, the centroid of the largest bone far from the midline (if over 700 mm^2)."""
    cols = np.arange(body.shape[1])[None, :]
    offset = (cols - centre[1]) / half_w
    found: dict[str, tuple[float, float]] = {}
    # Only the lateral parts count, so that a pelvic ring joined at the pubis still gives two hips.
    # Smoothing and filling make a femoral head (cortex > 250 HU, marrow below) one solid piece.
    solid = ndimage.binary_fill_holes(smoothed_hu > LATERAL_BONE_HU) & body
    for side, lateral in (("right", offset < -0.3), ("left", offset > 0.3)):  # patient's right = image left
        mask = solid & lateral
        labels, n = ndimage.label(mask)
        if n == 0:
            continue
        sizes = ndimage.sum_labels(mask, labels, index=np.arange(1, n + 1)) * px_mm**2
        best = int(np.argmax(sizes))
        if sizes[best] >= 700.0:
            r, c = ndimage.center_of_mass(mask, labels, best + 1)
            found[side] = (float(r), float(c))
    return found


def _inside(anat: Anatomy, r: float, c: float, depth_px: float) -> tuple[float, float]:
    """Gives the point moved toward the body centre until it lies at least `depth_px` inside the body."""
    cr, cc = anat.centre_rc
    for k in range(41):
        rr, cc2 = cr + (r - cr) * (1 - k / 40), cc + (c - cc) * (1 - k / 40)
        i, j = int(round(rr)), int(round(cc2))
        if 0 <= i < anat.depth_px.shape[0] and 0 <= j < anat.depth_px.shape[1] and anat.depth_px[i, j] >= depth_px:
            return float(rr), float(cc2)
    return float(cr), float(cc)


def place(kind: str, material: str, count: int, size_scale: float, side: str, anat: Anatomy, px_mm: float,
          rng: np.random.Generator) -> tuple[list[MetalPart], str, str]:
    """Gives the parts of `count` implants of `kind` placed in the anatomy, a plain phrase for where they
    are, and the kind actually placed (a head gets dental work instead of hips or spinal screws)."""
    if anat.part == "head" and kind in ("hip", "screws"):
        # No hips or lumbar screws in a head: the head's large implants are dental crowns and bridges.
        kind, count, size_scale = "dental", 2, size_scale * (1.6 if kind == "hip" else 1.2)
    s = size_scale
    cr, cc = anat.centre_rc
    hh, hw = anat.half_height_px, anat.half_width_px
    mm = 1.0 / px_mm
    parts: list[MetalPart] = []
    centres: list[tuple[float, float]] = []
    if kind == "hip":
        sides = ["right", "left"] if count >= 2 else [side if side in ("right", "left") else "right"]
        head_mm, cup_in_mm, cup_out_mm = 14.0 * s, 20.0 * s, 24.0 * s  # 28 mm head, 48 mm acetabular cup
        for sd in sides:
            sign = -1.0 if sd == "right" else 1.0
            if sd in anat.lateral_bone_rc:
                r, c = anat.lateral_bone_rc[sd]
            else:
                r, c = cr + 0.15 * hh + rng.uniform(-0.05, 0.05) * hh, cc + sign * (0.5 + rng.uniform(-0.04, 0.04)) * hw
            r, c = _inside(anat, r, c, (cup_out_mm + 6.0) * mm)
            centres.append((r, c))
            parts += [MetalPart("ellipse", r, c, head_mm, head_mm, 0.0, material),
                      MetalPart("ellipse", r, c, cup_out_mm, cup_out_mm, 0.0, material),
                      MetalPart("ellipse", r, c, cup_in_mm, cup_in_mm, 0.0, material, -1.0)]
    elif kind == "screws":
        # Pedicle screws: from the front third of the vertebral body back and out through the pedicles.
        if anat.vertebra_rc is not None:
            top_r, mid_c = anat.vertebra_rc
        else:
            top_r, mid_c = cr + 0.3 * hh, cc
        length_mm, radius_mm = 45.0 * s, 3.25 * s
        converge_deg = 20.0 + rng.uniform(-4, 4)
        for sign in ([-1.0, 1.0] if count >= 2 else [-1.0 if side != "left" else 1.0]):
            tip_r, tip_c = top_r + 6.0 * mm, mid_c + sign * 5.0 * mm
            ang = np.radians(converge_deg)
            r = tip_r + 0.5 * length_mm * mm * np.cos(ang)
            c = tip_c + sign * 0.5 * length_mm * mm * np.sin(ang)
            r, c = _inside(anat, r, c, (0.5 * length_mm + 5.0) * mm)
            centres.append((r, c))
            # Long axis points down (-90 deg) tilted outward: rows grow downward, angles count upward.
            parts.append(MetalPart("rect", r, c, 0.5 * length_mm, radius_mm, -90.0 + sign * converge_deg, material))
    elif kind == "dental":
        for k in range(max(1, count)):
            sign = (-1.0 if k == 0 else 1.0) if count >= 2 else (-1.0 if side != "left" else 1.0)
            r, c = anat.top_row + 18.0 * mm, cc + sign * (20.0 + rng.uniform(-3, 3)) * mm
            r, c = _inside(anat, r, c, 8.0 * mm)
            centres.append((r, c))
            parts.append(MetalPart("rect", r, c, 4.5 * s, 3.0 * s, rng.uniform(-20, 20), material))
    elif kind == "clip":
        if anat.part == "head":
            ang = rng.uniform(0, 2 * np.pi)
            r, c = cr + np.sin(ang) * hh, cc + np.cos(ang) * hw
            r, c = _inside(anat, r, c, 15.0 * mm)
        else:  # gallbladder fossa / right upper quadrant: surgical clips of a cholecystectomy
            r = cr - (0.25 + rng.uniform(-0.08, 0.08)) * hh
            c = cc - (0.4 + rng.uniform(-0.08, 0.08)) * hw if side != "left" else cc + 0.4 * hw
            r, c = _inside(anat, r, c, 12.0 * mm)
        for k in range(max(1, count)):
            ang = rng.uniform(0, 180)
            rk, ck = r + k * 9.0 * mm * np.sin(np.radians(ang + 70)), c + k * 9.0 * mm * np.cos(np.radians(ang + 70))
            centres.append((rk, ck))
            # A closed ligation clip seen across: two legs 0.8 mm thick, 7 mm long, 1.6 mm apart.
            for leg in (-0.8, 0.8):
                off_r, off_c = -leg * s * mm * np.cos(np.radians(ang)), -leg * s * mm * np.sin(np.radians(ang))
                parts.append(MetalPart("rect", rk + off_r, ck + off_c, 3.5 * s, 0.4 * s, ang, material))
    elif kind == "coil":
        if anat.part == "head":
            r, c = cr - 0.1 * hh, cc + rng.uniform(-0.1, 0.1) * hw
        elif anat.vertebra_rc is not None:
            r, c = anat.vertebra_rc[0] - 20.0 * mm, anat.vertebra_rc[1] + rng.uniform(-10, 10) * mm
        else:
            r, c = cr, cc
        r, c = _inside(anat, r, c, 12.0 * mm)
        centres.append((r, c))
        for _ in range(3):  # a packed coil: three overlapping wire loops
            dr, dc = rng.uniform(-1.5, 1.5, size=2) * s * mm
            outer, ang = 3.5 * s, rng.uniform(0, 180)
            parts += [MetalPart("ellipse", r + dr, c + dc, outer, 0.8 * outer, ang, material),
                      MetalPart("ellipse", r + dr, c + dc, outer - 0.6, 0.8 * outer - 0.6, ang, material, -1.0)]
    return parts, region_phrase(kind, [(float(r), float(c)) for r, c in centres], anat), kind


def region_phrase(kind: str, centres: list[tuple[float, float]], anat: Anatomy) -> str:
    """Gives a plain phrase for where the implants sit ("right hip", "spine", "both sides of the abdomen")."""
    if kind == "screws" and anat.vertebra_rc is not None:
        return "spine"
    if kind == "dental" and anat.part == "head":
        return "dental"
    cc = anat.centre_rc[1]
    sides = set()
    for _, c in centres:
        offset = (c - cc) / anat.half_width_px
        sides.add("right" if offset < -0.12 else "left" if offset > 0.12 else "midline")
    if kind == "hip" and anat.part == "pelvis":
        return "both hips" if {"right", "left"} <= sides else f"{sides.pop()} hip"
    where = {"head": "head", "chest": "chest", "abdomen": "abdomen", "pelvis": "pelvis"}[anat.part]
    if {"right", "left"} <= sides:
        return f"both sides of the {where}"
    side = sides.pop() if sides else "midline"
    if side == "midline":
        return f"central {where}"
    if anat.part == "abdomen" and kind == "clip":
        return f"{side} upper abdomen" if np.mean([r for r, _ in centres]) < anat.centre_rc[0] else f"{side} abdomen"
    return f"{side} {where}"
