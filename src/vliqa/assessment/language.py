"""The Assessor's language side: descriptions from the quality VLM, A/B comparisons and free questions.

Descriptions keep the Assessment's numbers: the VLM's level slots are fixed to the assessment's aspect
and overall levels, and the text is decoded conditioned on them. Comparisons and answers are the VLM's,
with what a reader should know added: images of different anatomy or size are compared on quality alone.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from vliqa.assessment.schema import Assessment
from vliqa.core import ASPECTS, CTImage, CTVolume, level_of
from vliqa.errors import InvalidParameterError
from vliqa.models.reader_features import reading_display
from vliqa.models.vlm.prompts import soft_preference


@dataclass(frozen=True)
class Judged:
    """How the Assessor scores one slice: its slot levels (None without aspects), overall score and std."""

    levels: dict[str, int] | None
    score: float
    std: float


#: Two displays this similar (correlation at 64 px) show the same anatomy.
SAME_ANATOMY_CORRELATION = 0.6
#: How many slice pairs of two equally long series a comparison looks at.
SERIES_PAIRS = 8


@dataclass(frozen=True)
class Comparison:
    """Which of two images is better ("A", "B" or "tie"), how sure, why, and what the comparison rests on."""

    preferred: str
    probability: float
    explanation: str
    with_reference: bool
    probabilities: dict[str, float]
    levels_a: dict[str, int]
    levels_b: dict[str, int]
    notes: tuple[str, ...] = ()
    path_a: str | None = None
    path_b: str | None = None
    reference: str | None = None
    #: slice pairs compared (1 for two slices)
    n_pairs: int = 1
    model: str = "vlm"
    #: False when an input was out of distribution and nothing was compared
    assessable: bool = True
    #: the VLM's own preference probabilities (both orders averaged), beside `probabilities`
    model_probabilities: dict[str, float] = field(default_factory=dict)
    #: what decided the preference: "scores" (the Assessor's, the VLM explains) or "vlm" (the VLM's own slot)
    preference_source: str = "vlm"

    def to_dict(self) -> dict[str, Any]:
        return {"preferred": self.preferred, "probability": round(float(self.probability), 4),
                "explanation": self.explanation, "with_reference": self.with_reference,
                "probabilities": {k: round(float(v), 4) for k, v in self.probabilities.items()},
                "levels_a": dict(self.levels_a), "levels_b": dict(self.levels_b), "notes": list(self.notes),
                "a": self.path_a, "b": self.path_b, "reference": self.reference, "n_pairs": self.n_pairs,
                "model": self.model, "assessable": self.assessable, "preference_source": self.preference_source,
                "model_probabilities": {k: round(float(v), 4) for k, v in self.model_probabilities.items()}}


@dataclass(frozen=True)
class QuestionAnswer:
    """A free question about an image and the VLM's answer (`answerable` False for "I cannot tell")."""

    question: str
    answer: str
    answerable: bool
    levels: dict[str, int] = field(default_factory=dict)
    path: str | None = None
    model: str = "vlm"

    def to_dict(self) -> dict[str, Any]:
        return {"question": self.question, "answer": self.answer, "answerable": self.answerable,
                "levels": dict(self.levels), "path": self.path, "model": self.model}


def assessment_levels(a: Assessment) -> dict[str, int] | None:
    """Gives the slot levels of an assessment (aspects and overall), None when it has no aspects or no 0-4 score."""
    return score_levels(a.score, a.aspects) if a.level is not None else None


def score_levels(score: float, aspects: dict[str, float]) -> dict[str, int] | None:
    """Gives the slot levels of a 0-4 score and its aspects, None without all five aspects or a finite score."""
    if not all(k in aspects for k in ASPECTS) or not np.isfinite(score):
        return None
    return {k: level_of(aspects[k]) for k in ASPECTS} | {"overall": level_of(score)}


