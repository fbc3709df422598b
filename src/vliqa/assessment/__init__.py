"""Assessing CT image quality: the `Assessor` service and its results, `Assessment` and `VolumeAssessment`.

    import vliqa
    result = vliqa.assess("scan/")                 # a plain function: a file, folder, array, CTImage or CTVolume
    result.to_dict()                               # the JSON form in docs/assessment_schema.md
    assessor = vliqa.Assessor("runs/r1")           # this package's class: one model load for many inputs
    for item in assessor.assess_inputs(paths, heatmap_dir="maps/", plot="quality.png"): ...

`vliqa.assess` (the function) and `vliqa.Assessor` are the public names; this package holds the code.
Every entry point (CLI, Python API, HTTP API, batch engine) calls the same `Assessor`.
"""

from __future__ import annotations

from vliqa.assessment.assessor import AssessedInput, Assessor, detect_distortions
from vliqa.assessment.heatmap import Heatmap, heatmap_for, local_noise_map, save_heatmap_png, save_volume_plot
from vliqa.assessment.language import Comparison, QuestionAnswer
from vliqa.assessment.ood import OODResult, check_image
from vliqa.assessment.schema import (
    SCHEMA_VERSION,
    Assessment,
    DetectedDistortion,
    VolumeAssessment,
    VolumeSummary,
    assessment_from_dict,
)

__all__ = [
    "SCHEMA_VERSION", "AssessedInput", "Assessment", "Assessor", "Comparison", "DetectedDistortion", "Heatmap",
    "OODResult", "QuestionAnswer", "VolumeAssessment", "VolumeSummary", "assessment_from_dict", "check_image",
    "detect_distortions", "heatmap_for", "local_noise_map", "save_heatmap_png", "save_volume_plot",
]
