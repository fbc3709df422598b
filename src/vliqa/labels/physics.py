"""Physics-derived quality labels: measure a degraded slice against its reference, map to 0-4.

The reference is the best version of the same slice a reader could get: the real
full-dose scan, or a procedural phantom simulated at full dose (natural CT noise
texture). Quality is *not* "least noise": every aspect is measured relative to
that natural texture, so an image smoothed past it loses texture, fine detail and
low-contrast detectability, and its labels say so. The mappings are documented in
docs/labels.md; every constant lives in `Calibration`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy import ndimage

from vliqa.core import ASPECTS, CTImage, Distortion, QualityLabels
from vliqa.ct.anatomy import body_mask, is_brain_slice, mean_spacing_mm, soft_tissue


@dataclass(frozen=True)
class Calibration:
    """Constants of the measure -> score mappings (see docs/labels.md for where they come from)."""

    #: noise: score points lost per halving of the noise-equivalent dose (sigma ratio squared)
    noise_points_per_dose_halving: float = 0.8
    #: noise: soft-tissue sigma (HU) a reader still calls excellent; a reference noisier than this is not
    #: excellent itself, and its excess costs points at the same rate (docs/labels.md, "noisy references")
    reference_noise_ok_hu: float = 20.0
    #: noise: the same level for brain, read in the brain window (W80) where grey and white matter differ by a few
    #: HU: an adult head protocol gives ~5 HU in the brain (the GE head here: 3.7-5.4), and 8 HU keeps the
    #: abdomen's headroom (20 HU over its ~14 HU)
    brain_reference_noise_ok_hu: float = 8.0
    #: texture: points lost per halving of the noise sigma below the natural (reference) level
    texture_points_per_sigma_halving: float = 1.3
    #: texture: points lost per octave the NPS mean frequency moves away from the reference
    texture_points_per_freq_octave: float = 2.2
    #: sharpness: points lost per halving of the edge gradient at strong edges
    sharpness_points_per_gradient_halving: float = 1.6
    #: sharpness: points lost per halving of fine-detail (1-2 mm band) transfer
    sharpness_points_per_detail_halving: float = 0.9
    #: contrast: points lost per halving of the low-contrast detectability (lesion-scale SNR)
    contrast_points_per_snr_halving: float = 1.4
    #: artifacts: points lost per unit of structured-error index (see `structured_error_index`)
    artifact_points_per_index: float = 2.0
    #: artifacts: amplitude (RMS over reference noise sigma) below which an artifact is not seen
    artifact_visible_ratio: float = 0.5
    #: artifacts: points lost per doubling of the artifact amplitude above that threshold
    artifact_points_per_doubling: float = 0.9
    #: texture: share of the frequency penalty charged when the grain gets finer (not blotchier)
    texture_finer_grain_share: float = 0.3
    #: overall: how far the mean of the other aspects lifts the overall score above the worst aspect
    overall_mean_weight: float = 0.25


DEFAULT_CALIBRATION = Calibration()

#: Gaussian band-pass scales (mm): fine detail and lesion-sized structures
FINE_BAND_MM = (0.6, 1.5)
LESION_BAND_MM = (1.5, 4.0)
#: Scale (mm) above which an error is called structured rather than random
STRUCTURE_SCALE_MM = 2.0
#: Low-pass RMS over high-pass RMS of random CT noise at STRUCTURE_SCALE_MM (measured: docs/labels.md)
RANDOM_LOWPASS_FRACTION = 0.35


@dataclass(frozen=True)
class ReferenceMeasures:
    """What was measured on a degraded slice against its reference."""

    noise_sigma_hu: float
    noise_sigma_ref_hu: float
    nps_mean_freq_ratio: float
    edge_gradient_ratio: float
    fine_detail_transfer: float
    lesion_band_transfer: float
    lesion_snr_ratio: float
    structured_error_index: float
    lesion_cnr_ratio: float | None = None
    #: RMS of the simulator-known artifact field as seen (soft tissue, soft-tissue window) over the reference sigma
    artifact_rms_ratio: float | None = None
    #: 1.0 when the reference goes through the cranial vault (`is_brain_slice`): its noise is judged in the brain window
    reference_is_brain: float | None = None
    extra: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, float]:
        out = {k: float(v) for k, v in self.__dict__.items() if k != "extra" and v is not None}
        out.update(self.extra)
        return out


def _band(hu: np.ndarray, lo_mm: float, hi_mm: float, px_mm: float) -> np.ndarray:
    """Gives the difference-of-Gaussians band of `hu` between two scales in mm."""
    return ndimage.gaussian_filter(hu, lo_mm / px_mm) - ndimage.gaussian_filter(hu, hi_mm / px_mm)


def homogeneous_mask(reference: CTImage, body: np.ndarray, *,
                     soft: tuple[np.ndarray, np.ndarray] | None = None) -> np.ndarray:
    """Gives soft-tissue pixels of the reference far from edges, where noise can be measured.

    `soft`: `soft_tissue(reference, body)` when the caller has it already.
    """
    smooth, tissue = soft_tissue(reference, body) if soft is None else soft
    grad = np.hypot(ndimage.sobel(smooth, 0), ndimage.sobel(smooth, 1)) / 8.0
    if tissue.sum() < 200:
        return ndimage.binary_erosion(body, iterations=3) if body.sum() > 400 else np.ones(reference.shape, bool)
    threshold = np.percentile(grad[tissue], 40)
    flat = tissue & (grad <= threshold)
    return flat if flat.sum() >= 200 else tissue


def _local_noise(hu: np.ndarray, mask: np.ndarray, px_mm: float) -> float:
    """Gives the noise sigma (HU) in `mask`: std of the high-pass residual, corrected to full-band noise."""
    # Residual after removing structure larger than ~3 mm; the 1.1 factor undoes the small loss of
    # low-frequency noise power that a 3 mm high-pass removes for CT-like (ramp-shaped) noise spectra.
    resid = hu - ndimage.gaussian_filter(hu, 3.0 / px_mm)
    vals = resid[mask]
    mad = np.median(np.abs(vals - np.median(vals)))
    return float(1.4826 * mad * 1.1)


def _mean_frequency(hu: np.ndarray, mask: np.ndarray, px_mm: float) -> float:
    """Gives the power-weighted mean radial frequency (cycles/mm) of the high-pass residual inside `mask`."""
    resid = (hu - ndimage.gaussian_filter(hu, 6.0 / px_mm)) * mask
    spec = np.abs(np.fft.rfft2(resid)) ** 2
    fy = np.fft.fftfreq(hu.shape[0], d=px_mm)[:, None]
    fx = np.fft.rfftfreq(hu.shape[1], d=px_mm)[None, :]
    fr = np.hypot(fy, fx)
    total = spec.sum()
    return float((spec * fr).sum() / total) if total > 0 else float("nan")


def _transfer(deg: np.ndarray, ref: np.ndarray, mask: np.ndarray, band: tuple[float, float], px_mm: float) -> float:
    """Gives how much of the reference's band-pass signal survives in the degraded image (1 = all)."""
    bd = _band(deg, *band, px_mm)[mask]
    br = _band(ref, *band, px_mm)[mask]
    denom = float(np.dot(br, br))
    return float(np.dot(bd, br) / denom) if denom > 0 else 1.0


