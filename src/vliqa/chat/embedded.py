"""The `embedded` chat backend (the default, offline): answers from the Assessment and the quality VLM's `ask`.

A score, the report, a description, aspects and distortions come from the Assessment (through `vliqa.report`'s
typed Report, so they read as the report does); anything else is a free question for `Assessor.ask`, which says
"I cannot tell from this image" when image quality cannot answer it.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator
from functools import cached_property

from vliqa.chat import intents as I
from vliqa.chat.backends import ChatContext, register_backend
from vliqa.chat.grounding import overall_of
from vliqa.chat.prompts import kind_of, score_text
from vliqa.core import ASPECTS, LEVEL_NAMES, CTVolume, level_of
from vliqa.errors import VliqaError
from vliqa.report import Report, build_report, render_markdown
from vliqa.text.phrases import ASPECT_TITLES
from vliqa.text.questions import CANNOT_TELL

#: Measures that back an aspect's score, in the order they are quoted.
ASPECT_MEASURES = {"noise": ("noise_sigma_hu",), "sharpness": ("mtf50_lp_per_cm",),
                   "artifacts": ("streak_rms_hu", "ring_rms_hu")}
HELP_TEXT = ("I answer questions about the quality of this image from its assessment. Ask for its score "
             "(\"give me a score\"), the report (\"write the report\"), a description, one aspect (noise, "
             "artefacts, sharpness, contrast, texture), what limits it, or a free question such as \"could a 5 mm "
             "liver lesion be missed?\", which the quality vision-language model answers.")


class EmbeddedBackend:
    """Answers each message from the conversation's Assessment, or with the Assessor's quality VLM."""

    name = "embedded"

    def __init__(self, context: ChatContext, *, embeddings: bool | None = None):
        self.context = context
        #: read intents with sentence embeddings when installed (None: unless VLIQA_CHAT_EMBEDDINGS=0)
        self.embeddings = embeddings

    def reply(self, messages: list[dict[str, str]], *, stream: bool = False) -> str | Iterator[str]:
        """Gives the answer to the last user message (line by line when `stream`)."""
        question = next((m["content"] for m in reversed(messages) if m.get("role") == "user"), "")
        text = self.answer(question)
        return iter(text.splitlines(keepends=True)) if stream else text

    def answer(self, question: str) -> str:
        """Gives the answer to one question, by what it asks for (vliqa.chat.intents)."""
        intent = I.classify(question, embeddings=self.embeddings)
        if intent.name == I.SCORE:
            return self.score()
        if intent.name == I.REPORT:
            return self.markdown_report()
        if intent.name == I.DESCRIPTION:
            return self.report.description or self.score()
        if intent.name == I.ASPECTS:
            return self.aspects(intent.aspects)
        if intent.name == I.DISTORTIONS:
            return self.distortions()
        if intent.name == I.HELP:
            return HELP_TEXT
        return self.ask(question)

    # ------------------------------------------------------------ answers from the Assessment

    @cached_property
    def report(self) -> Report:
        """The typed report of the assessment (no figures; the acquisition table when the image can be read)."""
        return build_report(self.context.assessment, self._image(), figures=False)

    def _image(self):  # noqa: ANN202 - CTImage | CTVolume | None
        try:
            return self.context.image
        except VliqaError:  # the file moved or changed since: the report goes without its acquisition table
            return None

    def score(self) -> str:
        """Gives the overall score, its level and what the level means for a reader."""
        a = self.context.assessment
        kind = kind_of(a)
        score, _ = overall_of(a)
        if score is None:
            return f"The {a.model} model scores this {kind} {score_text(a)}."
        text = f"The assessment scores this {kind} {score_text(a)}: {self.report.level_meaning}."
        volume = self.report.volume
        if volume is not None:
            worst = ", ".join(str(i) for i in volume.worst_slices)
            text += (f" That is the mean of its {volume.n_slices} slices (range {volume.min:.2f} to {volume.max:.2f};"
                     f" lowest: slice{'s' if len(volume.worst_slices) > 1 else ''} {worst}).")
        elif math.isfinite(self.report.uncertainty):
            text += f" Uncertainty: ±{self.report.uncertainty:.2f}."
        return " ".join((text, *self.report.warnings))

    def markdown_report(self) -> str:
        """Gives the quality report in Markdown (vliqa.report's template, without figures)."""
        return render_markdown(self.report).strip()

    def aspects(self, names: tuple[str, ...]) -> str:
        """Gives the score, level, measures and finding sentence of each named aspect."""
        findings = {f.aspect: f for f in self.report.findings}
        if not findings:
            return (f"{CANNOT_TELL}: the {self.context.assessment.model} model gives no aspect scores, only "
                    f"{score_text(self.context.assessment)} overall.")
        measures = {m.key: m for m in self.report.measures}
        lines = []
        for name in (n for n in ASPECTS if n in names):
            f = findings[name]
            quoted = [f"{measures[k].label.lower()} {measures[k].value:.3g} {measures[k].unit}".strip()
                      for k in ASPECT_MEASURES.get(name, ()) if k in measures and math.isfinite(measures[k].value)]
            measured = f" Measured: {'; '.join(quoted)}." if quoted else ""
            lines.append(f"{ASPECT_TITLES[name]}: {f.score:.2f} of 4 ({LEVEL_NAMES[level_of(f.score)]}). "
                         f"{f.sentence}{measured}")
        return "\n".join(lines)

    def distortions(self) -> str:
        """Gives the distortions found and the aspects that limit the image most."""
        found = self.report.distortions
        text = ("Distortions found: " + ", ".join(f"{d.name.replace('_', ' ')} (confidence {d.confidence:.2f})"
                                                  for d in found) + ".") if found else "No distortion was found."
        weakest = sorted(self.report.findings, key=lambda f: f.score)[:2]
        if weakest:
            text += " The weakest aspects: " + "; ".join(f"{f.title.lower()} {f.score:.2f} of 4 ({f.level})"
                                                        for f in weakest) + "."
        return text

    # ------------------------------------------------------------ free questions

    def ask(self, question: str) -> str:
        """Gives the quality VLM's answer to a free question, or an honest "I cannot tell" without one."""
        assessor = self.context.assessor
        if assessor is None or assessor.describer is None:
            return (f"{CANNOT_TELL}: free questions are answered by the quality vision-language model, which this "
                    "conversation does not have (it was started without one). Ask instead for the score, the report, "
                    "a description, one aspect, or what limits the image.")
        image = self._image()
        if image is None:
            return f"{CANNOT_TELL}: the image ({self.context.source or 'an array'}) cannot be read again to look at."
        try:
            answer = assessor.ask(image, question)
        except VliqaError as exc:  # the VLM is missing or cannot load: say so, keep the conversation going
            return f"{CANNOT_TELL}: the quality vision-language model is not available ({exc})."
        text = answer.answer.strip()
        if isinstance(image, CTVolume) and answer.answerable:
            text += f" (Read on the middle slice of the {len(image)}-slice series.)"
        return _tidy(text)


def _tidy(text: str) -> str:
    return re.sub(r"[ \t]+", " ", text).strip()


@register_backend("embedded")
def embedded(context: ChatContext, *, embeddings: bool | None = None) -> EmbeddedBackend:
    """The offline backend: the Assessment's own words and the quality VLM; needs no LLM."""
    return EmbeddedBackend(context, embeddings=embeddings)
