"""Calibrates PHOTONS_PER_MGY_MM2 on the bundled real abdomen slices and reports noise at lower doses.

For each slice: flat soft-tissue ROIs are found; the image's NPS above 0.1/mm (below it, anatomy) is
compared with the NPS of our simulated full-dose noise (the slice treated as noise-free, the header
kernel's texture) in the same ROIs. The power ratio gives the photons per ray that make the simulated
noise as strong as the real one. Then the real slice is degraded to 50 %, 25 % and 10 % of its dose and
the noise sigma is measured in the same ROIs, directly (detrended ROI std) and as band power.

Run: .venv/bin/python bench/calibrate_dose.py
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.table import Table

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "simulate"))
from real_slices import abdomen_slices  # noqa: E402

from vliqa.simulate import dose, kernels  # noqa: E402

SLICES = (2, 6, 10, 14, 18)


def main() -> None:
    console = Console(width=170)
    ratios, rows = [], []
    for im in abdomen_slices(SLICES):
        px = dose.pixel_mm(im)
        rois = kernels.find_flat_rois(im.hu)
        f_real, nps_real = kernels.roi_nps(im.hu, rois, px)
        sim = dose.low_dose(im.replace(history=({"name": "phantom"},)), dose_fraction=1.0, seed=7, kernel=im.acquisition.kernel)
        f_sim, nps_sim = kernels.roi_nps(sim.hu - im.hu, rois, px)
        ratio = kernels.nps_band_power(f_sim, nps_sim) / kernels.nps_band_power(f_real, nps_real)
        ratios.append(ratio)
        sig = {1.0: kernels.roi_noise_sigma_hu(im.hu, rois)}
        for frac in (0.5, 0.25, 0.1):
            sig[frac] = kernels.roi_noise_sigma_hu(dose.low_dose(im, dose_fraction=frac, seed=3).hu, rois)
        rows.append((im, len(rois), ratio, sig, kernels.nps_mean_frequency(f_real, nps_real, 0.1), kernels.nps_mean_frequency(f_sim, nps_sim, 0.1)))
    table = Table(title=f"Dose calibration on bundled abdomen slices (PHOTONS_PER_MGY_MM2 in use = {dose.PHOTONS_PER_MGY_MM2:.3g})")
    for col in ("slice", "ROIs", "photons/mGy/mm² fit", "σ 100 %", "σ 50 %", "σ 25 %", "σ 10 %", "25/100", "NPS f̄ real", "NPS f̄ sim"):
        table.add_column(col, justify="right")
    for (_im, n, ratio, sig, fr, fs), idx in zip(rows, SLICES, strict=True):
        table.add_row(
            str(idx), str(n), f"{dose.PHOTONS_PER_MGY_MM2 * ratio:.3g}",
            *(f"{sig[k]:.1f}" for k in (1.0, 0.5, 0.25, 0.1)), f"{sig[0.25] / sig[1.0]:.2f}", f"{fr:.3f}", f"{fs:.3f}",
        )
    console.print(table)
    console.print(f"geometric mean fit: {dose.PHOTONS_PER_MGY_MM2 * float(np.exp(np.mean(np.log(ratios)))):.3g} photons/mGy/mm²")


if __name__ == "__main__":
    main()