def _edge_gradient_ratio(deg: np.ndarray, ref: np.ndarray, px_mm: float, body: np.ndarray) -> float:
    """Gives the mean gradient magnitude at the reference's strongest edges, degraded over reference."""
    s = 0.5 / px_mm
    gr = ndimage.gaussian_gradient_magnitude(ref, s)
    gd = ndimage.gaussian_gradient_magnitude(deg, s)
    region = ndimage.binary_dilation(body, iterations=3)
    vals = gr[region]
    if vals.size < 100:
        return 1.0
    edges = region & (gr >= np.percentile(vals, 98))
    ref_mean = float(gr[edges].mean())
    return float(gd[edges].mean() / ref_mean) if ref_mean > 0 else 1.0


def _structured_error_index(deg: np.ndarray, ref: np.ndarray, mask: np.ndarray, px_mm: float) -> float:
    """Gives the structured (coherent) part of the error degraded - reference, 0 for random noise.

    Noise inserted or removed is random: after a ~2 mm low-pass only a small, known fraction
    of its energy is left. Streaks, rings, metal shadows, motion ghosts and blocking are
    coherent over several millimetres and survive the low-pass. The index is the low-passed
    error RMS over what random CT noise of the same high-pass RMS would leave, minus one.
    Measured in flat tissue only, so blurred edges (a sharpness loss) do not count here.
    """
    err = deg - ref
    # At least 2 px: on coarse (resampled) grids a 2 mm low-pass would not average noise out at all.
    low = ndimage.gaussian_filter(err, max(STRUCTURE_SCALE_MM / px_mm, 2.0))
    high = err - low
    rms_low = float(np.sqrt(np.mean(low[mask] ** 2)))
    rms_high = float(np.sqrt(np.mean(high[mask] ** 2)))
    floor = RANDOM_LOWPASS_FRACTION * max(rms_high, 1.0)
    return max(0.0, rms_low / floor - 1.0)


