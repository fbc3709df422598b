"""Lower-dose CT by projection-domain noise insertion (`low_dose`, registered as a degradation).

Physics (derivation in docs/simulation.md): a ray with line integral p sees, at full (source) dose,
N = I0 exp(-p) photons on average; the post-log value log(I0 / counts) of counts ~ Poisson(N) plus
Gaussian electronic noise (variance s_e^2) has variance ~ 1/N + s_e^2/N^2. At a fraction f of the
dose, N -> f N, so a real scan (already carrying its own noise) needs only the extra variance

    var_add = (1/f - 1) exp(p) / I0 + (1/f^2 - 1) s_e^2 exp(2p) / I0^2          (Yu et al. 2012)

per ray; it is reconstructed with the source image's kernel and added (FBP is linear, so
degraded = source + FBP(noise sinogram)). Noise-free inputs (procedural phantoms) get the whole
low-dose noise. Rays with very few photons are simulated with the real count statistics (Poisson,
electronic noise, a count floor before the log), which is where photon-starvation streaks come from.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from vliqa.errors import InvalidParameterError
from vliqa.io.image import CTImage
from vliqa.simulate import kernels, tomo, tomo_fan
from vliqa.simulate.registry import register

#: Incident photons per ray per view, per mGy CTDIvol and per mm^2 of ray cross-section (detector
#: bin width at the isocentre x slice thickness), in the reference geometry of 720 parallel views.
#: Calibrated on the bundled Siemens abdomen slices (see docs/simulation.md and bench/calibrate_dose.py).
PHOTONS_PER_MGY_MM2 = 7.5e4
#: Source dose assumed when the header gives none: a routine adult abdomen CTDIvol (mGy).
DEFAULT_SOURCE_DOSE_MGY = 12.0
#: Slice thickness assumed when the image does not state it (mm).
DEFAULT_SLICE_THICKNESS_MM = 3.0
#: CTDIvol per 100 mAs at 120 kVp in the 32 cm body phantom (typical of current scanners, mGy).
CTDI_PER_100_MAS_MGY = 7.0
#: Rotation time assumed when only the tube current is known (s).
DEFAULT_ROTATION_S = 0.5
#: Electronic noise standard deviation in photon-count units (variance 10, a common literature value).
ELECTRONIC_NOISE_PHOTONS = float(np.sqrt(10.0))
#: Counts below this are clamped before the log (a detector reading of zero or less has no log).
COUNT_FLOOR_PHOTONS = 1.0
#: Pixels below this HU are outside the scanned field (padding) and are left untouched.
PADDING_HU = -1500.0
#: Lowest dose fraction the severity scale reaches.
MIN_DOSE_FRACTION = 0.03


def source_dose_mgy(image: CTImage) -> tuple[float, str]:
    """Gives the source image's CTDIvol (mGy) and which header field (or default) it came from."""
    acq = image.acquisition
    if acq.ctdi_vol_mgy and acq.ctdi_vol_mgy > 0:
        return float(acq.ctdi_vol_mgy), "ctdi_vol_mgy"
    if acq.exposure_mas and acq.exposure_mas > 0:
        return float(acq.exposure_mas) * CTDI_PER_100_MAS_MGY / 100.0, "exposure_mas"
    if acq.tube_current_ma and acq.tube_current_ma > 0:
        return float(acq.tube_current_ma) * DEFAULT_ROTATION_S * CTDI_PER_100_MAS_MGY / 100.0, "tube_current_ma"
    return DEFAULT_SOURCE_DOSE_MGY, "default"


#: Plausible CTDIvol range (mGy) of a diagnostic CT; a header-derived dose outside it is not trusted.
PLAUSIBLE_DOSE_MGY = (0.2, 100.0)


def _dose_from_image_noise(image: CTImage, assumed_mgy: float, model_noise_hu: np.ndarray) -> float | None:
    """Gives the source dose (mGy) at which the noise model reproduces the image's measured noise sigma.

    sigma scales as 1/sqrt(dose), so dose = assumed * (sigma_model / sigma_measured)^2, both measured in
    the same flat regions of interest. None when the image has no region to measure noise in.
    """
    from vliqa.ct.noise import find_homogeneous_rois, noise_sigma_hu

    rois = find_homogeneous_rois(image)
    if len(rois) < 2:
        return None
    measured = noise_sigma_hu(image)
    model = float(np.median([np.std(model_noise_hu[r.slices]) for r in rois]))
    if not np.isfinite(measured.sigma_hu) or measured.sigma_hu <= 0 or model <= 0:
        return None
    return float(np.clip(assumed_mgy * (model / measured.sigma_hu) ** 2, *PLAUSIBLE_DOSE_MGY))


