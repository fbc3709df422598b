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

For a real source the texture (kernel) and the strength of its own quantum noise are measured in the
image (`vliqa.simulate.source_noise`), and the added noise is reconstructed as by a scanner whose
detector samples finer than the image pixel (no interpolation blur); calibrated on real full/quarter-dose
pairs (docs/simulation.md, bench/calibrate_dose.py).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy import ndimage

from vliqa.core import CTImage
from vliqa.errors import InvalidParameterError
from vliqa.simulate import kernels, source_noise, tomo, tomo_fan
from vliqa.simulate.registry import register

#: Incident photons per ray per view, per mGy CTDIvol and per mm^2 of ray cross-section (detector
#: bin width at the isocentre x slice thickness), in the reference geometry of 720 parallel views.
#: Sets the noise of noise-free inputs (phantoms) and of real ones given `source_dose`; fitted so that
#: the full-dose slices of the calibration patients have their measured noise at their header CTDIvol
#: (docs/simulation.md, bench/calibrate_dose.py).
PHOTONS_PER_MGY_MM2 = 4.4e4
#: Width (mm) of the Gaussian blur that the source image's own noise has and inserted noise lacks
#: (`source_noise`); fitted on real full/quarter-dose pairs (bench/calibrate_dose.py).
SOURCE_NOISE_BLUR_MM = 0.2
#: Inserted-noise variance over (1/f - 1) x the source's measured noise variance, for a patient of
#: REFERENCE_DIAMETER_MM water-equivalent diameter; above 1 when an image shows less noise than its photon
#: statistics imply. Fitted on real full/quarter-dose pairs with SOURCE_NOISE_BLUR_MM.
SOURCE_NOISE_GAIN = 1.06
#: Log-change of that gain per 100 mm of water-equivalent diameter: larger patients' images understate
#: their quantum noise more (empirical, fitted on the same pairs; see docs/simulation.md).
SOURCE_NOISE_GAIN_PER_100MM = 0.43
REFERENCE_DIAMETER_MM = 300.0
#: Diameters are clipped to this range (about the calibration patients' range) before the size term applies.
DIAMETER_RANGE_MM = (200.0, 400.0)
#: Bowtie filter: it adds the water path that evens out a water cylinder of this radius (mm) ...
BOWTIE_RADIUS_MM = 350.0
#: ... up to this attenuation (mu L) at the edge of the field. Both chosen so that the added noise is
#: spread over the body as in real quarter-dose scans (bench/calibrate_dose.py --fit-bowtie).
BOWTIE_MAX_ATTENUATION = 3.0
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


def water_equivalent_diameter_mm(image: CTImage, pixel_size_mm: float) -> float | None:
    """Gives the water-equivalent diameter (mm, AAPM TG-220) of the largest body outline, or None without one.

    The body is the largest connected region above -500 HU with its holes (lungs, bowel gas) filled;
    Dw = 2 sqrt(sum over it of (HU/1000 + 1) x pixel area / pi). A body cut by the field of view is
    underestimated.
    """
    body = image.hu > -500.0
    labels, n = ndimage.label(body)
    if n == 0:
        return None
    sizes = ndimage.sum(body, labels, index=np.arange(1, n + 1))
    region = ndimage.binary_fill_holes(labels == 1 + int(np.argmax(sizes)))
    area = float(np.clip(image.hu[region] / 1000.0 + 1.0, 0.0, None).sum()) * pixel_size_mm**2
    return float(2.0 * np.sqrt(area / np.pi)) if area > 0 else None


def noise_gain_for_size(diameter_mm: float | None, gain: float = SOURCE_NOISE_GAIN,
                        per_100mm: float = SOURCE_NOISE_GAIN_PER_100MM) -> float:
    """Gives the inserted-over-measured noise variance gain for a patient of water-equivalent diameter `diameter_mm`."""
    if diameter_mm is None or not np.isfinite(diameter_mm):
        return float(gain)
    d = float(np.clip(diameter_mm, *DIAMETER_RANGE_MM))
    return float(gain * np.exp(per_100mm * (d - REFERENCE_DIAMETER_MM) / 100.0))


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


def resolve_kernel(image: CTImage, kernel: str | float | None, pixel_size_mm: float, *,
                   seed: int = 0) -> tuple[str, float | None, str, str]:
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
                hint=f"use an FBP filter ({', '.join(tomo.FILTERS)}), a clinical kernel name like B30f or STANDARD, or "
                     "a cutoff in cycles/mm",
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


