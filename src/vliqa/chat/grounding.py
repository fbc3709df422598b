"""Checks what a chat answer says about overall quality against the Assessment it is grounded on.

A small LLM misstates facts it was given (SmolLM2-135M, told "2.1 of 4 (fair)", answered "The score is 1.1"),
so every overall score ("3/4", "2.5 out of 4") or level word ("good", "poor") an answer states about the image
is read back and compared with the Assessment's; a contradiction gets a note the user cannot miss.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from vliqa.assessment import Assessment, VolumeAssessment
from vliqa.core import LEVEL_MEANINGS, LEVEL_NAMES, level_of
from vliqa.text.keywords import normalise

#: A stated score is consistent with the Assessment's within this many points of the 0-4 scale (its level's width).
SCORE_TOLERANCE = 0.5

_SENTENCE_END = re.compile(r"(?<=[.!?;])\s+")
_SCORE = re.compile(r"(?<![\d.])([0-4](?:\.\d{1,2})?)\s*(?:/|out of|of)\s*4(?:\.0+)?(?!\.?\d)")
_LEVEL_WORD = re.compile(r"\b(" + "|".join(LEVEL_NAMES.values()) + r")\b")
_NEGATION = re.compile(r"(?:\bnot|\bnever|n't|\bno longer)\s+(?:\w+\s+){0,2}$")
#: A sentence with one of these is about the whole image's quality.
_OVERALL_CUE = re.compile(r"\boverall\b|\bimage quality\b|\bquality of (?:the|this) (?:image|scan|series|slice|study)"
                          r"|\bquality (?:is|was|would be)\b|\bscores?\b|\bscored\b|\brated\b|\bgraded?\b|\brating\b"
                          r"|\b(?:image|scan|series|slice|study) (?:is|looks|appears|seems) (?:of )?(?:\w+ )?"
                          r"(?:quality|" + "|".join(LEVEL_NAMES.values()) + r")\b")
#: A sentence naming one of these (and not "overall") is about an aspect, a slice or a region, not the whole image.
_PART = re.compile(r"\b(?:nois\w*|grain\w*|artefacts?|artifacts?|streak\w*|rings?|sharp\w*|blur\w*|contrast\w*"
                   r"|textur\w*|smooth\w*|slices? \d+|worst|best slice|region|lesions?)\b")


@dataclass(frozen=True)
class GroundingCheck:
    """What an answer states about overall quality and whether it contradicts the Assessment.

    `stated`: the words stating it ("3/4", "good"), None when the answer states no overall score or level;
    `stated_score`: that statement on the 0-4 scale (a level word gives its level)."""

    assessed_score: float | None
    assessed_level: str | None
    stated: str | None = None
    stated_score: float | None = None
    contradiction: bool = False

    def note(self, kind: str = "image") -> str | None:
        """Gives the note to append to a contradicting answer, or None when it agrees or states nothing."""
        if not self.contradiction or self.assessed_score is None:
            return None
        return (f"Note: the assessment scores this {kind} {self.assessed_score:.2f} of 4 ({self.assessed_level}); "
                f"the answer above says {self.stated}.")


def overall_of(assessment: Assessment | VolumeAssessment) -> tuple[float | None, str | None]:
    """Gives the overall 0-4 score and level word of an assessment (a series: its mean), or (None, None) when it has
    none (a baseline's own scale, every slice out of distribution)."""
    if isinstance(assessment, VolumeAssessment):
        scale = assessment.slices[0].scale if assessment.slices else None
        score = assessment.summary.mean
    else:
        scale, score = assessment.scale, assessment.score
    if scale != "0-4" or score is None or not math.isfinite(score):
        return None, None
    return float(score), LEVEL_NAMES[level_of(score)]


def level_meaning(score: float) -> str:
    """Gives what a 0-4 score's level means for a reader ("clinical interpretation is limited")."""
    return LEVEL_MEANINGS[level_of(score)]


def stated_overall(text: str) -> list[tuple[str, float]]:
    """Gives every (words, 0-4 value) a text states about overall quality: "N/4", "N of 4", "N out of 4", and level
    words in sentences about the whole image. Sentences about an aspect, a slice or a region are left out (so is a
    Markdown section whose heading names one, and table rows), and a negated level word ("not good") states nothing.
    """
    found: list[tuple[str, float]] = []
    section_is_part = False
    for line in normalise(text).split("\n"):
        if line.startswith("#"):
            section_is_part = bool(_PART.search(line)) and "overall" not in line
            continue
        if section_is_part or line.startswith("|"):
            continue
        for sentence in _SENTENCE_END.split(line):
            found += _sentence_claims(sentence)
    return found


def _sentence_claims(sentence: str) -> list[tuple[str, float]]:
    if not sentence.strip() or (_PART.search(sentence) and "overall" not in sentence):
        return []
    numbers = [(m.group(0), float(m.group(1))) for m in _SCORE.finditer(sentence)]
    if numbers or not _OVERALL_CUE.search(sentence):
        return numbers
    claims = []
    for m in _LEVEL_WORD.finditer(sentence):
        if not _NEGATION.search(sentence[: m.start()]):
            claims.append((m.group(1), float(next(k for k, v in LEVEL_NAMES.items() if v == m.group(1)))))
    return claims


def check_answer(text: str, assessment: Assessment | VolumeAssessment) -> GroundingCheck:
    """Gives what `text` states about overall quality and whether it contradicts `assessment`: a stated score more
    than SCORE_TOLERANCE away from the assessed one, or a level word other than the assessed level."""
    score, level = overall_of(assessment)
    claims = stated_overall(text)
    if score is None or not claims:
        return GroundingCheck(score, level, *(claims[0] if claims else (None, None)))
    for words, value in claims:
        is_number = any(ch.isdigit() for ch in words)
        wrong = abs(value - score) > SCORE_TOLERANCE + 1e-9 if is_number else level_of(value) != level_of(score)
        if wrong:
            return GroundingCheck(score, level, words, value, contradiction=True)
    return GroundingCheck(score, level, *claims[0])