def pixel_mm(image: CTImage) -> float:
    """Gives the pixel size in mm (geometric mean of row and column spacing, default 0.7 mm)."""
    if image.pixel_spacing_mm:
        return float(np.sqrt(image.pixel_spacing_mm[0] * image.pixel_spacing_mm[1]))
    return tomo.DEFAULT_PIXEL_SPACING_MM


def incident_photons_per_ray(dose_mgy: float, pixel_size_mm: float, slice_thickness_mm: float, n_views: int) -> float:
    """Gives I0, the unattenuated photons per ray per view, for a dose and ray cross-section (720-view reference)."""
    return PHOTONS_PER_MGY_MM2 * dose_mgy * pixel_size_mm * slice_thickness_mm * tomo.DEFAULT_N_VIEWS / n_views


def is_noise_free(image: CTImage) -> bool:
    """Gives True for images with no acquisition noise of their own (history starts with 'phantom')."""
    return bool(image.history) and image.history[0].get("name") == "phantom"


def resolve_kernel(image: CTImage, kernel: str | float | None, pixel_size_mm: float, *, seed: int = 0) -> tuple[str, float | None, str, str]:
    """Gives (label, Hann cutoff cycles/pixel or None, FBP filter name, where it came from) for the added noise.

    `kernel` may be an FBP filter name (ram-lak, shepp-logan, cosine, hamming, hann), a clinical kernel
    name (B30f, STANDARD, ...), a Hann cutoff in cycles/mm, or None: then the header kernel, else a fit
    to the image's own NPS, else the default kernel.
    """
    if isinstance(kernel, (int, float)):
        return f"hann@{float(kernel):.3f}/mm", float(kernel) * pixel_size_mm, "hann", "parameter"
    if isinstance(kernel, str):
        if kernel in tomo.FILTERS:
            return kernel, None, kernel, "parameter"
        peak = kernels.kernel_peak_per_mm(kernel)
        if peak is None:
            raise InvalidParameterError(
                f"unknown kernel '{kernel}'",
                hint=f"use an FBP filter ({', '.join(tomo.FILTERS)}), a clinical kernel name like B30f or STANDARD, or a cutoff in cycles/mm",
            )
        return kernel, kernels.cutoff_for_peak(peak, pixel_size_mm), "hann", "parameter"
    header = image.acquisition.kernel
    peak = kernels.kernel_peak_per_mm(header)
    if peak is not None:
        return str(header), kernels.cutoff_for_peak(peak, pixel_size_mm), "hann", "header table"
    if not is_noise_free(image):
        cutoff, info = kernels.fit_kernel_cutoff(image.hu, pixel_size_mm, seed=seed)
        if np.isfinite(cutoff):
            return f"nps-fit@{info['nps_mean_freq_per_mm']:.3f}/mm", cutoff, "hann", "image NPS fit"
    peak = kernels.kernel_peak_per_mm(kernels.DEFAULT_KERNEL)
    return kernels.DEFAULT_KERNEL, kernels.cutoff_for_peak(float(peak), pixel_size_mm), "hann", "default"


def noise_sinogram(
    line_integrals: np.ndarray,
    photons_source: float | np.ndarray,
    dose_fraction: float,
    rng: np.random.Generator,
    *,
    source_has_noise: bool,
    electronic_noise_photons: float = ELECTRONIC_NOISE_PHOTONS,
) -> np.ndarray:
    """Gives the post-log noise to add to each ray to go from the source dose to `dose_fraction` of it.

    The low-dose measurement is simulated as counts = Poisson(f N) + Normal(0, s_e^2), clamped at
    COUNT_FLOOR_PHOTONS, and logged; its deviation from the noise-free line integral is the full
    low-dose noise n_f (bias and streaks of starved rays included). A noisy source already carries
    var_s = 1/N + s_e^2/N^2, so n_f is scaled by sqrt(1 - var_s / var_f), with var_f the same
    expression at f N: for well-exposed rays that gives exactly the Yu et al. variance
    (1/f - 1)/N + (1/f^2 - 1) s_e^2/N^2, for starved rays (var_s << var_f) almost all of n_f.
    """
    p = np.asarray(line_integrals, dtype=np.float64)
    photons = np.broadcast_to(np.asarray(photons_source, dtype=np.float64), p.shape)
    expected_src = photons * np.exp(-np.clip(p, 0.0, 60.0))
    expected_low = dose_fraction * expected_src
    counts = rng.poisson(expected_low).astype(np.float64)
    if electronic_noise_photons > 0:
        counts += electronic_noise_photons * rng.standard_normal(p.shape)
    measured = np.log(dose_fraction * photons / np.maximum(counts, COUNT_FLOOR_PHOTONS))
    noise = measured - p
    if source_has_noise:
        s2 = electronic_noise_photons**2
        var_src = 1.0 / np.maximum(expected_src, 1e-12) + s2 / np.maximum(expected_src, 1e-12) ** 2
        var_low = 1.0 / np.maximum(expected_low, 1e-12) + s2 / np.maximum(expected_low, 1e-12) ** 2
        noise *= np.sqrt(np.clip(1.0 - var_src / var_low, 0.0, 1.0))
    return noise.astype(np.float32)


