"""Refits the calibration constants of `vliqa.simulate.dose` on real full/quarter-dose pairs, then checks them.

Data: mayo_ldct_pairs in the shared data folder (--data-root, else $VLIQA_SHARED_DATA, else ../shared/data);
fitted on the pairs of `dose_check.FIT_PATIENTS` (L096, L192) only. Each full-dose slice is degraded to
25 % and compared with the real quarter dose (`vliqa.simulate.dose_check`: sigma and NPS centroid of
the added noise sim - FD against QD - FD, in the full-dose slice's homogeneous ROIs):

0. (--fit-bowtie) BOWTIE_RADIUS_MM, BOWTIE_MAX_ATTENUATION (where in the body the noise goes): the spread
   of log(real / simulated added-noise variance), less its median per slice, over the homogeneous windows
   of the fit slices, for each bowtie of a grid; of those within 3 % of the least spread, the one whose
   step-2 regression leaves the smallest residual;
1. SOURCE_NOISE_BLUR_MM (texture): the grid value that minimises the squared log NPS-centroid ratio of the
   added noise, summed over the fit patients' kernels (group medians);
2. SOURCE_NOISE_GAIN and SOURCE_NOISE_GAIN_PER_100MM (level): with gain 1 and no size term, the log sigma
   ratio of each fit pair is regressed on (Dw - 300 mm) / 100 mm (Dw: water-equivalent diameter);
   the gain that cancels it is exp(-2 a) at 300 mm and changes by -2 b per 100 mm;
3. PHOTONS_PER_MGY_MM2 (noise-free inputs, `source_dose`): the constant at which the model, at each fit
   slice's header CTDIvol, has the slice's measured band noise (median over slices).

Then, without shared data, the bundled Siemens abdomen slices: noise at 100/50/25/10 % of their dose.
Paste the printed constants into src/vliqa/simulate/dose.py and rerun bench/simulate_bench.py for the
per-patient table (fit and check patients).

Run: .venv/bin/python bench/calibrate_dose.py [--data-root DIR] [--fit-bowtie] [--skip-bundled]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.table import Table

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "simulate"))
from real_slices import abdomen_slices  # noqa: E402

from vliqa.errors import DatasetError  # noqa: E402
from vliqa.simulate import dose, dose_check, kernels  # noqa: E402

BLUR_GRID_MM = (0.0, 0.1, 0.15, 0.2, 0.25, 0.3)
BUNDLED_SLICES = (2, 6, 10, 14, 18)


BOWTIE_GRID = ((0.0, 0.0),) + tuple((r, c) for r in (150.0, 200.0, 250.0, 300.0, 350.0) for c in (1.0, 1.5, 2.0, 3.0))
#: Bowties whose spread is within this factor of the least are told apart by the level regression's residual.
BOWTIE_TOLERANCE = 1.03


def fit_bowtie(pairs: list[dose_check.DosePair], console: Console) -> tuple[float, float]:
    """Gives the bowtie (radius mm, cap) under which added noise is spread over the body most like the real one.

    In every homogeneous window of each full-dose slice, log(real / simulated added-noise variance) is taken
    and its median over the slice removed (the level is fitted later); the spread that is left measures
    how differently real and simulated noise vary over the body. The bowtie with the least spread wins.
    """
    from vliqa.ct.noise import scan_windows
    from vliqa.simulate import source_noise

    prepared = []
    for pair in pairs:
        full, quarter = dose_check.read_pair(pair)
        px = dose.pixel_mm(full)
        n = source_noise.window_px(px, source_noise.NOISE_WINDOW_MM[0])
        scan = scan_windows(full, n)
        idx = np.flatnonzero(scan.accepted)
        rows, cols = scan.rows[idx], scan.cols[idx]
        real = source_noise.band_stats(quarter.hu - full.hu, rows, cols, n, px, 0.0)[0]
        prepared.append((full, rows, cols, n, px, real))
    table = Table(title="Bowtie: spread of log(real / simulated added-noise variance) over the windows of each slice")
    for col in ("radius (mm)", "cap (mu L)", "sd", "median |dev|"):
        table.add_column(col, justify="right")
    best, best_sd = BOWTIE_GRID[0], np.inf
    spreads = {}
    for radius, cap in BOWTIE_GRID:
        devs = []
        for i, (full, rows, cols, n, px, real) in enumerate(prepared):
            sim = dose.low_dose(full, dose_fraction=dose_check.QUARTER_DOSE, seed=i, source_dose=10.0,
                                bowtie_radius_mm=radius, bowtie_max_attenuation=cap)
            ratio = np.log(real / source_noise.band_stats(sim.hu - full.hu, rows, cols, n, px, 0.0)[0])
            devs.append(ratio - np.median(ratio))
        dev = np.concatenate(devs)
        sd = float(np.std(dev))
        spreads[(radius, cap)] = sd
        table.add_row(f"{radius:.0f}", f"{cap:.1f}", f"{sd:.3f}", f"{np.median(np.abs(dev)):.3f}")
        if sd < best_sd:
            best, best_sd = (radius, cap), sd
    console.print(table)
    # The spread is flat near its minimum: among the bowties within 3 % of it, take the one after which the
    # per-pair noise level (the regression of step 2) is most consistent.
    near = [(r, c) for (r, c), sd in spreads.items() if sd <= BOWTIE_TOLERANCE * best_sd]
    if len(near) > 1:
        residuals = {}
        for radius, cap in near:
            residuals[(radius, cap)] = level_regression(
                pairs, dose.SOURCE_NOISE_BLUR_MM, bowtie_radius_mm=radius, bowtie_max_attenuation=cap
            )[2]
            console.print(f"bowtie {radius:.0f} mm / {cap:.1f}: spread {spreads[(radius, cap)]:.3f}, "
                          f"level residual sd {residuals[(radius, cap)]:.3f}")
        best = min(residuals, key=residuals.__getitem__)
    return best


def level_regression(pairs: list[dose_check.DosePair], blur: float,
                     **low_dose_kwargs: float) -> tuple[float, float, float, list]:
    """Gives (a, b, residual sd, results) of log(σ sim/real) = a + b (Dw - 300 mm)/100 mm at gain 1, no size term."""
    res = dose_check.evaluate(
        pairs, source_noise_blur_mm=blur, source_noise_gain=1.0, source_noise_gain_per_100mm=0.0, **low_dose_kwargs
    )
    dw = np.array([r.step["water_equivalent_diameter_mm"] for r in res], dtype=np.float64)
    y = np.log([r.ratio("sigma_added") for r in res])
    x = (dw - dose.REFERENCE_DIAMETER_MM) / 100.0
    (a, b), *_ = np.linalg.lstsq(np.stack([np.ones_like(x), x], axis=1), y, rcond=None)
    return float(a), float(b), float(np.std(y - a - b * x)), res


def fit_blur(pairs: list[dose_check.DosePair], console: Console) -> float:
    """Gives the source blur (mm) whose added-noise NPS centroid best matches the real one on the fit pairs."""
    table = Table(title="Texture: NPS centroid ratio of the added noise (sim / real), group medians, gain 1")
    table.add_column("blur (mm)", justify="right")
    groups = sorted({(p.patient, p.kernel) for p in pairs})
    for patient, kernel in groups:
        table.add_column(f"{patient} {kernel}", justify="right")
    table.add_column("Σ log² ratio", justify="right")
    best, best_cost = BLUR_GRID_MM[0], np.inf
    for blur in BLUR_GRID_MM:
        res = dose_check.evaluate(pairs, source_noise_blur_mm=blur, source_noise_gain=1.0,
                                  source_noise_gain_per_100mm=0.0)
        ratios = {(g.patient, g.kernel): g.ratios["centroid_added"] for g in dose_check.summarize(res)}
        cost = float(sum(np.log(r) ** 2 for r in ratios.values()))
        table.add_row(f"{blur:.2f}", *(f"{ratios[k]:.3f}" for k in groups), f"{cost:.4f}")
        if cost < best_cost:
            best, best_cost = blur, cost
    console.print(table)
    return best


def fit_level(pairs: list[dose_check.DosePair], blur: float, console: Console) -> tuple[float, float, float]:
    """Gives (gain at 300 mm, log-gain per 100 mm, photons per mGy mm²) fitted on the fit pairs at `blur`."""
    a, b, resid_sd, res = level_regression(pairs, blur)
    dw = np.array([r.step["water_equivalent_diameter_mm"] for r in res], dtype=np.float64)
    console.print(
        f"level: log(σ sim/real) = {a:+.4f} {b:+.4f} (Dw - 300 mm)/100 mm over {len(res)} fit pairs "
        f"(Dw {dw.min():.0f}–{dw.max():.0f} mm, residual sd {resid_sd:.3f})"
    )
    photons = []
    for r in res:
        st = r.step
        if st.get("header_dose_mgy") and st.get("model_band_sigma_hu"):
            # Model noise at the header CTDIvol with the constant in use, against the slice's own band noise.
            photons.append(dose.PHOTONS_PER_MGY_MM2 * (st["model_band_sigma_hu"] / st["image_band_sigma_hu"]) ** 2)
    photons_fit = float(np.median(photons)) if photons else float("nan")
    if photons:
        console.print(
            f"photons per mGy mm² at the header CTDIvol: median {photons_fit:.3g} "
            f"(slices {np.min(photons):.3g}–{np.max(photons):.3g}; in use {dose.PHOTONS_PER_MGY_MM2:.3g})"
        )
    return float(np.exp(-2.0 * a)), float(-2.0 * b), photons_fit


def bundled_check(console: Console) -> None:
    """Prints the noise of the bundled abdomen slices at 100/50/25/10 % of their dose and their NPS mean frequency."""
    rows = []
    for idx, im in zip(BUNDLED_SLICES, abdomen_slices(BUNDLED_SLICES), strict=True):
        px = dose.pixel_mm(im)
        rois = kernels.find_flat_rois(im.hu)
        f_real, nps_real = kernels.roi_nps(im.hu, rois, px)
        sig = {1.0: kernels.roi_noise_sigma_hu(im.hu, rois)}
        sims = {frac: dose.low_dose(im, dose_fraction=frac, seed=3) for frac in (0.5, 0.25, 0.1)}
        for frac, sim in sims.items():
            sig[frac] = kernels.roi_noise_sigma_hu(sim.hu, rois)
        f_sim, nps_sim = kernels.roi_nps(sims[0.25].hu - im.hu, rois, px)
        step = sims[0.25].history[-1]
        rows.append((idx, len(rois), sig, kernels.nps_mean_frequency(f_real, nps_real, 0.1),
                     kernels.nps_mean_frequency(f_sim, nps_sim, 0.1), step))
    table = Table(title="Bundled Siemens Biograph mCT abdomen slices (Br38f, 18.5 mGy): noise at lower doses")
    for col in ("slice", "ROIs", "σ 100 %", "σ 50 %", "σ 25 %", "σ 10 %", "25/100", "NPS f̄ real", "added f̄ sim",
                "kernel", "source dose (mGy)"):
        table.add_column(col, justify="right")
    for idx, n, sig, fr, fs, step in rows:
        table.add_row(
            str(idx), str(n), *(f"{sig[k]:.1f}" for k in (1.0, 0.5, 0.25, 0.1)), f"{sig[0.25] / sig[1.0]:.2f}",
            f"{fr:.3f}", f"{fs:.3f}", str(step["kernel"]), f"{step['source_dose_mgy']:.1f}",
        )
    console.print(table)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-root", type=Path, help="the shared data folder holding mayo_ldct_pairs/")
    parser.add_argument("--skip-bundled", action="store_true", help="leave out the bundled-slice check")
    parser.add_argument("--fit-bowtie", action="store_true",
                        help="also refit the bowtie (17 runs over the fit pairs, minutes)")
    args = parser.parse_args()
    console = Console(width=170)
    try:
        pairs = dose_check.load_pairs(args.data_root, patients=dose_check.FIT_PATIENTS)
    except DatasetError as exc:
        console.print(f"[yellow]no refit: {exc}[/yellow]")
        pairs = []
    if pairs:
        console.print(f"fitting on {len(pairs)} pairs of {', '.join(dose_check.FIT_PATIENTS)}")
        if args.fit_bowtie:
            radius, cap = fit_bowtie(pairs, console)
            console.print(f"BOWTIE_RADIUS_MM = {radius:g}, BOWTIE_MAX_ATTENUATION = {cap:g}        "
                          f"(in use {dose.BOWTIE_RADIUS_MM:g}, {dose.BOWTIE_MAX_ATTENUATION:g}; the steps below use "
                          "those in use)")
        blur = fit_blur(pairs, console)
        gain, per_100mm, photons = fit_level(pairs, blur, console)
        console.print("\nconstants for src/vliqa/simulate/dose.py:")
        console.print(f"SOURCE_NOISE_BLUR_MM = {blur:g}        (in use {dose.SOURCE_NOISE_BLUR_MM:g})")
        console.print(f"SOURCE_NOISE_GAIN = {gain:.3f}        (in use {dose.SOURCE_NOISE_GAIN:.3f})")
        console.print(
            f"SOURCE_NOISE_GAIN_PER_100MM = {per_100mm:.3f}        (in use {dose.SOURCE_NOISE_GAIN_PER_100MM:.3f})")
        console.print(f"PHOTONS_PER_MGY_MM2 = {photons:.3g}        (in use {dose.PHOTONS_PER_MGY_MM2:.3g})\n")
    if not args.skip_bundled:
        bundled_check(console)


if __name__ == "__main__":
    main()
