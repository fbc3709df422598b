"""Archive scoring speed: `vliqa batch` on the local engine (one process, and a pool of 2) and on Ray with 2 actors,
against the single-process `Assessor` over the same series, in one run; then the time for one million slices on N
nodes projected from the measured per-worker rate.

The tree is made from the bundled abdomen series: `--copies` copies, each rewritten with its own SeriesInstanceUID
and stored uncompressed (`--codec raw`, the default: the JPEG 2000 decode, about 30 slices/s, would otherwise be
most of what is measured) or as shipped (`--codec j2k`). Every engine starts cold: its wall time holds the model
loads (and Ray's start), as a real run does. The per-worker rate is slices over the seconds the workers spent on
their units (from the ledger), so it leaves out start-up.

Run: `.venv/bin/python bench/batch_bench.py [--copies 15] [--codec raw|j2k] [--measures] [--markdown FILE]`.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import pydicom
from pydicom.uid import ExplicitVRLittleEndian, generate_uid
from rich.console import Console
from rich.table import Table

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _report import REPO, Report  # noqa: E402

SAMPLE = REPO / "src" / "vliqa" / "samples" / "abdomen_ct_dicom"
console = Console(width=140)
MILLION = 1_000_000
NODES = (1, 4, 16, 64)


def make_tree(root: Path, copies: int, codec: str) -> int:
    """Writes `copies` series of the sample under `root` (each its own SeriesInstanceUID); gives the slice count."""
    files = sorted(SAMPLE.glob("CT*"))
    for k in range(copies):
        folder = root / f"patient{k:03d}" / "series"
        folder.mkdir(parents=True)
        uid = generate_uid()
        for f in files:
            ds = pydicom.dcmread(f)
            ds.SeriesInstanceUID = uid
            if codec == "raw":
                ds.decompress()
                ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
            ds.save_as(folder / f.name)
    return copies * len(files)


def assessor_rate(tree: Path, measures: bool) -> tuple[int, float]:
    """Gives (slices, seconds) of one `Assessor` (model load included) over every series folder, one after another."""
    from vliqa.assessment import Assessor

    start = time.perf_counter()
    assessor = Assessor("default", measures=measures, describer=None)
    n = 0
    for folder in sorted(tree.glob("*/series")):
        n += len(assessor.assess(folder).slices)
    return n, time.perf_counter() - start


def unit_seconds(out: Path) -> float:
    """Gives the seconds workers spent scoring units, summed over the ledger."""
    lines = (out / "ledger.jsonl").read_text().splitlines()
    return sum(json.loads(line)["seconds"] for line in lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--copies", type=int, default=15, help="copies of the 20-slice sample series")
    parser.add_argument("--codec", choices=("raw", "j2k"), default="raw")
    parser.add_argument("--measures", action="store_true", help="add the physics measures (about 0.3 s a slice)")
    parser.add_argument("--shard-size", type=int, default=10)
    parser.add_argument("--markdown", type=Path, default=None)
    args = parser.parse_args()
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    from vliqa.batch import run_batch

    report = Report("Archive scoring (vliqa batch)")
    with tempfile.TemporaryDirectory() as tmp:
        tree = Path(tmp) / "archive"
        n_slices = make_tree(tree, args.copies, args.codec)
        runs: list[tuple[str, int, float, float]] = []  # name, workers, wall seconds, per-worker slices/s
        n, seconds = assessor_rate(tree, args.measures)
        runs.append(("Assessor, one process (`vliqa.Assessor.assess` per series)", 1, seconds, n / seconds))
        engines = [("local", 1, "batch, local engine, 1 process"), ("local", 2, "batch, local engine, pool of 2"),
                   ("ray", 2, "batch, Ray engine, 2 actors (local Ray, num_cpus=2)")]
        for engine, workers, name in engines:
            out = Path(tmp) / f"out-{engine}-{workers}"
            start = time.perf_counter()
            try:
                result = run_batch(tree, out, engine=engine, workers=workers, measures=args.measures,
                                   shard_size=args.shard_size)
            except Exception as exc:  # noqa: BLE001 - one engine failing (no ray installed) leaves the others
                report.note(f"{name}: not run ({type(exc).__name__}: {exc})")
                continue
            wall = time.perf_counter() - start
            assert result.n_slices == n_slices, (result.n_slices, n_slices)
            runs.append((name, workers, wall, n_slices / unit_seconds(out)))

    base = runs[0][2]
    table = Table(title=f"{n_slices} slices ({args.copies} series of 512², {args.codec}, measures "
                        f"{'on' if args.measures else 'off'}, no VLM descriptions), {os.cpu_count()} cores")
    for col in ("how", "workers", "wall s", "slices/s", "vs Assessor", "per-worker slices/s", "steady slices/s",
                "start-up s"):
        table.add_column(col, justify="left" if col == "how" else "right")
    for name, workers, wall, per_worker in runs:
        steady = per_worker * workers
        table.add_row(name, str(workers), f"{wall:.1f}", f"{n_slices / wall:.1f}", f"{base / wall:.2f}x",
                      f"{per_worker:.1f}", f"{steady:.1f}", f"{max(0.0, wall - n_slices / steady):.1f}")
    table.caption = ("wall s and slices/s: start to end, model loads (and Ray's start) included; per-worker: slices "
                     "over the seconds workers spent on units; steady: per-worker x workers, the rate once started; "
                     "start-up: wall s less the steady time. The driver walks the tree and writes Parquet on the same "
                     "cores.")
    console.print(table)
    report.add(table)

    name, _, _, per_worker = runs[-1]  # the Ray run (else the last that ran): 2 workers sharing this machine
    proj = Table(title="One million slices, projected from the per-worker rate of the last run above "
                       f"({per_worker:.1f} slices/s), 2 workers a node like this one")
    for col in ("nodes", "workers", "hours"):
        proj.add_column(col, justify="right")
    for nodes in NODES:
        proj.add_row(str(nodes), str(2 * nodes), f"{MILLION / (per_worker * 2 * nodes) / 3600:.1f}")
    proj.caption = ("Linear in workers: it assumes storage keeps up (an uncompressed 512² slice reads at ~625/s per "
                    "core, JPEG 2000 at ~30/s) and leaves out start-up (model load ~2 s a worker, Ray ~5 s).")
    console.print(proj)
    report.add(proj)
    report.write(args.markdown)


if __name__ == "__main__":
    main()
