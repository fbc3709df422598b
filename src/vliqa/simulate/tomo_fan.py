"""Fan-beam CT in 2-D: a third-generation scanner geometry, an exact projector and FBP by rebinning.

Geometry: the source turns on a circle of radius `source_to_iso_mm` around the isocentre (the image
centre), a full 360-degree rotation in `n_views` equally spaced views; the detector is an arc of
radius `source_to_detector_mm` centred on the source (an *equiangular* detector, as in Siemens, GE,
Philips and Canon scanners), with `n_det` channels of equal angle. Fan ray (beta, gamma), source angle
beta and fan angle gamma, is the parallel ray

    theta = beta + gamma,   t = source_to_iso sin(gamma)           (Kak & Slaney, ch. 3.4)

in the parallel coordinates of `vliqa.simulate.tomo` (t = x cos theta + y sin theta, x = column,
y = up). The source of view beta sits at source_to_iso (-sin beta, cos beta).

Forward projection (`fan_forward_project`) is ray-driven with Joseph's method (Joseph, IEEE TMI 1:192,
1982): each ray steps through the image one row (or one column, whichever axis the ray is closer to)
at a time, interpolates the image linearly within that row, and sums the samples times the path
length per step. It is exact for the image as a piecewise-linear function along rows/columns and
needs no approximation of the geometry, but costs views x channels x size samples (about 5-15 s for
a 512 x 512 slice and 1152 views on 2 cores).

Reconstruction (`fan_fbp`) rebins to parallel beam, as scanners do: every parallel ray (theta, t) of
the reference 720-view, 180-degree geometry is measured twice in a 360-degree fan scan, as
(beta = theta - gamma, gamma) and (beta = theta + pi + gamma, -gamma) with gamma = arcsin(t / R); both
are interpolated (Keys cubic convolution, separably in beta and gamma) and averaged, and the result
goes through the parallel FBP (`tomo.fbp`, fast or exact). The interpolation slightly low-passes and
correlates the noise, as the rebinning of real scanners does.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from vliqa.errors import InvalidParameterError
from vliqa.simulate import tomo

#: Source-to-isocentre and source-to-detector distances (mm) of a Siemens SOMATOM Definition (the
#: geometry of the AAPM/Mayo Low Dose CT Grand Challenge projection data).
SOURCE_TO_ISO_MM = 595.0
SOURCE_TO_DETECTOR_MM = 1085.6
#: Views per rotation of that scanner without flying focal spot.
DEFAULT_FAN_VIEWS = 1152
#: Its channel count and channel pitch on the detector arc (mm): 0.705 mm at the isocentre, a 50 cm field.
CLINICAL_DETECTORS = 736
CLINICAL_CHANNEL_PITCH_MM = 1.2858
#: Samples per chunk of the projector (~4 M keeps its temporary arrays near 50 MB).
_CHUNK_SAMPLES = 4_000_000


@dataclass(frozen=True)
class FanGeometry:
    """A full-rotation fan-beam scan of a square image with an equiangular (arc) detector."""

    size_px: int
    pixel_size_mm: float
    n_views: int
    n_det: int
    #: Angle between neighbouring channels, seen from the source (rad).
    channel_pitch_rad: float
    source_to_iso_mm: float = SOURCE_TO_ISO_MM
    source_to_detector_mm: float = SOURCE_TO_DETECTOR_MM

    @property
    def source_to_iso_px(self) -> float:
        return self.source_to_iso_mm / self.pixel_size_mm

    @property
    def channel_pitch_mm(self) -> float:
        """Channel pitch on the detector arc (mm)."""
        return self.channel_pitch_rad * self.source_to_detector_mm

    @property
    def ray_width_at_iso_mm(self) -> float:
        """Width of one channel's ray at the isocentre (mm): the cross-section that sets its photon count."""
        return self.channel_pitch_rad * self.source_to_iso_mm

    @property
    def betas_rad(self) -> np.ndarray:
        """Source angle of each view (rad), 0 .. 2 pi."""
        return np.arange(self.n_views) * (2.0 * np.pi / self.n_views)

    @property
    def gammas_rad(self) -> np.ndarray:
        """Fan angle of each channel (rad), symmetric about the central ray."""
        return (np.arange(self.n_det) - (self.n_det - 1) / 2.0) * self.channel_pitch_rad

    @property
    def fov_diameter_mm(self) -> float:
        """Diameter of the circle that every view sees whole (the scan field of view, mm)."""
        return 2.0 * self.source_to_iso_mm * np.sin(min(self.gammas_rad[-1], np.pi / 2))


