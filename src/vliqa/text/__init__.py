"""Quality labels <-> text: IQAGPT-style descriptions, a parser back to levels, DepictQA-style pair answers.

Every sentence an assessment carries comes from here: `describe` for the scores, `vliqa.text.results` for
the notes around them (measures-only findings, out of distribution, baselines, table captions). Photographs get
their own wording (`describe_photo`, `identify_photo_text`; `vliqa.text.photo`), read back by the same `parse`.
"""

from vliqa.text.distortions import KNOWN_DISTORTIONS, DistortionPhrase, phrase_for, severity_word
from vliqa.text.pairs import (
    IMAGE_A_TAG,
    IMAGE_B_TAG,
    REFERENCE_TAG,
    TASKS,
    Comparison,
    answer_for,
    compare,
    question_for,
)
from vliqa.text.parser import ParsedQuality, parse, parse_preference
from vliqa.text.photo import describe_photo, identify_photo_text, photo_distortions_in
from vliqa.text.results import (
    MEASURE_PHRASES,
    cannot_assess,
    describe_overall,
    describe_own_scale,
    measures_note,
    ood_note,
    slice_caption,
    volume_caption,
)
from vliqa.text.templates import DescriptionContext, describe, identify_text

__all__ = [
    "IMAGE_A_TAG",
    "IMAGE_B_TAG",
    "KNOWN_DISTORTIONS",
    "MEASURE_PHRASES",
    "REFERENCE_TAG",
    "TASKS",
    "Comparison",
    "DescriptionContext",
    "DistortionPhrase",
    "ParsedQuality",
    "answer_for",
    "cannot_assess",
    "compare",
    "describe",
    "describe_overall",
    "describe_own_scale",
    "describe_photo",
    "identify_photo_text",
    "identify_text",
    "measures_note",
    "ood_note",
    "parse",
    "parse_preference",
    "photo_distortions_in",
    "phrase_for",
    "question_for",
    "severity_word",
    "slice_caption",
    "volume_caption",
]
