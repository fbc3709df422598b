"""Parallel-beam CT in 2-D: HU <-> attenuation, projection, filtered back-projection (FBP).

Two interchangeable implementations share one geometry and one set of reconstruction filters:

- `method="exact"`: pixel-driven operators in image space. Back-projection samples each filtered
  projection by linear interpolation at t = x cos(theta) + y sin(theta), as scanners and
  scikit-image's `iradon` do; forward projection is its exact adjoint (each pixel is split between
  the two nearest detector bins). Cost: O(views x pixels), about as slow as scikit-image.
- `method="fast"` (default): the same operators evaluated through the Fourier slice theorem with a
  non-uniform FFT (`vliqa.simulate.tomo_fourier`), O(N^2 log N + views x detectors). The linear
  interpolation of the exact back-projector is reproduced by its transfer function sinc^2(nu), so
  both methods give the same resolution and the same noise power spectrum.

Units: images are attenuation per pixel length (mu_per_mm * pixel_mm), so a sinogram value is the
dimensionless line integral p = integral mu dl that enters exp(-p) in Beer-Lambert's law.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import scipy.fft

from vliqa.errors import InvalidParameterError
from vliqa.simulate import tomo_fourier

#: Linear attenuation of water at the ~70 keV effective energy of a 120 kVp beam, per mm
#: (NIST XCOM: mu/rho(water, 70 keV) = 0.1929 cm^2/g at 1 g/cm^3 -> 0.01929 /mm).
MU_WATER_PER_MM = 0.0193
#: Pixel spacing assumed when an image does not state one (a 36 cm field of view on 512 pixels).
DEFAULT_PIXEL_SPACING_MM = 0.7
#: Views over 180 degrees of the reference parallel geometry (LDCTIQAC-like full sampling).
DEFAULT_N_VIEWS = 720
#: Reconstruction filters: ramp times this apodisation (nu in cycles per detector bin, Nyquist 0.5).
FILTERS = ("ram-lak", "shepp-logan", "cosine", "hamming", "hann")
METHODS = ("fast", "exact")


def hu_to_mu_per_mm(hu: np.ndarray, mu_water_per_mm: float = MU_WATER_PER_MM) -> np.ndarray:
    """Gives linear attenuation (1/mm) from HU, mu = mu_water (1 + HU/1000), clipped at 0 (air)."""
    return np.clip(mu_water_per_mm * (1.0 + np.asarray(hu, dtype=np.float64) / 1000.0), 0.0, None)


def mu_per_mm_to_hu(mu: np.ndarray, mu_water_per_mm: float = MU_WATER_PER_MM) -> np.ndarray:
    """Gives HU from linear attenuation (1/mm): HU = 1000 (mu / mu_water - 1)."""
    return 1000.0 * (np.asarray(mu) / mu_water_per_mm - 1.0)


@dataclass(frozen=True)
class ParallelGeometry:
    """A parallel-beam scan of a square image: view angles, detector count, angular weight per view."""

    size_px: int
    angles_rad: tuple[float, ...]
    n_det: int
    #: d(theta) each view stands for in the FBP sum; pi / views of the complete 180-degree scan.
    view_weight_rad: float = field(default=0.0)

    def __post_init__(self) -> None:
        if self.view_weight_rad <= 0:
            object.__setattr__(self, "view_weight_rad", float(np.pi / len(self.angles_rad)))

    @property
    def n_views(self) -> int:
        return len(self.angles_rad)

    def subset(self, keep: np.ndarray) -> ParallelGeometry:
        """Gives the geometry of the views `keep` (indices), each still weighted as in a full scan of that step."""
        return ParallelGeometry(self.size_px, tuple(np.asarray(self.angles_rad)[keep]), self.n_det,
                                self.view_weight_rad)


def parallel_geometry(size_px: int, n_views: int = DEFAULT_N_VIEWS) -> ParallelGeometry:
    """Gives `n_views` equally spaced views over 180 degrees and a detector wide enough for the image diagonal."""
    if n_views < 2:
        raise InvalidParameterError(f"n_views={n_views} is too few", hint="use at least 2 views over 180 degrees")
    # Half a step offset keeps no view exactly on an axis (symmetric sampling of 0 and 180 degrees).
    angles = tuple(float(a) for a in (np.arange(n_views) + 0.5) * np.pi / n_views)
    n_det = int(np.ceil(np.sqrt(2.0) * size_px)) + 2
    n_det += n_det % 2
    return ParallelGeometry(size_px=size_px, angles_rad=angles, n_det=n_det)


def to_square(image: np.ndarray, fill: float = 0.0) -> tuple[np.ndarray, tuple[slice, slice]]:
    """Gives the image padded to a square (centred) and the slices that cut the original back out."""
    rows, cols = image.shape
    n = max(rows, cols)
    if rows == cols:
        return image, (slice(0, rows), slice(0, cols))
    out = np.full((n, n), fill, dtype=image.dtype)
    r0, c0 = (n - rows) // 2, (n - cols) // 2
    out[r0 : r0 + rows, c0 : c0 + cols] = image
    return out, (slice(r0, r0 + rows), slice(c0, c0 + cols))


def apodization(nu: np.ndarray, filter_name: str = "ram-lak", cutoff_cycles_per_px: float | None = None) -> np.ndarray:
    """Gives the apodisation window of an FBP filter at frequencies nu (cycles per detector bin).

    The named windows follow the usual definitions (scikit-image's `iradon`): ram-lak 1, shepp-logan
    sinc(nu), cosine cos(pi nu), hamming 0.54 + 0.46 cos(2 pi nu), hann 0.5 (1 + cos(2 pi nu)). With
    `cutoff_cycles_per_px` the window is a Hann window reaching zero at that frequency instead; that
    one-parameter family is what `vliqa.simulate.kernels` fits to clinical kernels.
    """
    nu = np.abs(np.asarray(nu, dtype=np.float64))
    if cutoff_cycles_per_px is not None:
        if cutoff_cycles_per_px <= 0:
            raise InvalidParameterError(f"filter cutoff {cutoff_cycles_per_px} must be positive")
        return np.where(nu < cutoff_cycles_per_px, 0.5 * (1 + np.cos(np.pi * nu / cutoff_cycles_per_px)), 0.0)
    if filter_name == "ram-lak":
        return np.ones_like(nu)
    if filter_name == "shepp-logan":
        return np.sinc(nu)
    if filter_name == "cosine":
        return np.cos(np.pi * nu)
    if filter_name == "hamming":
        return 0.54 + 0.46 * np.cos(2 * np.pi * nu)
    if filter_name == "hann":
        return 0.5 * (1 + np.cos(2 * np.pi * nu))
    raise InvalidParameterError(f"unknown FBP filter '{filter_name}'", hint=f"use one of {', '.join(FILTERS)}")


def ramp_filter(fft_len: int, filter_name: str = "ram-lak", cutoff_cycles_per_px: float | None = None) -> np.ndarray:
    """Gives the half-spectrum (fft_len/2 values) of the apodised ramp filter.

    The ramp is the transform of the band-limited spatial ramp h[0] = 1/4, h[odd n] = -1/(pi n)^2
    (Kak & Slaney, ch. 3), which, unlike a sampled |nu|, gets the image mean (DC) right.
    """
    n = np.concatenate([np.arange(0, fft_len // 2 + 1), np.arange(-(fft_len // 2) + 1, 0)])
    h = np.zeros(fft_len)
    h[0] = 0.25
    odd = n % 2 == 1
    h[odd] = -1.0 / (np.pi * n[odd]) ** 2
    ramp = np.real(np.fft.fft(h))[: fft_len // 2]
    nu = np.arange(fft_len // 2) / fft_len
    return ramp * apodization(nu, filter_name, cutoff_cycles_per_px)


def _check_method(method: str) -> None:
    if method not in METHODS:
        raise InvalidParameterError(f"unknown method '{method}'", hint=f"use one of {', '.join(METHODS)}")


def _view_chunks(n_views: int, size_px: int) -> range:
    # ~4 M samples per chunk keeps temporary arrays near 32 MB.
    return range(0, n_views, max(1, 4_000_000 // (size_px * size_px)))


def _pixel_positions(geom: ParallelGeometry, views: slice) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Gives, for a block of views, the lower detector index, its weight and the flat index base per pixel."""
    n = geom.size_px
    c = np.arange(n, dtype=np.float32) - (n - 1) / 2.0
    theta = np.asarray(geom.angles_rad[views], dtype=np.float32)
    # Image row index grows downwards; x = column, y = -row keeps angles counter-clockwise.
    x = c[None, None, :]
    y = -c[None, :, None]
    t = x * np.cos(theta)[:, None, None] + y * np.sin(theta)[:, None, None] + (geom.n_det - 1) / 2.0
    lo = np.floor(t)
    frac = (t - lo).astype(np.float32)
    lo = np.clip(lo.astype(np.int64), 0, geom.n_det - 2)
    base = (np.arange(theta.size) * geom.n_det)[:, None, None]
    return lo + base, frac, theta


def _forward_exact(image: np.ndarray, geom: ParallelGeometry) -> np.ndarray:
    sino = np.zeros(geom.n_views * geom.n_det, dtype=np.float64)
    for start in _view_chunks(geom.n_views, geom.size_px):
        views = slice(start, min(start + max(1, 4_000_000 // geom.size_px**2), geom.n_views))
        idx, frac, theta = _pixel_positions(geom, views)
        vals = np.broadcast_to(image, idx.shape)
        off = start * geom.n_det
        size = geom.n_views * geom.n_det - off
        sino[off:] += np.bincount((idx).ravel(), weights=(vals * (1 - frac)).ravel(), minlength=size)[:size]
        sino[off:] += np.bincount((idx + 1).ravel(), weights=(vals * frac).ravel(), minlength=size)[:size]
    return sino.reshape(geom.n_views, geom.n_det).astype(np.float32)


def _backproject_exact(filtered: np.ndarray, geom: ParallelGeometry) -> np.ndarray:
    out = np.zeros((geom.size_px, geom.size_px), dtype=np.float64)
    step = max(1, 4_000_000 // geom.size_px**2)
    for start in range(0, geom.n_views, step):
        views = slice(start, min(start + step, geom.n_views))
        idx, frac, _ = _pixel_positions(geom, views)
        flat = filtered[views].ravel()
        out += (flat[idx] * (1 - frac) + flat[idx + 1] * frac).sum(axis=0)
    return out.astype(np.float32)


def forward_project(image: np.ndarray, geom: ParallelGeometry, *, method: str = "fast") -> np.ndarray:
    """Gives the sinogram (views, detectors) of a square image: line integrals in units of pixel length."""
    _check_method(method)
    img = np.asarray(image, dtype=np.float32)
    if img.shape != (geom.size_px, geom.size_px):
        raise InvalidParameterError(f"image shape {img.shape} does not match the geometry ({geom.size_px} square)")
    if method == "exact":
        return _forward_exact(img, geom)
    # The y axis points up (row index down), hence the flip; the NUFFT uses x = column, y = row index.
    return tomo_fourier.forward(img[::-1].copy(), geom.angles_rad, geom.n_det)


def fbp(
    sinogram: np.ndarray,
    geom: ParallelGeometry,
    *,
    filter_name: str = "ram-lak",
    cutoff_cycles_per_px: float | None = None,
    method: str = "fast",
    fine_detector: bool = False,
) -> np.ndarray:
    """Gives the filtered back-projection (square image, per pixel length) of a sinogram.

    `fine_detector=True` divides the filter by sinc^2(nu), the transfer function of the back-projector's
    linear interpolation between detector bins one pixel apart: the result is what a scanner whose
    detector samples much finer than the image pixel (flying focal spot, sub-millimetre channels) gives,
    with no interpolation blur at the image Nyquist. Exact for `fast`; for `exact` it holds on average.
    """
    _check_method(method)
    sino = np.asarray(sinogram, dtype=np.float64)
    if sino.shape != (geom.n_views, geom.n_det):
        raise InvalidParameterError(
            f"sinogram shape {sino.shape} does not match the geometry {(geom.n_views, geom.n_det)}")
    fft_len = 2 * geom.n_det
    filt = ramp_filter(fft_len, filter_name, cutoff_cycles_per_px)
    if fine_detector:
        filt = filt / np.sinc(np.arange(fft_len // 2) / fft_len) ** 2
    if method == "exact":
        full = np.concatenate([filt, [0.0], filt[1:][::-1]])  # even filter over the whole spectrum
        spec = scipy.fft.fft(sino, n=fft_len, axis=1, workers=tomo_fourier.FFT_WORKERS) * full[None, :]
        filtered = np.real(scipy.fft.ifft(spec, axis=1, workers=tomo_fourier.FFT_WORKERS))[:, : geom.n_det]
        return _backproject_exact(filtered.astype(np.float32), geom) * np.float32(geom.view_weight_rad)
    nu = np.arange(fft_len // 2) / fft_len
    # sinc^2 = the transfer function of linear interpolation, which the exact back-projector uses.
    spectra = tomo_fourier.detector_spectrum(sino, fft_len) * (filt * np.sinc(nu) ** 2)[None, :]
    img = tomo_fourier.backproject_spectrum(spectra, geom.angles_rad, geom.n_det, geom.size_px)
    return img[::-1] * np.float32(geom.view_weight_rad)
