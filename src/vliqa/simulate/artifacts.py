"""Projection-domain artifacts: sparse view, limited angle, ring (detector gain errors), rigid motion.

Each one changes the sinogram of the image and reconstructs. To keep the source image's own noise and
sharpness (it is a real scan, not the true object), only the *change* is added: the image is forward
projected (720 parallel views), the sinogram is altered, and

    degraded = source + FBP(altered sinogram) - FBP(reference sinogram)

with the source kernel's filter in both terms (FBP is linear, so this is the artifact that the
alteration adds, with the texture of that kernel).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy import ndimage

from vliqa.core import CTImage
from vliqa.errors import InvalidParameterError
from vliqa.simulate import tomo
from vliqa.simulate.dose import PADDING_HU, pixel_mm, resolve_kernel
from vliqa.simulate.registry import register

FULL_VIEWS = tomo.DEFAULT_N_VIEWS
#: Fewest views the sparse-view severity scale reaches (LDCTIQAC-like heavy streaking).
MIN_VIEWS = 24


class _Scan:
    """The source image as attenuation, its full sinogram and the reconstruction settings of its kernel."""

    def __init__(self, image: CTImage, method: str, kernel: str | float | None, seed: int):
        self.image = image
        self.px_mm = pixel_mm(image)
        mu_px = (tomo.hu_to_mu_per_mm(image.hu) * self.px_mm).astype(np.float32)
        square, self.crop = tomo.to_square(mu_px)
        self.geom = tomo.parallel_geometry(square.shape[0], FULL_VIEWS)
        self.method = method
        self.sino = tomo.forward_project(square, self.geom, method=method)
        self.kernel, self.cutoff, self.filter_name, self.kernel_from = resolve_kernel(
            image, kernel, self.px_mm, seed=seed)

    def recon_hu(self, sino: np.ndarray, geom: tomo.ParallelGeometry) -> np.ndarray:
        """Gives the FBP of `sino` in HU units of attenuation (not offset: a difference of two is an HU change)."""
        img = tomo.fbp(sino, geom, filter_name=self.filter_name, cutoff_cycles_per_px=self.cutoff, method=self.method)
        return 1000.0 * img[self.crop] / (self.px_mm * tomo.MU_WATER_PER_MM)

    def degrade(self, name: str, params: dict[str, Any], sino: np.ndarray, geom: tomo.ParallelGeometry) -> CTImage:
        """Gives the source plus the change that `sino` (in `geom`) makes to the reconstruction."""
        change = self.recon_hu(sino, geom) - self.recon_hu(self.sino, self.geom)
        hu = self.image.hu
        out = np.where(hu < PADDING_HU, hu, hu + change)
        info = {"method": self.method, "kernel": self.kernel, "kernel_from": self.kernel_from, "pixel_mm": self.px_mm}
        return self.image.with_step(name, {**params, **info}, out)


def view_subset(n_views: int, full_views: int = FULL_VIEWS) -> np.ndarray:
    """Gives the indices of `n_views` nearly equally spaced views out of `full_views`."""
    return np.unique(np.floor(np.arange(n_views) * full_views / n_views).astype(int))


def _sparse_params(severity: float, rng: np.random.Generator) -> dict[str, Any]:
    # Log scale from the full 720 views (no change) down to 24.
    n = np.exp(np.log(FULL_VIEWS) + severity * (np.log(MIN_VIEWS) - np.log(FULL_VIEWS)))
    return {
        "n_views": int(
            np.clip(round(n * np.exp(rng.uniform(-0.05, 0.05)) if severity > 0 else n), MIN_VIEWS, FULL_VIEWS))}


@register("sparse_view", params_for_severity=_sparse_params, aspects=("artifacts",), kind="projection",
          description="Fewer projection views: view-aliasing streaks radiating from high-contrast structures.")
def sparse_view(image: CTImage, *, n_views: int, seed: int = 0, method: str = "fast",
                kernel: str | float | None = None) -> CTImage:
    """Gives the image reconstructed from `n_views` of 720 views over 180 degrees (sparse-view streaks)."""
    if not 2 <= n_views <= FULL_VIEWS:
        raise InvalidParameterError(f"n_views={n_views} is outside 2..{FULL_VIEWS}")
    scan = _Scan(image, method, kernel, seed)
    keep = view_subset(n_views)
    geom = tomo.ParallelGeometry(scan.geom.size_px, tuple(np.asarray(scan.geom.angles_rad)[keep]), scan.geom.n_det,
                                 np.pi / keep.size)
    return scan.degrade("sparse_view", {"n_views": int(keep.size), "full_views": FULL_VIEWS}, scan.sino[keep], geom)


def _limited_params(severity: float, rng: np.random.Generator) -> dict[str, Any]:
    # A missing wedge of even 10 degrees already costs most of the score, so the range is 180 down to 150.
    return {"arc_deg": float(180.0 - 30.0 * severity), "start_deg": float(rng.uniform(0.0, 180.0))}


@register("limited_angle", params_for_severity=_limited_params, aspects=("artifacts",), kind="projection",
          description="Views over less than 180 degrees: a missing wedge blurs and streaks edges along one direction.")
def limited_angle(
    image: CTImage, *, arc_deg: float, start_deg: float = 0.0, seed: int = 0, method: str = "fast",
    kernel: str | float | None = None
) -> CTImage:
    """Gives the image reconstructed from the views within [start_deg, start_deg + arc_deg) (a missing wedge)."""
    if not 0.0 < arc_deg <= 180.0:
        raise InvalidParameterError(f"arc_deg={arc_deg} is outside (0, 180]")
    scan = _Scan(image, method, kernel, seed)
    ang = np.degrees(np.asarray(scan.geom.angles_rad))
    keep = np.nonzero(np.mod(ang - start_deg, 180.0) < arc_deg)[0]
    if keep.size < 2:
        raise InvalidParameterError(f"arc_deg={arc_deg} keeps fewer than 2 views", hint="use at least 0.5 degrees")
    # Each kept view keeps its full-scan weight (pi / all views): by the Fourier slice theorem the result is the
    # image with a missing wedge of spatial frequencies, the directional blur and streaks of limited-angle CT.
    # Re-spreading the half turn's weight over the kept views would scale every covered frequency by 180/arc,
    # which shifts water by ~ +100 HU and is not what a scanner does.
    n_all = len(scan.geom.angles_rad)
    geom = tomo.ParallelGeometry(scan.geom.size_px, tuple(np.asarray(scan.geom.angles_rad)[keep]), scan.geom.n_det,
                                 np.pi / n_all)
    return scan.degrade("limited_angle",
                        {"arc_deg": float(arc_deg), "start_deg": float(start_deg), "n_views": int(keep.size)},
                        scan.sino[keep], geom)


def _ring_params(severity: float, rng: np.random.Generator) -> dict[str, Any]:
    return {"gain_error_std": float(0.004 * severity), "n_defective": int(round(8 * severity)),
            "defective_error": float(0.08 * severity)}


@register("ring", params_for_severity=_ring_params, aspects=("artifacts",), kind="projection",
          description="Miscalibrated detector channels: concentric rings around the rotation centre.")
def ring(
    image: CTImage, *, gain_error_std: float, n_defective: int = 0, defective_error: float = 0.02, seed: int = 0,
    method: str = "fast", kernel: str | float | None = None,
) -> CTImage:
    """Gives the image with ring artifacts from per-detector gain errors (relative std, plus a few bad channels).

    A channel with gain g reads g I0 exp(-p); calibrated for g = 1 it reports p - log(g) in every view,
    so the sinogram gets a constant offset per detector column, which FBP turns into a ring.
    """
    if gain_error_std < 0 or n_defective < 0:
        raise InvalidParameterError("gain_error_std and n_defective must not be negative")
    scan = _Scan(image, method, kernel, seed)
    rng = np.random.default_rng(seed)
    gains = 1.0 + gain_error_std * rng.standard_normal(scan.geom.n_det)
    # Defective channels sit where rays cross the object (the central 60 % of the detector).
    n_det = scan.geom.n_det
    bad = rng.choice(np.arange(int(0.2 * n_det), int(0.8 * n_det)), size=min(n_defective, n_det // 2), replace=False)
    gains[bad] += defective_error * rng.choice([-1.0, 1.0], size=bad.size)
    offset = -np.log(np.clip(gains, 1e-3, None)).astype(np.float32)
    params = {"gain_error_std": float(gain_error_std), "n_defective": int(n_defective),
              "defective_error": float(defective_error)}
    return scan.degrade("ring", params, scan.sino + offset[None, :], scan.geom)


def _motion_params(severity: float, rng: np.random.Generator) -> dict[str, Any]:
    direction = rng.uniform(0, 2 * np.pi)
    shift = 8.0 * severity
    return {"shift_x_mm": float(shift * np.cos(direction)), "shift_y_mm": float(shift * np.sin(direction)),
            "rotation_deg": float(4.0 * severity * rng.choice([-1.0, 1.0]))}


@register("motion", params_for_severity=_motion_params, aspects=("artifacts", "sharpness"), kind="projection",
          description="Patient motion during the scan: doubled edges, streaks and blur.")
def motion(
    image: CTImage, *, shift_x_mm: float = 0.0, shift_y_mm: float = 0.0, rotation_deg: float = 0.0, seed: int = 0,
    method: str = "fast", kernel: str | float | None = None,
) -> CTImage:
    """Gives the image of a patient drifting rigidly during the half turn: from no motion at the first view to
    the full shift (mm, +x right, +y up) and in-plane rotation at the last.

    A translation (dx, dy) moves projection theta along the detector by dx cos theta + dy sin theta; a
    rotation by a turns view theta into view theta - a of the still patient. Both are resampled from
    the full sinogram (extended over 360 degrees by p(theta + pi, t) = p(theta, -t)).
    """
    scan = _Scan(image, method, kernel, seed)
    g = scan.geom
    progress = np.linspace(0.0, 1.0, g.n_views)
    theta = np.asarray(g.angles_rad)
    shift_px = progress * (shift_x_mm * np.cos(theta) + shift_y_mm * np.sin(theta)) / scan.px_mm
    view_shift = progress * np.radians(rotation_deg) / (np.pi / g.n_views)
    ext = np.concatenate([scan.sino, scan.sino[:, ::-1]], axis=0)  # views over 360 degrees
    rows = (np.arange(g.n_views) - view_shift)[:, None] * np.ones((1, g.n_det))
    cols = np.arange(g.n_det)[None, :] - shift_px[:, None]
    moved = ndimage.map_coordinates(ext, [rows, cols], order=1, mode="grid-wrap").astype(np.float32)
    # grid-wrap also wraps the detector axis; the object never reaches the detector ends, so that is harmless.
    params = {"shift_x_mm": float(shift_x_mm), "shift_y_mm": float(shift_y_mm), "rotation_deg": float(rotation_deg)}
    return scan.degrade("motion", params, moved, g)
