"""Speed and agreement of `measure_series` (batched, per-series facts) against `measure_all` (per slice, reference).

Speed: both on the same series in one process, single-threaded, repeats interleaved, median ms per slice
(CPU time of the process, which a busy machine disturbs less than wall time; wall time beside it).
Series: the bundled abdomen (20 slices) and, with ../shared/data, a Mayo full-dose series and the GE head series.

Agreement, on every real slice available (bundled abdomen and head; Mayo full and quarter dose, GE head):
per key, the median absolute and relative difference and the Spearman correlation across slices. Physics checks:
quarter-dose noise sigma above full dose for every Mayo pair (both methods), and the sharp (D45f) and smooth
(B30f) kernels ordered the same way by MTF50 by both methods.

Run: .venv/bin/python bench/measures_bench.py [--markdown FILE] [--repeats N]
"""

from __future__ import annotations

import os

# Single-threaded for both methods: BLAS and OpenMP pools must be pinned before numpy and torch load.
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import csv  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable, Sequence  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402
from _report import Report  # noqa: E402
from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402
from scipy.stats import spearmanr  # noqa: E402

import vliqa  # noqa: E402
from vliqa.core import CTImage  # noqa: E402
from vliqa.ct.measures import MEASURE_KEYS, measure_all, measure_series  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
SAMPLES = REPO / "src" / "vliqa" / "samples"
SHARED = REPO.parent / "shared" / "data"
MAYO = SHARED / "mayo_ldct_pairs"


def series_slices(path: Path) -> list[CTImage]:
    """Gives the slices of a DICOM series folder, in the loader's order."""
    volume = vliqa.load(path)
    return [volume.slice(i) for i in range(len(volume))]


def files_slices(paths: Sequence[Path]) -> list[CTImage]:
    """Gives one slice per DICOM file, in the given order."""
    return [vliqa.load(p) for p in paths]


def cpu_and_wall(fn: Callable[[], object]) -> tuple[float, float]:
    cpu, wall = time.process_time(), time.perf_counter()
    fn()
    return time.process_time() - cpu, time.perf_counter() - wall


def time_series(slices: list[CTImage], repeats: int) -> dict[str, float]:
    """Gives the median ms per slice (CPU and wall) of measure_all per slice and of measure_series, interleaved."""
    measure_series(slices)  # builds the per-shape samplers and detrending models once
    measure_all(slices[0])
    runs: dict[str, list[tuple[float, float]]] = {"all": [], "series": []}
    for _ in range(repeats):
        runs["all"].append(cpu_and_wall(lambda: [measure_all(s) for s in slices]))
        runs["series"].append(cpu_and_wall(lambda: measure_series(slices)))
    out = {}
    for name, values in runs.items():
        cpu, wall = np.median(np.array(values), axis=0) * 1000.0 / len(slices)
        out[f"{name}_cpu"], out[f"{name}_wall"] = float(cpu), float(wall)
    return out


def values_table(rows: list[dict[str, float]]) -> dict[str, np.ndarray]:
    return {key: np.array([r[key] for r in rows], dtype=float) for key in MEASURE_KEYS}


def mayo_sets() -> list[tuple[str, str, str, list[Path], list[Path]]]:
    """Gives (patient, kernel, series folder, full-dose files, quarter-dose files) per Mayo series, pairs.csv order."""
    groups: dict[tuple[str, str], tuple[list[Path], list[Path]]] = {}
    with open(MAYO / "pairs.csv", newline="") as handle:
        for row in csv.DictReader(handle):
            full, quarter = groups.setdefault((row["patient"], row["kernel"]), ([], []))
            full.append(MAYO / row["full_dose"])
            quarter.append(MAYO / row["quarter_dose"])
    return [(p, k, f"{p}_{k}", full, quarter) for (p, k), (full, quarter) in groups.items()]


