"""Free quality questions about one image and their answers from its labels (what a reader can tell by looking).

`QUESTION_KINDS` are the questions the vision-language model is taught: each has several phrasings
(`question_variants`) and an answer written from the labels (`answer_question`). Questions the image
cannot answer (a diagnosis, the patient, the scanner) get `cannot_tell` answers: image quality says
whether a finding *could be seen*, never whether it is there.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from vliqa.core import LEVEL_MEANINGS, LEVEL_NAMES, QualityLabels, level_of
from vliqa.errors import UnknownNameError

#: Where each region's lesions are asked about.
LESION_ORGANS = {"abdomen": ("liver", "kidney", "pancreas", "spleen"), "head": ("brain",),
                 "chest": ("lung", "mediastinal")}
LESION_SIZES_MM = (3, 5, 10, 20)

_VARIANTS: dict[str, tuple[str, ...]] = {
    "score": ("Give me a score for {a}.", "What score would you give {a} on the 0-4 scale?",
              "How would you rate the quality of {a}?", "Rate {a} from 0 to 4."),
    "lesion": ("Could a {size} mm {organ} lesion be missed in {a}?", "Is {a} good enough to rule out a {size} mm "
               "{organ} lesion?", "Would a {size} mm low-contrast {organ} lesion be visible in {a}?"),
    "noise": ("Is the noise in {a} acceptable?", "How noisy is {a}?", "Is {a} too noisy to read?"),
    "artifacts": ("Are there any artefacts in {a}?", "Do artefacts limit {a}?", "Is {a} free of artefacts?"),
    "smooth": ("Is {a} over-smoothed?", "Does {a} look waxy or plastic?", "Has denoising erased the texture of {a}?"),
    "sharp": ("Is {a} sharp enough to assess fine detail?", "Are edges in {a} blurred?", "How sharp is {a}?"),
    "limit": ("What limits the quality of {a}?", "What is the main problem with {a}?",
              "Which aspect of {a} is worst?"),
    "repeat": ("Should the scan of {a} be repeated?", "Is {a} diagnostic, or does it need a new acquisition?"),
}
#: Questions no quality assessment can answer, and why (the second half of the "cannot tell" answer).
_UNANSWERABLE: tuple[tuple[str, str], ...] = (
    ("Does the patient in {a} have cancer?", "a diagnosis needs a reading by a radiologist, not a quality assessment"),
    ("What is the diagnosis for {a}?", "a diagnosis needs a reading by a radiologist, not a quality assessment"),
    ("Is there a fracture in {a}?", "a finding needs a reading by a radiologist, not a quality assessment"),
    ("Is the lesion in {a} malignant?", "malignancy is a diagnosis, not a matter of image quality"),
    ("How old is the patient in {a}?", "the image does not say who the patient is"),
    ("Is the patient in {a} male or female?", "the image does not say who the patient is"),
    ("What is the patient's name in {a}?", "the image does not say who the patient is"),
    ("Which scanner made {a}?", "the pixels do not name the scanner; the DICOM header may"),
    ("Which hospital scanned {a}?", "the pixels do not name the site; the DICOM header may"),
    ("What medication should the patient of {a} take?", "treatment is a clinical decision, not a quality question"),
    ("When was {a} acquired?", "the pixels carry no date; the DICOM header may"),
    ("Will the patient in {a} recover?", "a prognosis is a clinical judgement, not a matter of image quality"),
)
QUESTION_KINDS = (*_VARIANTS, "unanswerable")
CANNOT_TELL = "I cannot tell from this image"


@dataclass(frozen=True)
class Question:
    """One question: its kind, text (with the image tag `{a}` filled) and parameters (lesion size and organ)."""

    kind: str
    text: str
    size_mm: int | None = None
    organ: str | None = None
    #: the "cannot tell" reason of an unanswerable question
    reason: str | None = None


def question_variants(kind: str) -> tuple[str, ...]:
    """Gives the phrasings of a question kind (`{a}` marks the image, lesion questions add `{size}` and `{organ}`)."""
    if kind == "unanswerable":
        return tuple(q for q, _ in _UNANSWERABLE)
    if kind not in _VARIANTS:
        raise UnknownNameError(f"unknown question kind '{kind}'", hint=f"use one of {', '.join(QUESTION_KINDS)}")
    return _VARIANTS[kind]


def sample_question(kind: str, rng: random.Random, *, image: str = "this image", region: str | None = None) -> Question:
    """Gives a random question of `kind` about `image` (lesion organs follow `region`, any region when None)."""
    if kind == "unanswerable":
        text, reason = rng.choice(_UNANSWERABLE)
        return Question(kind, text.format(a=image), reason=reason)
    template = rng.choice(question_variants(kind))
    if kind != "lesion":
        return Question(kind, template.format(a=image))
    organs = LESION_ORGANS.get(region or "", tuple(o for v in LESION_ORGANS.values() for o in v))
    size, organ = rng.choice(LESION_SIZES_MM), rng.choice(organs)
    return Question(kind, template.format(a=image, size=size, organ=organ), size_mm=size, organ=organ)


def _verdict(labels: QualityLabels, region: str | None = None) -> str:
    n = level_of(labels.overall)
    if region == "photo":  # the LDCTIQAC meanings speak of anatomy
        return f"the overall quality is {LEVEL_NAMES[n]} ({n} of 4)"
    return f"the overall quality is {LEVEL_NAMES[n]} ({n} of 4): {LEVEL_MEANINGS[n]}"


def _level(labels: QualityLabels, aspect: str) -> int:
    return level_of(labels.aspects[aspect])


def _worst(labels: QualityLabels) -> str:
    return min(labels.aspects, key=lambda a: (float(labels.aspects[a]), a))


#: Level of the limiting aspect needed to see a low-contrast lesion of each size (smaller lesions need more).
_NEEDED_LEVEL = {3: 4, 5: 3, 10: 2, 20: 1}


def answer_question(question: Question, labels: QualityLabels, *, region: str | None = None) -> str:
    """Gives the answer to `question` from the image's `labels` (`region`: the body region the image shows)."""
    kind = question.kind
    verdict = _verdict(labels, region)
    if kind == "unanswerable":
        return f"{CANNOT_TELL}: {question.reason}. Its image quality is what I can judge; {verdict}."
    if kind == "score":
        return f"{verdict.capitalize()}."
    if kind == "lesion":
        organs = LESION_ORGANS.get(region or "")
        if organs is not None and question.organ not in organs:
            return (f"{CANNOT_TELL}: the image shows the {region}, not the {question.organ}, so I cannot judge "
                    f"lesions there. {verdict.capitalize()}.")
        limiting = min(("noise", "contrast", "texture", "sharpness"), key=lambda a: (_level(labels, a), a))
        lv = _level(labels, limiting)
        size = int(question.size_mm or 10)
        if lv >= _NEEDED_LEVEL.get(size, 2):
            return (f"A {size} mm low-contrast lesion should be visible: {limiting} is {LEVEL_NAMES[lv]}, "
                    f"and {verdict}. Whether a lesion is there needs a reading by a radiologist.")
        return (f"Yes, it could be missed: {limiting} is only {LEVEL_NAMES[lv]}, which hides low-contrast detail "
                f"of {size} mm. Do not use this image to rule such a lesion out; {verdict}.")
    if kind in ("noise", "artifacts", "smooth", "sharp"):
        aspect = {"noise": "noise", "artifacts": "artifacts", "smooth": "texture", "sharp": "sharpness"}[kind]
        lv = _level(labels, aspect)
        good = lv >= 3
        noun = {"noise": "the noise level", "artifacts": "artefacts", "texture": "the texture",
                "sharpness": "sharpness"}[aspect]
        opening = {("noise", True): "The noise is acceptable", ("noise", False): "The image is too noisy",
                   ("artifacts", True): "No artefact limits reading", ("artifacts", False): "Artefacts limit reading",
                   ("texture", True): "The texture looks natural", ("texture", False): "The image looks over-smoothed",
                   ("sharpness", True): "Edges are sharp", ("sharpness", False): "Edges are blurred"}[aspect, good]
        verb = "are" if aspect == "artifacts" else "is"
        return f"{opening}: {noun} {verb} {LEVEL_NAMES[lv]} ({lv} of 4), and {verdict}."
    if kind == "limit":
        worst = _worst(labels)
        lv = _level(labels, worst)
        if lv >= 4:
            return f"Nothing limits it: every aspect is excellent, and {verdict}."
        noun = {"artifacts": "artefacts"}.get(worst, worst)
        return f"The main limitation is {noun}, which is {LEVEL_NAMES[lv]} ({lv} of 4); {verdict}."
    if kind == "repeat":
        n = level_of(labels.overall)
        if n <= 1:
            return (f"From image quality alone, a repeat is worth considering: {verdict}. The decision "
                    "rests with the radiologist.")
        return f"Image quality does not call for a repeat: {verdict}."
    raise UnknownNameError(f"unknown question kind '{kind}'", hint=f"use one of {', '.join(QUESTION_KINDS)}")
