"""MedQM-D's second diagnostic model: the quality VLM's doubt about the answer to a diagnostic question.

The diagnostic question asks whether a small low-contrast lesion could be missed. The correct answer is what
the VLM says about the reference (full-quality) image; the loss of a degraded image is how much less likely
the VLM finds that answer for it (mean negative log-likelihood per token, minus the reference's, floored at 0).
A sigmoid fitted at training (`make train-vlm`) maps the loss to the 0-4 scale, as MedQM-D does for the
lesion network. `vliqa data label --method diagnostic --diagnostic-model vlm` uses it.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from vliqa.core import CTImage
from vliqa.labels.diagnostic import DiagnosticTruth, SigmoidMapping, register_diagnostic_model
from vliqa.text.questions import LESION_ORGANS

#: lesion sizes the question names, by the truth's equivalent diameter (mm); 5 mm without a truth
DEFAULT_LESION_MM = 5


def diagnostic_question(region: str | None, size_mm: int = DEFAULT_LESION_MM) -> str:
    """Gives the diagnostic question asked of every image of a body region."""
    organ = LESION_ORGANS.get(region or "abdomen", LESION_ORGANS["abdomen"])[0]
    return f"Could a {size_mm} mm {organ} lesion be missed in this image?"


def _lesion_mm(truth: DiagnosticTruth | None, image: CTImage) -> int:
    if truth is None or not np.any(truth.lesion_mask):
        return DEFAULT_LESION_MM
    px = float(np.mean(image.pixel_spacing_mm)) if image.pixel_spacing_mm else 0.7
    from scipy import ndimage  # noqa: PLC0415  # lazy: only with a truth mask

    labels, n = ndimage.label(truth.lesion_mask)
    smallest = min(int((labels == k).sum()) for k in range(1, n + 1))
    diameter = 2.0 * np.sqrt(smallest / np.pi) * px
    return int(min((3, 5, 10, 20), key=lambda s: abs(s - diameter)))


class VLMDiagnosticModel:
    """A `vliqa.labels.DiagnosticModel` from the quality VLM (`name` "vlm", `mapping` fitted at training)."""

    name = "vlm"

    def __init__(self, vlm: Any):
        self.vlm = vlm
        c = vlm.model.config
        self.mapping = SigmoidMapping(a=c.diagnostic_a, b=c.diagnostic_b, fitted_to=c.diagnostic_fitted_to) \
            if c.diagnostic_b > 0 else None

    def loss(self, degraded: CTImage, reference: CTImage, *, truth: DiagnosticTruth | None = None) -> float:
        """Gives how much less the VLM believes, for `degraded`, the diagnostic answer it gives for `reference`."""
        store = self.vlm._store()
        kd, kr = self.vlm._add_images(store, [degraded, reference], "img")
        region = "head" if store.images[kr].global_vec[-3] > 0.5 else None
        question = diagnostic_question(region, _lesion_mm(truth, reference))
        return pair_loss(self.vlm, store, kd, kr, question)


def pair_loss(vlm: Any, store: Any, degraded_key: str, reference_key: str, question: str) -> float:
    """Gives the diagnostic loss of an encoded degraded image against its encoded reference (>= 0)."""
    correct = vlm.answer_keys(store, reference_key, question)
    nll_ref = vlm.answer_nll_keys(store, reference_key, question, correct)
    nll_deg = vlm.answer_nll_keys(store, degraded_key, question, correct)
    return float(max(0.0, nll_deg - nll_ref))


@register_diagnostic_model("vlm")
def _vlm_diagnostic() -> VLMDiagnosticModel:
    from vliqa.models.vlm.generate import load_vlm  # noqa: PLC0415  # lazy: avoids an import cycle at package import

    return VLMDiagnosticModel(load_vlm())