def measure_against_reference(
    degraded: CTImage,
    reference: CTImage,
    *,
    lesion_mask: np.ndarray | None = None,
    artifact_hu: np.ndarray | None = None,
) -> ReferenceMeasures:
    """Gives the physics measures of `degraded` against `reference` (same slice, same geometry).

    `artifact_hu`, when the simulator knows it, is the part of degraded - reference that the
    artifact-type steps added (streaks, rings, motion, blocking). Its RMS as a reader sees it is the artifact
    amplitude (`visible_artifact_rms`: soft tissue, soft-tissue window, implants left out), and noise is measured on
    the image
    without it, so a streak is counted once, as an artifact, not again as noise. Without it, the artifact amplitude is
    estimated from the coherent part of the error (`structured_error_index`).
    """
    if degraded.shape != reference.shape:
        raise ValueError(f"degraded {degraded.shape} and reference {reference.shape} differ in shape")
    px = mean_spacing_mm(reference)
    ref = reference.hu.astype(np.float32)
    deg = degraded.hu.astype(np.float32)
    body = body_mask(reference)
    soft = soft_tissue(reference, body)  # once, for the noise region, the artifact region and the brain test
    flat = homogeneous_mask(reference, body, soft=soft)

    sigma_ref = max(_local_noise(ref, flat, px), 0.5)
    deg_noise = deg if artifact_hu is None else deg - artifact_hu.astype(np.float32)
    sigma_deg = max(_local_noise(deg_noise, flat, px), 0.05)
    f_ref = _mean_frequency(ref, flat, px)
    f_deg = _mean_frequency(deg, flat, px)
    freq_ratio = f_deg / f_ref if f_ref > 0 else 1.0

    fine = _transfer(deg, ref, body, FINE_BAND_MM, px)
    lesion_t = _transfer(deg, ref, body, LESION_BAND_MM, px)
    # Lesion-scale noise: the std of the lesion-band signal in flat regions (where the band holds noise).
    nb_ref = float(np.std(_band(ref, *LESION_BAND_MM, px)[flat]))
    nb_deg = float(np.std(_band(deg, *LESION_BAND_MM, px)[flat]))
    snr_ratio = float(np.clip(lesion_t, 0.0, 1.2) * (nb_ref / max(nb_deg, 1e-3)))

    lesion_cnr_ratio = None
    if lesion_mask is not None and lesion_mask.any():
        lesion_cnr_ratio = _lesion_cnr(deg, lesion_mask, px) / max(_lesion_cnr(ref, lesion_mask, px), 1e-3)

    return ReferenceMeasures(
        noise_sigma_hu=sigma_deg,
        noise_sigma_ref_hu=sigma_ref,
        nps_mean_freq_ratio=float(freq_ratio),
        edge_gradient_ratio=_edge_gradient_ratio(deg, ref, px, body),
        fine_detail_transfer=fine,
        lesion_band_transfer=lesion_t,
        lesion_snr_ratio=snr_ratio,
        structured_error_index=_structured_error_index(deg, ref, flat, px),
        lesion_cnr_ratio=lesion_cnr_ratio,
        artifact_rms_ratio=(
            visible_artifact_rms(deg, artifact_hu.astype(np.float32), reference, body, tissue=soft[1]) / sigma_ref
            if artifact_hu is not None else None
        ),
        reference_is_brain=float(is_brain_slice(reference, body, tissue=soft[1])),
    )


