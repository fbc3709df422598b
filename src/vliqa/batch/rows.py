"""One unit scored into one Arrow table: a row per slice (the Assessment flattened, with acquisition metadata),
or an error row (path, error type, message) for a file or slice that could not be read or scored."""

from __future__ import annotations

import json
import math
from collections import deque
from collections.abc import Iterator
from concurrent import futures
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from vliqa.batch.walk import WorkUnit
from vliqa.core import ASPECTS, CTImage, CTVolume
from vliqa.io.load import load_file

if TYPE_CHECKING:  # the Assessor is built in each worker; reading a batch output needs no model stack
    from vliqa.assessment import Assessment, Assessor

#: The columns of a slice row, in order. Measures and distortions are JSON text: their keys vary by model and
#: options, and one fixed schema lets every shard of a run be read as one table.
SLICE_SCHEMA = pa.schema([
    ("unit_id", pa.string()), ("path", pa.string()), ("series_uid", pa.string()), ("study_uid", pa.string()),
    ("slice_index", pa.int32()), ("status", pa.string()), ("error_type", pa.string()), ("error_message", pa.string()),
    ("score", pa.float64()), ("level", pa.string()),
    *[(a, pa.float64()) for a in ASPECTS],
    ("uncertainty", pa.float64()), ("model_uncertainty", pa.float64()),
    ("out_of_distribution", pa.bool_()), ("ood_reason", pa.string()),
    ("distortions", pa.string()), ("measures", pa.string()),
    ("description", pa.string()), ("description_source", pa.string()),
    ("model", pa.string()), ("model_version", pa.string()), ("vliqa_version", pa.string()),
    ("manufacturer", pa.string()), ("scanner_model", pa.string()), ("kvp", pa.float64()),
    ("tube_current_ma", pa.float64()), ("exposure_mas", pa.float64()), ("ctdi_vol_mgy", pa.float64()),
    ("kernel", pa.string()), ("slice_thickness_mm", pa.float64()), ("pixel_spacing_mm", pa.float64()),
    ("study_date", pa.string()), ("series_description", pa.string()), ("body_part", pa.string()),
])
#: Files a unit's loader thread reads ahead of the scorer.
READ_AHEAD = 8
#: A slice's key: no two rows of a finished run share it.
KEY_COLUMNS = ("path", "slice_index")


def _finite(value: float | None) -> float | None:
    return None if value is None or not math.isfinite(float(value)) else float(value)


def _metadata(image: CTImage) -> dict[str, Any]:
    acq = image.acquisition
    return {
        "manufacturer": acq.manufacturer, "scanner_model": acq.model, "kvp": acq.kvp,
        "tube_current_ma": acq.tube_current_ma, "exposure_mas": acq.exposure_mas, "ctdi_vol_mgy": acq.ctdi_vol_mgy,
        "kernel": acq.kernel, "slice_thickness_mm": image.slice_thickness_mm,
        "pixel_spacing_mm": image.pixel_spacing_mm[0] if image.pixel_spacing_mm else None,
        "study_date": acq.study_date, "series_description": acq.series_description, "body_part": acq.body_part,
    }


def _base(unit: WorkUnit, path: str, index: int | None) -> dict[str, Any]:
    return {"unit_id": unit.unit_id, "path": path, "series_uid": unit.series_uid, "study_uid": unit.study_uid,
            "slice_index": index}


def error_row(unit: WorkUnit, path: str, index: int | None, error_type: str, message: str,
              image: CTImage | None = None) -> dict[str, Any]:
    """Gives the row of a file or slice that could not be read or scored."""
    row = _base(unit, path, index) | {"status": "error", "error_type": error_type, "error_message": message}
    return row | (_metadata(image) if image is not None else {})


