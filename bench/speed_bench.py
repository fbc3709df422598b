"""End-to-end assessment speed: what a user gets from uncompressed 512x512 DICOM, beside the bare decode and the
fastest classical baseline, in one run.

The tree is `--copies` copies of the bundled abdomen series (20 slices each, its own SeriesInstanceUID, stored
uncompressed: the JPEG 2000 decode, about 30 slices/s, would otherwise be most of what is measured).

One process (torch on one thread, as the Assessor runs by default), every configuration interleaved with the others
over `--repeats` rounds (the median is reported): the bare pydicom decode of every file (`dcmread`, then
`pixel_array * slope + intercept`: the least a reader does, the physical limit), `vliqa.load` alone, the Assessor
as `vliqa assess FOLDER` runs it (model + physics measures + the VLM's description: the default), with template
descriptions, with the VLM but no measures, the model alone (`--no-measures`, no description), and each cheap
classical baseline through the same Assessor (model = the baseline, no measures). Each Assessor is built and warmed
on one series before the clock starts: model loads are start-up, reported apart.

Two cores: `vliqa batch` with the local engine's pool of 2 processes over the same tree, the default assessment
(measures and VLM descriptions on) and the model alone; the steady rate is slices over the seconds the workers spent
on their units (from the ledger), times 2.

Run: `.venv/bin/python bench/speed_bench.py [--copies 6] [--repeats 3] [--markdown FILE] [--json FILE]`.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _report import Report  # noqa: E402
from batch_bench import make_tree, unit_seconds  # noqa: E402
from io_bench import bare_pydicom  # noqa: E402
from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

console = Console(width=150)
#: Classical baselines cheap enough to be a speed reference (the fastest of them is reported).
SPEED_BASELINES = ("noise_sigma", "laplacian_variance", "jpeg_quality", "brisque")
#: The issue's target for the default assessment, end to end, on 2 cores.
TARGET_PER_S = 100.0


def timed(fn: Callable[[], object]) -> tuple[float, float]:
    """Gives (wall seconds, process CPU seconds) of one call."""
    wall, cpu = time.perf_counter(), time.process_time()
    fn()
    return time.perf_counter() - wall, time.process_time() - cpu


def in_process(tree: Path, repeats: int) -> tuple[dict[str, dict[str, float]], dict[str, float], int]:
    """Gives ({config: {per_s, cpu_ms}}, {config: start-up s}, slices) of every one-process configuration."""
    import torch

    import vliqa
    from vliqa.assessment import Assessor
    from vliqa.metrics.baselines import list_baselines

    torch.set_num_threads(1)
    folders = sorted(tree.glob("*/series"))
    files = sorted(f for folder in folders for f in folder.iterdir())
    known = {b.name for b in list_baselines()}
    configs: dict[str, dict] = {
        "default (model + measures + VLM description)": {},
        "model + measures, template description": {"describer": None},
        "model + VLM description, no measures": {"measures": False},
        "model only (--no-measures, no description)": {"measures": False, "describer": None},
    }
    configs.update({f"baseline {b}": {"model": b, "measures": False, "describer": None}
                    for b in SPEED_BASELINES if b in known})
    startup: dict[str, float] = {}
    assessors: dict[str, Assessor] = {}
    for name, kwargs in configs.items():
        start = time.perf_counter()
        assessors[name] = Assessor(**kwargs)
        assessors[name].assess(folders[0])  # loads the models, warms the kernels and the VLM
        startup[name] = time.perf_counter() - start

    def assess_all(assessor: Assessor) -> None:
        for folder in folders:
            assessor.assess(folder)

    jobs: dict[str, Callable[[], object]] = {
        "bare pydicom decode": lambda: bare_pydicom(files),
        "vliqa.load (read, decode, HU, metadata)": lambda: [vliqa.load(folder) for folder in folders],
    }
    jobs.update({name: (lambda a=a: assess_all(a)) for name, a in assessors.items()})
    runs: dict[str, list[tuple[float, float]]] = {k: [] for k in jobs}
    for _ in range(repeats):
        for key, fn in jobs.items():
            runs[key].append(timed(fn))
    n = len(files)
    rates = {k: {"per_s": n / statistics.median(w for w, _ in v),
                 "cpu_ms": 1000 * statistics.median(c for _, c in v) / n} for k, v in runs.items()}
    return rates, startup, n


def two_cores(tree: Path, n: int) -> dict[str, dict[str, float]]:
    """Gives {config: {wall_per_s, steady_per_s}} of `vliqa batch` with a pool of 2 processes."""
    from vliqa.batch import run_batch

    out: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, kwargs in (("default (model + measures + VLM description)", {"measures": True, "describe": True}),
                             ("model only (--no-measures, no description)", {"measures": False, "describe": False})):
            folder = Path(tmp) / f"out{len(out)}"
            start = time.perf_counter()
            result = run_batch(tree, folder, engine="local", workers=2, shard_size=64, **kwargs)
            wall = time.perf_counter() - start
            assert result.n_slices == n, (result.n_slices, n)
            out[name] = {"wall_per_s": n / wall, "steady_per_s": 2 * n / unit_seconds(folder)}
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--copies", type=int, default=6, help="copies of the 20-slice sample series")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--markdown", type=Path, default=None)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")

    report = Report("End-to-end assessment speed")
    with tempfile.TemporaryDirectory() as tmp:
        tree = Path(tmp) / "archive"
        make_tree(tree, args.copies, "raw")
        rates, startup, n = in_process(tree, args.repeats)
        pool = two_cores(tree, n)

    decode = rates["bare pydicom decode"]["per_s"]
    baselines = {k: v["per_s"] for k, v in rates.items() if k.startswith("baseline ")}
    fastest = max(baselines, key=baselines.get) if baselines else None
    table = Table(title=f"One process, torch on 1 thread: {n} uncompressed 512x512 DICOM slices "
                        f"({args.copies} series), median of {args.repeats} interleaved rounds")
    for col in ("what", "slices/s", "CPU ms/slice", "vs bare decode", "vs fastest baseline", "start-up s"):
        table.add_column(col, justify="left" if col == "what" else "right")
    for name, r in rates.items():
        table.add_row(name, f"{r['per_s']:.1f}", f"{r['cpu_ms']:.1f}", f"{r['per_s'] / decode:.3f}",
                      f"{r['per_s'] / baselines[fastest]:.2f}" if fastest else "-",
                      f"{startup[name]:.1f}" if name in startup else "-")
    table.caption = (f"fastest baseline: {fastest.removeprefix('baseline ') if fastest else 'none'}; "
                     "vs: the ratio of slices/s measured in this run; start-up: building the Assessor and its first "
                     "series (model loads), left out of slices/s")
    console.print(table)
    report.add(table)

    both = Table(title=f"Two cores: `vliqa batch` local engine, pool of 2 processes, same {n} slices")
    columns = ("what", "wall slices/s", "steady slices/s", "steady vs bare decode (1 core)",
               f"target {TARGET_PER_S:.0f}")
    for col in columns:
        both.add_column(col, justify="left" if col == "what" else "right")
    for name, r in pool.items():
        both.add_row(name, f"{r['wall_per_s']:.1f}", f"{r['steady_per_s']:.1f}",
                     f"{r['steady_per_s'] / decode:.3f}",
                     ("met" if r["steady_per_s"] >= TARGET_PER_S else "missed") if name.startswith("default") else "-")
    both.caption = ("wall: start to end, the 2 workers' model loads included; steady: slices over the seconds the "
                    "workers spent on their units, times 2 (the rate once started)")
    console.print(both)
    report.add(both)
    report.write(args.markdown)
    if args.json is not None:
        args.json.write_text(json.dumps({"slices": n, "in_process": rates, "startup_s": startup,
                                         "two_cores": pool, "fastest_baseline": fastest}, indent=2))


if __name__ == "__main__":
    main()
