"""Builds BENCHMARKS.md from the section files the benchmark scripts wrote with `--markdown` (`make bench`).

Every benchmark has one section, in a fixed order (the page opens with a table of them and what each measures): a
heading, how to run it alone, then the script's own markdown (its heading line gives the date, the commit and the
machine; its tables the current figures).
A section whose file is missing says why instead: "not run: needs X (`make Y`)" when its input is absent here, or
that the script failed, so an old figure is never shown as a current one. The page is written atomically.

Run: `.venv/bin/python bench/assemble.py [--dir out/bench] [--out BENCHMARKS.md]`; exits 1 when a script whose
inputs are present wrote no section (the page is still written).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _report import REPO, write_atomic  # noqa: E402

from vliqa.data.sources import shared_data_dir  # noqa: E402


def _has_readers() -> bool:
    shared = shared_data_dir()
    return shared is not None and (shared / "reader_studies").is_dir()


def _has_reference_python() -> bool:
    return Path(os.environ.get("REFERENCE_PYTHON", "/tmp/refvenv/bin/python")).is_file()


@dataclass(frozen=True)
class Benchmark:
    """One section of BENCHMARKS.md: its file in the section folder, title, script, what it measures, how to run it."""

    key: str
    title: str
    script: str
    measures: str
    alone: str = ""
    needs: str = ""  # what it needs beyond the repository, said when it is absent
    present: Callable[[], bool] | None = None  # whether that is here

    def missing_text(self) -> tuple[str, bool]:
        """Gives the section body for a missing file, and whether the script failed (rather than lacked its input)."""
        if self.present is not None and not self.present():
            return f"Not run: needs {self.needs}.\n", False
        return (f"Not run: `{self.script}` wrote no section in the last `make bench` (it failed or was stopped; run "
                f"it alone to see why).\n"), True


BENCHMARKS: tuple[Benchmark, ...] = (
    Benchmark(
        "readers", "Readers", "bench/reader_bench.py",
        "Agreement with radiologists and with real dose on real CT: every shipped model beside every no-reference "
        "baseline (and PSNR, SSIM and the physics labeller where a reference exists) on the MTD-GAN and PET-CT reader "
        "studies, real full/quarter-dose pairs, SRGAN restorations, phantom dose series and 8-bit exports; "
        "out-of-fold rows for the reader model when `make train-reader` has written them.",
        "`make bench-readers`",
        "the reader studies in ../shared/data (or $VLIQA_SHARED_DATA)", _has_readers),
    Benchmark(
        "vlm", "Vision-language model", "bench/vlm_bench.py",
        "The quality VLM: levels read back from its held-out captions, BLEU-4 / CIDEr-D beside a retrieval captioner, "
        "distortion identification per type, A/B accuracy with and without a reference (both orders) beside the "
        "scorers' own comparisons, real Mayo and reader-study pairs, photographs per distortion family, and "
        "captions/s and comparisons/s on 2 cores.",
        "`.venv/bin/python bench/vlm_bench.py` (held-out figures need `make vlm-dataset`)"),
    Benchmark(
        "scorer", "Scorer", "bench/scorer_bench.py",
        "The shipped models beside every classical baseline on the held-out test split of the default dataset "
        "(PLCC + SRCC + KRCC), on real CT at falling dose and under growing denoising, DICOM against PNG export, and "
        "throughput end to end from DICOM against the bare decode and the fastest baseline.",
        "`make bench-scorer` (with `make dataset`, `make train-scorer-regrank` and `make train-regressor` for every "
        "row)"),
    Benchmark(
        "artifact_index", "Streak and ring indices", "bench/artifact_index_bench.py",
        "Whether `streak_rms_hu` and `ring_rms_hu` rise with their artefact on real slices (Kendall τ per slice) and "
        "separate clean from streaky slices across patients (AUC), beside the baselines and the shipped models; and "
        "what the indices read after artefacts they should not count."),
    Benchmark(
        "diagnostic", "MedQM-D diagnostic labels", "bench/diagnostic_bench.py",
        "The lesion-detectability label (lesion_net) against the physics label on a phantom set built for the run: "
        "SRCC and PLCC overall, by region and by degradation family, and seconds per image."),
    Benchmark(
        "labels", "Physics measures and labels on real CT", "bench/labels_real_check.py",
        "The physics measures (noise σ, NPS, MTF50, streak and ring RMS) on every real series; the physics label at "
        "falling dose (it must fall) and under growing denoising (it must rise then fall), beside the noise-σ "
        "baseline, which keeps rewarding smoothing."),
    Benchmark(
        "baselines", "Speed of the shipped models and the classical baselines", "bench/baselines_bench.py",
        "Seconds per 512×512 slice of every shipped model and every registered baseline on real abdomen slices."),
    Benchmark(
        "baselines_reference", "Classical baselines against their reference packages",
        "bench/baselines_reference_check.py",
        "vliqa's NIQE, BRISQUE and PIQE against scikit-video, brisque and pypiqe on 21 real CT display images "
        "(Pearson and Spearman correlation).",
        "`.venv/bin/python bench/baselines_reference_check.py --reference-python PATH`",
        "a virtualenv holding the reference packages at $REFERENCE_PYTHON (default /tmp/refvenv/bin/python; how to "
        "make it: the docstring of `bench/baselines_reference_check.py`)", _has_reference_python),
    Benchmark(
        "io", "Reading CT", "bench/io_bench.py",
        "Slices per second of `vliqa.load` against the bare pydicom and nibabel loops, interleaved in one process."),
    Benchmark(
        "simulate", "CT simulator", "bench/simulate_bench.py",
        "Low-dose simulation speed of the fast and exact projectors against scikit-image, the noise each gives, and "
        "the simulated against the real quarter dose of the Mayo pairs in ../shared/data when present.",
        "`.venv/bin/python bench/simulate_bench.py` (without a `--markdown` option `make bench` keeps what it "
        "prints)"),
    Benchmark(
        "fan", "Fan beam", "bench/fan_bench.py",
        "The fan-beam path (rebinned to parallel) against the default parallel fast path on a real slice: round trip, "
        "noise and its texture at 25 % dose, seconds."),
    Benchmark(
        "dataset", "Dataset builder", "bench/dataset_bench.py",
        "Seconds per image of each stage of a dataset build (degrade, label, caption, write) beside scikit-image's "
        "low-dose pass, per degradation, and a small real build end to end."),
    Benchmark(
        "metrics", "Metrics speed", "bench/metrics_bench.py",
        "Seconds for the agreement report with bootstrap intervals (beside a plain scipy loop), 2AFC, the caption "
        "metrics and the scatter plot."),
    Benchmark(
        "text", "Text layer", "bench/text_bench.py",
        "Speed of `describe` and `parse`, and how often `parse` reads back the levels a description was made from, "
        "beside a keyword-only reading."),
    Benchmark(
        "serve", "HTTP service", "bench/serve_bench.py",
        "Results per second and p50/p95 latency of `vliqa serve` at 20 concurrent clients on 127.0.0.1, then the "
        "server killed (SIGKILL) mid-run and restarted on the same SQLite file: finished results still readable, no "
        "row half written, cut-off jobs run again."),
    Benchmark(
        "speed", "End-to-end assessment speed", "bench/speed_bench.py",
        "Slices per second of the default assessment (model + physics measures + VLM description) from uncompressed "
        "512x512 DICOM, and of lighter configurations, in one process beside the bare pydicom decode and the fastest "
        "classical baseline (ratios), then on 2 cores through `vliqa batch` (pool of 2) against the 100 slices/s "
        "target."),
    Benchmark(
        "measures", "Physics measures: series path against the per-slice path", "bench/measures_bench.py",
        "Milliseconds per slice of the physics measures computed over a series (`measure_series`) against the "
        "per-slice reference path (`measure_all`) in the same process, and how closely each measure agrees on real "
        "slices (median differences, Spearman across slices, dose and kernel order)."),
    Benchmark(
        "batch", "Archive scoring", "bench/batch_bench.py",
        "Slices per second of `vliqa batch` on the local engine (1 process, a pool of 2) and on Ray with 2 actors, "
        "against the single-process `Assessor` on the same series in the same run, and the hours for one million "
        "slices on N nodes projected from the measured per-worker rate.",
        "`.venv/bin/python bench/batch_bench.py` (the Ray row needs `pip install \"vliqa[ray]\"`)"),
)

INTRO = """# Benchmarks