#: The reading window (HU) in which the artifact amplitude is measured: soft tissue, level 40, width 400
ARTIFACT_WINDOW_HU = (-160.0, 240.0)


def visible_artifact_rms(degraded: np.ndarray, artifact_hu: np.ndarray, reference: CTImage, body: np.ndarray, *,
                         tissue: np.ndarray | None = None) -> float:
    """Gives the RMS (HU) of the artifact field as a reader sees it: in soft tissue, in the soft-tissue window.

    The field is what the artifact steps added (`artifact_hu`); shown in the window it is
    clip(degraded) - clip(degraded - field), so a change a window saturates (bone 1000 -> 1600 HU) counts as
    nothing. It is averaged over soft tissue at least 3 mm from any edge (where streaks, rings and motion
    smears are seen against a quiet background), leaving out an implant and its margin (`implant_mask`).
    Over the whole body, a 1.6 mm head motion's skull-edge shifts (thousands of HU on a thin rim) rated
    the slice 0 whatever its brain showed. Falls back to the body where a slice has little soft tissue.
    `tissue`: `soft_tissue`'s mask when the caller has it already.
    """
    px = mean_spacing_mm(reference)
    lo, hi = ARTIFACT_WINDOW_HU
    shown = np.clip(degraded, lo, hi) - np.clip(degraded - artifact_hu, lo, hi)
    keep = ~implant_mask(degraded, reference.hu, px)
    region = (soft_tissue(reference, body)[1] if tissue is None else tissue) & keep
    if region.sum() < 200:
        region = body & keep
    return float(np.sqrt(np.mean(shown[region] ** 2))) if region.any() else 0.0


#: HU above which a pixel reads metal (cortical bone stays below ~2000 HU; the simulator's metal reads 3071)
METAL_HU = 2500.0
#: margin around an implant left out of the artifact amplitude: its own partial-volume edge, not an artifact
IMPLANT_MARGIN_MM = 1.5


def implant_mask(degraded: np.ndarray, reference: np.ndarray, px_mm: float) -> np.ndarray:
    """Gives the pixels of an implant the degraded image holds and the reference does not, with a 1.5 mm margin.

    An implant is hardware in the patient, not an artifact: counted in the artifact amplitude, a titanium clip of
    60 pixels at 3000 HU outweighed its own streaks several times over.
    """
    metal = (degraded >= METAL_HU) & (reference < METAL_HU)
    if not metal.any():
        return metal
    return ndimage.binary_dilation(metal, iterations=max(1, int(round(IMPLANT_MARGIN_MM / px_mm))))


