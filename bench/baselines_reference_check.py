"""Checks vliqa's NIQE, BRISQUE and PIQE against the PyPI packages they replace, on real CT slices.

The packages do not run under this project's environment (numpy 2, no
OpenCV, removed SciPy calls), so they live in a scratch virtualenv:

    python -m venv /tmp/refvenv
    /tmp/refvenv/bin/pip install numpy scipy pillow scikit-image brisque==0.2.0 scikit-video==1.1.11 pypiqe==1.2 \
        opencv-python-headless libsvm-official
    .venv/bin/python bench/baselines_reference_check.py --reference-python /tmp/refvenv/bin/python [--markdown FILE]

This builds 21 display images (3 bundled abdomen slices, each clean, with
added Gaussian noise of 20/50/100 HU, and blurred with sigma 1/2/3 px), scores
them here and, in a subprocess under the reference interpreter, with
scikit-video's NIQE, brisque's BRISQUE and pypiqe's PIQE (with the small
shims they need: `np.int`, `scipy.misc.imresize`, and the numpy-2 flattening
of brisque's features), then prints Pearson and Spearman correlations.

`--export-params DIR` (under the reference interpreter) rewrites the vendored
parameter files of `src/vliqa/metrics/baselines/data/` from the installed wheels.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

NOISE_LEVELS_HU = (20.0, 50.0, 100.0)
BLUR_SIGMAS_PX = (1.0, 2.0, 3.0)
SLICES = (2, 9, 16)


def build_image_set(out: Path) -> None:
    """Writes the display images (N, 512, 512) float32 and their names to `out` (.npz)."""
    from scipy import ndimage

    import vliqa
    from vliqa.core import to_display

    volume = vliqa.load(Path(__file__).resolve().parents[1] / "src" / "vliqa" / "samples" / "abdomen_ct_dicom")
    rng = np.random.default_rng(0)
    images, names = [], []
    for index in SLICES:
        ct = volume.slice(index)
        variants = [("clean", ct.hu)]
        variants += [(f"noise{s:g}HU", ct.hu + rng.normal(0.0, s, ct.hu.shape).astype(np.float32))
                     for s in NOISE_LEVELS_HU]
        variants += [(f"blur{s:g}px", ndimage.gaussian_filter(ct.hu, s)) for s in BLUR_SIGMAS_PX]
        for name, hu in variants:
            display = to_display(ct.with_step(name, {}, hu.astype(np.float32)), "ldctiqac")
            # Quantise to 8 bits: the reference packages read 8-bit images.
            images.append(np.round(display * 255.0).astype(np.float32) / 255.0)
            names.append(f"slice{index}:{name}")
    np.savez(out, display=np.stack(images), names=np.array(names))


def _reference_packages():
    """Gives (niqe, brisque, piqe) callables of the reference packages on 8-bit images, shimmed for numpy 2."""
    import scipy.misc
    from PIL import Image

    np.int = int  # scikit-video uses the alias removed in numpy 1.24

    def imresize(arr, size, interp="bicubic", mode=None):  # scipy.misc.imresize, removed in SciPy 1.3
        h, w = arr.shape
        pil = Image.fromarray(np.asarray(arr, dtype=np.float32), mode="F")
        return np.asarray(pil.resize((int(w * size), int(h * size)), Image.BICUBIC))

    scipy.misc.imresize = imresize
    from brisque import BRISQUE
    from pypiqe import piqe
    from skvideo.measure import niqe

    original = BRISQUE.calculate_brisque_features

    def flat_features(self, image, kernel_size=7, sigma=7 / 6):  # the numpy-2 fix: features are 1-element arrays
        return np.array([float(np.ravel(v)[0]) for v in original(self, image, kernel_size=kernel_size, sigma=sigma)])

    BRISQUE.calculate_brisque_features = flat_features
    brisque_model = BRISQUE(url=False)
    return (
        lambda u8: float(niqe(u8.astype(np.float32))[0]),
        lambda u8: float(brisque_model.score(np.stack([u8] * 3, axis=-1))),
        lambda u8: float(piqe(u8)[0]),
    )


def score_reference(images: Path, out: Path) -> None:
    """Writes the reference packages' scores of the images in `images` to `out` (.npz)."""
    niqe, brisque, piqe = _reference_packages()
    display = np.load(images)["display"]
    u8 = [np.round(d * 255.0).astype(np.uint8) for d in display]
    np.savez(
        out,
        niqe=np.array([niqe(x) for x in u8]),
        brisque=np.array([brisque(x) for x in u8]),
        piqe=np.array([piqe(x) for x in u8]),
    )


