"""Loader throughput: vliqa.load against a bare pydicom loop, on the bundled series (JPEG 2000) and an uncompressed
copy.

Both sides run in this one process, interleaved (vliqa, bare, vliqa, bare, ...), and the median of the repeats
is reported, so machine load drifts hit both alike. The bare loop is the least a reader must do:
`dcmread(f)` then `pixel_array * RescaleSlope + RescaleIntercept` per file (no sorting, no stacking).
Also: NIfTI volume read (vliqa.load vs nibabel get_fdata).
Run: `.venv/bin/python bench/io_bench.py [--repeats N] [--markdown FILE]` (`make bench` writes BENCHMARKS.md from it).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import nibabel as nib
import numpy as np
import pydicom
from _report import Report
from rich.console import Console
from rich.table import Table

import vliqa
from vliqa.io.write import save_nifti

SERIES = Path(vliqa.__file__).parent / "samples" / "abdomen_ct_dicom"


def bare_pydicom(files: list[Path]) -> list[np.ndarray]:
    """Gives HU per file the plainest way pydicom allows."""
    out = []
    for f in files:
        ds = pydicom.dcmread(f)
        out.append(ds.pixel_array * ds.RescaleSlope + ds.RescaleIntercept)
    return out


def bare_nibabel(path: Path) -> np.ndarray:
    """Gives the NIfTI voxels as float32 in memory (np.array: a plain .nii would otherwise stay memory-mapped)."""
    return np.array(nib.load(path).get_fdata(dtype=np.float32))


def timed(fn: Callable[[], object]) -> float:
    """Gives the wall time of one call in seconds."""
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def interleaved(ours: Callable[[], object], theirs: Callable[[], object], repeats: int) -> tuple[float, float]:
    """Gives the median seconds of `ours` and `theirs`, run alternately after one warm-up each."""
    ours(), theirs()
    a, b = [], []
    for _ in range(repeats):
        a.append(timed(ours))
        b.append(timed(theirs))
    return statistics.median(a), statistics.median(b)


def uncompressed_copy(files: list[Path], folder: Path) -> list[Path]:
    """Gives the series rewritten as Explicit VR Little Endian files in `folder`."""
    out = []
    for f in files:
        ds = pydicom.dcmread(f)
        ds.decompress()
        target = folder / f.name
        ds.save_as(target)
        out.append(target)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=" ".join(__doc__.split("\n\n")[0].split()))
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--markdown", type=Path, help="write the table here as GitHub markdown")
    args = parser.parse_args()
    report = Report("Reading CT")
    files = sorted(p for p in SERIES.iterdir() if p.name.startswith("CT."))
    n = len(files)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp_dir = Path(tmp)
        plain_dir = tmp_dir / "plain"
        plain_dir.mkdir()
        plain = uncompressed_copy(files, plain_dir)
        vol = vliqa.load(SERIES)
        assert np.array_equal(vliqa.load(plain_dir).hu, vol.hu)
        for label, folder, group in (
            ("DICOM JPEG 2000 lossless", SERIES, files),
            ("DICOM uncompressed", plain_dir, plain),
        ):
            ours, theirs = interleaved(
                lambda folder=folder: vliqa.load(folder),
                lambda group=group: bare_pydicom(group),
                args.repeats,
            )
            rows.append((label, "pydicom loop", n / ours, n / theirs))
        for name in ("vol.nii.gz", "vol.nii"):
            path = save_nifti(vol, tmp_dir / name)
            ours, theirs = interleaved(
                lambda path=path: vliqa.load(path), lambda path=path: bare_nibabel(path), args.repeats
            )
            rows.append(
                (f"NIfTI {name.split('.', 1)[1]} (20x512x512 float32)", "nibabel get_fdata", n / ours, n / theirs)
            )

    table = Table(title=f"vliqa.io load throughput, {n} slices of 512x512, median of {args.repeats} interleaved runs",
                  caption="Both sides run in one process, interleaved, so machine load hits both alike: the ratio is "
                          "the figure that counts.")
    for col in ("input", "bare reference", "vliqa slices/s", "bare slices/s", "ratio (goal >= 0.9)"):
        table.add_column(col, justify="right" if "/" in col or "ratio" in col else "left")
    for label, ref, ours_rate, bare_rate in rows:
        table.add_row(label, ref, f"{ours_rate:.1f}", f"{bare_rate:.1f}", f"{ours_rate / bare_rate:.2f}")
    Console(width=150).print(table)
    report.add(table)
    report.write(args.markdown)


if __name__ == "__main__":
    main()