def _lesion_cnr(hu: np.ndarray, lesion_mask: np.ndarray, px_mm: float) -> float:
    """Gives the mean lesion CNR: |lesion mean - surrounding ring mean| / ring std, over lesions."""
    lab, n = ndimage.label(lesion_mask)
    ring_px = max(2, int(round(3.0 / px_mm)))
    cnrs = []
    for i in range(1, n + 1):
        les = lab == i
        ring = ndimage.binary_dilation(les, iterations=ring_px) & ~ndimage.binary_dilation(les, iterations=1)
        if les.sum() < 3 or ring.sum() < 10:
            continue
        std = float(hu[ring].std())
        cnrs.append(abs(float(hu[les].mean()) - float(hu[ring].mean())) / max(std, 1e-3))
    return float(np.mean(cnrs)) if cnrs else 0.0


def _clip(score: float) -> float:
    return float(np.clip(score, 0.0, 4.0))


def aspect_scores(m: ReferenceMeasures, cal: Calibration = DEFAULT_CALIBRATION) -> dict[str, float]:
    """Gives the five aspect scores 0-4 from reference measures, through the documented monotone mappings."""
    sigma_ratio = m.noise_sigma_hu / m.noise_sigma_ref_hu
    # Noise: extra noise over the reference costs points; halving the noise-equivalent dose = doubling sigma^2.
    dose_halvings = max(0.0, 2.0 * np.log2(max(sigma_ratio, 1e-6)))
    # A reference noisier than `reference_noise_ok_hu` (a low-dose 4D-CT phase, a noisy chest) is not
    # excellent: whatever noise is left above that level, up to the reference's own, costs the same per halving.
    # Smoothing a noisy reference wins these points back (its texture pays for it below).
    # Brain is read in the brain window (W80), where grey and white matter differ by a few HU: its level is lower.
    ok_hu = cal.brain_reference_noise_ok_hu if m.reference_is_brain else cal.reference_noise_ok_hu
    kept = min(m.noise_sigma_hu, m.noise_sigma_ref_hu)
    dose_halvings += max(0.0, 2.0 * np.log2(max(kept, 1e-6) / ok_hu))
    noise = 4.0 - cal.noise_points_per_dose_halving * dose_halvings
    # Texture: natural = the reference's noise level and spectrum; smoothing below it or moving the
    # spectrum (blotchy IR look, blocking) both cost points.
    smooth_halvings = max(0.0, -np.log2(max(sigma_ratio, 1e-6)))
    freq_shift = np.log2(max(m.nps_mean_freq_ratio, 1e-6))
    # Blotchy, low-frequency noise (IR, smoothing) is what readers call unnatural; a finer grain is mostly noise.
    freq_octaves = -freq_shift if freq_shift < 0 else cal.texture_finer_grain_share * freq_shift
    texture = 4.0 - cal.texture_points_per_sigma_halving * smooth_halvings - cal.texture_points_per_freq_octave * max(
        0.0, freq_octaves - 0.05
    )
    # Sharpness: edges and fine detail; extra noise can raise both ratios above 1, which earns nothing.
    grad_halvings = max(0.0, -np.log2(max(m.edge_gradient_ratio, 1e-6)))
    detail_halvings = max(0.0, -np.log2(max(m.fine_detail_transfer, 1e-3)))
    sharpness = (
        4.0
        - cal.sharpness_points_per_gradient_halving * grad_halvings
        - cal.sharpness_points_per_detail_halving * detail_halvings
    )
    # Contrast / low-contrast detectability: lesion-scale SNR, and true lesion CNR when lesions are known.
    snr = m.lesion_snr_ratio
    if m.lesion_cnr_ratio is not None:
        snr = float(np.sqrt(max(snr, 1e-6) * max(m.lesion_cnr_ratio, 1e-6)))
    contrast = 4.0 - cal.contrast_points_per_snr_halving * max(0.0, -np.log2(max(snr, 1e-6)))
    if m.artifact_rms_ratio is not None:
        doublings = max(0.0, np.log2(max(m.artifact_rms_ratio, 1e-6) / cal.artifact_visible_ratio))
        artifacts = 4.0 - cal.artifact_points_per_doubling * doublings
    else:
        artifacts = 4.0 - cal.artifact_points_per_index * m.structured_error_index
    scores = {
        "noise": _clip(noise),
        "artifacts": _clip(artifacts),
        "sharpness": _clip(sharpness),
        "contrast": _clip(contrast),
        "texture": _clip(texture),
    }
    return {k: scores[k] for k in ASPECTS}