def angular_modulation(line_integrals: np.ndarray) -> np.ndarray:
    """Gives the relative tube current per view (mean 1) of angular tube-current modulation.

    Scanners (CARE Dose4D, SmartmA, DoseRight) raise the current in views through more tissue; the
    noise-optimal rule is mA ~ sqrt(attenuation) (Gies et al., Med Phys 26:2235, 1999). Attenuation of a
    view is taken as the mean of exp(p) over its rays that cross the body (p > 0.5).
    """
    p = np.asarray(line_integrals, dtype=np.float64)
    body = p > 0.5
    att = np.where(body, np.exp(np.clip(p, 0.0, 30.0)), 0.0).sum(axis=1) / np.maximum(body.sum(axis=1), 1)
    weight = np.sqrt(np.maximum(att, 1.0))
    return weight / weight.mean()


def _severity_params(severity: float, rng: np.random.Generator) -> dict[str, Any]:
    # Log scale from 1.0 (no change) to 3 % of the dose; a small jitter varies the dataset, never past the ends.
    log_f = severity * np.log(MIN_DOSE_FRACTION)
    if 0.0 < severity:
        log_f += rng.uniform(-0.08, 0.08)
    return {"dose_fraction": float(np.clip(np.exp(log_f), MIN_DOSE_FRACTION, 1.0))}


