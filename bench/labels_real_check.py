"""Checks the physics labels on every real CT set we have: dose series and denoiser strength series.

For the middle slice of each real series: the overall label at 100/50/25/10/5 % of the scan's
dose (must fall), and for a 25 % dose slice denoised with Gaussian / NLM / TV at growing strength,
where the label peaks (must rise then fall: an inverted U) and whether any denoised clean slice
scores above its source (must not). The classical noise-sigma baseline is printed beside the
labels for the denoiser series: it keeps "improving" as smoothing grows, the labels do not.
First, the physics measures themselves on every real series (median and range over its slices).

Run: .venv/bin/python bench/labels_real_check.py [--markdown FILE]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from _report import Report
from rich.console import Console
from rich.table import Table
from scipy.stats import kendalltau

from vliqa.ct.measures import measure_all, noise_sigma_hu
from vliqa.data.sources import bundled_samples_dir, shared_data_dir
from vliqa.io import load
from vliqa.labels.physics import physics_labels
from vliqa.simulate import get_degradation

DOSES = (1.0, 0.5, 0.25, 0.1, 0.05)
STRENGTHS = np.linspace(0.0, 1.0, 6)
MEASURED_SLICES = 20  # at most, evenly spaced, per series
MEASURES = (("noise_sigma_hu", "noise σ (HU)", ".1f"), ("nps_mean_freq_per_mm", "NPS mean (1/mm)", ".3f"),
            ("mtf50_lp_per_cm", "MTF50 (lp/cm)", ".2f"), ("streak_rms_hu", "streak RMS (HU)", ".1f"),
            ("ring_rms_hu", "ring RMS (HU)", ".1f"))


def real_series() -> dict[str, object]:
    out = {"bundled abdomen (Siemens Br38f)": bundled_samples_dir() / "abdomen_ct_dicom"}
    shared = shared_data_dir()
    if shared is not None:
        out["head (GE STD+)"] = shared / "dcm_qa_ct_ge_head"
        out["lower chest (GE STANDARD)"] = shared / "dcmqi_ct3slice_chest"
        out["upper thorax (Philips C)"] = shared / "itkelastix_chest_4dct_philips"
        out["abdomen NIfTI, 3 mm resampled"] = shared / "totalsegmentator_example" / "example_ct.nii.gz"
    return out


def measures_table(series: dict[str, object]) -> Table:
    """Gives median [range] of the physics measures over (up to MEASURED_SLICES of) the slices of each series."""
    table = Table(
        title=f"physics measures (`vliqa.ct.measures.measure_all`) on every real series: median \\[range] over "
              f"up to {MEASURED_SLICES} evenly spaced slices")
    table.add_column("series")
    table.add_column("slices", justify="right")
    for _, title, _ in MEASURES:
        table.add_column(title, justify="right")
    for name, path in series.items():
        vol = load(str(path))
        picks = sorted({int(round(i)) for i in np.linspace(0, len(vol) - 1, min(MEASURED_SLICES, len(vol)))})
        values = [measure_all(vol.slice(i)) for i in picks]
        cells = []
        for key, _, spec in MEASURES:
            v = np.array([m[key] for m in values], dtype=float)
            v = v[np.isfinite(v)]
            if v.size == 0:
                cells.append("-")
            elif v.size == 1 or v.min() == v.max():
                cells.append(format(float(np.median(v)), spec))
            else:
                cells.append(f"{np.median(v):{spec}} [{v.min():{spec}}-{v.max():{spec}}]")
        table.add_row(name, f"{len(picks)} of {len(vol)}", *cells)
    return table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--markdown", type=Path, help="write the tables here as GitHub markdown")
    args = parser.parse_args()
    report = Report("Physics measures and labels on real CT")
    console = Console(width=160)
    series = real_series()
    measures = measures_table(series)
    console.print(measures)
    low_dose = get_degradation("low_dose")
    dose_table = Table(title="overall label vs dose (real slices)")
    dose_table.add_column("series")
    for d in DOSES:
        dose_table.add_column(f"{int(d * 100)} %", justify="right")
    dose_table.add_column("Kendall τ (dose, label)", justify="right")
    den_table = Table(title="25 % dose slice denoised at strength 0 .. 1: overall label (noise σ baseline, HU)")
    den_table.add_column("series / denoiser")
    for s in STRENGTHS:
        den_table.add_column(f"{s:.1f}", justify="right")
    den_table.add_column("peak at", justify="right")
    den_table.add_column("clean+denoiser ≤ source", justify="right")
    for name, path in series.items():
        vol = load(str(path))
        ref = vol.slice(len(vol) // 2)
        overall = [physics_labels(low_dose(ref, dose_fraction=d, seed=1), ref).overall if d < 1 else
                   physics_labels(ref, ref).overall for d in DOSES]
        tau = kendalltau(DOSES, overall).statistic
        dose_table.add_row(name, *(f"{v:.2f}" for v in overall), f"{tau:.2f}")
        low = low_dose(ref, dose_fraction=0.25, seed=1)
        source = physics_labels(ref, ref).overall
        for den in ("smooth_gaussian", "smooth_nlm", "smooth_tv"):
            fn = get_degradation(den)
            cells, scores = [], []
            for s in STRENGTHS:
                out = fn(low, strength=float(s), seed=0)
                lab = physics_labels(out, ref).overall
                scores.append(lab)
                cells.append(f"{lab:.2f} ({noise_sigma_hu(out).sigma_hu:.0f})")
            clean_ok = all(physics_labels(fn(ref, strength=float(s), seed=0), ref).overall <= source + 1e-6
                           for s in STRENGTHS[1:])
            den_table.add_row(f"{name} / {den}", *cells, f"{STRENGTHS[int(np.argmax(scores))]:.1f}",
                              "yes" if clean_ok else "NO")
    console.print(dose_table)
    console.print(den_table)
    for table in (measures, dose_table, den_table):
        report.add(table)
    if len(series) == 1:
        report.not_run("The head, chest and thorax series", "../shared/data (or $VLIQA_SHARED_DATA)")
    report.write(args.markdown)


if __name__ == "__main__":
    main()
