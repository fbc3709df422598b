"""Quality labels -> descriptions (IQAGPT style): seeded choice among phrasings, worst aspects first.

`describe` writes a caption (2-5 sentences) or a structured report (one paragraph
per aspect, then the distortions and an impression); `identify_text` lists the
distortions. The same phrase bank (`vliqa.text.phrases`) is what `vliqa.text.parse`
reads back.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass
from typing import Literal

from vliqa.core import ASPECTS, LEVEL_MEANINGS, LEVEL_NAMES, Distortion, QualityLabels, level_of
from vliqa.errors import InvalidParameterError
from vliqa.text import phrases as P
from vliqa.text.distortions import DistortionPhrase, phrase_for, severity_word

Style = Literal["caption", "report"]
BODY_REGIONS = ("abdomen", "chest", "head")
#: Captions hold at most this many aspect sentences before the verdict (so 2-5 sentences in all).
MAX_CAPTION_ASPECT_SENTENCES = 4
_SOFT_TISSUE_ASPECTS = ("noise", "contrast", "texture")
_BONE = re.compile(r"spine|vertebra|rib|skull|pelvi|femur|bone|sternum|calvari|clavicle|scapula|humerus")


@dataclass(frozen=True)
class DescriptionContext:
    """What the slice shows, so descriptions can say where: body region, organs present, display window."""

    body_region: str | None = None
    #: anatomy words present in the slice ("liver", "right kidney", "spine", "lung", "posterior fossa")
    organs: tuple[str, ...] = ()
    window_name: str | None = None

    def __post_init__(self) -> None:
        if self.body_region is not None and self.body_region not in BODY_REGIONS:
            raise InvalidParameterError(
                f"unknown body region '{self.body_region}'", hint=f"use one of {', '.join(BODY_REGIONS)} or None"
            )
        object.__setattr__(self, "organs", tuple(str(o).strip() for o in self.organs if str(o).strip()))


@dataclass(frozen=True)
class AspectSlots:
    """The filled slots for one aspect sentence: level, cause, where, artefact noun, texture family."""

    aspect: str
    level: int
    cause: str
    where: str
    in_where: str
    artifact: str
    texture_family: str
    distortion: DistortionPhrase | None


def describe(
    labels: QualityLabels, context: DescriptionContext | None = None, *, seed: int = 0, style: Style = "caption"
) -> str:
    """Gives a description of `labels` in words: worst aspects first, then the overall verdict."""
    if style not in ("caption", "report"):
        raise InvalidParameterError(f"unknown description style '{style}'", hint="use 'caption' or 'report'")
    rng = random.Random(int(seed))
    ctx = context or DescriptionContext()
    order = aspects_worst_first(labels)
    slots = {a: aspect_slots(a, labels, ctx, rng) for a in order}
    if style == "report":
        return _report(labels, order, slots, rng)
    impaired = [a for a in order if slots[a].level < 4]
    fine = [a for a in order if slots[a].level == 4]
    sentences = [aspect_sentence(slots[a], rng) for a in impaired[:MAX_CAPTION_ASPECT_SENTENCES]]
    # Fine aspects get one brief sentence, sometimes none when something else is worth the words.
    room = len(sentences) < MAX_CAPTION_ASPECT_SENTENCES
    if fine and room and (not impaired or rng.random() >= 0.25):
        sentences.append(fine_sentence(fine, rng))
    sentences.append(verdict_sentence(labels.overall, rng))
    return " ".join(sentences)


def aspects_worst_first(labels: QualityLabels) -> list[str]:
    """Gives the aspect names sorted from the lowest score to the highest (ties in ASPECTS order)."""
    return sorted(ASPECTS, key=lambda a: (float(labels.aspects[a]), ASPECTS.index(a)))


def aspect_slots(aspect: str, labels: QualityLabels, ctx: DescriptionContext, rng: random.Random) -> AspectSlots:
    """Gives the slot values for one aspect's sentence, drawn from `rng`."""
    level = level_of(labels.aspects[aspect])
    dist = _worst_distortion_for(aspect, labels.distortions)
    phrase = phrase_for(dist.name) if dist is not None else None
    cause = ""
    if phrase is not None and level < 4:
        cause = f" {rng.choice(('from', 'due to'))} {rng.choice(phrase.causes)}"
    if aspect == "artifacts" and dist is not None and dist.region:
        where = _the(dist.region)
    else:
        where = _where(ctx, rng, aspect)
    in_where = f" in {where}" if (ctx.organs or ctx.body_region) else ""
    artifact = phrase.artifact if phrase is not None and phrase.artifact else rng.choice(P.GENERIC_ARTIFACT)
    if phrase is not None and phrase.texture_family:
        family = phrase.texture_family
    else:
        # Without a known cause, texture worse than noise means the image was smoothed, not left grainy.
        family = "smooth" if level_of(labels.aspects["noise"]) > level else "coarse"
    return AspectSlots(aspect, level, cause, where, in_where, artifact, family, phrase)