def vlm_descriptions(vlm: Any, images: Sequence[Any], levels: Sequence[dict[str, int] | None]) -> list[str | None]:
    """Gives the VLM's caption of each image with its slots fixed to `levels`; None where there are none (a
    baseline's score, an out-of-distribution input: no description is invented)."""
    wanted = [i for i, lv in enumerate(levels) if lv is not None]
    out: list[str | None] = [None] * len(levels)
    if wanted:
        captions = vlm.caption([images[i] for i in wanted], levels=[levels[i] for i in wanted])
        for i, cap in zip(wanted, captions, strict=True):
            out[i] = cap.text
    return out


def anatomy_note(a: Any, b: Any) -> str | None:
    """Gives the note for two images that do not show the same anatomy or size, or None when they do."""
    if not (isinstance(a, CTImage) and isinstance(b, CTImage)):
        if _size(a) != _size(b):
            return "The two images differ in size, so they are compared on image quality alone."
        return None
    if a.shape != b.shape:
        return ("The two images differ in size, so they are compared on image quality alone, not as versions of "
                "one scan.")
    da, db = (reading_display(x, 64).ravel() for x in (a, b))
    if da.std() < 1e-6 or db.std() < 1e-6 or float(np.corrcoef(da, db)[0, 1]) < SAME_ANATOMY_CORRELATION:
        return ("The two images show different anatomy, so they are compared on image quality alone, not as "
                "versions of one scan.")
    return None