def export_params(folder: Path) -> None:
    """Writes the vendored NIQE and BRISQUE parameter files from the installed scikit-video and brisque wheels."""
    import importlib.util
    import pickle

    import scipy.io

    skvideo_dir = Path(importlib.util.find_spec("skvideo").submodule_search_locations[0])
    brisque_dir = Path(importlib.util.find_spec("brisque").submodule_search_locations[0])
    params = scipy.io.loadmat(skvideo_dir / "measure" / "data" / "niqe_image_params.mat")
    np.savez_compressed(
        folder / "niqe_pristine_scikit_video.npz", pop_mu=np.ravel(params["pop_mu"]), pop_cov=params["pop_cov"]
    )
    lines = (brisque_dir / "models" / "svm.txt").read_text().splitlines()
    start = lines.index("SV")
    header = dict(line.split(maxsplit=1) for line in lines[:start])
    coef, vectors = [], []
    for line in filter(str.strip, lines[start + 1 :]):
        first, *pairs = line.split()
        row = np.zeros(36)
        for pair in pairs:
            k, v = pair.split(":")
            row[int(k) - 1] = float(v)
        coef.append(float(first))
        vectors.append(row)
    with open(brisque_dir / "models" / "normalize.pickle", "rb") as fh:
        ranges = pickle.load(fh)
    np.savez_compressed(
        folder / "brisque_live_svr.npz",
        support_vectors=np.array(vectors),
        dual_coef=np.array(coef),
        gamma=float(header["gamma"]),
        rho=float(header["rho"]),
        feature_min=np.array(ranges["min_"], dtype=np.float64),
        feature_max=np.array(ranges["max_"], dtype=np.float64),
    )


def compare(reference_python: str, markdown: Path | None = None) -> None:
    """Scores the image set here and with the reference packages, and prints their correlations
    (a table: `markdown`)."""
    from _report import Report
    from rich.console import Console
    from rich.table import Table
    from scipy import stats

    from vliqa.metrics.baselines.brisque import brisque
    from vliqa.metrics.baselines.niqe import niqe
    from vliqa.metrics.baselines.piqe import piqe

    with tempfile.TemporaryDirectory() as tmp:
        images, ref_out = Path(tmp) / "images.npz", Path(tmp) / "reference.npz"
        build_image_set(images)
        subprocess.run([reference_python, __file__, "--score-reference", str(images), str(ref_out)], check=True)
        ref = dict(np.load(ref_out))
        data = np.load(images)
        display, names = data["display"], data["names"]
    ours = {
        "niqe": np.array([niqe(d) for d in display]),
        "niqe (skvideo mode)": np.array([niqe(d, keep_flat_patches=True) for d in display]),
        "brisque": np.array([brisque(d) for d in display]),
        "brisque (package mode)": np.array([brisque(d, zero_is_right=True) for d in display]),
        "piqe": np.array([piqe(d) for d in display]),
    }
    report = Report("Classical baselines against their reference packages")
    table = Table(
        title=f"vliqa vs reference packages on {len(display)} CT display images (3 real abdomen slices: clean, "
              "noise 20/50/100 HU, blur 1/2/3 px)",
        caption="skvideo mode: flat (air) patches kept, keep_flat_patches=True; package mode: exact zeros "
                "counted as positive MSCN values, zero_is_right=True. The defaults follow the papers' MATLAB "
                "references.")
    for col in ("metric", "reference", "Pearson r", "Spearman rho", "median |diff|", "vliqa range", "reference range"):
        table.add_column(col, justify="left" if col in ("metric", "reference") else "right")
    for label, mine in ours.items():
        key = label.split()[0]
        theirs, refname = ref[key], {"niqe": "scikit-video 1.1.11", "brisque": "brisque 0.2.0",
                                     "piqe": "pypiqe 1.2"}[key]
        table.add_row(
            label,
            refname,
            f"{stats.pearsonr(mine, theirs).statistic:.3f}",
            f"{stats.spearmanr(mine, theirs).statistic:.3f}",
            f"{np.median(np.abs(mine - theirs)):.2f}",
            f"{mine.min():.1f}-{mine.max():.1f}",
            f"{theirs.min():.1f}-{theirs.max():.1f}",
        )
    console = Console(width=150)
    console.print(table)
    report.add(table)
    report.write(markdown)
    per_image = Table(title="per image")
    for col in ("image", "niqe", "niqe ref", "brisque", "brisque ref", "piqe", "piqe ref"):
        per_image.add_column(col)
    for i, name in enumerate(names):
        per_image.add_row(
            str(name),
            *(f"{v:.2f}" for key in ("niqe", "brisque", "piqe") for v in (ours[key][i], ref[key][i])),
        )
    console.print(per_image)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reference-python", help="interpreter of a virtualenv holding the reference packages")
    parser.add_argument("--score-reference", nargs=2, metavar=("IMAGES", "OUT"), help=argparse.SUPPRESS)
    parser.add_argument("--export-params", metavar="DIR", help="rewrite the vendored parameter files into DIR")
    parser.add_argument("--markdown", type=Path, help="write the comparison table here as GitHub markdown")
    args = parser.parse_args(argv)
    if args.score_reference:
        score_reference(Path(args.score_reference[0]), Path(args.score_reference[1]))
    elif args.export_params:
        export_params(Path(args.export_params))
    elif args.reference_python:
        compare(args.reference_python, args.markdown)
    else:
        parser.error("give --reference-python PATH (see the module docstring)")


if __name__ == "__main__":
    main(sys.argv[1:])
