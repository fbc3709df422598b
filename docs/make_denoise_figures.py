"""Makes docs/denoisers.png, docs/denoisers_lowdose.png and docs/image_degradations.png, and times every function.

Run: .venv/bin/python docs/make_denoise_figures.py [--timings]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pydicom  # noqa: E402
import torch  # noqa: E402

from vliqa.io.image import CTImage  # noqa: E402
from vliqa.simulate import get_degradation, list_degradations  # noqa: E402
from vliqa.simulate.cnn_denoiser import ct_noise  # noqa: E402

DOCS = Path(__file__).resolve().parent
SAMPLES = DOCS.parent / "src" / "vliqa" / "samples" / "abdomen_ct_dicom"
CROP = (slice(200, 400), slice(110, 310))  # liver, stomach wall and spleen tip of slice 10
WINDOW = (40.0, 400.0)


def load_slice(index: int = 10) -> CTImage:
    path = sorted(p for p in SAMPLES.iterdir() if p.name.startswith("CT"))[index]
    ds = pydicom.dcmread(path)
    hu = ds.pixel_array.astype(np.float32) * float(ds.RescaleSlope) + float(ds.RescaleIntercept)
    return CTImage(hu=hu, pixel_spacing_mm=tuple(float(v) for v in ds.PixelSpacing), slice_thickness_mm=float(ds.SliceThickness), source=str(path))


def add_ct_noise(image: CTImage, sigma_hu: float, seed: int = 0) -> CTImage:
    gen = torch.Generator().manual_seed(seed)
    noise = ct_noise((1, *image.shape), gen, torch.tensor([0.45]))[0].numpy()
    return image.with_step("ct_noise", {"sigma_hu": sigma_hu}, image.hu + sigma_hu * noise)


def show(ax: plt.Axes, hu: np.ndarray, title: str) -> None:
    level, width = WINDOW
    ax.imshow(hu[CROP], cmap="gray", vmin=level - width / 2, vmax=level + width / 2, interpolation="nearest")
    ax.set_title(title, fontsize=8)
    ax.axis("off")


def grid(image: CTImage, names: list[str], strengths: tuple[float, ...], out: Path, label: str) -> None:
    fig, axes = plt.subplots(len(names), len(strengths) + 1, figsize=(2.2 * (len(strengths) + 1), 2.3 * len(names)))
    for row, name in zip(axes, names, strict=True):
        show(row[0], image.hu, f"{label}")
        for ax, s in zip(row[1:], strengths, strict=True):
            res = get_degradation(name)(image, seed=1, strength=s)
            roi = res.hu[270:310, 150:190]
            show(ax, res.hu, f"{name} {s:g}  sd {roi.std():.1f}")
    fig.tight_layout()
    fig.savefig(out, dpi=90)
    plt.close(fig)


def image_grid(image: CTImage, out: Path) -> None:
    cases = [("blur", 0.3), ("blur", 0.8), ("thick_slice", 0.8), ("resample", 0.7), ("jpeg", 0.7), ("jpeg2000", 0.7), ("quantise", 0.8), ("wrong_window", 0.7)]
    fig, axes = plt.subplots(2, 5, figsize=(11, 4.8))
    axes = axes.ravel()
    show(axes[0], image.hu, "original")
    for ax, (name, sev) in zip(axes[1:], cases, strict=False):
        res = get_degradation(name).at_severity(image, sev, seed=3)
        step = {k: v for k, v in res.history[-1].items() if k not in ("name", "severity")}
        show(ax, res.hu, f"{name} s={sev}\n" + ", ".join(f"{k}={v}" for k, v in list(step.items())[:2]))
    axes[-1].axis("off")
    fig.tight_layout()
    fig.savefig(out, dpi=90)
    plt.close(fig)


def timings(image: CTImage) -> None:
    print("| function | kind | params at severity 0.6 | seconds (512x512) |\n|---|---|---|---|")
    for deg in list_degradations():
        if deg.kind not in ("image", "denoise"):
            continue
        deg.at_severity(image, 0.6, seed=0)  # warm up caches (CNN checkpoint, imports)
        best = min(_timed(deg, image) for _ in range(3))
        print(f"| {deg.name} | {deg.kind} | {deg.params_for_severity(0.6, np.random.default_rng(0))} | {best:.3f} |")


def _timed(deg, image: CTImage) -> float:
    t = time.perf_counter()
    deg.at_severity(image, 0.6, seed=0)
    return time.perf_counter() - t


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--timings", action="store_true")
    args = parser.parse_args()
    image = load_slice(10)
    names = [d.name for d in list_degradations() if d.kind == "denoise"]
    grid(image, names, (0.3, 0.6, 0.9), DOCS / "denoisers.png", "full dose (real)")
    grid(add_ct_noise(image, 30.0), names, (0.3, 0.6, 0.9), DOCS / "denoisers_lowdose.png", "+30 HU CT noise")
    image_grid(image, DOCS / "image_degradations.png")
    if args.timings:
        timings(image)


if __name__ == "__main__":
    main()