@register(
    "low_dose",
    params_for_severity=_severity_params,
    aspects=("noise", "artifacts"),
    kind="projection",
    description="Lower tube current: more quantum noise with CT texture; photon-starvation streaks at very low dose.",
)
def low_dose(
    image: CTImage,
    *,
    dose_fraction: float,
    seed: int = 0,
    method: str = "fast",
    n_views: int = tomo.DEFAULT_N_VIEWS,
    kernel: str | float | None = None,
    source_dose: float | None = None,
    electronic_noise_photons: float = ELECTRONIC_NOISE_PHOTONS,
    tube_current_modulation: bool = True,
    geometry: str | tomo_fan.FanGeometry = "parallel",
) -> CTImage:
    """Gives the image as if scanned at `dose_fraction` of its dose (projection-domain noise insertion).

    `kernel`: texture of the added noise (see `resolve_kernel`); `source_dose`: CTDIvol of the source
    in mGy (default: from the header, else DEFAULT_SOURCE_DOSE_MGY); `method`: "fast" (Fourier
    projector) or "exact" (pixel-driven projector, as slow as scikit-image); `tube_current_modulation`: angular
    mA modulation (mA ~ sqrt(attenuation)) at the same total dose.
    """
    if not 0.0 < dose_fraction <= 1.0:
        raise InvalidParameterError(f"dose_fraction={dose_fraction} is outside (0, 1]", hint="0.25 means a quarter of the dose")
    noise_free = is_noise_free(image)
    px_mm = pixel_mm(image)
    if source_dose is not None:
        dose_mgy, dose_from = float(source_dose), "parameter"
    else:
        dose_mgy, dose_from = source_dose_mgy(image)
    thickness_mm = image.slice_thickness_mm or DEFAULT_SLICE_THICKNESS_MM
    label, cutoff, filter_name, kernel_from = resolve_kernel(image, kernel, px_mm, seed=seed)

    hu = image.hu
    mu_px = (tomo.hu_to_mu_per_mm(hu) * px_mm).astype(np.float32)
    square, crop = tomo.to_square(mu_px)
    fan = _fan_geometry_for(geometry, square.shape[0], px_mm)
    if fan is None:
        geom = tomo.parallel_geometry(square.shape[0], n_views)
        sino = tomo.forward_project(square, geom, method=method)
        ray_mm, views = px_mm, n_views
    else:
        # Same dose, same photons through the isocentre: I0 per fan ray for its width and view count.
        geom = None
        sino = tomo_fan.fan_forward_project(square, fan)
        ray_mm, views = fan.ray_width_at_iso_mm, fan.n_views
    modulation = angular_modulation(sino) if tube_current_modulation else np.ones(sino.shape[0])

    def noise_image_hu(dose: float, fraction: float, rng: np.random.Generator) -> np.ndarray:
        per_view = incident_photons_per_ray(dose, ray_mm, thickness_mm, views) * modulation
        noise = noise_sinogram(
            sino, per_view[:, None], fraction, rng, source_has_noise=not noise_free,
            electronic_noise_photons=electronic_noise_photons,
        )
        if fan is None:
            rec = tomo.fbp(noise, geom, filter_name=filter_name, cutoff_cycles_per_px=cutoff, method=method)[crop]
        else:
            rec = tomo_fan.fan_fbp(
                noise, fan, filter_name=filter_name, cutoff_cycles_per_px=cutoff, method=method, n_parallel_views=n_views
            )[crop]
        return 1000.0 * rec / (px_mm * tomo.MU_WATER_PER_MM)

    header_dose_mgy = dose_mgy if dose_from != "default" else None
    if source_dose is None and not noise_free:
        # The image's own noise is the most direct measure of its quantum noise: photons per mGy differ
        # between scanners, bowtie filters and patients, and header doses use vendor conventions (a GE
        # Exposure of 5100 "mAs" is one). Half-dose insertion adds exactly the source's modelled noise,
        # so modelled vs measured sigma gives the effective dose, and lower doses add the right extra noise.
        estimated = _dose_from_image_noise(image, dose_mgy, noise_image_hu(dose_mgy, 0.5, np.random.default_rng(seed + 1)))
        if estimated is not None:
            dose_mgy, dose_from = estimated, "image noise"
    photons = incident_photons_per_ray(dose_mgy, ray_mm, thickness_mm, views)
    noise_hu = noise_image_hu(dose_mgy, dose_fraction, np.random.default_rng(seed))
    out = np.where(hu < PADDING_HU, hu, hu + noise_hu)
    params = {
        "dose_fraction": float(dose_fraction),
        "method": method,
        "n_views": int(n_views),
        "source_dose_mgy": dose_mgy,
        "source_dose_from": dose_from,
        "header_dose_mgy": header_dose_mgy,
        "target_dose_mgy": dose_mgy * dose_fraction,
        "incident_photons_source": photons,
        "incident_photons_target": photons * dose_fraction,
        "electronic_noise_photons": float(electronic_noise_photons),
        "tube_current_modulation": bool(tube_current_modulation),
        "noise_free_source": noise_free,
        "kernel": label,
        "kernel_from": kernel_from,
        "filter": filter_name,
        "cutoff_cycles_per_px": cutoff,
        "pixel_mm": px_mm,
        "slice_thickness_mm": thickness_mm,
        "mu_water_per_mm": tomo.MU_WATER_PER_MM,
        "geometry": "parallel" if fan is None else "fan",
    }
    if fan is not None:
        params.update(_fan_params(fan))
    return image.with_step("low_dose", params, out)


def _fan_geometry_for(geometry: str | tomo_fan.FanGeometry, size_px: int, px_mm: float) -> tomo_fan.FanGeometry | None:
    """Gives the fan-beam geometry `low_dose` scans with, or None for the parallel reference geometry."""
    if isinstance(geometry, tomo_fan.FanGeometry):
        if geometry.size_px != size_px or not np.isclose(geometry.pixel_size_mm, px_mm, rtol=1e-3):
            raise InvalidParameterError(
                f"the fan geometry is for {geometry.size_px} px of {geometry.pixel_size_mm} mm, the image is {size_px} px of {px_mm:.4g} mm",
                hint="build it with tomo_fan.fan_geometry(size_px, pixel_size_mm=...) for this image, or pass geometry='fan'",
            )
        return geometry
    if geometry == "parallel":
        return None
    if geometry == "fan":
        return tomo_fan.fan_geometry(size_px, pixel_size_mm=px_mm)
    raise InvalidParameterError(f"unknown geometry '{geometry}'", hint="use 'parallel', 'fan' or a tomo_fan.FanGeometry")


def _fan_params(fan: tomo_fan.FanGeometry) -> dict[str, Any]:
    """Gives the history entries that describe a fan-beam scan."""
    return {
        "fan_views": fan.n_views,
        "fan_detectors": fan.n_det,
        "fan_detector": "equiangular",
        "source_to_iso_mm": fan.source_to_iso_mm,
        "source_to_detector_mm": fan.source_to_detector_mm,
        "channel_pitch_mm": fan.channel_pitch_mm,
        "fan_projector": "joseph",
        "fan_reconstruction": "rebinned to parallel + FBP",
    }
