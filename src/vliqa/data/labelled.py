"""Reading a built dataset back: the manifest rows of a split, their images and labels, their degradation groups.

What trainers, `vliqa evaluate` and the benchmarks read from a dataset folder made by `vliqa data build`
(see `vliqa.data.manifest` for the columns). Reading imports no torch.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vliqa.core import ASPECTS, CTImage
from vliqa.data.sources import SPLITS
from vliqa.errors import DatasetError, InputNotFoundError, InvalidParameterError


@dataclass(frozen=True)
class LabelledImage:
    """One manifest row with its image: targets on the 0-4 scale and the degradation group it belongs to."""

    id: str
    path: Path
    image: CTImage
    overall: float
    aspects: dict[str, float]
    group: str
    split: str


def split_names(split: str) -> tuple[str, ...]:
    """Gives the manifest splits meant by `split`: one name, a comma-separated list, or "all"."""
    key = split.strip().lower()
    if key == "all":
        return SPLITS
    names = tuple(s.strip() for s in key.split(",") if s.strip())
    unknown = [s for s in names if s not in SPLITS]
    if not names or unknown:
        raise InvalidParameterError(f"unknown split '{split}'",
                                    hint="use train, val, test, a list like train,val, or all")
    return names


def degradation_group(family: str, degradations_json: str) -> str:
    """Gives the breakdown group of a manifest row: its degradation's name, "clean", "combo" or "low_dose+denoise"."""
    try:
        steps = json.loads(degradations_json or "[]")
    except json.JSONDecodeError:
        steps = []
    if family == "clean" or not steps:
        return "clean"
    if family == "dose_denoise":
        return "low_dose+denoise"
    if family == "combo" or len(steps) > 1:
        return "combo"
    return str(steps[0].get("name", "unknown"))


def manifest_rows(data: str | Path, split: str) -> list[dict[str, Any]]:
    """Gives the manifest rows of dataset folder `data` in `split` (see `split_names`), in manifest order."""
    from vliqa.data.manifest import read_manifest  # lazy: pyarrow, only once a manifest is read

    folder = Path(data)
    if not folder.is_dir():
        raise DatasetError("dataset folder not found", path=folder,
                           hint="build one with `vliqa data build --source phantom --n 200 --out DIR`")
    wanted = split_names(split)
    return [r for r in read_manifest(folder).to_pylist() if r["split"] in wanted]


def checked_rows(data: str | Path, split: str, *, min_rows: int = 1) -> list[dict[str, Any]]:
    """Gives the manifest rows of `split`, raising DatasetError when there are fewer than `min_rows`."""
    rows = manifest_rows(data, split)
    if len(rows) < min_rows:
        raise DatasetError(
            f"split '{split}' has {len(rows)} row(s), fewer than the {min_rows} needed", path=data,
            hint="build a larger dataset, or choose another split (train, val, test, train,val or all)")
    return rows


def labelled_image(folder: Path, row: dict[str, Any]) -> LabelledImage:
    """Gives the image and labels of one manifest row of dataset `folder`."""
    from vliqa.io import load  # lazy: the readers bring every format library

    path = folder / row["path"]
    if not path.is_file():
        raise InputNotFoundError("an image listed in the manifest is missing", path=path,
                                 hint="rebuild the dataset or restore the images folder")
    image = load(str(path))
    if not isinstance(image, CTImage):
        raise DatasetError("a manifest image holds more than one slice", path=path)
    return LabelledImage(id=row["id"], path=path, image=image, overall=float(row["overall"]),
                         aspects={a: float(row[a]) for a in ASPECTS},
                         group=degradation_group(row["family"], row["degradations"]), split=row["split"])


def load_labelled(data: str | Path, split: str, *, min_rows: int = 1) -> list[LabelledImage]:
    """Gives the images and labels of `split` of dataset folder `data`; raises DatasetError below `min_rows` rows."""
    return [labelled_image(Path(data), r) for r in checked_rows(data, split, min_rows=min_rows)]


__all__ = ["SPLITS", "LabelledImage", "checked_rows", "degradation_group", "labelled_image", "load_labelled",
           "manifest_rows", "split_names"]
