"""Metal implants in the projection domain: beam hardening, photon starvation and edge effects (`metal`).

An implant (clip, coil, dental filling, pedicle screws, hip prosthesis; `metal_placement`) is put in
the patient's anatomy and its rays are re-measured with a polychromatic 120 kVp beam:

- Beam hardening (two-material, spectrum-weighted): each ray crosses L_w mm of water-equivalent
  tissue (the source's line integral over mu_water) and L_m mm of metal, and the energy-integrating
  detector reads T = sum_k w_k exp(-mu_w(E_k) L_w - mu_m(E_k) L_m) over 20 energy bins. The scanner's
  water beam-hardening correction h (exact for water alone) maps -log T back to a line integral, so
  tissue rays stay as they were and only metal rays come out too low: sub-linear in L_m, worst on
  rays through two implants (dark bands between them) and through the thick middle of one (cupping).
  A spectrum-weighted model rather than a fitted quadratic: the same tables serve titanium, steel,
  CoCr, amalgam and platinum (whose K-edges the quadratic form cannot follow) without a per-metal fit.
- Photon starvation: counts ~ Poisson(I0 T) + electronic noise, clamped at one photon before the log
  (`dose.noise_sinogram`, with the relative transmission of each metal ray as its dose fraction).
- Exponential edge gradient (partial volume across the detector aperture): every ray is four sub-rays
  whose transmissions, not line integrals, are averaged before the log.

Only the change is reconstructed (the source's noise and sharpness stay, as in `low_dose`):
degraded = source + FBP(p_metal_measured - p_source) with the source kernel's filter.

Spectrum and attenuation tables: SpekPy 2.5 (120 kVp, tungsten, 12 deg anode, 2.5 mm Al + 0.1 mm Cu;
mean energy 59.8 keV, first HVL 6.4 mm Al), weighted by energy (energy-integrating detector), 5 keV
bins; mass attenuation (with coherent scatter) from XrayDB 4.5 (Elam tables), averaged in each bin
over the weighted spectrum. Generated once offline; neither package is needed at run time.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import numpy as np
from scipy import ndimage

from vliqa.core import CTImage
from vliqa.errors import InvalidParameterError
from vliqa.simulate import tomo
from vliqa.simulate.dose import (
    DEFAULT_SLICE_THICKNESS_MM,
    ELECTRONIC_NOISE_PHOTONS,
    PADDING_HU,
    angular_modulation,
    incident_photons_per_ray,
    noise_sinogram,
    pixel_mm,
    resolve_kernel,
    source_dose_mgy,
)
from vliqa.simulate.metal_placement import DEFAULT_MATERIAL, KINDS, MetalPart, find_anatomy, place
from vliqa.simulate.registry import register

#: Mean energy (keV) of each 5 keV bin and its share of the detector signal (energy x photons, sum 1).
SPECTRUM_KEV = (23.5, 28.0, 32.8, 37.6, 42.6, 47.5, 52.5, 58.1, 62.5, 67.5, 72.5, 77.5, 82.5, 87.5, 92.4, 97.4, 102.4,
                107.4, 112.2, 116.7)
SPECTRUM_WEIGHT = (0.00219, 0.01224, 0.02966, 0.04768, 0.06173, 0.07078, 0.07549, 0.15435, 0.07585, 0.09963,
                   0.05982, 0.05702, 0.05318, 0.04848, 0.04304, 0.03691, 0.03011, 0.02256, 0.01419, 0.0051)
#: Mass attenuation (cm^2/g) per bin. Steel: 316L; cocr: ASTM F75 CoCrMo; amalgam: Ag-Hg-Sn.
MASS_ATTENUATION_CM2_PER_G = {
    "water": (0.5809, 0.4208, 0.3346, 0.2851, 0.2547, 0.2346, 0.2206, 0.2091, 0.2022, 0.1957,
              0.1903, 0.1858, 0.1818, 0.1782, 0.175, 0.1721, 0.1695, 0.167, 0.1647, 0.1627),
    "titanium": (10.1969, 6.1362, 3.911, 2.6399, 1.8757, 1.3925, 1.0726, 0.8302, 0.6967, 0.5827,
                 0.4978, 0.4328, 0.3823, 0.3422, 0.3101, 0.2839, 0.2623, 0.2444, 0.2295, 0.2178),
    "steel": (17.8271, 10.8448, 6.9514, 4.6951, 3.3233, 2.4486, 1.8662, 1.4226, 1.1775, 0.9674,
              0.8107, 0.691, 0.5978, 0.5241, 0.4651, 0.4172, 0.3779, 0.3453, 0.3183, 0.2972),
    "cocr": (19.1468, 11.6956, 7.5168, 5.0848, 3.603, 2.6559, 2.0234, 1.5404, 1.2731, 1.044,
             0.873, 0.7422, 0.6404, 0.5599, 0.4954, 0.443, 0.4, 0.3645, 0.335, 0.3118),
    "amalgam": (34.1598, 35.208, 26.515, 18.3648, 13.2234, 9.868, 7.5772, 5.7876, 4.7774, 3.8977,
                3.2318, 2.7161, 3.566, 4.8873, 4.2363, 3.7022, 3.2601, 2.8912, 2.5829, 2.3396),
    "platinum": (50.6192, 31.9371, 21.1502, 14.6804, 10.6259, 7.9621, 6.1425, 4.7218, 3.9185, 3.2174,
                 2.6854, 4.2943, 7.944, 6.7508, 5.9276, 5.2879, 4.7367, 4.2425, 3.8063, 3.4492),
}
DENSITY_G_PER_CM3 = {"titanium": 4.5, "steel": 8.0, "cocr": 8.3, "amalgam": 11.6, "platinum": 21.45}
MATERIALS = tuple(DENSITY_G_PER_CM3)
#: Top of the 12-bit HU scale most scanners store: metal reads as this (extended-scale series go higher).
HU_CAP = 3071.0
HU_FLOOR = -1024.0
#: Sub-ray offsets across one detector bin (bin widths) for the exponential edge-gradient effect.
SUBRAY_OFFSETS = (-0.375, -0.125, 0.125, 0.375)
#: Counts at which the scanner's adaptive low-signal filter gives a ray half weight, and its width (views, bins).
LOW_SIGNAL_PHOTONS = 50.0
#: Views over 180 degrees of the metal scan (the source's 720 by default; see `metal`).
METAL_VIEWS = tomo.DEFAULT_N_VIEWS
LOW_SIGNAL_SIGMA_VIEWS, LOW_SIGNAL_SIGMA_BINS = 2.0, 3.0


def mu_per_mm(material: str, density_g_per_cm3: float | None = None) -> np.ndarray:
    """Gives the linear attenuation (1/mm) of a material in each spectrum bin."""
    if material not in MASS_ATTENUATION_CM2_PER_G:
        raise InvalidParameterError(f"unknown metal '{material}'", hint=f"use one of {', '.join(MATERIALS)}")
    rho = density_g_per_cm3 if density_g_per_cm3 is not None else DENSITY_G_PER_CM3.get(material, 1.0)
    return np.asarray(MASS_ATTENUATION_CM2_PER_G[material]) * rho / 10.0


def transmission(water_mm: np.ndarray, metal_mm: dict[str, np.ndarray],
                 density: dict[str, float] | None = None) -> np.ndarray:
    """Gives the detected fraction I/I0 of the polychromatic beam after water_mm of water and metal_mm of each metal."""
    water = mu_per_mm("water")
    metals = {m: mu_per_mm(m, (density or {}).get(m)) for m in metal_mm}
    out = np.zeros(np.broadcast_shapes(np.shape(water_mm), *(np.shape(v) for v in metal_mm.values())))
    for k, w in enumerate(SPECTRUM_WEIGHT):
        att = water[k] * np.asarray(water_mm, dtype=np.float64)
        for m, length in metal_mm.items():
            att = att + metals[m][k] * length
        out += w * np.exp(-att)
    return out


@lru_cache(maxsize=1)
def _water_table() -> tuple[np.ndarray, np.ndarray]:
    length_mm = np.concatenate([[0.0], np.geomspace(0.01, 4000.0, 4000)])
    return -np.log(transmission(length_mm, {})), tomo.MU_WATER_PER_MM * length_mm


def water_corrected(polychromatic_p: np.ndarray) -> np.ndarray:
    """Gives the scanner's water beam-hardening correction of -log(I/I0): exact (mu_water x length) for water alone."""
    q_table, p_table = _water_table()
    return np.interp(polychromatic_p, q_table, p_table)


