"""The Assessor's language side: descriptions from the quality VLM, A/B comparisons and free questions.

Descriptions keep the Assessment's numbers: the VLM's level slots are fixed to the assessment's aspect
and overall levels, and the text is decoded conditioned on them. Comparisons and answers are the VLM's,
with what a reader should know added: images of different anatomy or size are compared on quality alone.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from vliqa.assessment.schema import Assessment
from vliqa.core import ASPECTS, CTImage, CTVolume, level_of
from vliqa.errors import InvalidParameterError
from vliqa.models.reader_features import reading_display

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

    def to_dict(self) -> dict[str, Any]:
        return {"preferred": self.preferred, "probability": round(float(self.probability), 4),
                "explanation": self.explanation, "with_reference": self.with_reference,
                "probabilities": {k: round(float(v), 4) for k, v in self.probabilities.items()},
                "levels_a": dict(self.levels_a), "levels_b": dict(self.levels_b), "notes": list(self.notes),
                "a": self.path_a, "b": self.path_b, "reference": self.reference, "n_pairs": self.n_pairs,
                "model": self.model, "assessable": self.assessable}


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
        if np.shape(a)[:2] != np.shape(b)[:2]:
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


def compare_images(vlm: Any, a: Any, b: Any, reference: Any = None, *,
                   levels: Callable[[list[Any], list[Any]], list[dict[str, int] | None]] | None = None) -> Comparison:
    """Gives the VLM's comparison of two loaded images or series (and a reference, when given).

    `levels(slices, references)` gives the slot levels of slices (the Assessor's scores), fixed in the answer so
    the comparison states the levels an assessment of each image states."""
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
                if np.shape(getattr(img, "hu", img))[:2] != np.shape(getattr(r, "hu", r))[:2]:
                    raise InvalidParameterError(
                        "the reference differs in size from the images it should judge",
                        hint="give a reference of the same size (the same slice at full quality), or compare "
                             "without one")
    fixed_a: list[Any] = [None] * len(pairs)
    fixed_b: list[Any] = [None] * len(pairs)
    if levels is not None:
        refs = list(ref_slices) if reference is not None else []
        fixed_a = levels([x for x, _ in pairs], refs)
        fixed_b = levels([y for _, y in pairs], refs)
    verdicts = [vlm.compare(x, y, reference=r, levels_a=la, levels_b=lb)
                for (x, y), r, la, lb in zip(pairs, ref_slices, fixed_a, fixed_b, strict=True)]
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
    return Comparison(preferred=preferred, probability=float(np.max(probs)), explanation=explanation,
                      with_reference=reference is not None,
                      probabilities=dict(zip(("A", "B", "tie"), (float(p) for p in probs), strict=True)),
                      levels_a=chosen.levels_a, levels_b=chosen.levels_b, notes=notes, n_pairs=len(pairs),
                      model=getattr(vlm, "name", "vlm"))


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
