"""Tiny real CT-IQA fixtures shared by the model, evaluation and CLI tests, built once per test run.

A 24-image phantom dataset made by the real builder (128 px phantoms), a regressor trained on it with
the TINY config, and human-score CSVs over PNG slices exported from the bundled abdomen DICOM series.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

SEED = 1
SAMPLES = Path(__file__).resolve().parents[1] / "src" / "vliqa" / "samples"


def tiny_dataset(tmp_path_factory) -> Path:
    """Gives a 24-image phantom dataset folder (splits 21/2/1 for seed 1), building it on first use."""
    from vliqa.data.build import BuildConfig, build_dataset
    from vliqa.data.sources import assign_splits, phantom_sources

    out = tmp_path_factory.getbasetemp() / "tiny_iqa_dataset"
    if not (out / "manifest.parquet").is_file():
        sources = assign_splits(phantom_sources(8, seed=SEED), seed=SEED)
        cfg = BuildConfig(n=24, seed=SEED, source="phantom", phantom_size_px=128)
        build_dataset(sources, out, cfg, workers=1, progress=False)
    return out


def tiny_config_file(folder: Path) -> Path:
    """Writes the TINY regressor training config as JSON into `folder`; gives its path."""
    from vliqa.train import TINY

    path = folder / "tiny_regressor.json"
    path.write_text(json.dumps(TINY))
    return path


def tiny_checkpoint(tmp_path_factory) -> Path:
    """Gives a regressor checkpoint folder trained with the TINY config on `tiny_dataset`, training it on first use."""
    from vliqa.train import TINY, RegressorTrainConfig, train_regressor
    from vliqa.train.common import config_with_nested

    out = tmp_path_factory.getbasetemp() / "tiny_regressor"
    if not (out / "config.json").is_file():
        cfg = config_with_nested(RegressorTrainConfig, dict(TINY))
        train_regressor(tiny_dataset(tmp_path_factory), out, cfg, progress=False)
    return out


def noisy_reader_study(folder: Path, n: int = 6) -> tuple[Path, list[float]]:
    """Writes PNG exports of one real abdomen slice with rising noise and a CSV scoring them like a reader would.

    Slice k gets white noise of 10 + 25 k HU and the score 4 - 4 k / (n - 1): noisier, worse. The CSV names
    half of the images by relative path and half by absolute path. Gives the CSV path and the scores.
    """
    from vliqa.core import CTImage
    from vliqa.io import load
    from vliqa.io.write import save_preview_png

    volume = load(str(SAMPLES / "abdomen_ct_dicom"))
    clean = volume.slice(len(volume) // 2)
    rng = np.random.default_rng(0)
    (folder / "slices").mkdir(parents=True, exist_ok=True)
    lines, scores = ["path,score"], []
    for k in range(n):
        hu = clean.hu + rng.normal(0.0, 10.0 + 25.0 * k, clean.hu.shape).astype(np.float32)
        png = folder / "slices" / f"reader_{k}.png"
        save_preview_png(CTImage(hu, pixel_spacing_mm=clean.pixel_spacing_mm), png, window="ldctiqac")
        score = 4.0 - 4.0 * k / (n - 1)
        scores.append(score)
        lines.append(f"{png if k % 2 else png.relative_to(folder)},{score:.2f}")
    csv = folder / "reader_scores.csv"
    csv.write_text("\n".join(lines) + "\n")
    return csv, scores
