"""Assessing CT image quality: the `Assessor` service and its results, `Assessment` and `VolumeAssessment`.

    from vliqa.assess import assess
    result = assess("scan/", model="runs/r1")     # a file, folder, array, CTImage or CTVolume
    result.to_dict()                               # the JSON form in docs/assessment_schema.md

Every entry point (CLI, Python API, HTTP API, batch engine) calls the same `Assessor`.
"""

from __future__ import annotations

from typing import Any

from vliqa.assess.assessor import Assessor, detect_distortions
from vliqa.assess.heatmap import Heatmap, heatmap_for, local_noise_map, save_heatmap_png, save_volume_plot
from vliqa.assess.ood import OODResult, check_image
from vliqa.assess.schema import (
    SCHEMA_VERSION,
    Assessment,
    DetectedDistortion,
    VolumeAssessment,
    VolumeSummary,
    assessment_from_dict,
)


def assess(path_or_array: Any, *, model: Any = "default", window: Any = None,
           measures: bool = True) -> Assessment | VolumeAssessment:
    """Gives the quality assessment of a file, folder, array (HU), Pillow image, CTImage or CTVolume.

    `model` is a shipped name, a checkpoint folder or a predictor object; build one `Assessor` instead
    when assessing many inputs, so the model is loaded once.
    """
    return Assessor(model, window=window, measures=measures).assess(path_or_array)


__all__ = [
    "SCHEMA_VERSION", "Assessment", "Assessor", "DetectedDistortion", "Heatmap", "OODResult", "VolumeAssessment",
    "VolumeSummary", "assess", "assessment_from_dict", "check_image", "detect_distortions", "heatmap_for",
    "local_noise_map", "save_heatmap_png", "save_volume_plot",
]