def fan_geometry(
    size_px: int,
    *,
    n_views: int = DEFAULT_FAN_VIEWS,
    pixel_size_mm: float = tomo.DEFAULT_PIXEL_SPACING_MM,
    source_to_iso_mm: float = SOURCE_TO_ISO_MM,
    source_to_detector_mm: float = SOURCE_TO_DETECTOR_MM,
    n_detectors: int | None = None,
    channel_pitch_mm: float | None = None,
) -> FanGeometry:
    """Gives a 360-degree fan-beam geometry with an equiangular detector for a square image.

    `channel_pitch_mm` is the pitch on the detector arc; by default one pixel at the isocentre
    (pixel x source_to_detector / source_to_iso), the sampling of the parallel reference geometry.
    `n_detectors` defaults to enough channels for the image diagonal (no truncation). The clinical
    scanner is `n_detectors=CLINICAL_DETECTORS, channel_pitch_mm=CLINICAL_CHANNEL_PITCH_MM`.
    """
    if n_views < 8:
        raise InvalidParameterError(f"n_views={n_views} is too few",
                                    hint="use at least 8 views over 360 degrees (scanners use about 1000)")
    if pixel_size_mm <= 0:
        raise InvalidParameterError(f"pixel_size_mm={pixel_size_mm} must be positive")
    half_diagonal_mm = size_px * pixel_size_mm / np.sqrt(2.0)
    if source_to_iso_mm <= half_diagonal_mm:
        raise InvalidParameterError(
            f"source_to_iso_mm={source_to_iso_mm} puts the source inside the {size_px} x {pixel_size_mm} mm image",
            hint=f"use a source-to-isocentre distance above {half_diagonal_mm:.0f} mm, or the parallel geometry",
        )
    if source_to_detector_mm <= source_to_iso_mm:
        raise InvalidParameterError(
            f"source_to_detector_mm={source_to_detector_mm} is not beyond the isocentre ({source_to_iso_mm} mm)",
            hint="the detector lies on the far side of the patient: source_to_detector_mm > source_to_iso_mm",
        )
    if channel_pitch_mm is None:
        pitch_rad = pixel_size_mm / source_to_iso_mm
    elif channel_pitch_mm > 0:
        pitch_rad = channel_pitch_mm / source_to_detector_mm
    else:
        raise InvalidParameterError(f"channel_pitch_mm={channel_pitch_mm} must be positive")
    if n_detectors is None:
        half_fan_rad = np.arcsin(half_diagonal_mm / source_to_iso_mm)
        n_detectors = 2 * int(np.ceil(half_fan_rad / pitch_rad)) + 2
    if n_detectors < 2 or (n_detectors - 1) * pitch_rad >= np.pi:
        raise InvalidParameterError(
            f"{n_detectors} channels of {pitch_rad:.5f} rad do not make a fan narrower than 180 degrees",
            hint="use fewer or narrower channels",
        )
    return FanGeometry(
        size_px=int(size_px),
        pixel_size_mm=float(pixel_size_mm),
        n_views=int(n_views),
        n_det=int(n_detectors),
        channel_pitch_rad=float(pitch_rad),
        source_to_iso_mm=float(source_to_iso_mm),
        source_to_detector_mm=float(source_to_detector_mm),
    )


def fan_ray_parallel_coordinates(geom: FanGeometry) -> tuple[np.ndarray, np.ndarray]:
    """Gives, for every fan ray, its parallel angle theta (views, channels; rad) and offset t (channels; pixels)."""
    gammas = geom.gammas_rad
    theta = geom.betas_rad[:, None] + gammas[None, :]
    return theta, geom.source_to_iso_px * np.sin(gammas)


