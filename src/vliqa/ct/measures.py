"""Objective, reference-free physics measures of a CT slice, and `measure_all` — their flat summary.

The measures live in their own modules and are re-exported here:

| measure | module | function |
|---|---|---|
| homogeneous ROIs, noise sigma (HU) | `vliqa.ct.noise` | `find_homogeneous_rois`, `noise_sigma_hu` |
| noise power spectrum | `vliqa.ct.nps` | `nps` |
| edge MTF (MTF50/MTF10 in lp/cm) | `vliqa.ct.mtf` | `mtf_edge` |
| streak and ring indices (HU) | `vliqa.ct.artifacts_index` | `streak_rms_hu`, `ring_rms_hu` |
| CNR, lesion CNR, RMSE/PSNR/SSIM | `vliqa.ct.reference` | `cnr`, `lesion_cnr`, `reference_metrics` |

`measure_all` is what the dataset manifest and the reports store: a flat
dict of floats, NaN where a measure cannot be computed on a valid slice. It is
the per-slice reference; `measure_series` gives the same keys for many slices
about 10x faster (batched kernels, MTF and NPS once per series; `vliqa.ct.series`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from vliqa.core import CTImage
from vliqa.ct.artifacts_index import highpass_region, ring_index, ring_index_from, streak_index, streak_index_from
from vliqa.ct.mtf import MTFResult, mtf_edge
from vliqa.ct.noise import ROI, NoiseEstimate, find_homogeneous_rois, noise_sigma_hu
from vliqa.ct.nps import NPSResult, nps
from vliqa.ct.reference import ReferenceMetrics, cnr, lesion_cnr, reference_metrics
from vliqa.ct.series import is_measurable, measure_group, series_key

__all__ = [
    "ROI",
    "MTFResult",
    "NPSResult",
    "NoiseEstimate",
    "ReferenceMetrics",
    "cnr",
    "find_homogeneous_rois",
    "lesion_cnr",
    "measure_all",
    "measure_series",
    "MEASURE_KEYS",
    "REFERENCE_KEYS",
    "mtf_edge",
    "noise_sigma_hu",
    "nps",
    "reference_metrics",
    "ring_index",
    "streak_index",
]

#: Keys `measure_all` always returns, in order.
MEASURE_KEYS: tuple[str, ...] = (
    "noise_sigma_hu",
    "noise_n_rois",
    "nps_peak_freq_per_mm",
    "nps_mean_freq_per_mm",
    "mtf50_lp_per_cm",
    "mtf10_lp_per_cm",
    "edge_width_mm",
    "streak_rms_hu",
    "ring_rms_hu",
)
#: Keys added when a reference is given.
REFERENCE_KEYS: tuple[str, ...] = ("rmse_hu", "psnr_db", "ssim")


def _finite_or_nan(value: float) -> float:
    value = float(value)
    return value if math.isfinite(value) or value == math.inf else math.nan


def measure_all(image: CTImage, reference: CTImage | None = None) -> dict[str, float]:
    """Gives every objective measure of `image` as a flat dict of floats (NaN where not computable).

    Keys: `MEASURE_KEYS`, plus `REFERENCE_KEYS` when a same-size clean
    `reference` is given (PSNR over the reference's HU range, SSIM in its
    default display window; see `reference_metrics`).
    """
    noise = noise_sigma_hu(image)
    spectrum = nps(image)
    edge = mtf_edge(image)
    g, region = highpass_region(image.hu)
    out = {
        "noise_sigma_hu": noise.sigma_hu,
        "noise_n_rois": float(noise.n_rois),
        "nps_peak_freq_per_mm": spectrum.peak_freq_per_mm,
        "nps_mean_freq_per_mm": spectrum.mean_freq_per_mm,
        "mtf50_lp_per_cm": edge.mtf50_lp_per_cm,
        "mtf10_lp_per_cm": edge.mtf10_lp_per_cm,
        "edge_width_mm": edge.edge_width_mm,
        "streak_rms_hu": streak_index_from(g, region),
        "ring_rms_hu": ring_index_from(g, region),
    }
    if reference is not None:
        ref = reference_metrics(image, reference)
        out.update({"rmse_hu": ref.rmse_hu, "psnr_db": ref.psnr_db, "ssim": ref.ssim})
    return {key: _finite_or_nan(value) for key, value in out.items()}


def measure_series(images: Sequence[CTImage]) -> list[dict[str, float]]:
    """Gives the `measure_all` keys (no reference keys) for every slice, fast; NaN where not computable.

    Slices are grouped into series (shape, pixel spacing, series UID, kernel).
    Noise sigma and its window count, streak and ring are per slice; the MTF
    keys and the NPS frequencies are facts of the series, measured once on its
    sample slices and given to each slice. A degenerate slice (under 64 px,
    not finite, blank or all air) gives NaN for every key of its own dict.
    Agreement with `measure_all`: bench/measures_bench.py.
    """
    out = [dict.fromkeys(MEASURE_KEYS, math.nan) for _ in images]
    groups: dict[tuple, list[int]] = {}
    for i, image in enumerate(images):
        if is_measurable(image):
            groups.setdefault(series_key(image), []).append(i)
    for members in groups.values():
        for i, values in zip(members, measure_group([images[i] for i in members]), strict=True):
            out[i] = {key: _finite_or_nan(values[key]) for key in MEASURE_KEYS}
    return out
