"""The [scorer] targets in one run, every figure beside every classical baseline measured in the same process.

1. Held-out simulated test split (patients never seen in training): PLCC + SRCC + KRCC of each model and of
   every baseline of `vliqa.metrics.baselines`, through the same `vliqa.metrics.evaluate` function.
2. Dose sanity on real CT: the middle slice of every real series at 100/50/25/10/5 % of its dose (projection-
   domain noise insertion); Kendall tau between dose and score (1.00 = score falls monotonically with dose).
3. Denoiser sanity on real CT: a 25 % dose slice denoised at strength 0 .. 1 (Gaussian, NLM, TV): where the score
   peaks against where the physics label peaks, and whether any denoised clean source outscores its source.
4. DICOM vs PNG export: every bundled abdomen slice scored from DICOM and from an 8-bit PNG export (W400/L40)
   read back with that window; the largest difference.
5. Throughput on 512 x 512 slices, end to end from DICOM files (read, decode, window, score), as slices/s and as
   ratios to the bare DICOM decode rate and to the fastest classical baseline, all interleaved in this process;
   for every shipped model given (or the first model when none is shipped).

Run: `.venv/bin/python bench/scorer_bench.py [--model medqm] [--model runs/other] [--data data/ctiqa-default]
[--markdown FILE]` (models: every shipped model unless given; results: BENCHMARKS.md, "Scorer"). Without the dataset
(`make dataset`) part 1 is reported as not run and the others run.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from _report import Report, shipped_models
from io_bench import bare_pydicom
from labels_real_check import real_series
from rich.console import Console
from rich.table import Table
from scipy.stats import kendalltau, spearmanr

from vliqa import models
from vliqa.assessment import check_image
from vliqa.data.sources import bundled_samples_dir
from vliqa.io import load
from vliqa.io.write import save_preview_png
from vliqa.labels.physics import physics_labels
from vliqa.metrics.baselines import list_baselines
from vliqa.metrics.evaluate import BaselinePredictor, evaluate
from vliqa.simulate import get_degradation

DOSES = (1.0, 0.5, 0.25, 0.1, 0.05)
STRENGTHS = tuple(float(s) for s in np.linspace(0.0, 1.0, 6))
DENOISERS = ("smooth_gaussian", "smooth_nlm", "smooth_tv")
SPEED_BASELINES = ("noise_sigma", "laplacian_variance", "brisque", "niqe", "piqe")


def scores_of(predictor: Any, images: list) -> np.ndarray:
    return np.asarray(predictor.predict(images).overall, dtype=np.float64)


def held_out(console: Console, report: Report, data: str, model_names: list[str]) -> dict[str, Any]:
    result = evaluate(data, [*model_names, "all-baselines"], split="test", n_boot=500, progress=True)
    table = Table(title=f"held-out test split of {data} (n = {len(result.data.targets)})")
    for col in ("predictor", "PLCC", "SRCC", "KRCC", "PLCC+SRCC+KRCC", "RMSE", "SRCC 95 % CI"):
        table.add_column(col, justify="right" if col != "predictor" else "left")
    out = {}
    for p in result.predictors:
        if p.report is None:
            table.add_row(p.name, "-", "-", "-", "-", "-", p.error or "")
            continue
        r = p.report
        ci = r.ci.get("srcc")
        # the LDCTIQAC 2023 sum with the plain Pearson PLCC; RMSE after the logistic fit (baselines are not on 0-4)
        table.add_row(p.name, f"{r.plcc:.3f}", f"{r.srcc:.3f}", f"{r.krcc:.3f}", f"{r.ldctiqac:.3f}",
                      f"{r.rmse_logistic:.3f}", f"{ci.low:.2f}-{ci.high:.2f}" if ci else "")
        out[p.name] = {"plcc": r.plcc, "srcc": r.srcc, "krcc": r.krcc, "sum": r.ldctiqac,
                       "rmse_logistic": r.rmse_logistic,
                       "pairwise_accuracy": r.pairwise_accuracy, "by_degradation": p.by_group}
    console.print(table)
    report.add(table)
    # real CT and phantoms apart: one real test patient, so a score scale that differs between the two kinds shows here
    import pyarrow.parquet as pq

    kind_of = {str(Path(data) / r["path"]): r["source_kind"]
               for r in pq.read_table(Path(data) / "manifest.parquet").to_pylist()}
    kinds = np.array([kind_of.get(str(p), "?") for p in result.data.paths])
    by_kind = Table(title="held-out SRCC by source kind")
    by_kind.add_column("predictor")
    for k in ("real", "phantom"):
        by_kind.add_column(f"{k} (n = {(kinds == k).sum()})", justify="right")
    for p in result.predictors:
        if p.report is None:
            continue
        cells = []
        for k in ("real", "phantom"):
            sel = (kinds == k) & np.isfinite(p.scores)
            value = (float(spearmanr(p.scores[sel], result.data.targets[sel]).statistic) if sel.sum() > 2
                     else float("nan"))
            out[p.name][f"srcc_{k}"] = value
            cells.append(f"{value:.3f}")
        by_kind.add_row(p.name, *cells)
    console.print(by_kind)
    report.add(by_kind)
    return out


def dose_and_denoise(console: Console, report: Report, predictors: dict[str, Any]) -> dict[str, Any]:
    low_dose = get_degradation("low_dose")
    names = list(predictors)
    dose_table = Table(title="Kendall τ between dose (100/50/25/10/5 %) and score, real slices")
    dose_table.add_column("series")
    for n in ["label", *names]:
        dose_table.add_column(n, justify="right")
    dose_table.add_column("assessment flags it out of distribution?")
    den_table = Table(title="25 % dose slice denoised at strength 0..1: where the score peaks (label's peak); "
                            "clean source + denoiser never above the source? (label +x: the label also rates it x "
                            "above)")
    den_table.add_column("series / denoiser")
    for n in names:
        den_table.add_column(n, justify="right")
    out: dict[str, Any] = {"dose": {}, "denoise": {}}
    for series, path in real_series().items():
        vol = load(str(path))
        ref = vol.slice(len(vol) // 2)
        images = [ref if d == 1.0 else low_dose(ref, dose_fraction=d, seed=1) for d in DOSES]
        labels = [physics_labels(im, ref).overall for im in images]
        taus = {"label": kendalltau(DOSES, labels).statistic}
        for n, p in predictors.items():
            taus[n] = kendalltau(DOSES, scores_of(p, images)).statistic
        ood = check_image(ref)
        dose_table.add_row(series, *(f"{taus[k]:.2f}" for k in ["label", *names]), ood.reason or "no")
        out["dose"][series] = {**taus, "out_of_distribution": ood.reason}
        low = low_dose(ref, dose_fraction=0.25, seed=1)
        for den in DENOISERS:
            fn = get_degradation(den)
            series_images = [fn(low, strength=s, seed=0) for s in STRENGTHS]
            clean_images = [fn(ref, strength=s, seed=0) for s in STRENGTHS[1:]]
            label_peak = STRENGTHS[int(np.argmax([physics_labels(im, ref).overall for im in series_images]))]
            # Where the label itself rates a denoised source above the source (a noisy reference is not
            # excellent), a score that does so too follows the label; the strict check is kept beside it.
            label_rise = max(physics_labels(im, ref).overall for im in clean_images) - physics_labels(ref, ref).overall
            cells, entry = [], {"label_peak": label_peak, "label_max_clean_minus_source": float(label_rise)}
            for n, p in predictors.items():
                s = scores_of(p, series_images)
                source, clean = scores_of(p, [ref])[0], scores_of(p, clean_images)
                peak = STRENGTHS[int(np.argmax(s))]
                never_above = bool(np.all(clean <= source + 1e-9))
                entry[n] = {"scores": s.tolist(), "peak": peak, "clean_never_above_source": never_above,
                            "max_clean_minus_source": float(np.max(clean - source))}
                cells.append(f"{peak:.1f} ({label_peak:.1f}) {'yes' if never_above else 'NO'}"
                             + ("" if never_above or label_rise <= 0 else f" (label +{label_rise:.2f})"))
            den_table.add_row(f"{series} / {den}", *cells)
            out["denoise"][f"{series} / {den}"] = entry
    console.print(dose_table)
    console.print(den_table)
    report.add(dose_table)
    report.add(den_table)
    return out


def dicom_vs_png(console: Console, report: Report, model_names: list[str]) -> dict[str, Any]:
    vol = load(bundled_samples_dir() / "abdomen_ct_dicom")
    slices = [vol.slice(i) for i in range(len(vol))]
    out = {}
    with tempfile.TemporaryDirectory() as tmp:
        pngs = []
        for i, s in enumerate(slices):
            path = Path(tmp) / f"{i:02d}.png"
            save_preview_png(s, path, window="40,400")
            pngs.append(load(path, window="40,400"))
        for n in model_names:
            p = models.load(n)
            diff = np.abs(scores_of(p, slices) - scores_of(p, pngs))
            out[n] = {"max_abs_diff": float(diff.max()), "mean_abs_diff": float(diff.mean()), "n": len(slices)}
    table = Table(title="bundled abdomen slices: |score(DICOM) - score(PNG export W400/L40)|")
    for col in ("model", "max", "mean", "slices"):
        table.add_column(col, justify="right" if col != "model" else "left")
    for n, r in out.items():
        table.add_row(n, f"{r['max_abs_diff']:.3f}", f"{r['mean_abs_diff']:.3f}", str(r["n"]))
    console.print(table)
    report.add(table)
    return out


def uncompressed_copy(series: Path, out: Path) -> Path:
    """Writes the series as uncompressed DICOM (explicit VR little endian), as most scanners and PACS exports send
    it."""
    import pydicom
    from pydicom.uid import ExplicitVRLittleEndian

    out.mkdir(parents=True, exist_ok=True)
    for f in sorted(series.iterdir()):
        if not f.name.startswith("CT."):
            continue
        ds = pydicom.dcmread(f)
        ds.decompress()
        ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
        ds.save_as(out / f.name, enforce_file_format=True)
    return out


def throughput(model_name: str, repeats: int, threads: int) -> dict[str, Any]:
    """Slices/s end to end from DICOM files (read, decode, window, score, build the Assessment), torch on `threads`.

    Beside it, in the same process and interleaved: the bare pydicom decode of the same files, the model alone on
    slices in memory, and each classical baseline (on 4 slices, scaled). Both the bundled JPEG 2000 series and an
    uncompressed copy of it, because JPEG 2000 decoding alone runs at about 30 slices/s on this machine.
    """
    from vliqa.assessment import Assessor

    bundled = bundled_samples_dir() / "abdomen_ct_dicom"
    torch.set_num_threads(threads)
    assessor = Assessor(model_name, measures=False, threads=threads)
    vol = load(bundled)
    slices = [vol.slice(i) for i in range(len(vol))]
    baselines = {b: BaselinePredictor(b) for b in SPEED_BASELINES if b in {x.name for x in list_baselines()}}
    out: dict[str, Any] = {"slices": len(slices)}
    with tempfile.TemporaryDirectory() as tmp:
        plain = uncompressed_copy(bundled, Path(tmp) / "plain")
        for label, series in (("uncompressed", plain), ("jpeg2000", bundled)):
            files = sorted(p for p in series.iterdir() if p.name.startswith("CT."))
            jobs = {"end_to_end": lambda s=series: assessor.assess(s),
                    "model_only": lambda: assessor.predictor.predict(slices),
                    "decode": lambda f=files: bare_pydicom(f)}
            for fn in jobs.values():  # warm-up
                fn()
            runs: dict[str, list[float]] = {k: [] for k in [*jobs, *baselines]}
            for _ in range(repeats):
                for key, fn in jobs.items():
                    t = time.perf_counter()
                    fn()
                    runs[key].append(time.perf_counter() - t)
                for b, p in baselines.items():
                    t = time.perf_counter()
                    p.predict(slices[:4])
                    runs[b].append((time.perf_counter() - t) * len(slices) / 4)
            rate = {k: len(slices) / statistics.median(v) for k, v in runs.items()}
            fastest = max(baselines, key=lambda b: rate[b]) if baselines else None
            out[label] = {"rates": rate, "fastest_baseline": fastest,
                          "ratio_end_to_end_to_decode": rate["end_to_end"] / rate["decode"],
                          "ratio_end_to_end_to_fastest_baseline": rate["end_to_end"] / rate[fastest] if fastest
                          else None}
    return out


def throughput_table(speed: dict[str, dict[str, Any]], repeats: int, threads: int) -> Table:
    """Gives one table of every model's throughput, per DICOM encoding, beside the decode and the fastest baseline."""
    n = next(iter(speed.values()))["slices"]
    table = Table(title=f"throughput end to end from DICOM files (read, decode, window, score, Assessment), {n} slices "
                        f"of 512x512, {threads} torch thread{'s' if threads > 1 else ''} on {os.cpu_count()} cores, "
                        f"median of {repeats}, interleaved with the bare decode and the baselines")
    for col in ("model", "DICOM", "end to end (slices/s)", "model alone", "bare decode", "end to end / decode",
                "fastest baseline", "end to end / fastest baseline"):
        table.add_column(col, justify="left" if col in ("model", "DICOM", "fastest baseline") else "right")
    others = {}
    for model, result in speed.items():
        for label in ("uncompressed", "jpeg2000"):
            r = result[label]
            rate, fastest = r["rates"], r["fastest_baseline"]
            table.add_row(model, label, *(f"{rate[k]:.1f}" for k in ("end_to_end", "model_only", "decode")),
                          f"{r['ratio_end_to_end_to_decode']:.3f}",
                          f"{fastest} ({rate[fastest]:.1f})" if fastest else "-",
                          f"{r['ratio_end_to_end_to_fastest_baseline']:.2f}" if fastest else "-")
            if label == "uncompressed":
                others = {b: v for b, v in rate.items() if b not in ("end_to_end", "model_only", "decode")}
    if others:
        table.caption = ("Baselines on the same slices from memory, slices/s (the last model's run): "
                         + ", ".join(f"{b} {v:.1f}" for b, v in others.items()) + ".")
    return table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", action="append",
                        help="model name or checkpoint folder (repeatable); default: every shipped model")
    parser.add_argument("--data", default="data/ctiqa-default", help="dataset folder with a test split")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1,
                        help="torch threads (1, the Assessor's default: more busy-wait on a shared machine)")
    parser.add_argument("--skip", action="append", default=[], choices=["held_out", "real", "png", "speed"])
    parser.add_argument("--json", type=Path, help="write all results here")
    parser.add_argument("--markdown", type=Path, help="write the tables here as GitHub markdown")
    args = parser.parse_args()
    model_names = args.model or shipped_models()
    report = Report("Scorer")
    report.note(f"Models: {', '.join(model_names)}; every baseline of `vliqa.metrics.baselines` beside them.")
    console = Console(width=170)
    torch.set_num_threads(args.threads)
    results: dict[str, Any] = {"models": model_names}
    if "held_out" not in args.skip:
        if Path(args.data).is_dir():
            results["held_out"] = held_out(console, report, args.data, model_names)
        else:
            report.not_run(f"Held-out test split of {args.data}",
                           f"{args.data} (`make dataset`, about 1 h on 2 cores)")
    if "real" not in args.skip:
        predictors: dict[str, Any] = {n: models.load(n) for n in model_names}
        predictors.update({b.name: BaselinePredictor(b.name) for b in list_baselines()})
        results["real"] = dose_and_denoise(console, report, predictors)
    if "png" not in args.skip:
        results["png"] = dicom_vs_png(console, report, model_names)
    if "speed" not in args.skip:
        shipped = set(shipped_models())
        results["speed"] = {n: throughput(n, args.repeats, args.threads)
                            for n in [m for m in model_names if m in shipped] or model_names[:1]}
        table = throughput_table(results["speed"], args.repeats, args.threads)
        console.print(table)
        report.add(table)
    report.write(args.markdown)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2, default=float))


if __name__ == "__main__":
    main()
