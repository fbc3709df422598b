"""A dataset from a user's own scored images: a CSV `path,score[,aspects...]` -> a vliqa dataset folder.

    vliqa data import-scores my_scores.csv --out data/mine          # then train or fine-tune on data/mine
    vliqa train scorer --data my_scores.csv --init default --out runs/mine   # both in one command

Each row's image (any single-slice file vliqa reads: DICOM, PNG, TIFF, NPY, ...) is read once, checked, and
written into the folder as a 16-bit HU PNG with its pixel spacing (display exports keep the window they were
read with, in the PNG's vliqa text chunk), so training never depends on the original files staying put.
Rows go to the training or validation split by image, seeded; aspects missing from the CSV take the overall
score (`vliqa.labels.human`). The import is atomic: the manifest is written last, after every image.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np

from vliqa.core import ASPECTS
from vliqa.data.manifest import IMAGE_SCHEMA, dumps, write_table
from vliqa.errors import DatasetError, InvalidParameterError
from vliqa.io.write import save_png16
from vliqa.labels.human import load_scored_slices, read_human_scores

#: Fewest rows a validation split needs for a correlation to mean anything.
MIN_VAL_ROWS = 3


def dataset_from_scores(csv_path: str | Path, out: str | Path, *, val_fraction: float = 0.2, seed: int = 0,
                        window: str | None = None) -> Path:
    """Writes a dataset folder (images + manifest.parquet, splits train/val) from a human-score CSV; gives the folder.

    `window`: the display window the PNG/JPEG/TIFF images were exported with (default: vliqa's raster default,
    the LDCTIQAC reading window W350/L40); HU formats ignore it.
    """
    if not 0.0 < val_fraction < 1.0:
        raise InvalidParameterError(f"val_fraction must be in (0, 1), got {val_fraction}")
    csv_path, out = Path(csv_path), Path(out)
    scores = read_human_scores(csv_path)
    n_val = max(MIN_VAL_ROWS, int(round(val_fraction * len(scores))))
    if len(scores) < n_val + 2:
        raise DatasetError(f"the score file has {len(scores)} rows; fine-tuning needs at least {MIN_VAL_ROWS + 2} "
                           f"({MIN_VAL_ROWS} to validate on, 2 to train on)", path=csv_path,
                           hint="score more images")
    val_rows = set(np.random.default_rng(seed).permutation(len(scores))[:n_val].tolist())
    loaded = load_scored_slices(csv_path, scores, window=window)  # every path and slice checked before writing
    (out / "images").mkdir(parents=True, exist_ok=True)
    rows = []
    for i, (hs, (src, image)) in enumerate(zip(scores, loaded, strict=True)):
        image_id = f"{i:06d}_{hashlib.sha1(str(src).encode()).hexdigest()[:8]}"
        save_png16(image, out / "images" / f"{image_id}.png")
        labels = hs.labels
        rows.append({
            "id": image_id, "path": f"images/{image_id}.png", "reference_path": "", "reference_id": image_id,
            "source_id": str(src), "patient_id": image_id, "source_kind": "real", "region": None,
            "split": "val" if i in val_rows else "train", "family": "human", "degradations": dumps([]),
            "overall": labels.overall, **{a: labels.aspects[a] for a in ASPECTS}, "label_source": "human",
            "measures": dumps({"human": 1.0}), "caption": "", "organs": dumps([]), "seed": seed,
            "pixel_spacing_mm": float(np.mean(image.pixel_spacing_mm)) if image.pixel_spacing_mm else None,
        })
    write_table(rows, IMAGE_SCHEMA, out / "manifest.parquet")
    (out / "import.json").write_text(json.dumps({"csv": str(csv_path.resolve()), "rows": len(rows),
                                                 "val_fraction": val_fraction, "seed": seed}, indent=2) + "\n")
    return out
