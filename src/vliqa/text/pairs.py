"""Image pairs, DepictQA style: questions with image tags, A/B comparisons with reasons, and answers.

Questions carry tags (`IMAGE_A_TAG`, `IMAGE_B_TAG`, `REFERENCE_TAG`) where a
multi-image model inserts each image's tokens. `compare` says which of two
labelled images is better and why, aspect by aspect, naming each image's
distortion; `parse_preference` (in `vliqa.text.parser`) reads the choice back.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Literal

from vliqa.core import ASPECTS, LEVEL_NAMES, QualityLabels, level_of
from vliqa.errors import InvalidParameterError, UnknownNameError
from vliqa.text import phrases as P
from vliqa.text.templates import AspectSlots, DescriptionContext, aspect_slots, describe, fill, identify_text

IMAGE_A_TAG = "<image_A>"
IMAGE_B_TAG = "<image_B>"
REFERENCE_TAG = "<image_ref>"
TASKS = ("describe", "compare", "identify", "reason")
Preference = Literal["A", "B", "tie"]

#: task -> phrasings; single-image tasks ask about image A.
_QUESTIONS: dict[str, tuple[str, ...]] = {
    "describe": ("Describe the quality of {a}.",
                 "How good is the image quality of {a}? Comment on noise, artefacts, sharpness, contrast and texture.",
                 "Assess {a} for diagnostic image quality and explain what limits it."),
    "compare": ("Which image has better quality, {a} or {b}?",
                "Compare {a} and {b}: which one would you rather read?",
                "Of {a} and {b}, which is of higher diagnostic quality?"),
    "identify": ("Which distortions are present in {a}?",
                 "Identify the degradations visible in {a}.",
                 "What kinds of distortion affect {a}, and how severe are they?"),
    "reason": ("Which of {a} and {b} is better, and why? Compare them aspect by aspect.",
               "Explain which image, {a} or {b}, has better quality, naming the distortions in each.",
               "Judge {a} against {b}: say which is preferred and give the reasons."),
}
_WITH_REFERENCE = ("Taking {r} as the full-quality reference, ", "Relative to the reference {r}, ",
                   "With {r} as the reference, ")


@dataclass(frozen=True)
class Comparison:
    """Which of two images is better ("A", "B" or "tie"), the answer text, and one reason per differing aspect."""

    preferred: Preference
    text: str
    reasons: tuple[str, ...]
    #: the closing sentence alone (the short answer to a "compare" question)
    verdict: str = ""


def question_for(task: str, *, with_reference: bool, seed: int = 0) -> str:
    """Gives a question for `task` ("describe", "compare", "identify", "reason") with image tags in place."""
    if task not in _QUESTIONS:
        raise UnknownNameError(f"unknown question task '{task}'", hint=f"use one of {', '.join(TASKS)}")
    rng = random.Random(int(seed))
    question = rng.choice(_QUESTIONS[task]).format(a=IMAGE_A_TAG, b=IMAGE_B_TAG)
    if with_reference:
        prefix = rng.choice(_WITH_REFERENCE).format(r=REFERENCE_TAG)
        question = prefix + question[:1].lower() + question[1:]
    return question


def compare(
    labels_a: QualityLabels,
    labels_b: QualityLabels,
    context: DescriptionContext | None = None,
    *,
    with_reference: bool,
    seed: int = 0,
    tie_threshold: float = 0.25,
) -> Comparison:
    """Gives the preferred image of a pair (tie when overall scores differ by less than `tie_threshold`) and why."""
    if tie_threshold < 0:
        raise InvalidParameterError(f"tie_threshold must be >= 0, got {tie_threshold}")
    rng = random.Random(int(seed))
    ctx = context or DescriptionContext()
    slots = {"A": {a: aspect_slots(a, labels_a, ctx, rng) for a in ASPECTS},
             "B": {a: aspect_slots(a, labels_b, ctx, rng) for a in ASPECTS}}
    gap = float(labels_a.overall) - float(labels_b.overall)
    preferred: Preference = "tie" if abs(gap) < tie_threshold else ("A" if gap > 0 else "B")

    # Aspects whose level differs, the largest score difference first.
    differing = [a for a in ASPECTS if slots["A"][a].level != slots["B"][a].level]
    differing.sort(key=lambda a: -abs(float(labels_a.aspects[a]) - float(labels_b.aspects[a])))
    states = {(img, a): _state(slots[img][a], rng) for img in ("A", "B") for a in differing}
    reasons = tuple(f"{a}: image A {states['A', a]} ({slots['A'][a].level}/4); "
                    f"image B {states['B', a]} ({slots['B'][a].level}/4)" for a in differing)

    sentences = []
    opening = rng.choice(("Compared with the reference, ", "Relative to the reference image, ",
                          "Against the reference, ") if with_reference else ("", "Judged on their own, "))
    for i, a in enumerate(differing[:3]):
        joiner = rng.choice((", while", ", whereas", "; by contrast,"))
        body = f"image A {states['A', a]}{joiner} image B {states['B', a]}"
        sentences.append(_capital((opening if i == 0 else "") + body) + ".")
    if not differing:
        sentences.append(_capital(opening + "both images look alike aspect by aspect, "
                                  f"each {LEVEL_NAMES[level_of(labels_a.overall)]} in overall quality."))
    verdict = _verdict(preferred, labels_a, labels_b, slots, differing, with_reference, rng)
    sentences.append(verdict)
    return Comparison(preferred=preferred, text=" ".join(sentences), reasons=reasons, verdict=verdict)


def answer_for(
    task: str,
    labels_a: QualityLabels,
    labels_b: QualityLabels | None = None,
    context: DescriptionContext | None = None,
    *,
    with_reference: bool,
    seed: int = 0,
) -> str:
    """Gives the answer text to `question_for(task, ...)` about image A (and B for pair tasks)."""
    if task not in _QUESTIONS:
        raise UnknownNameError(f"unknown question task '{task}'", hint=f"use one of {', '.join(TASKS)}")
    if task == "describe":
        return describe(labels_a, context, seed=seed)
    if task == "identify":
        return identify_text(labels_a, seed=seed)
    if labels_b is None:
        raise InvalidParameterError(f"task '{task}' compares two images; pass labels_b")
    result = compare(labels_a, labels_b, context, with_reference=with_reference, seed=seed)
    return result.verdict if task == "compare" else result.text


def _state(slots: AspectSlots, rng: random.Random) -> str:
    if slots.aspect == "texture" and slots.level < 4:
        bank = P.STATES_TEXTURE_SMOOTH if slots.texture_family == "smooth" else P.STATES_TEXTURE_COARSE
        options = bank[slots.level]
    else:
        options = P.STATES[slots.aspect][slots.level]
    text = fill(rng.choice(options), slots)
    return text[:1].lower() + text[1:]


def _verdict(preferred: Preference, labels_a: QualityLabels, labels_b: QualityLabels,
             slots: dict[str, dict[str, AspectSlots]], differing: list[str], with_reference: bool,
             rng: random.Random) -> str:
    if preferred == "tie":
        a_better = [a for a in differing if slots["A"][a].level > slots["B"][a].level]
        b_better = [a for a in differing if slots["B"][a].level > slots["A"][a].level]
        if a_better and b_better:
            why = f"{_about('A', P.BETTER[a_better[0]])}, but {_about('B', P.BETTER[b_better[0]])}"
        else:
            why = (f"both are {LEVEL_NAMES[level_of(labels_a.overall)]}"
                   if level_of(labels_a.overall) == level_of(labels_b.overall)
                   else f"image A is {LEVEL_NAMES[level_of(labels_a.overall)]} and image B "
                        f"{LEVEL_NAMES[level_of(labels_b.overall)]}, too close to call")
        return rng.choice(("Neither image is clearly better: {w}.", "It is a tie: {w}.",
                           "The two images are of similar quality overall, so this is a tie: {w}.")).format(w=why)
    loser = "B" if preferred == "A" else "A"
    wins = [a for a in differing if slots[preferred][a].level > slots[loser][a].level]
    losses = [a for a in differing if slots[preferred][a].level < slots[loser][a].level]
    if wins:
        because = " and ".join(P.BETTER[a] for a in wins[:2])
    else:
        w, lo = (labels_a, labels_b) if preferred == "A" else (labels_b, labels_a)
        because = (f"its overall score is higher ({float(w.overall):.1f} against {float(lo.overall):.1f} on the 0-4 "
                   "scale)")
    if losses:
        because += f", although {P.WORSE[losses[0]]}"
    if with_reference:
        options = ("Image {x} is closer to the reference and is preferred, because {c}.",
                   "Image {x} is preferred because {c}.", "{x} is the better image, since {c}.")
    else:
        options = ("Image {x} is preferred because {c}.", "Overall, image {x} is better: {c}.",
                   "{x} is the better image, since {c}.")
    return rng.choice(options).format(x=preferred, c=because)


def _about(image: str, phrase: str) -> str:
    # "it is sharper" -> "image B is sharper"; "its texture ..." -> "image B's texture ..."
    if phrase.startswith("its "):
        return f"image {image}'s {phrase[4:]}"
    return f"image {image} {phrase[3:]}" if phrase.startswith("it ") else phrase


def _capital(text: str) -> str:
    return text[:1].upper() + text[1:]