def assessment_row(unit: WorkUnit, path: str, image: CTImage, result: Assessment) -> dict[str, Any]:
    """Gives the row of one scored slice: the Assessment flattened, then the acquisition metadata."""
    data = result.to_dict()
    return _base(unit, path, result.slice_index) | {
        "status": "ok", "score": _finite(result.score), "level": result.level,
        **{a: _finite(result.aspects.get(a)) for a in ASPECTS},
        "uncertainty": _finite(result.uncertainty), "model_uncertainty": _finite(result.model_uncertainty),
        "out_of_distribution": bool(result.out_of_distribution), "ood_reason": result.ood_reason,
        "distortions": json.dumps(data["distortions"]), "measures": json.dumps(data["measures"]),
        "description": result.description, "description_source": result.description_source,
        "model": result.model, "model_version": result.model_version, "vliqa_version": result.vliqa_version,
    } | _metadata(image)


def _read(path: str) -> tuple[CTImage | CTVolume | None, Exception | None]:
    """Gives (image, None) of one file, or (None, why it could not be read)."""
    try:
        return load_file(path, domain="ct"), None
    except Exception as exc:  # noqa: BLE001 - one bad file of an archive is a row, never the end of the run
        return None, exc


def _loaded_slices(unit: WorkUnit, rows: list[dict[str, Any]]) -> Iterator[tuple[str, int, CTImage]]:
    """Yields (path, slice index, slice) of a unit's files in order; files that fail to load add error rows.

    A loader thread reads up to READ_AHEAD files ahead, so decoding (JPEG 2000 above all, which releases the GIL)
    overlaps the scoring of the slices before them.
    """
    files = iter(enumerate(unit.paths))
    with futures.ThreadPoolExecutor(1, thread_name_prefix="vliqa-read") as pool:
        ahead: deque[tuple[int, str, futures.Future]] = deque()

        def read_ahead() -> None:
            while len(ahead) < READ_AHEAD and (item := next(files, None)) is not None:
                ahead.append((item[0], item[1], pool.submit(_read, item[1])))

        read_ahead()
        while ahead:
            offset, path, pending = ahead.popleft()
            read_ahead()
            index = unit.first_index + offset
            image, exc = pending.result()
            if exc is not None:
                rows.append(error_row(unit, path, None if unit.kind == "volume" else index, type(exc).__name__,
                                      str(exc)))
                continue
            if isinstance(image, CTVolume):
                for k in range(len(image)):
                    yield path, k, image.slice(k)
            else:
                yield path, (0 if unit.kind == "volume" else index), image


def _score_batch(assessor: Assessor, unit: WorkUnit, batch: list[tuple[str, int, CTImage]],
                 rows: list[dict[str, Any]]) -> None:
    """Adds the rows of one batch of slices; when the batch fails, each slice is scored alone to find the bad one."""
    try:
        results = assessor.assess_slices([image for _, _, image in batch], indices=[index for _, index, _ in batch])
    except Exception as exc:  # noqa: BLE001 - a slice the model cannot score is a row, never the end of the run
        if len(batch) > 1:
            for item in batch:
                _score_batch(assessor, unit, [item], rows)
        else:
            path, index, image = batch[0]
            rows.append(error_row(unit, path, index, type(exc).__name__, str(exc), image))
        return
    rows.extend(assessment_row(unit, path, image, r) for (path, _, image), r in zip(batch, results, strict=True))


def score_unit(assessor: Assessor, unit: WorkUnit) -> pa.Table:
    """Gives the rows of one unit as a table of SLICE_SCHEMA, scoring its slices in chunks of the Assessor's size."""
    rows: list[dict[str, Any]] = [error_row(unit, e.path, None, e.error_type, e.message) for e in unit.errors]
    batch: list[tuple[str, int, CTImage]] = []
    for item in _loaded_slices(unit, rows):
        batch.append(item)
        if len(batch) >= assessor.chunk_size:
            _score_batch(assessor, unit, batch, rows)
            batch = []
    if batch:
        _score_batch(assessor, unit, batch, rows)
    return pa.Table.from_pylist(rows, schema=SLICE_SCHEMA)