def slice_pairs(a: CTImage | CTVolume, b: CTImage | CTVolume) -> tuple[list[tuple[CTImage, CTImage]], str | None]:
    """Gives the slice pairs to compare: one pair for slices; up to SERIES_PAIRS evenly spaced pairs of two equally
    long series; the middle slices otherwise (with a note)."""
    if isinstance(a, CTVolume) and isinstance(b, CTVolume) and len(a) == len(b):
        idx = np.unique(np.linspace(0, len(a) - 1, min(SERIES_PAIRS, len(a))).round().astype(int))
        return [(a.slice(int(i)), b.slice(int(i))) for i in idx], None
    note = None
    if isinstance(a, CTVolume) or isinstance(b, CTVolume):
        note = "The series differ in length, so their middle slices are compared."
    mid = (lambda v: v.slice(len(v) // 2) if isinstance(v, CTVolume) else v)  # noqa: E731
    return [(mid(a), mid(b))], note


#: Two scores of the Assessor closer than this are a tie. The reader's scale is narrow (routine and quarter dose
#: are 0.3-0.8 apart), so a gap that suits the labels' wording (0.25) would call many clear pairs ties.
SCORED_TIE_GAP = 0.05


def scored_preference(score_a: float, score_b: float, std_a: float = math.nan,
                      std_b: float = math.nan) -> tuple[float, float, float]:
    """Gives P(A better), P(B better), P(tie) from two 0-4 scores and their uncertainties: ties within
    SCORED_TIE_GAP of each other, the edge as soft as a quarter of the two uncertainties together (at least 0.02)."""
    spread = math.hypot(std_a, std_b) if math.isfinite(std_a) and math.isfinite(std_b) else 0.0
    return tuple(float(p) for p in soft_preference(score_a, score_b, gap=SCORED_TIE_GAP,
                                                   width=max(0.02, 0.25 * spread)))


def compare_images(vlm: Any, a: Any, b: Any, reference: Any = None, *,
                   judge: Callable[[list[Any], list[Any]], list[Judged]] | None = None) -> Comparison:
    """Gives the VLM's comparison of two loaded images or series (and a reference, when given).

    `judge(slices, references)` gives the Assessor's scores of slices: their levels fill the answer's level slots
    and their score gap its preference slot, so the comparison states what an assessment of each image states
    and the VLM explains it. Without `judge` the VLM's own slots decide."""
    pairs, note = slice_pairs(a, b)
    ref_slices: list[Any] = [None] * len(pairs)
    if reference is not None:
        if isinstance(reference, CTVolume):
            if isinstance(a, CTVolume) and len(reference) == len(a) and len(pairs) > 1:
                idx = np.unique(np.linspace(0, len(a) - 1, min(SERIES_PAIRS, len(a))).round().astype(int))
                ref_slices = [reference.slice(int(i)) for i in idx]
            else:
                ref_slices = [reference.slice(len(reference) // 2)] * len(pairs)
        else:
            ref_slices = [reference] * len(pairs)
        for (x, y), r in zip(pairs, ref_slices, strict=True):
            for img in (x, y):
                if _size(img) != _size(r):
                    raise InvalidParameterError(
                        "the reference differs in size from the images it should judge",
                        hint="give a reference of the same size (the same slice at full quality), or compare "
                             "without one")
    judged_a: list[Judged | None] = [None] * len(pairs)
    judged_b: list[Judged | None] = [None] * len(pairs)
    if judge is not None:
        refs = list(ref_slices) if reference is not None else []
        judged_a = list(judge([x for x, _ in pairs], refs))
        judged_b = list(judge([y for _, y in pairs], refs))
    verdicts = []
    for (x, y), r, ja, jb in zip(pairs, ref_slices, judged_a, judged_b, strict=True):
        scored = ja is not None and jb is not None and ja.levels is not None and jb.levels is not None
        verdicts.append(vlm.compare(
            x, y, reference=r, levels_a=ja.levels if scored else None, levels_b=jb.levels if scored else None,
            probabilities=scored_preference(ja.score, jb.score, ja.std, jb.std) if scored else None))
    probs = np.mean([v.probabilities for v in verdicts], axis=0)
    preferred = ("A", "B", "tie")[int(np.argmax(probs))]
    middle = verdicts[len(verdicts) // 2]
    chosen = middle if middle.preferred == preferred else next(v for v in verdicts if v.preferred == preferred) \
        if any(v.preferred == preferred for v in verdicts) else middle
    notes = tuple(n for n in (note, anatomy_note(*pairs[len(pairs) // 2]) if reference is None else None) if n)
    explanation = chosen.explanation
    if chosen.preferred != preferred:
        explanation = (f"Over {len(pairs)} slice pairs, " + ("neither series is clearly better."
                                                             if preferred == "tie" else
                                                             f"series {preferred} is preferred."))
    elif len(pairs) > 1:
        explanation = f"{explanation} (Judged over {len(pairs)} slice pairs.)"
    if notes:
        explanation = " ".join((*notes, explanation))
    own = np.mean([v.model_probabilities for v in verdicts], axis=0)
    return Comparison(preferred=preferred, probability=float(np.max(probs)), explanation=explanation,
                      with_reference=reference is not None,
                      probabilities=dict(zip(("A", "B", "tie"), (float(p) for p in probs), strict=True)),
                      model_probabilities=dict(zip(("A", "B", "tie"), (float(p) for p in own), strict=True)),
                      preference_source="scores" if judge is not None else "vlm",
                      levels_a=chosen.levels_a, levels_b=chosen.levels_b, notes=notes, n_pairs=len(pairs),
                      model=getattr(vlm, "name", "vlm"))


def _size(image: Any) -> tuple[int, ...]:
    """Gives the height and width of a slice, a photograph or an array."""
    shape = getattr(image, "shape", None)
    return tuple(shape[:2]) if shape is not None else tuple(np.shape(image)[:2])


def middle_slice(image: Any) -> Any:
    """Gives the middle slice of a series, or the image itself."""
    return image.slice(len(image) // 2) if isinstance(image, CTVolume) else image


def ask_image(vlm: Any, image: Any, question: str, *, levels: dict[str, int] | None = None) -> QuestionAnswer:
    """Gives the VLM's answer to a free question about a loaded image (the middle slice of a series); `levels`
    fixes the level slots (the Assessor's scores of that slice)."""
    if not str(question).strip():
        raise InvalidParameterError("the question is empty", hint='ask e.g. "could a 5 mm liver lesion be missed?"')
    answer = vlm.ask(middle_slice(image), str(question), levels=levels)
    return QuestionAnswer(question=str(question), answer=answer.text, answerable=answer.answerable,
                          levels=dict(answer.levels), model=getattr(vlm, "name", "vlm"))