def _check_image(image: np.ndarray, geom: FanGeometry) -> np.ndarray:
    img = np.asarray(image, dtype=np.float32)
    if img.shape != (geom.size_px, geom.size_px):
        raise InvalidParameterError(f"image shape {img.shape} does not match the fan geometry ({geom.size_px} square)")
    return img


def fan_forward_project(image: np.ndarray, geom: FanGeometry) -> np.ndarray:
    """Gives the fan-beam sinogram (views, channels) of a square image: line integrals in units of pixel length.

    Joseph's method: a ray closer to the vertical steps through the rows (|cos theta| >= |sin theta|),
    one sample per row at the column where it crosses the row's centre line, linearly interpolated
    between the two nearest pixels, each worth 1/|cos theta| pixels of path; other rays step through
    the columns alike. Outside the image the attenuation is zero.
    """
    img = _check_image(image, geom)
    n = geom.size_px
    pad = 2
    width = n + 2 * pad
    # Rows of the image (row-driven rays) and of its transpose (column-driven rays), zero-padded so that
    # positions off the image read zeros; each entry holds (value, slope to the next) for one gather.
    padded = np.zeros((2, n, width + 1), dtype=np.float32)
    padded[0, :, pad : pad + n] = img
    padded[1, :, pad : pad + n] = img.T
    table = np.empty((2, n, width), dtype=np.complex64)
    table.real = padded[:, :, :width]
    table.imag = padded[:, :, 1:] - padded[:, :, :width]
    table_flat = table.ravel()

    theta, t = fan_ray_parallel_coordinates(geom)
    cos_t, sin_t = np.cos(theta), np.sin(theta)
    t_full = np.broadcast_to(t[None, :], theta.shape)
    by_row = np.abs(cos_t) >= np.abs(sin_t)
    # Sample position along row/column m (u_m = m - (n-1)/2): offset + slope u_m, in pixel indices.
    with np.errstate(divide="ignore", invalid="ignore"):
        offset = np.where(by_row, t_full / cos_t, -t_full / sin_t)
        slope = np.where(by_row, sin_t / cos_t, cos_t / sin_t)
    step_px = 1.0 / np.maximum(np.abs(cos_t), np.abs(sin_t))
    base = np.where(by_row, 0, n * width).astype(np.int64)

    offset, slope, step_px, base = (a.ravel() for a in (offset, slope, step_px, base))
    centre = (n - 1) / 2.0 + pad
    u = (np.arange(n) - (n - 1) / 2.0).astype(np.float32)
    row_base = (np.arange(n) * width).astype(np.int64)
    sino = np.empty(offset.size, dtype=np.float64)
    rays_per_chunk = max(1, _CHUNK_SAMPLES // n)
    for start in range(0, offset.size, rays_per_chunk):
        rays = slice(start, min(start + rays_per_chunk, offset.size))
        pos = np.multiply(slope[rays, None].astype(np.float32), u[None, :])
        pos += (offset[rays] + centre).astype(np.float32)[:, None]
        # Clipping to the zero margin keeps far-off positions reading zeros (and the int cast safe).
        np.clip(pos, 0.5, n + pad + 0.5, out=pos)
        lo = pos.astype(np.int64)  # floor: positions are positive
        pos -= lo
        lo += row_base[None, :]
        lo += base[rays, None]
        samples = table_flat.take(lo)
        sums = samples.real.sum(axis=1, dtype=np.float64) + np.einsum("ij,ij->i", samples.imag, pos, dtype=np.float64)
        sino[rays] = sums * step_px[rays]
    return sino.reshape(geom.n_views, geom.n_det).astype(np.float32)


#: Taps of the cubic interpolation kernel, relative to the sample below the position.
_TAPS = (-1, 0, 1, 2)


def _keys(d: np.ndarray) -> np.ndarray:
    """Gives the weight of the Keys cubic convolution kernel (a = -0.5) at distance d (samples)."""
    d = np.abs(d)
    a = -0.5
    near = ((a + 2) * d - (a + 3)) * d * d + 1
    far = ((a * d - 5 * a) * d + 8 * a) * d - 4 * a
    return np.where(d <= 1, near, np.where(d < 2, far, 0.0))


@lru_cache(maxsize=4)
def _rebin_plan(geom: FanGeometry,
                parallel: tomo.ParallelGeometry) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Gives the cubic-interpolation taps of the two rebinning steps: (view index, view weight, channel index, channel
    weight, inside)."""
    theta = np.concatenate([np.asarray(parallel.angles_rad), np.asarray(parallel.angles_rad) + np.pi])
    view = np.mod((theta[:, None] - geom.gammas_rad[None, :]) / (2.0 * np.pi / geom.n_views), geom.n_views)
    v0 = np.floor(view)
    view_idx = np.stack([(v0 + tap).astype(np.int64) % geom.n_views for tap in _TAPS])
    view_w = np.stack([_keys(view - v0 - tap) for tap in _TAPS]).astype(np.float32)
    t = np.arange(parallel.n_det) - (parallel.n_det - 1) / 2.0
    radius = geom.source_to_iso_px
    chan = np.arcsin(np.clip(t / radius, -1.0, 1.0)) / geom.channel_pitch_rad + (geom.n_det - 1) / 2.0
    inside = (np.abs(t) < radius) & (chan >= 0.0) & (chan <= geom.n_det - 1)
    c0 = np.clip(np.floor(chan), 0, geom.n_det - 2)
    chan_idx = np.stack([np.clip(c0 + tap, 0, geom.n_det - 1).astype(np.int64) for tap in _TAPS])
    chan_w = np.stack([_keys(chan - c0 - tap) for tap in _TAPS]).astype(np.float32)
    return view_idx, view_w, chan_idx, chan_w, inside


def rebin_to_parallel(fan_sinogram: np.ndarray, geom: FanGeometry,
                      n_parallel_views: int = tomo.DEFAULT_N_VIEWS) -> tuple[np.ndarray, tomo.ParallelGeometry]:
    """Gives the parallel sinogram (180 degrees, `n_parallel_views` views) rebinned from a fan sinogram, and its
    geometry.

    Two separable cubic (Keys) interpolations: along the views of each channel to the parallel angles
    theta and theta + pi (beta = theta - gamma), then along the channels to gamma = arcsin(t / R); the ray
    (theta, t) and its twin (theta + pi, -t) are averaged. Parallel rays outside the fan (|t| beyond the
    field of view) are zero: an object wider than the field is truncated, as on a scanner.
    """
    sino = np.asarray(fan_sinogram, dtype=np.float64)
    if sino.shape != (geom.n_views, geom.n_det):
        raise InvalidParameterError(
            f"fan sinogram shape {sino.shape} does not match the geometry {(geom.n_views, geom.n_det)}")
    parallel = tomo.parallel_geometry(geom.size_px, n_parallel_views)
    view_idx, view_w, chan_idx, chan_w, inside = _rebin_plan(geom, parallel)
    channels = np.arange(geom.n_det)[None, :]
    # Parallel angles over 360 degrees x fan channels, then x parallel detector positions.
    by_angle = sum(sino[view_idx[k], channels] * view_w[k] for k in range(len(_TAPS)))
    full = sum(by_angle[:, chan_idx[k]] * chan_w[k][None, :] for k in range(len(_TAPS)))
    full[:, ~inside] = 0.0
    half = parallel.n_views
    # Detector positions are symmetric about the centre, so -t of bin i is bin n_det - 1 - i.
    rebinned = 0.5 * (full[:half] + full[half:, ::-1])
    return rebinned.astype(np.float32), parallel


def fan_fbp(
    fan_sinogram: np.ndarray,
    geom: FanGeometry,
    *,
    filter_name: str = "ram-lak",
    cutoff_cycles_per_px: float | None = None,
    method: str = "fast",
    n_parallel_views: int = tomo.DEFAULT_N_VIEWS,
    fine_detector: bool = False,
) -> np.ndarray:
    """Gives the FBP image (square, per pixel length) of a fan sinogram: rebinned to parallel beam, then `tomo.fbp`."""
    parallel_sino, parallel = rebin_to_parallel(fan_sinogram, geom, n_parallel_views)
    return tomo.fbp(
        parallel_sino, parallel, filter_name=filter_name, cutoff_cycles_per_px=cutoff_cycles_per_px, method=method,
        fine_detector=fine_detector,
    )
