"""Quality labels <-> text: IQAGPT-style descriptions, a parser back to levels, DepictQA-style pair answers."""

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
from vliqa.text.templates import DescriptionContext, describe, identify_text

__all__ = [
    "IMAGE_A_TAG",
    "IMAGE_B_TAG",
    "KNOWN_DISTORTIONS",
    "REFERENCE_TAG",
    "TASKS",
    "Comparison",
    "DescriptionContext",
    "DistortionPhrase",
    "ParsedQuality",
    "answer_for",
    "compare",
    "describe",
    "identify_text",
    "parse",
    "parse_preference",
    "phrase_for",
    "question_for",
    "severity_word",
]