def adaptive_low_signal_filter(noise: np.ndarray, hit: np.ndarray, counts: np.ndarray,
                               threshold_photons: float) -> np.ndarray:
    """Gives the post-log noise sinogram with the noise of low-count rays (`hit` rays, `counts` read) smoothed.

    Clinical scanners do not reconstruct starved rays raw: an adaptive filter smooths each ray with its
    neighbours along the detector and views, the more the fewer photons it read (Hsieh, Med Phys 25:2139,
    1998; Kachelriess et al., Med Phys 28:475, 2001). Weight of the smoothed value: 1 / (1 + counts /
    threshold). It acts on the noise alone, as an ideal edge-preserving filter would: smoothing the
    measured values themselves would also blur the metal's edges in the sinogram into a bright bloom.
    The bias of clamped rays (the mean of the noise) survives smoothing, as it does on a scanner.
    """
    smooth = ndimage.gaussian_filter(noise, sigma=(LOW_SIGNAL_SIGMA_VIEWS, LOW_SIGNAL_SIGMA_BINS), mode="nearest")
    alpha = 1.0 / (1.0 + np.maximum(counts, 0.0) / threshold_photons)
    out = noise.copy()
    out[hit] = noise[hit] + alpha * (smooth[hit] - noise[hit])
    return out


