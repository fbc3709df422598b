"""Benchmarks the fan-beam path on the bundled real 512x512 slice against the parallel reference path.

Prints: time of the fan-beam projector (Joseph, 1152 views) and of the rebinned FBP; noise-free
round-trip RMSE of both geometries; `low_dose` at 25 % of the 18.5 mGy source dose through each
geometry: time, noise sigma and NPS mean frequency in the same flat soft-tissue ROIs.

Run: .venv/bin/python bench/fan_bench.py [slice index, default 10] [--markdown FILE]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
from _report import Report

import vliqa
from vliqa.simulate import dose, kernels, tomo, tomo_fan

ABDOMEN = "src/vliqa/samples/abdomen_ct_dicom"


def main(index: int = 10, markdown: Path | None = None) -> None:
    """Prints the fan-beam timings and its agreement with the parallel path on one real slice (a table: `markdown`)."""
    report = Report("Fan beam")
    cells: dict[str, dict[str, str]] = {}
    ct = vliqa.load(ABDOMEN).slice(index)
    hu, px_mm = ct.hu, float(ct.pixel_spacing_mm[0])
    n = hu.shape[0]
    mu_px = (tomo.hu_to_mu_per_mm(hu) * px_mm).astype(np.float32)
    yy, xx = np.mgrid[:n, :n] - (n - 1) / 2.0
    inside = np.hypot(xx, yy) < 0.9 * n / 2

    par = tomo.parallel_geometry(n)
    tomo.fbp(tomo.forward_project(mu_px, par), par)  # builds the cached NUFFT plan, shared by both paths
    t0 = time.perf_counter()
    rec_par = tomo.fbp(tomo.forward_project(mu_px, par), par)
    t_par = time.perf_counter() - t0

    fan = tomo_fan.fan_geometry(n, pixel_size_mm=px_mm)
    t0 = time.perf_counter()
    sino = tomo_fan.fan_forward_project(mu_px, fan)
    t_proj = time.perf_counter() - t0
    tomo_fan.fan_fbp(sino, fan)  # builds the cached rebinning matrix
    t0 = time.perf_counter()
    rec_fan = tomo_fan.fan_fbp(sino, fan)
    t_fbp = time.perf_counter() - t0
    print(
        f"slice {index}: {n} px of {px_mm:.3f} mm; fan {fan.n_views} views x {fan.n_det} channels, field "
        f"{fan.fov_diameter_mm:.0f} mm")
    print(f"parallel forward + FBP {t_par:.2f} s; fan projector {t_proj:.2f} s, rebinning + FBP {t_fbp:.2f} s")
    for name, rec in (("parallel", rec_par), ("fan", rec_fan)):
        err = (tomo.mu_per_mm_to_hu(rec / px_mm) - hu)[inside]
        print(f"{name:8s} round trip: RMSE {np.sqrt(np.mean(err**2)):.1f} HU, mean {err.mean():+.2f} HU")
        cells.setdefault("noise-free projection + FBP round trip, RMSE (HU)",
                         {})[name] = f"{np.sqrt(np.mean(err**2)):.1f}"
    cells["projection + FBP, s"] = {"parallel": f"{t_par:.2f}", "fan": f"{t_proj + t_fbp:.2f}"}

    rois = kernels.find_flat_rois(hu)
    print(f"{len(rois)} flat ROIs; source sigma {kernels.roi_noise_sigma_hu(hu, rois):.1f} HU")
    for geometry in ("parallel", "fan"):
        t0 = time.perf_counter()
        out = dose.low_dose(ct, dose_fraction=0.25, seed=1, geometry=geometry)
        elapsed = time.perf_counter() - t0
        added = out.hu - hu
        sigma = kernels.roi_noise_sigma_hu(out.hu, rois)
        added_sigma = kernels.roi_noise_sigma_hu(added, rois)
        mean_f = kernels.nps_mean_frequency(*kernels.roi_nps(added, rois, px_mm), kernels.NPS_FIT_LOW_PER_MM)
        print(
            f"{geometry:8s} low_dose 25 %: {elapsed:.1f} s, sigma {sigma:.1f} HU (added {added_sigma:.1f} HU), "
            f"added-noise NPS mean f {mean_f:.3f} /mm")
        cells.setdefault("25 % dose: σ in flat ROIs (HU)", {})[geometry] = f"{sigma:.1f}"
        cells.setdefault("25 % dose: σ of the added noise (HU)", {})[geometry] = f"{added_sigma:.1f}"
        cells.setdefault("25 % dose: NPS mean frequency of the added noise (1/mm)", {})[geometry] = f"{mean_f:.3f}"
        cells.setdefault("`low_dose` at 25 %, s per slice", {})[geometry] = f"{elapsed:.1f}"
    report.add_rows(f"fan beam ({fan.n_views} views x {fan.n_det} channels, rebinned to parallel) beside the default "
                    f"parallel fast path, real abdomen slice {index} ({n} px of {px_mm:.3f} mm; source σ "
                    f"{kernels.roi_noise_sigma_hu(hu, rois):.1f} HU in {len(rois)} flat ROIs)",
                    ("check", "fan", "parallel (fast)"),
                    [(k, v.get("fan", "-"), v.get("parallel", "-")) for k, v in cells.items()])
    report.write(markdown)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("index", nargs="?", type=int, default=10, help="slice of the bundled series")
    parser.add_argument("--markdown", type=Path, help="write the table here as GitHub markdown")
    args = parser.parse_args()
    main(args.index, args.markdown)
