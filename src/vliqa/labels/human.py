"""Human scores from a CSV (`path,score[,noise,artifacts,sharpness,contrast,texture]`), on the 0-4 scale.

Human scores take precedence over physics or diagnostic labels wherever both exist.
Aspect columns are optional; a missing aspect takes the overall score so every row
has the full schema (and the row says label_source = "human").
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

from vliqa.core import ASPECTS, CTImage, QualityLabels
from vliqa.errors import DatasetError, InputNotFoundError
from vliqa.io import load


@dataclass(frozen=True)
class HumanScore:
    path: str
    labels: QualityLabels


def _score(value: str, where: str, column: str) -> float:
    try:
        score = float(value)
    except ValueError:
        raise DatasetError(f"{where}: column '{column}' holds '{value}', not a number",
                           hint="scores are numbers 0-4") from None
    if not 0.0 <= score <= 4.0:
        raise DatasetError(f"{where}: {column} = {score} is outside the 0-4 scale",
                           hint="rescale scores to 0-4 (4 = excellent)")
    return score


def read_human_scores(csv_path: str | Path) -> list[HumanScore]:
    """Gives the human scores in a CSV with a header `path,score[,aspects...]`."""
    csv_path = Path(csv_path)
    if not csv_path.is_file():
        raise InputNotFoundError("score file not found", path=csv_path)
    with open(csv_path, newline="") as fh:
        reader = csv.DictReader(fh)
        header = [h.strip().lower() for h in (reader.fieldnames or [])]
        if "path" not in header or "score" not in header:
            raise DatasetError(
                f"the header is {header or 'empty'}; it needs columns 'path' and 'score'",
                path=csv_path,
                hint="write the first line as: path,score[,noise,artifacts,sharpness,contrast,texture]",
            )
        out = []
        for lineno, raw in enumerate(reader, start=2):
            row = {k.strip().lower(): (v or "").strip() for k, v in raw.items() if k}
            where = f"{csv_path}:{lineno}"
            if not row.get("path"):
                raise DatasetError(f"{where}: the path is empty")
            overall = _score(row["score"], where, "score")
            aspects = {a: _score(row[a], where, a) if row.get(a) else overall for a in ASPECTS}
            out.append(HumanScore(row["path"], QualityLabels(overall=overall, aspects=aspects, source="human")))
    if not out:
        raise DatasetError("the score file has a header but no rows", path=csv_path)
    return out


def load_scored_slices(csv_path: str | Path, scores: list[HumanScore], *,
                       window: str | None = None) -> list[tuple[Path, CTImage]]:
    """Gives (resolved path, slice) for every row of `scores` read from `csv_path`, in order.

    Paths are relative to the CSV's folder unless absolute; every path is checked before any image is read,
    so a typo fails at once; each row must name one slice (not a series). `window`: the display window
    assumed for raster rows.
    """
    csv_path = Path(csv_path)
    paths = []
    for row in scores:
        p = Path(row.path).expanduser()
        p = p if p.is_absolute() else csv_path.parent / p
        if not p.exists():
            raise InputNotFoundError(f"image listed in {csv_path.name} not found: {row.path}", path=p,
                                     hint=f"paths are relative to {csv_path.parent} unless absolute")
        paths.append(p)
    out = []
    for p in paths:
        image = load(str(p), window=window)
        if not isinstance(image, CTImage):
            raise DatasetError(f"{p} holds a series of {len(image)} slices; each CSV row must name one slice",
                               path=p, hint="list one file per slice, e.g. exported with `vliqa preview`")
        out.append((p, image))
    return out
