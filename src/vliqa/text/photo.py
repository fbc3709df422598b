"""Quality labels of a photograph -> words: `describe_photo`, `identify_photo_text`, `photo_distortions_in`.

The CT describer's habits (seeded choice among phrasings, worst aspect first, the overall verdict last) with
photo wording from `vliqa.text.photo_phrases`. Every aspect is stated (each impaired one in its own sentence,
the fine ones together), so `vliqa.text.parse` reads all five aspect levels and the overall level back.
"""

from __future__ import annotations

import random
import re

from vliqa.core import ASPECTS, LEVEL_NAMES, Distortion, QualityLabels, level_of
from vliqa.errors import InvalidParameterError
from vliqa.simulate.photo import PHOTO_DISTORTIONS
from vliqa.text import phrases as P
from vliqa.text.distortions import phrase_for, severity_word
from vliqa.text.keywords import normalise
from vliqa.text.photo_phrases import (
    GENERIC_PHOTO_ARTIFACT,
    PHOTO_ASPECT_TEMPLATES,
    PHOTO_DISTORTION_PHRASES,
    PHOTO_LEVEL_MEANINGS,
    PHOTO_VERDICTS,
    PhotoDistortionPhrase,
)

_COMPILED = {name: re.compile(p.pattern) for name, p in PHOTO_DISTORTION_PHRASES.items()}


def photo_phrase_for(name: str) -> PhotoDistortionPhrase:
    """Gives the words of photo distortion `name`; other names (CT degradations, unknown) get their CT phrases."""
    known = PHOTO_DISTORTION_PHRASES.get(name)
    if known is not None:
        return known
    ct = phrase_for(name)
    return PhotoDistortionPhrase(name, ct.noun, ct.causes, ct.artifact, ct.pattern)


def _aspects_of(name: str) -> tuple[str, ...]:
    spec = PHOTO_DISTORTIONS.get(name)
    return tuple(spec.aspects) if spec is not None else phrase_for(name).aspects


def _worst_distortion_for(aspect: str, distortions: tuple[Distortion, ...]) -> Distortion | None:
    candidates = [d for d in distortions if aspect in _aspects_of(d.name)]
    return max(candidates, key=lambda d: float(d.severity), default=None)


def _aspect_sentence(aspect: str, labels: QualityLabels, rng: random.Random) -> str:
    level = level_of(labels.aspects[aspect])
    dist = _worst_distortion_for(aspect, labels.distortions)
    phrase = photo_phrase_for(dist.name) if dist is not None else None
    cause = f" {rng.choice(('from', 'due to'))} {rng.choice(phrase.causes)}" if phrase is not None and level < 4 \
        else ""
    artifact = phrase.artifact if phrase is not None and phrase.artifact else rng.choice(GENERIC_PHOTO_ARTIFACT)
    text = rng.choice(PHOTO_ASPECT_TEMPLATES[aspect][level]).format(cause=cause, artifact=artifact)
    return text[:1].upper() + text[1:]


def _fine_sentence(aspects: list[str], rng: random.Random) -> str:
    template = rng.choice(P.FINE_GROUP)
    joiner = "or" if template.startswith(("No concerns", "There is no")) else "and"
    text = template.format(aspects=_join([P.ASPECT_NOUNS[a] for a in aspects], joiner))
    return text[:1].upper() + text[1:]


def photo_verdict(overall: float, rng: random.Random) -> str:
    """Gives the closing sentence: the overall level word, number and what it means for a photo."""
    n = level_of(overall)
    return rng.choice(PHOTO_VERDICTS).format(word=LEVEL_NAMES[n], n=n, meaning=PHOTO_LEVEL_MEANINGS[n])


def describe_photo(labels: QualityLabels, *, seed: int = 0, style: str = "caption") -> str:
    """Gives a description of a photo's labels: impaired aspects worst first, the fine ones in one sentence,
    then the overall verdict ("caption"); or one graded line per aspect, the distortions and an impression
    ("report")."""
    if style not in ("caption", "report"):
        raise InvalidParameterError(f"unknown description style '{style}'", hint="use 'caption' or 'report'")
    rng = random.Random(int(seed))
    order = sorted(ASPECTS, key=lambda a: (float(labels.aspects[a]), ASPECTS.index(a)))
    if style == "report":
        lines = ["Findings:"]
        for a in order:
            level = level_of(labels.aspects[a])
            lines.append(f"{P.ASPECT_TITLES[a]} ({LEVEL_NAMES[level]}, {level}/4): {_aspect_sentence(a, labels, rng)}")
        lines.append(f"Distortions: {identify_photo_text(labels, seed=rng.randrange(1 << 30))}")
        lines.append(f"Impression: {photo_verdict(labels.overall, rng)}")
        return "\n".join(lines)
    impaired = [a for a in order if level_of(labels.aspects[a]) < 4]
    fine = [a for a in order if level_of(labels.aspects[a]) == 4]
    sentences = [_aspect_sentence(a, labels, rng) for a in impaired]
    if fine:
        sentences.append(_fine_sentence(fine, rng))
    sentences.append(photo_verdict(labels.overall, rng))
    return " ".join(sentences)


def identify_photo_text(labels: QualityLabels, *, seed: int = 0) -> str:
    """Gives one sentence naming the distortions present, most severe first, with severity words."""
    rng = random.Random(int(seed))
    present = sorted(labels.distortions, key=lambda d: -float(d.severity))
    if not present:
        if level_of(labels.overall) >= 4:
            return rng.choice(("No distortion is visible in the photo.", "The photo shows no visible distortion."))
        return rng.choice(("No specific distortion can be identified in the photo.",
                           "No specific distortion is identified, although the photo's quality is reduced."))
    listing = _join([f"{severity_word(d.severity)} {photo_phrase_for(d.name).noun}" for d in present], "and")
    return rng.choice(("The photo shows {x}.", "Distortions present: {x}.", "Visible distortions are {x}.")).format(
        x=listing)


def photo_distortions_in(text: str) -> tuple[str, ...]:
    """Gives the photo distortion names (`PHOTO_DISTORTIONS`) a text mentions, in order of first mention."""
    t = normalise(text)
    hits = sorted((m.start(), name) for name, rx in _COMPILED.items() if (m := rx.search(t)))
    return tuple(name for _, name in hits)


def _join(items: list[str], conjunction: str) -> str:
    if len(items) <= 1:
        return "".join(items)
    return f"{', '.join(items[:-1])} {conjunction} {items[-1]}"
