"""The quality vision-language model (`load_vlm`): captions, distortion identification, A/B comparison, questions.

One checkpoint serves CT slices and photographs; the shipped one lives in this folder (`vlm`).
"""

from vliqa.models.vlm.diagnostic import VLMDiagnosticModel
from vliqa.models.vlm.generate import (
    Answer,
    Caption,
    PairVerdict,
    QualityVLMPredictor,
    load_vlm,
    text_agrees,
)
from vliqa.models.vlm.model import QualityVLM, VLMConfig

__all__ = ["Answer", "Caption", "PairVerdict", "QualityVLM", "QualityVLMPredictor", "VLMConfig", "VLMDiagnosticModel",
           "load_vlm", "text_agrees"]