def _resample_views(values: np.ndarray, src: tomo.ParallelGeometry, dst: tomo.ParallelGeometry) -> np.ndarray:
    """Gives per-view data (a sinogram or a per-view vector) of `src` interpolated linearly to the angles of `dst`."""
    step = np.pi / src.n_views
    pos = np.asarray(dst.angles_rad) / step - 0.5  # fractional source view index
    # Views just outside [0, pi) are the mirrored ones at the other end: p(theta + pi, t) = p(theta, -t).
    before, after = values[-1:], values[:1]
    if values.ndim == 2:
        before, after = before[:, ::-1], after[:, ::-1]
    ext = np.concatenate([before, values, after], axis=0)
    lo = np.floor(pos).astype(int)
    frac = (pos - lo).reshape(-1, *([1] * (values.ndim - 1)))
    return ext[lo + 1] * (1 - frac) + ext[lo + 2] * frac


def _detector_coords(geom: tomo.ParallelGeometry,
                     offsets: tuple[float, ...]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    theta = np.asarray(geom.angles_rad, dtype=np.float64)[:, None, None]
    t = (np.arange(geom.n_det) - (geom.n_det - 1) / 2.0)[None, :, None] + np.asarray(offsets)[None, None, :]
    return np.cos(theta), np.sin(theta), t


def chord_sinogram(parts: list[MetalPart], geom: tomo.ParallelGeometry, crop: tuple[slice, slice], px_mm: float,
                   offsets: tuple[float, ...] = (0.0,)) -> dict[str, np.ndarray]:
    """Gives, per material, the exact path length (mm) of each ray (views, detectors, sub-rays) through the parts."""
    cos_t, sin_t, t = _detector_coords(geom, offsets)
    half = (geom.size_px - 1) / 2.0
    out: dict[str, np.ndarray] = {}
    for part in parts:
        x0 = part.col_px + crop[1].start - half
        y0 = half - (part.row_px + crop[0].start)
        s = t - (x0 * cos_t + y0 * sin_t)  # signed distance of the ray from the part's centre (px)
        a, b = part.half_length_mm / px_mm, part.half_width_mm / px_mm
        phi = np.radians(part.angle_deg)
        if part.shape == "ellipse":
            cos_d = cos_t * np.cos(phi) + sin_t * np.sin(phi)  # cos(theta - phi)
            w2 = a * a * cos_d**2 + b * b * (1.0 - cos_d**2)
            chord = 2.0 * a * b / w2 * np.sqrt(np.clip(w2 - s * s, 0.0, None))
        else:
            chord = _rect_chord(s, cos_t, sin_t, a, b, phi)
        out[part.material] = out.get(part.material, 0.0) + part.sign * chord * px_mm
    return {m: np.clip(v, 0.0, None) for m, v in out.items()}


def _rect_chord(s: np.ndarray, cos_t: np.ndarray, sin_t: np.ndarray, a: float, b: float, phi: float) -> np.ndarray:
    """Gives the length of the line {x cos t + y sin t = s} inside a centred rectangle (half sizes a, b, axis phi)."""
    lo = np.full(np.broadcast(s, cos_t).shape, -np.inf)
    hi = np.full_like(lo, np.inf)
    # Along the line p = s n + lam d, n = (cos t, sin t), d = (-sin t, cos t); clip lam by both slabs.
    for ux, uy, half in ((np.cos(phi), np.sin(phi), a), (-np.sin(phi), np.cos(phi), b)):
        un = cos_t * ux + sin_t * uy
        ud = -sin_t * ux + cos_t * uy
        ud = np.where(np.abs(ud) < 1e-9, 1e-9, ud)
        l1, l2 = (-half - s * un) / ud, (half - s * un) / ud
        lo = np.maximum(lo, np.minimum(l1, l2))
        hi = np.minimum(hi, np.maximum(l1, l2))
    return np.clip(hi - lo, 0.0, None)


def occupancy(parts: list[MetalPart], shape: tuple[int, int], px_mm: float, supersample: int = 4) -> np.ndarray:
    """Gives the fraction of each pixel the parts fill (supersampled), in [0, 1]."""
    occ = np.zeros(shape, dtype=np.float64)
    sub = (np.arange(supersample) + 0.5) / supersample - 0.5
    for part in parts:
        a, b = part.half_length_mm / px_mm, part.half_width_mm / px_mm
        reach = int(np.ceil(max(a, b))) + 2
        r0, r1 = max(0, int(part.row_px) - reach), min(shape[0], int(part.row_px) + reach + 1)
        c0, c1 = max(0, int(part.col_px) - reach), min(shape[1], int(part.col_px) + reach + 1)
        if r0 >= r1 or c0 >= c1:
            continue
        rr = (np.arange(r0, r1)[:, None] + sub[None, :]).ravel()
        cc = (np.arange(c0, c1)[:, None] + sub[None, :]).ravel()
        dx, dy = cc[None, :] - part.col_px, -(rr[:, None] - part.row_px)  # y up, as the angle is
        phi = np.radians(part.angle_deg)
        u, v = dx * np.cos(phi) + dy * np.sin(phi), -dx * np.sin(phi) + dy * np.cos(phi)
        inside = (u / a) ** 2 + (v / b) ** 2 <= 1.0 if part.shape == "ellipse" else (np.abs(u) <= a) & (np.abs(v) <= b)
        frac = inside.reshape(r1 - r0, supersample, c1 - c0, supersample).mean(axis=(1, 3))
        occ[r0:r1, c0:c1] += part.sign * frac
    return np.clip(occ, 0.0, 1.0)


def _severity_params(severity: float, rng: np.random.Generator) -> dict[str, Any]:
    # A ladder of implants from a faint clip to bilateral steel hips; size grows within each rung.
    s = float(np.clip(severity, 0.0, 1.0))
    rungs = [  # (upper severity, kind, material, count, size at the rung's start and end)
        (0.25, "clip", "titanium", 1, 0.6, 1.2),
        (0.45, "clip", "steel", 2, 0.7, 1.1),
        (0.65, "screws", "titanium", 2, 0.8, 1.1),
        (0.85, "hip", "cocr", 1, 0.85, 1.1),
        (1.0001, "hip", "steel", 2, 0.85, 1.0),
    ]
    lower = 0.0
    for upper, kind, material, count, size0, size1 in rungs:
        if s < upper:
            frac = (s - lower) / (min(upper, 1.0) - lower)
            size = size0 + (size1 - size0) * frac
            side = str(rng.choice(["right", "left"]))
            return {"kind": kind, "material": material, "count": count, "size_scale": float(size), "side": side}
        lower = upper
    raise AssertionError("unreachable: the last rung covers severity 1")


@register("metal", params_for_severity=_severity_params, aspects=("artifacts",), kind="projection",
          description="Metal implant: bright/dark streaks from photon starvation, dark bands and cupping from beam "
                      "hardening.")
def metal(
    image: CTImage,
    *,
    kind: str = "hip",
    material: str | None = None,
    count: int = 1,
    size_scale: float = 1.0,
    side: str = "right",
    density_g_per_cm3: float | None = None,
    seed: int = 0,
    method: str = "fast",
    kernel: str | float | None = None,
    source_dose: float | None = None,
    electronic_noise_photons: float = ELECTRONIC_NOISE_PHOTONS,
    edge_gradient: bool = True,
    starvation: bool = True,
    n_views: int = METAL_VIEWS,
    low_signal_photons: float = LOW_SIGNAL_PHOTONS,
    parts: list[MetalPart] | None = None,
) -> CTImage:
    """Gives the image with `count` metal implants of `kind` inserted and scanned (beam hardening, starvation).

    `kind`: clip, coil, dental, screws or hip, placed from the image's anatomy (`metal_placement.place`);
    `material`: titanium, steel, cocr, amalgam or platinum (default: the kind's usual one); `side`:
    patient side of a single implant; `parts`: explicit implant geometry instead of the automatic
    placement. `kernel`, `source_dose`, `method` as in `low_dose`. The metal reads HU_CAP.
    """
    if kind not in KINDS:
        raise InvalidParameterError(f"unknown implant kind '{kind}'", hint=f"use one of {', '.join(KINDS)}")
    material = material or DEFAULT_MATERIAL[kind]
    if material not in DENSITY_G_PER_CM3:
        raise InvalidParameterError(f"unknown metal '{material}'", hint=f"use one of {', '.join(MATERIALS)}")
    if side not in ("right", "left"):
        raise InvalidParameterError(f"side='{side}' is not a patient side",
                                    hint="use 'right' or 'left' (patient's right is on the image left)")
    if not 0.1 <= size_scale <= 3.0 or count < 1:
        raise InvalidParameterError(
            f"size_scale={size_scale}, count={count}: need 0.1 <= size_scale <= 3 and count >= 1")
    rng = np.random.default_rng(seed)
    px_mm = pixel_mm(image)
    hu = image.hu
    anat = find_anatomy(hu, px_mm)
    placed_kind = kind
    if parts is None:
        parts, region, placed_kind = place(kind, material, count, size_scale, side, anat, px_mm, rng)
    else:
        region = "custom"
    density = {m: density_g_per_cm3 for m in {p.material for p in parts}} if density_g_per_cm3 else {}

    dose_mgy, dose_from = (float(source_dose), "parameter") if source_dose is not None else source_dose_mgy(image)
    thickness_mm = image.slice_thickness_mm or DEFAULT_SLICE_THICKNESS_MM
    photons = incident_photons_per_ray(dose_mgy, px_mm, thickness_mm, n_views)
    label, cutoff, filter_name, kernel_from = resolve_kernel(image, kernel, px_mm, seed=seed)

    mu_px = (tomo.hu_to_mu_per_mm(hu) * px_mm).astype(np.float32)
    occ = occupancy(parts, hu.shape, px_mm)
    square, crop = tomo.to_square(mu_px)
    displaced_sq, _ = tomo.to_square((mu_px * occ).astype(np.float32))
    geom_src = tomo.parallel_geometry(square.shape[0], tomo.DEFAULT_N_VIEWS)
    p_src = tomo.forward_project(square, geom_src, method=method).astype(np.float64)
    p_displaced = tomo.forward_project(displaced_sq, geom_src, method=method).astype(np.float64)
    modulation = angular_modulation(p_src)
    # The metal may be scanned with finer angular steps than the 720-view source (n_views=1440: a clinical
    # scanner's ~1000+ views per half turn give a little less metal-edge view aliasing, at twice the cost).
    geom = tomo.parallel_geometry(square.shape[0], n_views)
    if n_views != geom_src.n_views:
        p_src, p_displaced, modulation = (_resample_views(v, geom_src, geom) for v in (p_src, p_displaced, modulation))
    offsets = SUBRAY_OFFSETS if edge_gradient else (0.0,)
    metal_mm = chord_sinogram(parts, geom, crop, px_mm, offsets)

    # Only rays that cross metal (and a bin either side, where the displaced tissue blurs) change.
    hit = np.zeros(p_src.shape, dtype=bool)
    for length in metal_mm.values():
        hit |= length.max(axis=2) > 0
    hit |= np.roll(hit, 1, axis=1) | np.roll(hit, -1, axis=1)
    water_mm = np.clip(p_src[hit] - p_displaced[hit], 0.0, None)[:, None] / tomo.MU_WATER_PER_MM
    trans = transmission(water_mm, {m: v[hit] for m, v in metal_mm.items()}, density).mean(axis=1)
    trans_src = transmission(p_src[hit] / tomo.MU_WATER_PER_MM, {})
    per_view = photons * modulation
    photons_hit = np.broadcast_to(per_view[:, None], p_src.shape)[hit]
    # Each metal ray gets trans/trans_src of the source ray's photons: its relative "dose" for the counts.
    fraction = np.clip(trans / np.maximum(trans_src, 1e-300), 1e-300, 1.0)
    q_hit = -np.log(np.maximum(trans, 1e-300))
    if starvation:
        # The source's own noise is kept: only the extra noise of the darker metal rays is drawn.
        noise = np.zeros_like(p_src)
        noise[hit] = noise_sinogram(p_src[hit], photons_hit, fraction, rng, source_has_noise=True,
                                    electronic_noise_photons=electronic_noise_photons)
        if low_signal_photons > 0:
            counts = photons_hit * np.exp(-p_src[hit] - noise[hit]) * fraction  # what the detector read
            noise = adaptive_low_signal_filter(noise, hit, counts, low_signal_photons)
        q_hit = q_hit + noise[hit]
    delta = np.zeros_like(p_src)
    delta[hit] = water_corrected(q_hit) - p_src[hit]

    change = tomo.fbp(delta, geom, filter_name=filter_name, cutoff_cycles_per_px=cutoff, method=method)[crop]
    change_hu = 1000.0 * change / (px_mm * tomo.MU_WATER_PER_MM)
    top = max(HU_CAP, float(hu.max()))
    out = np.where(hu < PADDING_HU, hu, np.clip(hu + change_hu, min(HU_FLOOR, float(hu.min())), top))
    expected_photons = photons_hit * np.exp(-p_src[hit]) * fraction
    params = {
        "kind": placed_kind,
        "requested_kind": kind,
        "material": material,
        "density_g_per_cm3": float(density_g_per_cm3 or DENSITY_G_PER_CM3[material]),
        "count": int(count),
        "size_scale": float(size_scale),
        "side": side,
        "region": region,
        "anatomy": anat.part,
        "parts": [p.to_dict() for p in parts],
        "centres_px": sorted({(round(float(p.row_px), 1), round(float(p.col_px), 1)) for p in parts if p.sign > 0}),
        "spectrum": "120 kVp W, 2.5 mm Al + 0.1 mm Cu (SpekPy), 20 bins, energy-integrating",
        "edge_gradient": bool(edge_gradient),
        "starvation": bool(starvation),
        "low_signal_photons": float(low_signal_photons),
        "incident_photons": photons,
        "min_expected_photons": float(expected_photons.min()) if expected_photons.size else None,
        "starved_rays": int((expected_photons < 10.0).sum()),
        "electronic_noise_photons": float(electronic_noise_photons),
        "source_dose_mgy": dose_mgy,
        "source_dose_from": dose_from,
        "kernel": label,
        "kernel_from": kernel_from,
        "filter": filter_name,
        "cutoff_cycles_per_px": cutoff,
        "method": method,
        "n_views": int(n_views),
        "pixel_mm": px_mm,
        "hu_cap": top,
    }
    return image.with_step("metal", params, out)