def main() -> None:
    """Prints the tables and writes them with --markdown."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--markdown", type=Path, help="write the tables here as GitHub markdown")
    parser.add_argument("--repeats", type=int, default=5, help="interleaved timing repeats (median)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    console = Console()
    report = Report("Physics measures: measure_series against measure_all")
    shared = SHARED.is_dir()

    # ----------------------------------------------------------------- speed
    speed_sets = [("bundled abdomen (Siemens Br38f, 0.98 mm)", series_slices(SAMPLES / "abdomen_ct_dicom"))]
    if shared:
        speed_sets.append(("Mayo L096 D45f full dose (0.74 mm)", series_slices(MAYO / "L096_sharp_D45f" / "full")))
        speed_sets.append(("GE head STD+ (0.49 mm)", series_slices(SHARED / "dcm_qa_ct_ge_head")))
    speed = Table(title="speed, ms per 512x512 slice, single thread (median of interleaved repeats)")
    for col in ("series", "slices", "measure_all CPU", "measure_series CPU", "speed-up", "wall: all / series"):
        speed.add_column(col, justify="left" if col == "series" else "right")
    for name, slices in speed_sets:
        t = time_series(slices, args.repeats)
        speed.add_row(name, str(len(slices)), f"{t['all_cpu']:.1f}", f"{t['series_cpu']:.1f}",
                      f"{t['all_cpu'] / t['series_cpu']:.1f}x", f"{t['all_wall']:.1f} / {t['series_wall']:.1f}")
    console.print(speed)
    report.add(speed)
    report.note(f"Repeats: {args.repeats}. measure_series includes its per-series facts (MTF, NPS, noise "
                "correlation from one sample slice per 32), spread over the series' slices; first-call caches "
                "(polar and ring samplers, detrending responses) are built before timing.")

    # ----------------------------------------------------------------- agreement
    groups: list[tuple[str, list[CTImage]]] = [
        ("bundled abdomen", series_slices(SAMPLES / "abdomen_ct_dicom")),
        ("bundled head", series_slices(SAMPLES / "head_ct_dicom")),
    ]
    mayo = mayo_sets() if shared else []
    if shared:
        groups.append(("GE head", series_slices(SHARED / "dcm_qa_ct_ge_head")))
        for patient, kernel, _, full, quarter in mayo:
            groups.append((f"Mayo {patient} {kernel} full", files_slices(full)))
            groups.append((f"Mayo {patient} {kernel} quarter", files_slices(quarter)))
    results: dict[str, tuple[dict[str, np.ndarray], dict[str, np.ndarray]]] = {}
    for name, slices in groups:
        results[name] = (values_table([measure_all(s) for s in slices]), values_table(measure_series(slices)))
    agree = Table(title=f"agreement over {sum(len(s) for _, s in groups)} real slices in {len(groups)} series")
    for col in ("key", "median |all|", "median |series - all|", "median relative", "Spearman"):
        agree.add_column(col, justify="left" if col == "key" else "right")
    for key in MEASURE_KEYS:
        ref = np.concatenate([results[n][0][key] for n, _ in groups])
        new = np.concatenate([results[n][1][key] for n, _ in groups])
        ok = np.isfinite(ref) & np.isfinite(new)
        diff = np.abs(new[ok] - ref[ok])
        rel = diff / np.maximum(np.abs(ref[ok]), 1e-9)
        rho = spearmanr(ref[ok], new[ok]).statistic if ok.sum() > 2 and np.ptp(ref[ok]) > 0 else float("nan")
        agree.add_row(key, f"{np.median(np.abs(ref[ok])):.3g}", f"{np.median(diff):.3g}", f"{np.median(rel):.1%}",
                      f"{rho:.3f}")
    console.print(agree)
    report.add(agree)
    report.note("The MTF and NPS keys of measure_series are one value per series (pooled over its sample slices); "
                "their differences include the slice-to-slice scatter of the per-slice reference, and their "
                "Spearman correlation reads between series only. Relative differences of the ring index are over "
                "slices where both are 0 on most routine scans.")

    if not shared:
        report.not_run("Mayo dose and kernel checks", f"{SHARED} (Mayo pairs)")
        report.write(args.markdown)
        return

    # ----------------------------------------------------------------- physics checks
    physics = Table(title="physics checks on the Mayo pairs")
    for col in ("check", "measure_all", "measure_series"):
        physics.add_column(col, justify="left" if col == "check" else "right")
    n_pairs, wins = 0, [0, 0]
    for patient, kernel, _, _, _ in mayo:
        full, quarter = results[f"Mayo {patient} {kernel} full"], results[f"Mayo {patient} {kernel} quarter"]
        n_pairs += full[0]["noise_sigma_hu"].size
        for m in (0, 1):
            wins[m] += int(np.sum(quarter[m]["noise_sigma_hu"] > full[m]["noise_sigma_hu"]))
    physics.add_row("quarter-dose sigma > full-dose sigma (pairs)", f"{wins[0]}/{n_pairs}", f"{wins[1]}/{n_pairs}")
    for patient in sorted({p for p, k, *_ in mayo if k.startswith("smooth")}):
        cells = []
        for m in (0, 1):
            sharp = np.nanmedian(results[f"Mayo {patient} sharp_D45f full"][m]["mtf50_lp_per_cm"])
            smooth = np.nanmedian(results[f"Mayo {patient} smooth_B30f full"][m]["mtf50_lp_per_cm"])
            cells.append(f"{sharp:.2f} vs {smooth:.2f} ({'sharp > smooth' if sharp > smooth else 'NOT ordered'})")
        physics.add_row(f"{patient} full dose, median MTF50 lp/cm, D45f vs B30f", *cells)
    console.print(physics)
    report.add(physics)
    report.write(args.markdown)


if __name__ == "__main__":
    main()
