"""Text -> quality levels: reads descriptions (ours and paraphrased or generated ones) back to aspect levels.

Three readers, strongest first: a report heading ("Noise (fair, 2/4): ..."), a
sentence that matches a template of the phrase banks (CT and photo; its aspect and level are
known exactly), and, for free text, keyword rules that pair an aspect cue
("noise", "blurred", "waxy") with the nearest intensity word ("severe", "mild",
"no", ...) on the same ladder the phrase bank uses.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache

from vliqa.core import ASPECTS, LEVEL_MEANINGS
from vliqa.text import photo_phrases as PP
from vliqa.text import phrases as P
from vliqa.text.distortions import find_distortions
from vliqa.text.keywords import keyword_levels, normalise

_NOUN_TO_ASPECT = {v: k for k, v in P.ASPECT_NOUNS.items()} | {"artefact": "artifacts"}
_HEADER = re.compile(r"^\s*(noise|artefacts?|sharpness|contrast|texture)\s*\((?:[a-z]+,\s*)?([0-4])\s*/\s*4\)\s*:\s*")
_LINE_PREFIX = re.compile(r"^\s*(?:findings|impression|distortions|summary)\s*:\s*")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=\S)")
_OVERALL_CUE = re.compile(r"\boverall\b|\bin summary\b|\bverdict\b|\bimage quality\b|\bquality of the image\b")
_OVERALL_NUMBER = re.compile(r"\b([0-4])\s*(?:/|out of|of)\s*4\b")
_OVERALL_WORDS = (("excellent", 4), ("non-diagnostic", 1), ("nondiagnostic", 1), ("unusable", 0), ("good", 3),
                  ("fair", 2), ("poor", 1), ("bad", 0), ("diagnostic", 3))
_OVERALL_WORD_RX = re.compile(r"\b(" + "|".join(re.escape(w) for w, _ in _OVERALL_WORDS) + r")\b")

# Priorities of the readers: a heading beats a template sentence beats a keyword guess.
_HEADING, _TEMPLATE, _KEYWORD = 3, 2, 1


@dataclass(frozen=True)
class ParsedQuality:
    """Levels read from a text: per aspect 0-4 (None = not mentioned), overall 0-4 or None, distortions named."""

    aspects: dict[str, int | None] = field(default_factory=dict)
    overall: int | None = None
    distortions: tuple[str, ...] = ()


@dataclass(frozen=True)
class _Template:
    regex: re.Pattern[str]
    #: "aspect" (level known), "group" (listed aspects are fine), "skip" (says nothing about levels)
    kind: str
    aspect: str | None
    level: int | None
    fixed_chars: int
    #: the longest fixed fragment; a sentence without it cannot match, which saves most regex runs
    anchor: str


def parse(text: str) -> ParsedQuality:
    """Gives the aspect levels, overall level and distortion names a description states."""
    found: dict[str, tuple[int, int, int]] = {}  # aspect -> (priority, -position, level); highest tuple wins

    def offer(aspect: str, level: int, priority: int, position: int) -> None:
        candidate = (priority, -position, level)
        if aspect not in found or candidate[:2] > found[aspect][:2]:
            found[aspect] = candidate

    sentences = []
    position = 0
    for raw_line in normalise(text).split("\n"):
        line = _LINE_PREFIX.sub("", raw_line)
        heading = _HEADER.match(line)
        if heading:
            offer(_NOUN_TO_ASPECT[heading.group(1)], int(heading.group(2)), _HEADING, position)
            line = line[heading.end():]
        for sentence in _SENTENCE_END.split(line):
            sentence = _LINE_PREFIX.sub("", sentence).strip().rstrip(".!?").strip()
            if sentence:
                sentences.append(sentence)
                position += 1
                _read_sentence(sentence, position, offer)
    return ParsedQuality(
        aspects={a: (found[a][2] if a in found else None) for a in ASPECTS},
        overall=_overall(sentences),
        distortions=find_distortions(normalise(text)),
    )


def _read_sentence(sentence: str, position: int, offer: Callable[[str, int, int, int], None]) -> None:
    best = _best_template(sentence)
    if best is not None:
        template, match = best
        if template.kind == "aspect":
            offer(template.aspect, template.level, _TEMPLATE, position)
        elif template.kind == "group":
            listed = " ".join(match.groups())
            for noun, aspect in _NOUN_TO_ASPECT.items():
                if re.search(rf"\b{noun}s?\b", listed):
                    offer(aspect, 4, _TEMPLATE, position)
        return
    for aspect, level in keyword_levels(sentence).items():
        offer(aspect, level, _KEYWORD, position)


def _best_template(sentence: str) -> tuple[_Template, re.Match[str]] | None:
    best = None
    for template in _templates():
        if template.anchor not in sentence:
            continue
        match = template.regex.fullmatch(sentence)
        # The most specific template (most fixed text) wins when several fit.
        if match and (best is None or template.fixed_chars > best[0].fixed_chars):
            best = (template, match)
    return best


def _overall(sentences: list[str]) -> int | None:
    cued = [s for s in sentences if _OVERALL_CUE.search(s)]
    for s in cued:
        m = _OVERALL_NUMBER.search(s)
        if m:
            return int(m.group(1))
    for s in cued:
        m = _OVERALL_WORD_RX.search(s)
        if m:
            return dict(_OVERALL_WORDS)[m.group(1)]
    whole = " ".join(sentences)
    for level, meaning in sorted(LEVEL_MEANINGS.items(), key=lambda kv: -len(kv[1])):
        if normalise(meaning) in whole:
            return level
    return None


@lru_cache(maxsize=1)
def _templates() -> tuple[_Template, ...]:
    out: list[_Template] = []
    for aspect, by_level in P.ASPECT_TEMPLATES.items():
        for level, texts in by_level.items():
            out += [_compile(t, "aspect", aspect, level) for t in texts]
    for bank in (P.TEXTURE_SMOOTH, P.TEXTURE_COARSE):
        for level, texts in bank.items():
            out += [_compile(t, "aspect", "texture", level) for t in texts]
    for aspect, by_level in PP.PHOTO_ASPECT_TEMPLATES.items():  # photographs (vliqa.text.photo)
        for level, texts in by_level.items():
            out += [_compile(t, "aspect", aspect, level) for t in texts]
    out += [_compile(t, "group", None, 4) for t in P.FINE_GROUP]
    skipped = [t for by_level in P.IMPLICATIONS.values() for texts in by_level.values() for t in texts]
    skipped += list(P.VERDICTS) + list(P.LIMITING) + list(P.NOTHING_LIMITING) + list(PP.PHOTO_VERDICTS)
    out += [_compile(t, "skip", None, None) for t in skipped]
    return tuple(out)


def _compile(template: str, kind: str, aspect: str | None, level: int | None) -> _Template:
    pattern, fixed, anchor = [], 0, ""
    # Sentences are compared without their final full stop.
    for part in re.split(r"(\{\w+\})", re.sub(r"[.!?]+$", "", template.strip())):
        if re.fullmatch(r"\{\w+\}", part):
            pattern.append("(.*?)")
        elif part:
            text = normalise(part, strip=False)
            fixed += len(text.strip())
            anchor = max(anchor, text.strip(), key=len)
            pattern.append(re.escape(text))
    return _Template(re.compile("".join(pattern)), kind, aspect, level, fixed, anchor)


# Preference answers ------------------------------------------------------------------------------------------

_TIE = re.compile(
    r"\b(?:tie|tied|a draw|neither (?:image |one )?is (?:clearly |noticeably |really )?(?:better|preferred|superior)"
    r"|no clear (?:preference|winner|difference)|(?:similar|comparable|equal|the same) (?:overall )?quality"
    r"|equally (?:good|poor|bad|diagnostic|degraded)|both (?:images )?are (?:equally|similar|of similar))"
)
_ADVERB = r"(?: clearly| slightly| somewhat| much| noticeably| marginally| overall| definitely)?(?: a| the)?"
_FOR_LETTER = [
    re.compile(rf"\b(?:image |picture )?([ab]) (?:is|looks|appears|seems){_ADVERB} "
               r"(?:preferred|better|superior|preferable|higher[- ]quality|of (?:higher|better) quality"
               r"|closer to the reference|winner)"),
    re.compile(r"\b(?:i |we )?prefer (?:image |picture )?([ab])\b"),
    re.compile(r"\b(?:preferred|better|best) (?:image|one|choice) is (?:image )?([ab])\b"),
    re.compile(r"\bpreferred:? (?:image )?([ab])\b"),
    re.compile(r"\b(?:choose|pick|select) (?:image )?([ab])\b"),
    re.compile(r"\b(?:image )?([ab]) wins\b"),
    re.compile(r"\banswer:? (?:image )?([ab])\b"),
]
_AGAINST_LETTER = [
    re.compile(rf"\b(?:image |picture )?([ab]) (?:is|looks|appears|seems){_ADVERB} "
               r"(?:worse|inferior|lower[- ]quality|of (?:lower|worse|poorer) quality|further from the reference)"),
    re.compile(r"\b(?:better|superior|preferable) (?:than|to) (?:image )?([ab])\b"),
]
_ORDINAL = re.compile(r"\bthe (first|second) (?:image|one) is(?: clearly| slightly)? (?:better|preferred|superior)")
_OTHER = {"a": "B", "b": "A"}


def parse_preference(text: str) -> str | None:
    """Gives the image a comparison answer prefers: "A", "B", "tie", or None when it states no preference."""
    t = normalise(text).replace("\n", " ").strip()
    bare = re.sub(r"[^a-z ]", "", t).strip()
    if bare in ("a", "b", "image a", "image b"):
        return bare[-1].upper()
    if bare in ("tie", "draw", "neither"):
        return "tie"
    # Each statement is (position, answer); the last statement in the text is its conclusion.
    statements = [(m.start(), "tie") for m in _TIE.finditer(t)]
    for rx in _FOR_LETTER:
        statements += [(m.start(), m.group(1).upper()) for m in rx.finditer(t)]
    for rx in _AGAINST_LETTER:
        statements += [(m.start(), _OTHER[m.group(1)]) for m in rx.finditer(t)]
    statements += [(m.start(), "A" if m.group(1) == "first" else "B") for m in _ORDINAL.finditer(t)]
    if not statements:
        return None
    return max(statements)[1]
