"""Benchmarks and validates the low-dose simulation on a real 512x512 slice with 720 views.

Three implementations of the same physics (forward projection of mu, Poisson + electronic noise on the
rays, FBP of the noise sinogram with a Hann filter, added to the source):
  fast     vliqa Fourier-slice projector (NUFFT), the default
  exact    vliqa pixel-driven projector (linear interpolation)
  skimage  scikit-image radon + iradon (the baseline)
Prints slices/s with ratios, then the noise statistics each path gives (sigma in flat ROIs, NPS mean
and peak frequency at 25 % dose, streak anisotropy at 3 % dose).

Then realism on real full/quarter-dose pairs (mayo_ldct_pairs in the shared data folder, skipped when
absent; `vliqa.simulate.dose_check`): each full-dose slice degraded to 25 % against the real quarter dose,
per patient and kernel: pairs, sigma of the quarter dose (real, simulated, ratio) and of the added noise
(QD - FD vs sim - FD), NPS centroid (real, simulated, ratio), fit/check role. Medians over the pairs.

Run: .venv/bin/python bench/simulate_bench.py [--only speed|projectors|pairs] [--data-root DIR]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.table import Table
from skimage.transform import iradon, radon

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "simulate"))
from real_slices import abdomen_slices  # noqa: E402

from vliqa.errors import DatasetError  # noqa: E402
from vliqa.simulate import dose, dose_check, kernels, tomo  # noqa: E402


def noise_image_hu(hu: np.ndarray, px_mm: float, fraction: float, path: str, seed: int = 0) -> np.ndarray:
    """Gives the noise (HU) that `path` adds for a real slice at `fraction` of its 18.5 mGy dose (Hann filter)."""
    mu_px = (tomo.hu_to_mu_per_mm(hu) * px_mm).astype(np.float32)
    photons = dose.incident_photons_per_ray(18.5, px_mm, 3.0, 720)
    rng = np.random.default_rng(seed)
    if path == "skimage":
        theta = np.degrees(tomo.parallel_geometry(hu.shape[0]).angles_rad)
        sino = radon(mu_px, theta=theta, circle=False).T
        per_view = photons * dose.angular_modulation(sino)
        noise = dose.noise_sinogram(sino, per_view[:, None], fraction, rng, source_has_noise=True)
        rec = iradon(noise.T.astype(np.float64), theta=theta, circle=False, filter_name="hann", output_size=hu.shape[0])
    else:
        geom = tomo.parallel_geometry(hu.shape[0])
        sino = tomo.forward_project(mu_px, geom, method=path)
        per_view = photons * dose.angular_modulation(sino)
        noise = dose.noise_sinogram(sino, per_view[:, None], fraction, rng, source_has_noise=True)
        rec = tomo.fbp(noise, geom, filter_name="hann", method=path)
    return 1000.0 * rec / (px_mm * tomo.MU_WATER_PER_MM)


def anisotropy(noise: np.ndarray) -> float:
    """Gives the NPS power across the horizontal axis over the power along it (streaks left-right -> >1)."""
    crop = noise[240:300, 120:400]
    spec = np.abs(np.fft.fft2(crop - crop.mean())) ** 2
    fy, fx = np.meshgrid(np.fft.fftfreq(crop.shape[0]), np.fft.fftfreq(crop.shape[1]), indexing="ij")
    return float(spec[np.abs(fx) < 0.3 * np.abs(fy)].mean() / spec[np.abs(fy) < 0.3 * np.abs(fx)].mean())


def speed(console: Console) -> None:
    """Prints the time per slice of the three projector paths (fast, exact, scikit-image)."""
    img = abdomen_slices((10,))[0]
    hu, px = img.hu, dose.pixel_mm(img)
    t0 = time.perf_counter()
    dose.low_dose(img, dose_fraction=0.25, seed=0)  # builds and caches the NUFFT plan
    plan_s = time.perf_counter() - t0
    timings: dict[str, float] = {}
    reps = {"fast": 5, "exact": 1, "skimage": 1}
    for path in ("fast", "exact", "skimage"):
        t0 = time.perf_counter()
        for i in range(reps[path]):
            if path == "skimage":
                hu + noise_image_hu(hu, px, 0.25, "skimage", seed=i)
            else:
                dose.low_dose(img, dose_fraction=0.25, seed=i, method=path)
        timings[path] = (time.perf_counter() - t0) / reps[path]
    table = Table(title="Low-dose simulation, one 512x512 slice, 720 views (2 CPU cores)")
    for col in ("path", "s / slice", "slices / s", "speed vs scikit-image"):
        table.add_column(col, justify="right")
    for path, sec in timings.items():
        table.add_row(path, f"{sec:.3f}", f"{1 / sec:.2f}", f"{timings['skimage'] / sec:.1f}x")
    console.print(table)
    console.print(
        f"fast path first call for this geometry (plan build, texture-fit table): {plan_s:.1f} s (cached afterwards)")


def projectors(console: Console) -> None:
    """Prints the noise statistics of the same physics through the three projectors."""
    img = abdomen_slices((10,))[0]
    hu, px = img.hu, dose.pixel_mm(img)
    rois = kernels.find_flat_rois(hu)
    val = Table(title="Same physics, three projectors: noise of a 25 % dose (Hann filter), streaks at 3 %")
    for col in ("path", "σ ROI (HU)", "NPS mean f (1/mm)", "NPS peak f (1/mm)", "anisotropy 3 %", "anisotropy 100 %"):
        val.add_column(col, justify="right")
    ref = None
    for path in ("skimage", "exact", "fast"):
        noise = noise_image_hu(hu, px, 0.25, path, seed=1)
        f, nps = kernels.roi_nps(noise, rois, px)
        row = (kernels.roi_noise_sigma_hu(noise, rois), kernels.nps_mean_frequency(f, nps),
               kernels.nps_peak_frequency(f, nps), anisotropy(noise_image_hu(hu, px, 0.03, path, seed=2)),
               anisotropy(noise_image_hu(hu, px, 0.999, path, seed=2)))
        ref = ref or row
        val.add_row(path, *(f"{v:.3g} ({100 * (v / r - 1):+.0f} %)" for v, r in zip(row, ref, strict=True)))
    console.print(val)


def real_pairs(console: Console, data_root: Path | None) -> None:
    """Prints, per patient and kernel, the simulated against the real quarter dose of mayo_ldct_pairs."""
    try:
        pairs = dose_check.load_pairs(data_root)
    except DatasetError as exc:
        console.print(f"[yellow]real dose pairs skipped: {exc}[/yellow]")
        return
    t0 = time.perf_counter()
    results = dose_check.evaluate(pairs)
    elapsed = time.perf_counter() - t0
    table = Table(
        title="Simulated 25 % of the full dose vs the real quarter dose (medians over pairs; σ in HU, NPS centroid in "
              "1/mm)")
    cols = ("patient", "kernel", "role", "pairs", "σ QD real", "σ QD sim", "ratio", "σ added real", "σ added sim",
            "ratio", "NPS c. QD real", "sim", "ratio", "NPS c. added real", "sim", "ratio", "targets")
    for col in cols:
        table.add_column(col, justify="right")
    for g in dose_check.summarize(results):
        m, r = g.medians, g.ratios
        table.add_row(
            g.patient, g.kernel, g.role, str(g.n_pairs),
            f"{m['sigma_real_total']:.1f}", f"{m['sigma_sim_total']:.1f}", f"{r['sigma_total']:.3f}",
            f"{m['sigma_real_added']:.1f}", f"{m['sigma_sim_added']:.1f}", f"{r['sigma_added']:.3f}",
            f"{m['centroid_real_total']:.3f}", f"{m['centroid_sim_total']:.3f}", f"{r['centroid_total']:.3f}",
            f"{m['centroid_real_added']:.3f}", f"{m['centroid_sim_added']:.3f}", f"{r['centroid_added']:.3f}",
            "met" if g.passes else "[red]missed[/red]",
        )
    console.print(table)
    lo, hi = dose_check.SIGMA_RATIO_RANGE
    clo, chi = dose_check.CENTROID_RATIO_RANGE
    console.print(
        f"targets: σ ratio {lo}–{hi}, NPS centroid ratio {clo}–{chi}; fit patients "
        f"{', '.join(dose_check.FIT_PATIENTS)}, "
        f"check patients {', '.join(dose_check.CHECK_PATIENTS)}; {len(results)} pairs in {elapsed:.0f} s "
        f"(constants: blur {dose.SOURCE_NOISE_BLUR_MM} mm, gain {dose.SOURCE_NOISE_GAIN} x "
        f"exp({dose.SOURCE_NOISE_GAIN_PER_100MM} "
        f"(Dw - {dose.REFERENCE_DIAMETER_MM:.0f} mm)/100 mm), bowtie {dose.BOWTIE_RADIUS_MM:.0f} mm / "
        f"{dose.BOWTIE_MAX_ATTENUATION})"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", choices=("speed", "projectors", "pairs"), help="run one section only")
    parser.add_argument("--data-root", type=Path, help="the shared data folder holding mayo_ldct_pairs/")
    args = parser.parse_args()
    console = Console(width=200)
    if args.only in (None, "speed"):
        speed(console)
    if args.only in (None, "projectors"):
        projectors(console)
    if args.only in (None, "pairs"):
        real_pairs(console, args.data_root)


if __name__ == "__main__":
    main()