def aspect_templates(slots: AspectSlots) -> tuple[str, ...]:
    """Gives the templates that fit an aspect at its level (texture: of its family)."""
    if slots.aspect == "texture" and slots.level < 4:
        bank = P.TEXTURE_SMOOTH if slots.texture_family == "smooth" else P.TEXTURE_COARSE
        return bank[slots.level]
    return P.ASPECT_TEMPLATES[slots.aspect][slots.level]


def aspect_sentence(slots: AspectSlots, rng: random.Random) -> str:
    """Gives one sentence about an aspect at its level, phrasing chosen by `rng`."""
    return fill(rng.choice(aspect_templates(slots)), slots)


def fill(template: str, slots: AspectSlots, **extra: str) -> str:
    """Gives `template` with its slots filled from `slots`, first letter capitalised."""
    text = template.format(cause=slots.cause, where=slots.where, in_where=slots.in_where, artifact=slots.artifact,
                           **extra)
    return text[:1].upper() + text[1:]


def fine_sentence(aspects: list[str], rng: random.Random) -> str:
    """Gives one brief sentence saying the given aspects are fine (level 4)."""
    names = _join([P.ASPECT_NOUNS[a] for a in aspects], "and")
    template = rng.choice(P.FINE_GROUP)
    if template.startswith("No concerns") or template.startswith("There is no"):
        names = _join([P.ASPECT_NOUNS[a] for a in aspects], "or")
    text = template.format(aspects=names)
    return text[:1].upper() + text[1:]


def verdict_sentence(overall: float, rng: random.Random) -> str:
    """Gives the closing sentence stating the overall level word, number and meaning."""
    n = level_of(overall)
    return rng.choice(P.VERDICTS).format(word=LEVEL_NAMES[n], n=n, meaning=LEVEL_MEANINGS[n])


def identify_text(labels: QualityLabels, *, seed: int = 0) -> str:
    """Gives one sentence listing the distortions present, most severe first, with severity words."""
    rng = random.Random(int(seed))
    present = sorted(labels.distortions, key=lambda d: -float(d.severity))
    if not present:
        if level_of(labels.overall) >= 4:
            return rng.choice(("No distortion is visible.", "The image shows no visible distortion."))
        return rng.choice(("No specific distortion can be identified.",
                           "No specific distortion is identified, although quality is reduced."))
    items = []
    for d in present:
        phrase = phrase_for(d.name)
        where = f" in {_the(d.region)}" if d.region else ""
        items.append(f"{severity_word(d.severity)} {phrase.noun}{where}")
    listing = _join(items, "and")
    return rng.choice(("The image shows {x}.", "Distortions present: {x}.", "Visible distortions are {x}.")).format(
        x=listing
    )


def _report(labels: QualityLabels, order: list[str], slots: dict[str, AspectSlots], rng: random.Random) -> str:
    lines = ["Findings:"]
    for a in order:
        s = slots[a]
        body = aspect_sentence(s, rng)
        implication = rng.choice(P.IMPLICATIONS[a][s.level])
        lines.append(f"{P.ASPECT_TITLES[a]} ({LEVEL_NAMES[s.level]}, {s.level}/4): {body} {implication}")
    lines.append(f"Distortions: {identify_text(labels, seed=rng.randrange(1 << 30))}")
    worst = order[0]
    if slots[worst].level < 4:
        limiting = rng.choice(P.LIMITING).format(aspect=P.ASPECT_NOUNS[worst])
    else:
        limiting = rng.choice(P.NOTHING_LIMITING)
    lines.append(f"Impression: {verdict_sentence(labels.overall, rng)} {limiting}")
    return "\n".join(lines)


def _worst_distortion_for(aspect: str, distortions: tuple[Distortion, ...]) -> Distortion | None:
    candidates = [d for d in distortions if aspect in phrase_for(d.name).aspects]
    return max(candidates, key=lambda d: float(d.severity), default=None)


def _where(ctx: DescriptionContext, rng: random.Random, aspect: str) -> str:
    if ctx.organs:
        organs = ctx.organs
        if aspect in _SOFT_TISSUE_ASPECTS:
            # Noise, contrast and texture are judged in soft tissue, not in bone.
            organs = tuple(o for o in organs if not _BONE.search(o.lower())) or organs
        return _the(rng.choice(organs))
    return rng.choice(P.DEFAULT_WHERE[ctx.body_region])


def _the(noun: str) -> str:
    noun = noun.strip()
    return noun if noun.lower().startswith("the ") else f"the {noun}"


def _join(items: list[str], conjunction: str) -> str:
    if len(items) <= 1:
        return "".join(items)
    return f"{', '.join(items[:-1])} {conjunction} {items[-1]}"