The current figures of every benchmark of vliqa, one section each. Where a benchmark compares predictors, every shipped
quality model (`vliqa.models.shipped_models()`, the default model first) sits beside every classical baseline, measured
in the same run. Each section opens with the date, the commit (marked when the working tree had uncommitted changes)
and the machine it ran on. Speed figures come from whatever else the machine was doing: compare within a table, where
both sides ran interleaved in one process.

This page is generated: `make bench` runs every script below with `--markdown` into out/bench/ and `bench/assemble.py`
puts the files together. A benchmark whose input is absent says so instead of showing an old figure. Results of
earlier versions, and experiments that did not ship, are in CHANGELOG.md and the git history.
"""


def contents(benchmarks: tuple[Benchmark, ...]) -> str:
    """Gives the table of sections: title, script, what it measures."""
    rows = ["| section | script | what it measures |", "|:---|:---|:---|"]
    for b in benchmarks:
        anchor = "".join(c for c in b.title.lower().replace(" ", "-") if c.isalnum() or c == "-")
        rows.append(f"| [{b.title}](#{anchor}) | `{b.script}` | {b.measures} |")
    return "\n".join(rows) + "\n"


def section(b: Benchmark, folder: Path) -> tuple[str, bool]:
    """Gives the markdown of one benchmark's section, and whether its script failed."""
    alone = b.alone or f"`.venv/bin/python {b.script} --markdown FILE`"
    head = f"## {b.title}\n\n`{b.script}`; alone: {alone}.\n\n"
    path = folder / f"{b.key}.md"
    if path.is_file():
        return head + path.read_text(encoding="utf-8").strip() + "\n", False
    body, failed = b.missing_text()
    return head + body, failed


def assemble(folder: Path, out: Path) -> list[str]:
    """Writes BENCHMARKS.md (`out`) from the section files in `folder`; gives the scripts that failed."""
    parts, failed = [INTRO, contents(BENCHMARKS)], []
    for b in BENCHMARKS:
        text, bad = section(b, folder)
        parts.append(text)
        if bad:
            failed.append(b.script)
    write_atomic(out, "\n".join(p.rstrip() + "\n" for p in parts))
    return failed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dir", type=Path, default=REPO / "out" / "bench", help="the section files (KEY.md)")
    parser.add_argument("--out", type=Path, default=REPO / "BENCHMARKS.md")
    args = parser.parse_args(argv)
    failed = assemble(args.dir, args.out)
    print(f"wrote {args.out} from {args.dir}" + (f"; no section from {', '.join(failed)}" if failed else ""))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
