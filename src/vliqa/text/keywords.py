"""Free-text reading rules: text normalisation and aspect cue + intensity word -> level.

Used by `vliqa.text.parse` for sentences no template matches (paraphrased or
generated text). A cue names an aspect ("noise", "blurred", "waxy"); the level
comes from the nearest intensity word within a few words in the same clause:
first a degree word ("severe" 0, "marked" 1, "moderate" 2, "mild"/"slight" 3,
"minimal" 4), else a state word ("no", "low", "reduced", "excellent", "lost"),
read by the cue's polarity: "low noise" is good, "low contrast" is bad.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_REPLACEMENTS = (
    (re.compile(r"artifact"), "artefact"),
    (re.compile(r"quantiz"), "quantis"),
    (re.compile(r"recogniz"), "recognis"),
    (re.compile(r"\bgray\b"), "grey"),
    (re.compile(r"\bover[- ]?smooth"), "over-smooth"),
    (re.compile("[\u2014\u2013\u2012]"), " - "),
    (re.compile("[\u2018\u2019]"), "'"),
    (re.compile("[\u201c\u201d]"), '"'),
    (re.compile(r"[ \t\r\f\v]+"), " "),
)


def normalise(text: str, *, strip: bool = True) -> str:
    """Gives `text` lower-cased with one spelling per word (artefact, quantise, grey) and single spaces."""
    t = str(text).lower()
    for rx, replacement in _REPLACEMENTS:
        t = rx.sub(replacement, t)
    if strip:
        t = "\n".join(line.strip() for line in t.split("\n"))
    return t


@dataclass(frozen=True)
class _Cue:
    aspect: str
    regex: re.Pattern[str]
    #: "defect" when the word names the problem (noise, blur), "quality" when it names the good (sharpness)
    polarity: str
    #: level when no intensity word is near; None for neutral nouns ("noise" alone says nothing)
    default: int | None
    #: the cue counts only in clauses where this regex is found ("grainy" is texture only beside "texture")
    context: re.Pattern[str] | None = None
    #: the cue counts only in clauses where `context` is NOT found
    context_absent: bool = False


def _cue(aspect: str, pattern: str, polarity: str, default: int | None, context: str | None = None,
         absent: bool = False) -> _Cue:
    return _Cue(aspect, re.compile(pattern), polarity, default, re.compile(context) if context else None, absent)


_TEXTURE = r"\btexture\b"
_GRAINY = r"\bgrain(?:y|iness)\b|\bmottl(?:e|ed|ing)\b|\bcoarse\b|\buneven\b|\birregular\b"
_CUES = (
    _cue("noise", r"\bnoise\b", "defect", None),
    _cue("noise", r"\bnois(?:y|ier|iest|iness)\b|\bspeckle\b", "defect", 2),
    _cue("noise", r"\bgrain(?:y|iness)\b|\bmottl(?:e|ing)\b", "defect", 2, _TEXTURE, absent=True),
    _cue("noise", r"\bgrain\b", "defect", None, _TEXTURE, absent=True),
    _cue("artifacts", r"\bartefacts?\b", "defect", None),
    _cue("artifacts", r"\bstreak(?:s|y|ing)?\b|\bghost(?:s|ing)?\b|\bblock(?:ing|y)\b|\bshading\b", "defect", 2),
    _cue("sharpness", r"\bsharpness\b|\bspatial resolution\b|\bresolution\b|\bedge definition\b", "quality", None),
    _cue("sharpness", r"\bsharp(?:ly)?\b|\bcrisp\b|\bwell[- ]defined\b", "quality", 4),
    _cue("sharpness", r"\bblur(?:s|red|ry|ring|riness)?\b|\bunsharp\b|\bsmear(?:ed|ing|s)?\b|\bfuzzy\b"
         r"|\bindistinct\b", "defect", 2),
    _cue("sharpness", r"\bsoft(?:er)?\b", "defect", 2, r"\bedges?\b|\bmargins?\b|\bboundar"),
    _cue("contrast", r"\bcontrast\b|\bdifferentiation\b|\bconspicuity\b", "quality", None),
    _cue("contrast", r"\bwashed[- ]out\b|\bwashes out\b", "defect", 2),
    _cue("texture", r"\btexture\b", "quality", None),
    _cue("texture", r"\bwaxy\b|\bplastic\b|\bblotchy\b|\bover-smooth\w*|\bunnaturally smooth\b|\bpainted\b"
         r"|\bcartoon\w*|\bpatchy\b|\bpainterly\b", "defect", 2),
    _cue("texture", _GRAINY, "defect", 2, _TEXTURE),
)

# (pattern, level when the cue is a defect, level when the cue is a quality); None = says nothing.
_DEGREES = tuple((re.compile(p), d, q) for p, d, q in (
    (r"\bsevere(?:ly)?\b|\bextreme(?:ly)?\b|\boverwhelming\b|\bmassive\b|\bcomplete(?:ly)?\b|\bentirely\b"
     r"|\btotal(?:ly)?\b", 0, 0),
    (r"\bmarked(?:ly)?\b|\bpronounced\b|\bconsiderabl[ey]\b|\bsubstantial(?:ly)?\b|\bbadly\b|\blargely\b", 1, 1),
    (r"\bstrong(?:ly)?\b|\bheavy\b|\bheavily\b|\bprominent\b|\bcoarse\b", 1, None),
    (r"\bmoderate(?:ly)?\b|\bnoticeabl[ey]\b|\bappreciabl[ey]\b|\bclearly visible\b", 2, 2),
    (r"\bmild(?:ly)?\b|\bslight(?:ly)?\b|\bminor\b|\bfaint(?:ly)?\b|\bsubtle\b|\bsomewhat\b|\ba little\b|\ba bit\b",
     3, 3),
    (r"\bsome\b", 3, None),
    (r"\bminimal(?:ly)?\b|\bnegligible\b|\bbarely\b|\bhardly\b", 4, None),
))
_STATES = tuple((re.compile(p), d, q) for p, d, q in (
    (r"\bno (?:visible |obvious |relevant |significant )?(?:problem|concern|issue|impairment)s?\b", 4, 4),
    (r"\bno\b|\bnone\b|\bwithout\b|\bfree of\b|\babsent\b|\bnot (?:seen|visible|present)\b", 4, 0),
    (r"\bnot\b", 4, 2),
    (r"\blow\b|\blower\b", 4, 1),
    (r"\breduced\b|\bdecreased\b|\blowered\b|\bdiminished\b|\bless\b", 3, 2),
    (r"\bhigh\b|\bhigher\b", 1, 4),
    (r"\bincreased\b|\belevated\b|\bmore\b", 2, None),
    (r"\bexcellent\b|\boptimal\b|\bperfect\b", 4, 4),
    (r"\bpreserved\b|\bintact\b|\bmaintained\b|(?<!no )\bnatural\b|\brealistic\b", None, 4),
    (r"\bclean\b", 4, None),
    (r"\bgood\b|\bacceptable\b|\badequate\b", 3, 3),
    (r"\bfair\b|\blimited\b", 2, 2),
    (r"\bunnatural\b", None, 2),
    (r"\bpoor\b|\bbad\b|\bloss\b", 1, 1),
    (r"\blost\b|\berased\b|\bdestroyed\b|\bobliterat\w*|\bgone\b|\bunusable\b|\bnon-?diagnostic\b|\bunreadable\b"
     r"|\bswamped\b|\boverwhelm\w*", 0, 0),
    (r"\bdominat\w*", 0, None),
))
_INTENSIFIER = re.compile(r"\b(?:very|highly|quite|really|extremely)\s+$")
_CLAUSE_SPLIT = re.compile(r";|\s-\s|,\s*(?:but|while|whereas|although|though|yet)\b|\b(?:but|while|whereas|although"
                           r"|though)\b")
# Words that contain a cue but are not about the aspect ("low-contrast lesions", "contrast medium").
_DISTRACTORS = re.compile(r"\blow[- ]contrast (?=lesion|detail|structure|detectab|object|finding|feature)"
                          r"|\bcontrast[- ](?:enhanced|medium|agent|media)\b|\bintravenous contrast\b")
_LIST_GAP = re.compile(r"\s*(?:,|and|or|as well as|,\s*and|,\s*or)\s*(?:the\s+)?")
# A comma followed by one of these starts a new phrase: "plastic, as after heavy iterative reconstruction".
_PHRASE_BREAK = re.compile(r",\s*(?:as|which|with|where|when|and|so|because|since|after|though|although)\b")
_WORD = re.compile(r"[a-z0-9']+(?:-[a-z0-9']+)*")
_MAX_GAP_WORDS = 3


def keyword_levels(sentence: str) -> dict[str, int]:
    """Gives aspect -> level for the aspects a free-text sentence rates, using cue and intensity words."""
    out: dict[str, int] = {}
    text = _DISTRACTORS.sub("lowcontrast ", normalise(sentence))
    for clause in _CLAUSE_SPLIT.split(text):
        words = [(m.start(), m.end()) for m in _WORD.finditer(clause)]
        if not words:
            continue
        hits = []
        for cue in _CUES:
            if cue.context is not None and bool(cue.context.search(clause)) == cue.context_absent:
                continue
            hits += [(m.start(), m.end(), cue) for m in cue.regex.finditer(clause)]
        hits.sort(key=lambda h: h[0])
        levels = [_level_near(clause, words, start, end, cue) for start, end, cue in hits]
        _share_across_lists(clause, hits, levels)
        for (_, _, cue), level in zip(hits, levels, strict=True):
            if level is not None and cue.aspect not in out:
                out[cue.aspect] = level
    return out


def _share_across_lists(clause: str, hits: list[tuple[int, int, _Cue]], levels: list[int | None]) -> None:
    # "noise, sharpness and contrast are excellent", "no concerns about noise or texture": one word rates a list.
    for order in (range(len(hits) - 2, -1, -1), range(1, len(hits))):
        for i in order:
            j = i + 1 if order.step == -1 else i - 1
            if levels[i] is not None or levels[j] is None:
                continue
            lo, hi = sorted((i, j))
            if _LIST_GAP.fullmatch(clause[hits[lo][1]:hits[hi][0]]):
                levels[i] = levels[j]


def _level_near(clause: str, words: list[tuple[int, int]], start: int, end: int, cue: _Cue) -> int | None:
    cue_first, cue_last = _word_index(words, start), _word_index(words, end - 1)
    for lexicon in (_DEGREES, _STATES):
        best: tuple[int, int, int] | None = None  # (gap in words, after-cue flag, level)
        for rx, defect_level, quality_level in lexicon:
            level = defect_level if cue.polarity == "defect" else quality_level
            if level is None:
                continue
            for m in rx.finditer(clause):
                w_first, w_last = _word_index(words, m.start()), _word_index(words, m.end() - 1)
                if w_last < cue_first:
                    gap, after, between = cue_first - w_last - 1, 0, clause[m.end():start]
                elif w_first > cue_last:
                    gap, after, between = w_first - cue_last - 1, 1, clause[end:m.start()]
                else:
                    continue  # the intensity word is part of the cue itself
                if _PHRASE_BREAK.search(between) or (":" in between and between.strip(" :")):
                    continue  # a new phrase starts between them ("waxy blank: no detail survives")
                if clause[m.start() - 1:m.start()] == "-" or clause[m.end():m.end() + 1] == "-":
                    continue  # part of a compound: "total-variation", "low-dose"
                if gap <= _MAX_GAP_WORDS and (best is None or (gap, after) < best[:2]):
                    best = (gap, after, level)
        if best is not None:
            return best[2]
    if cue.default is not None and cue.polarity == "defect" and _INTENSIFIER.search(clause[:start]):
        return max(0, cue.default - 1)
    return cue.default


def _word_index(words: list[tuple[int, int]], char_pos: int) -> int:
    for i, (_start, end) in enumerate(words):
        if char_pos < end:
            return i
    return len(words) - 1
