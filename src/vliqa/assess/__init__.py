"""Assessing CT image quality: the `Assessor` service and its results, `Assessment` and `VolumeAssessment`.

    import vliqa
    result = vliqa.assess("scan/")                # a file, folder, array, CTImage or CTVolume; shipped default model
    result.to_dict()                               # the JSON form in docs/assessment_schema.md
    vliqa.assess.Assessor("runs/r1")               # the same module: one Assessor for many inputs

`vliqa.assess` is this package and, called, the `assess` function: the package's module object is
made callable, so `vliqa.assess(x)` and `from vliqa.assess import Assessor` both work.

Every entry point (CLI, Python API, HTTP API, batch engine) calls the same `Assessor`.
"""

from __future__ import annotations

import sys
import types
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


def assess(path_or_array: Any, *, model: Any = "default", window: Any = None, measures: bool = True,
           reference: Any = None) -> Assessment | VolumeAssessment:
    """Gives the quality assessment of a file, folder, array (HU), Pillow image, CTImage or CTVolume.

    `model` is a shipped name, a checkpoint folder or a predictor object; build one `Assessor` instead
    when assessing many inputs, so the model is loaded once. `reference`: judge against it (full-reference).
    """
    return Assessor(model, window=window, measures=measures).assess(path_or_array, reference=reference)


__all__ = [
    "SCHEMA_VERSION", "Assessment", "Assessor", "DetectedDistortion", "Heatmap", "OODResult", "VolumeAssessment",
    "VolumeSummary", "assess", "assessment_from_dict", "check_image", "detect_distortions", "heatmap_for",
    "local_noise_map", "save_heatmap_png", "save_volume_plot",
]


class _CallableModule(types.ModuleType):
    """This package's module type: calling it calls `assess`."""

    def __call__(self, path_or_array: Any, **kwargs: Any) -> Assessment | VolumeAssessment:
        return assess(path_or_array, **kwargs)


sys.modules[__name__].__class__ = _CallableModule