def overall_score(aspects: dict[str, float], cal: Calibration = DEFAULT_CALIBRATION) -> float:
    """Gives the overall 0-4 score: the worst aspect, lifted a little toward the mean of all five.

    Readers grade by the worst problem they see (a streaky image is not rescued by low noise),
    yet an image that is good in every other respect reads a little better than one that is not.
    """
    vals = np.array([aspects[k] for k in ASPECTS], dtype=np.float64)
    worst = float(vals.min())
    return _clip(worst + cal.overall_mean_weight * (float(vals.mean()) - worst))


def distortions_of(image: CTImage, reference: CTImage | None = None) -> tuple[Distortion, ...]:
    """Gives the distortions in the image's history after the reference's own steps (severity where recorded)."""
    start = len(reference.history) if reference is not None else 0
    return distortions_from_steps(image.history[start:])


def distortions_from_steps(steps) -> tuple[Distortion, ...]:
    """Gives the distortions of history steps (dicts with "name", optional "severity" and "region")."""
    out = []
    for step in steps:
        name = step.get("name")
        if name in (None, "phantom"):
            continue
        params = {k: v for k, v in step.items() if k not in ("name", "severity", "region") and _is_scalar(v)}
        out.append(
            Distortion(name=str(name), severity=float(step.get("severity", np.nan)), region=step.get("region"),
                       params=params)
        )
    return tuple(out)


def _is_scalar(v: object) -> bool:
    return isinstance(v, (int, float, str, bool)) or v is None


#: the ReferenceMeasures fields stored in a manifest's `measures` column
_MEASURE_FIELDS = ("noise_sigma_hu", "noise_sigma_ref_hu", "nps_mean_freq_ratio", "edge_gradient_ratio",
                   "fine_detail_transfer", "lesion_band_transfer", "lesion_snr_ratio", "structured_error_index",
                   "lesion_cnr_ratio", "artifact_rms_ratio", "reference_is_brain")


def scores_from_measures(measures: dict[str, float],
                         calibration: Calibration = DEFAULT_CALIBRATION) -> tuple[float, dict[str, float]]:
    """Gives (overall, aspects) from stored measures (`QualityLabels.measures` of physics labels), under `calibration`.

    Lets a dataset be rescored after a calibration change without reading its images, and keeps what only the
    build knew (the simulator's artifact field).
    """
    missing = [k for k in _MEASURE_FIELDS[:8] if k not in measures]
    if missing:
        raise KeyError(f"measures lack {missing}: these are not physics labels")
    m = ReferenceMeasures(**{k: float(measures[k]) for k in _MEASURE_FIELDS if measures.get(k) is not None})
    aspects = aspect_scores(m, calibration)
    return overall_score(aspects, calibration), aspects


def physics_labels(
    degraded: CTImage,
    reference: CTImage,
    *,
    lesion_mask: np.ndarray | None = None,
    artifact_hu: np.ndarray | None = None,
    calibration: Calibration = DEFAULT_CALIBRATION,
) -> QualityLabels:
    """Gives physics-derived labels of `degraded` measured against `reference` (see measure_against_reference)."""
    m = measure_against_reference(degraded, reference, lesion_mask=lesion_mask, artifact_hu=artifact_hu)
    aspects = aspect_scores(m, calibration)
    return QualityLabels(
        overall=overall_score(aspects, calibration),
        aspects=aspects,
        distortions=distortions_of(degraded, reference),
        source="physics",
        measures=m.to_dict(),
    )