def bowtie_transmission(t_mm: np.ndarray, radius_mm: float = BOWTIE_RADIUS_MM,
                        max_attenuation: float = BOWTIE_MAX_ATTENUATION) -> np.ndarray:
    """Gives the photon fluence behind a bowtie filter, relative to the centre, at distance `t_mm` from the isocentre.

    The bowtie adds the water path that a water cylinder of `radius_mm` lacks away from its centre,
    2 (R - sqrt(R^2 - t^2)) (beyond R: 2R), so that fluence behind such a cylinder is even; its
    attenuation is capped at `max_attenuation` (real bowties are finite). radius 0: no bowtie.
    """
    t = np.abs(np.asarray(t_mm, dtype=np.float64))
    if radius_mm <= 0:
        return np.ones_like(t)
    path = 2.0 * (radius_mm - np.sqrt(np.clip(radius_mm**2 - t**2, 0.0, None)))
    return np.exp(-np.minimum(tomo.MU_WATER_PER_MM * path, max_attenuation))


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
    source_noise_blur_mm: float | None = None,
    source_noise_gain: float | None = None,
    source_noise_gain_per_100mm: float | None = None,
    bowtie_radius_mm: float | None = None,
    bowtie_max_attenuation: float | None = None,
) -> CTImage:
    """Gives the image as if scanned at `dose_fraction` of its dose (projection-domain noise insertion).

    `kernel`: texture of the added noise (default: fitted to the image's own noise, see
    `vliqa.simulate.source_noise`; else `resolve_kernel`); `source_dose`: CTDIvol of the source in mGy
    (default: for a real image, the dose its own noise implies; else the header, else
    DEFAULT_SOURCE_DOSE_MGY); `method`: "fast" (Fourier projector) or "exact" (pixel-driven projector,
    as slow as scikit-image); `tube_current_modulation`: angular mA modulation (mA ~ sqrt(attenuation))
    at the same total dose; `source_noise_blur_mm`, `source_noise_gain`, `source_noise_gain_per_100mm`:
    the calibration constants SOURCE_NOISE_BLUR_MM, SOURCE_NOISE_GAIN and SOURCE_NOISE_GAIN_PER_100MM,
    for refitting them; `bowtie_radius_mm`, `bowtie_max_attenuation`: the bowtie filter (default
    BOWTIE_RADIUS_MM, BOWTIE_MAX_ATTENUATION; radius 0: none).
    """
    if not 0.0 < dose_fraction <= 1.0:
        raise InvalidParameterError(f"dose_fraction={dose_fraction} is outside (0, 1]",
                                    hint="0.25 means a quarter of the dose")
    blur_mm = SOURCE_NOISE_BLUR_MM if source_noise_blur_mm is None else float(source_noise_blur_mm)
    gain = SOURCE_NOISE_GAIN if source_noise_gain is None else float(source_noise_gain)
    per_100mm = (SOURCE_NOISE_GAIN_PER_100MM if source_noise_gain_per_100mm is None
                 else float(source_noise_gain_per_100mm))
    if blur_mm < 0 or gain <= 0 or (bowtie_radius_mm is not None and bowtie_radius_mm < 0):
        raise InvalidParameterError(
            f"source_noise_blur_mm={blur_mm}, bowtie_radius_mm={bowtie_radius_mm} and source_noise_gain={gain} "
            "must be >= 0, >= 0 and > 0",
            hint="leave them unset for the calibrated values",
        )
    noise_free = is_noise_free(image)
    px_mm = pixel_mm(image)
    if source_dose is not None:
        dose_mgy, dose_from = float(source_dose), "parameter"
    else:
        dose_mgy, dose_from = source_dose_mgy(image)
    thickness_mm = image.slice_thickness_mm or DEFAULT_SLICE_THICKNESS_MM
    # The image's own noise, measured in its flattest windows, gives the texture and the strength of the
    # noise to add; headers do not (PNGs have none, kernel names and dose tags differ between vendors).
    own = None if noise_free or (kernel is not None and source_dose is not None) else source_noise.measure(image, px_mm)
    if kernel is None and own is not None:
        cutoff = source_noise.fit_cutoff(own, blur_mm)
        label, filter_name, kernel_from = f"image-nps@{cutoff / px_mm:.3f}/mm", "hann", "image NPS"
    else:
        label, cutoff, filter_name, kernel_from = resolve_kernel(image, kernel, px_mm, seed=seed)

    hu = image.hu
    mu_px = (tomo.hu_to_mu_per_mm(hu) * px_mm).astype(np.float32)
    square, crop = tomo.to_square(mu_px)
    fan = _fan_geometry_for(geometry, square.shape[0], px_mm)
    if fan is None:
        geom = tomo.parallel_geometry(square.shape[0], n_views)
        sino = tomo.forward_project(square, geom, method=method)
        ray_mm, views = px_mm, n_views
        ray_t_mm = (np.arange(geom.n_det) - (geom.n_det - 1) / 2.0) * px_mm
    else:
        # Same dose, same photons through the isocentre: I0 per fan ray for its width and view count.
        geom = None
        sino = tomo_fan.fan_forward_project(square, fan)
        ray_mm, views = fan.ray_width_at_iso_mm, fan.n_views
        ray_t_mm = fan.source_to_iso_mm * np.sin(fan.gammas_rad)
    modulation = angular_modulation(sino) if tube_current_modulation else np.ones(sino.shape[0])
    bowtie_r = BOWTIE_RADIUS_MM if bowtie_radius_mm is None else float(bowtie_radius_mm)
    bowtie_cap = BOWTIE_MAX_ATTENUATION if bowtie_max_attenuation is None else float(bowtie_max_attenuation)
    bowtie = bowtie_transmission(ray_t_mm, bowtie_r, bowtie_cap)

    def noise_image_hu(dose: float, fraction: float, rng: np.random.Generator) -> np.ndarray:
        per_view = incident_photons_per_ray(dose, ray_mm, thickness_mm, views) * modulation
        noise = noise_sinogram(
            sino, per_view[:, None] * bowtie[None, :], fraction, rng, source_has_noise=not noise_free,
            electronic_noise_photons=electronic_noise_photons,
        )
        # Scanners sample the detector finer than the image pixel: no interpolation blur on the noise.
        if fan is None:
            rec = tomo.fbp(
                noise, geom, filter_name=filter_name, cutoff_cycles_per_px=cutoff, method=method, fine_detector=True
            )[crop]
        else:
            rec = tomo_fan.fan_fbp(
                noise, fan, filter_name=filter_name, cutoff_cycles_per_px=cutoff, method=method,
                n_parallel_views=n_views, fine_detector=True,
            )[crop]
        return 1000.0 * rec / (px_mm * tomo.MU_WATER_PER_MM)

    header_dose_mgy = dose_mgy if dose_from != "default" else None
    own_params: dict[str, Any] = {}
    if source_dose is None and own is not None:
        # Photons per mGy differ between scanners, bowtie filters and patients, and header doses use vendor
        # conventions (a GE Exposure of 5100 "mAs" is one). Half-dose insertion adds exactly the source's
        # modelled noise; blurred like the image's own noise and measured in the same windows and band, it
        # gives the dose at which the model has the image's noise; the gain turns that into the quantum dose.
        model = noise_image_hu(dose_mgy, 0.5, np.random.default_rng(seed + 1))
        model_var = float(np.median(source_noise.band_stats(model, own.rows, own.cols, own.window_px, px_mm)[0]))
        blurred = source_noise.blur(model, px_mm, blur_mm)
        blurred_var = float(np.median(source_noise.band_stats(blurred, own.rows, own.cols, own.window_px, px_mm)[0]))
        if blurred_var > 0:
            matched = dose_mgy * blurred_var / own.band_variance_hu2
            diameter = water_equivalent_diameter_mm(image, px_mm)
            size_gain = noise_gain_for_size(diameter, gain, per_100mm)
            own_params = {
                "noise_windows": own.n_windows,
                "noise_window_px": own.window_px,
                "image_band_sigma_hu": float(np.sqrt(own.band_variance_hu2)),
                "model_band_sigma_hu": float(np.sqrt(model_var)),
                "model_dose_mgy": dose_mgy,
                "matched_dose_mgy": matched,
                "water_equivalent_diameter_mm": diameter,
                "noise_gain": size_gain,
            }
            dose_mgy, dose_from = float(np.clip(matched / size_gain, *PLAUSIBLE_DOSE_MGY)), "image noise"
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
        "bowtie_radius_mm": bowtie_r,
        "bowtie_max_attenuation": bowtie_cap,
        "noise_free_source": noise_free,
        "source_noise_blur_mm": blur_mm,
        "source_noise_gain": gain,
        "source_noise_gain_per_100mm": per_100mm,
        **own_params,
        "kernel": label,
        "kernel_from": kernel_from,
        "filter": filter_name,
        "cutoff_cycles_per_px": cutoff,
        "fine_detector": True,
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
                f"the fan geometry is for {geometry.size_px} px of {geometry.pixel_size_mm} mm, the image is {size_px} "
                f"px of {px_mm:.4g} mm",
                hint="build it with tomo_fan.fan_geometry(size_px, pixel_size_mm=...) for this image, or pass "
                     "geometry='fan'",
            )
        return geometry
    if geometry == "parallel":
        return None
    if geometry == "fan":
        return tomo_fan.fan_geometry(size_px, pixel_size_mm=px_mm)
    raise InvalidParameterError(f"unknown geometry '{geometry}'",
                                hint="use 'parallel', 'fan' or a tomo_fan.FanGeometry")


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
