"""The quality VLM at inference: slot-first greedy decoding, and the caption / identify / compare / ask tasks.

Decoding writes the answer's slots first (each a softmax over its few tokens: the five level words,
or A / B / tie), either the model's own choice or a value the caller fixes (the Assessor fixes the
levels it reports), then decodes the text conditioned on them. The text is read back with
`vliqa.text.parse`; if it ever states another level than its slot, the template text of the slot
values replaces it, so the words and the numbers cannot disagree.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from vliqa.core import ASPECTS, LEVEL_NAMES, CTImage, QualityLabels
from vliqa.errors import InvalidParameterError
from vliqa.models import load
from vliqa.models.vlm.encoder import VisionEncoder
from vliqa.models.vlm.model import QualityVLM
from vliqa.models.vlm.prompts import Example, FeatureStore, clean_text, collate, prompt_ids, sequence
from vliqa.models.vlm.vocab import (
    EOS,
    LEVELS_CLOSE,
    LEVELS_OPEN,
    PREF_CLOSE,
    PREF_OPEN,
    PREF_VALUES,
    SLOT_ORDER,
    load_tokenizer,
)
from vliqa.text import compare as compare_text
from vliqa.text import describe, parse, parse_preference
from vliqa.text.questions import CANNOT_TELL

MAX_NEW_TOKENS = 160
#: the questions each task asks (the model was taught many phrasings; these are the ones the API uses)
CAPTION_QUESTION = "Describe the quality of this image."
IDENTIFY_QUESTION = "Which distortions are present in this image?"
COMPARE_QUESTION = "Which of Image A and Image B is better, and why? Compare them aspect by aspect."
COMPARE_REFERENCE_QUESTION = ("With the reference as full quality, which of Image A and Image B is better, and why? "
                              "Compare them aspect by aspect.")


@dataclass
class Decoded:
    """One decoded answer: its text, the slot values and the model's slot probabilities."""

    text: str
    #: role -> SLOT_ORDER name -> level 0-4
    levels: dict[str, dict[str, int]] = field(default_factory=dict)
    level_probabilities: dict[str, dict[str, list[float]]] = field(default_factory=dict)
    preference: str | None = None
    preference_probabilities: list[float] | None = None


@dataclass(frozen=True)
class Caption:
    """A quality description with the levels it states (SLOT_ORDER names -> 0-4)."""

    text: str
    levels: dict[str, int]
    #: the model's own level probabilities per slot (before any level the caller fixed)
    level_probabilities: dict[str, list[float]]
    #: False when the model's text disagreed with its slots and the template text of the slots was used
    model_text: bool = True


@dataclass(frozen=True)
class PairVerdict:
    """Which of two images is better: "A", "B" or "tie", how sure (0-1), and why."""

    preferred: str
    probability: float
    explanation: str
    levels_a: dict[str, int]
    levels_b: dict[str, int]
    #: P(A better), P(B better), P(tie), averaged over both image orders
    probabilities: tuple[float, float, float] = (0.0, 0.0, 0.0)
    with_reference: bool = False
    model_text: bool = True
    #: the VLM's own preference probabilities (both orders), when `probabilities` came from elsewhere (the scores)
    model_probabilities: tuple[float, float, float] = (0.0, 0.0, 0.0)

    def to_dict(self) -> dict[str, Any]:
        return {"preferred": self.preferred, "probability": round(float(self.probability), 4),
                "explanation": self.explanation, "with_reference": self.with_reference,
                "probabilities": {"A": round(self.probabilities[0], 4), "B": round(self.probabilities[1], 4),
                                  "tie": round(self.probabilities[2], 4)},
                "levels_a": self.levels_a, "levels_b": self.levels_b}


@dataclass(frozen=True)
class Answer:
    """An answer to a free question; `answerable` is False for "I cannot tell" answers."""

    text: str
    answerable: bool
    levels: dict[str, int]


def _labels_of(levels: dict[str, int]) -> QualityLabels:
    return QualityLabels(overall=float(levels["overall"]), aspects={a: float(levels[a]) for a in ASPECTS},
                         source="model")


def text_agrees(text: str, levels: dict[str, int]) -> bool:
    """Tells whether every level `text` states equals the slot level of its aspect (and overall)."""
    parsed = parse(text)
    for aspect in ASPECTS:
        said = parsed.aspects.get(aspect)
        if said is not None and said != levels[aspect]:
            return False
    return parsed.overall is None or parsed.overall == levels["overall"]


class QualityVLMPredictor:
    """The loaded quality VLM with its tokenizer and vision encoder: caption, identify, compare, ask."""

    def __init__(self, model: QualityVLM, tokenizer: Any, *, name: str = "vlm", folder: Path | None = None,
                 encoder: VisionEncoder | None = None, card: str = "", metadata: dict | None = None):
        self.model = model.eval()
        self.tok = tokenizer
        self.name, self.folder, self.card = name, folder, card
        self.metadata = metadata or {}
        self.encoder = encoder or VisionEncoder()
        c = model.config
        self._level_ids, self._pref_ids = list(c.level_ids), list(c.pref_ids)
        self.grid = c.splice_grid
        self._ids = {t: tokenizer.token_to_id(t) for t in (LEVELS_OPEN, LEVELS_CLOSE, PREF_OPEN, PREF_CLOSE, EOS)}

    # ------------------------------------------------------------ images

    def _store(self) -> FeatureStore:
        c = self.model.config
        return FeatureStore(c.ct_global_dim, c.grid_dim, c.ct_fr_dim, c.photo_global_dim, c.photo_fr_dim)

    def _add_images(self, store: FeatureStore, items: Sequence[Any], prefix: str) -> list[str]:
        """Encodes `items` (CTImage or RGB photo arrays) into `store`; gives their keys."""
        keys = [f"{prefix}{i}" for i in range(len(items))]
        ct = [(k, im) for k, im in zip(keys, items, strict=True) if isinstance(im, CTImage)]
        photos = [(k, im) for k, im in zip(keys, items, strict=True) if not isinstance(im, CTImage)]
        for (k, _), tokens in zip(ct, self.encoder.encode_ct([im for _, im in ct]), strict=True):
            store.add(k, tokens)
        if photos:
            if not self.model.config.photo_global_dim:
                raise InvalidParameterError("this VLM checkpoint was trained without photos",
                                            hint="use the shipped 'vlm' model, or pass CT images")
            for (k, _), tokens in zip(photos, self.encoder.encode_photos([im for _, im in photos]), strict=True):
                store.add(k, tokens)
        return keys

    def _add_pairs(self, store: FeatureStore, keys: Sequence[str], items: Sequence[Any], ref_key: str,
                   reference: Any) -> None:
        if isinstance(reference, CTImage):
            fr = self.encoder.encode_ct_pairs(list(items), [reference] * len(items))
        else:
            fr = self.encoder.encode_photo_pairs(list(items), [reference] * len(items))
        for k, row in zip(keys, fr, strict=True):
            store.add_pair(k, ref_key, row)

    # ------------------------------------------------------------ decoding

    @torch.no_grad()
    def decode(self, store: FeatureStore, images: Sequence[dict[str, str]], questions: Sequence[str], *,
               levels: Sequence[dict[str, dict[str, int]] | None] | None = None,
               preferences: Sequence[str | None] | None = None, slots_only: bool = False,
               max_new_tokens: int = MAX_NEW_TOKENS) -> list[Decoded]:
        """Decodes one answer per (images, question): slots first (fixed where `levels` / `preferences` say),
        then text (none with `slots_only`)."""
        n = len(images)
        examples = []
        prompts = []
        for i in range(n):
            roles = tuple(r for r in ("A", "B") if r in images[i])
            examples.append(Example("decode", dict(images[i]), questions[i], ""))
            ids = prompt_ids(self.tok, images[i], questions[i], grid=self.grid)
            prompts.append((ids, roles))
        # the image vectors come from collate; the ids are re-laid out left-padded below
        seqs = [sequence(self.tok, Example("decode", dict(images[i]), questions[i], "",
                                           levels={r: dict.fromkeys(SLOT_ORDER, 2.0) for r in prompts[i][1]},
                                           preference=None), grid=self.grid) for i in range(n)]
        batch = collate(seqs, examples, store, self.model.config.pad_id)
        width = max(len(p) for p, _ in prompts)
        pad = self.model.config.pad_id
        ids = torch.full((n, width), pad, dtype=torch.long)
        attention = torch.zeros((n, width), dtype=torch.long)
        for i, (p, _) in enumerate(prompts):
            ids[i, width - len(p):] = torch.tensor(p)
            attention[i, width - len(p):] = 1
        plans = [self._plan(roles, pair=len(roles) == 2) for _, roles in prompts]
        out = [Decoded("") for _ in range(n)]
        emb, tokens, mask = self.model.embed(ids, batch)
        positions = (attention.cumsum(-1) - 1).clamp(min=0)
        lm = self.model.lm
        cross = self.model.cross_inputs(tokens, mask)
        result = lm(inputs_embeds=emb, attention_mask=attention, position_ids=positions, use_cache=True, **cross)
        past, logits = result.cache, result.logits[:, -1]
        step = [0] * n
        text_ids: list[list[int]] = [[] for _ in range(n)]
        done = [False] * n
        last_pos = positions[:, -1]
        for _ in range(max(len(p) for p in plans) + (0 if slots_only else max_new_tokens)):
            chosen = []
            for i in range(n):
                if done[i]:
                    chosen.append(pad)
                    continue
                if step[i] < len(plans[i]):
                    chosen.append(self._planned(plans[i][step[i]], logits[i], out[i], levels, preferences, i))
                    step[i] += 1
                    if step[i] == len(plans[i]) and slots_only:
                        done[i] = True
                    continue
                token = _no_repeat(logits[i], text_ids[i])
                if token == self._ids[EOS] or len(text_ids[i]) >= max_new_tokens:
                    done[i] = True
                    chosen.append(pad)
                    continue
                text_ids[i].append(token)
                chosen.append(token)
            if all(done):
                break
            nxt = torch.tensor(chosen, dtype=torch.long)[:, None]
            attention = torch.cat([attention, torch.tensor([[0 if d else 1] for d in done], dtype=torch.long)], 1)
            last_pos = last_pos + 1
            result = lm(inputs_embeds=lm.get_input_embeddings()(nxt), attention_mask=attention,
                        position_ids=last_pos[:, None], cache=past, use_cache=True, **cross)
            past, logits = result.cache, result.logits[:, -1]
        for i in range(n):
            out[i].text = self.tok.decode(text_ids[i], skip_special_tokens=True).strip()
        return out

    def _plan(self, roles: tuple[str, ...], *, pair: bool) -> list[tuple[str, ...]]:
        plan: list[tuple[str, ...]] = []
        if pair:  # the preference first, as trained: read from the images, not from the levels
            plan += [("force", PREF_OPEN), ("pref",), ("force", PREF_CLOSE)]
        for role in roles:
            plan.append(("force", LEVELS_OPEN))
            plan += [("level", role, slot) for slot in SLOT_ORDER]
            plan.append(("force", LEVELS_CLOSE))
        return plan

    def _planned(self, item: tuple[str, ...], logits: torch.Tensor, out: Decoded, levels: Any, preferences: Any,
                 i: int) -> int:
        if item[0] == "force":
            return self._ids[item[1]]
        if item[0] == "level":
            _, role, slot = item
            probs = F.softmax(logits[self._level_ids], dim=-1)
            out.level_probabilities.setdefault(role, {})[slot] = [round(float(p), 4) for p in probs]
            fixed = (levels[i] or {}).get(role, {}).get(slot) if levels is not None else None
            value = int(fixed) if fixed is not None else int(torch.argmax(probs))
            out.levels.setdefault(role, {})[slot] = value
            return self._level_ids[value]
        probs = F.softmax(logits[self._pref_ids], dim=-1)
        out.preference_probabilities = [float(p) for p in probs]
        fixed = preferences[i] if preferences is not None else None
        value = PREF_VALUES.index(fixed) if fixed is not None else int(torch.argmax(probs))
        out.preference = PREF_VALUES[value]
        return self._pref_ids[value]

    # ------------------------------------------------------------ tasks

    def caption(self, images: Sequence[Any], *, levels: Sequence[dict[str, int] | None] | None = None,
                question: str = CAPTION_QUESTION) -> list[Caption]:
        """Gives a quality description of each image; `levels` fixes the slot levels (e.g. an Assessment's)."""
        store = self._store()
        keys = self._add_images(store, list(images), "img")
        return self.caption_keys(store, keys, levels=levels, question=question)

    def caption_keys(self, store: FeatureStore, keys: Sequence[str], *,
                     levels: Sequence[dict[str, int] | None] | None = None,
                     question: str = CAPTION_QUESTION) -> list[Caption]:
        """`caption` of images already encoded into `store` (by key)."""
        fixed = None if levels is None else [None if lv is None else {"A": dict(lv)} for lv in levels]
        decoded = self.decode(store, [{"A": k} for k in keys], [question] * len(keys), levels=fixed)
        out = []
        for key, d in zip(keys, decoded, strict=True):
            lv = d.levels["A"]
            text, own = d.text, True
            if not text or parse(text).overall is None or not text_agrees(text, lv):
                text, own = _template_caption(lv, store.images[key].domain), False
            out.append(Caption(text, lv, d.level_probabilities.get("A", {}), own))
        return out

    def identify(self, images: Sequence[Any]) -> list[str]:
        """Gives the distortions each image shows, as text ("Distortions present: ...")."""
        store = self._store()
        keys = self._add_images(store, list(images), "img")
        return self.identify_keys(store, keys)

    def identify_keys(self, store: FeatureStore, keys: Sequence[str]) -> list[str]:
        """`identify` of images already encoded into `store` (by key)."""
        return [d.text for d in self.decode(store, [{"A": k} for k in keys], [IDENTIFY_QUESTION] * len(keys))]

    def compare(self, a: Any, b: Any, reference: Any = None, *, levels_a: dict[str, int] | None = None,
                levels_b: dict[str, int] | None = None,
                probabilities: tuple[float, float, float] | None = None) -> PairVerdict:
        """Gives which of `a` and `b` is better, averaged over both image orders so swapping them swaps the answer.

        `levels_a` / `levels_b` fix the level slots of each image (e.g. the Assessments' levels)."""
        store = self._store()
        ka, kb = self._add_images(store, [a, b], "img")
        kr = None
        if reference is not None:
            (kr,) = self._add_images(store, [reference], "ref")
            self._add_pairs(store, [ka, kb], [a, b], kr, reference)
        return self.compare_keys(store, ka, kb, kr, levels_a=levels_a, levels_b=levels_b, probabilities=probabilities)

    def compare_keys(self, store: FeatureStore, ka: str, kb: str, kr: str | None = None, *,
                     levels_a: dict[str, int] | None = None, levels_b: dict[str, int] | None = None,
                     probabilities: tuple[float, float, float] | None = None, text: bool = True) -> PairVerdict:
        """`compare` of images already encoded into `store` (by key; `kr` the reference's, its full-reference
        vectors stored too); `text=False` gives the verdict without decoding an explanation. `probabilities`
        (P(A better), P(B better), P(tie), e.g. from two scores) fixes the preference slot; the model's own
        reading is kept in `model_probabilities`."""
        images = [{"A": ka, "B": kb}, {"A": kb, "B": ka}]
        if kr is not None:
            for item in images:
                item["reference"] = kr
        question = COMPARE_QUESTION if kr is None else COMPARE_REFERENCE_QUESTION
        fixed = None
        if levels_a is not None and levels_b is not None:
            fixed = [{"A": dict(levels_a), "B": dict(levels_b)}, {"A": dict(levels_b), "B": dict(levels_a)}]
        first, swapped = self.decode(store, images, [question] * 2, slots_only=True, levels=fixed)
        p_ab = np.asarray(first.preference_probabilities)
        p_ba = np.asarray(swapped.preference_probabilities)[[1, 0, 2]]
        own_probs = (p_ab + p_ba) / 2.0
        probs = own_probs if probabilities is None else np.asarray(probabilities, dtype=np.float64)
        preferred = PREF_VALUES[int(np.argmax(probs))]
        if fixed:
            lv_a, lv_b = dict(levels_a or {}), dict(levels_b or {})
        else:
            lv_a = _mean_levels(first.level_probabilities["A"], swapped.level_probabilities["B"])
            lv_b = _mean_levels(first.level_probabilities["B"], swapped.level_probabilities["A"])
        explanation, own = _plain_verdict(preferred, float(np.max(probs))), True
        if text:
            (final,) = self.decode(store, images[:1], [question], levels=[{"A": lv_a, "B": lv_b}],
                                   preferences=[preferred])
            explanation = final.text
            if not explanation or parse_preference(explanation) != preferred:
                explanation = compare_text(_labels_of(lv_a), _labels_of(lv_b), with_reference=kr is not None).text
                own = False
                if parse_preference(explanation) != preferred:  # the template's tie rule disagrees: say it plainly
                    explanation = _plain_verdict(preferred, float(np.max(probs)))
        return PairVerdict(preferred, float(np.max(probs)), explanation, lv_a, lv_b,
                           tuple(float(p) for p in probs), kr is not None, own,
                           tuple(float(p) for p in own_probs))

    def ask(self, image: Any, question: str, *, levels: dict[str, int] | None = None) -> Answer:
        """Gives an answer to a free question about one image; "I cannot tell ..." when the image cannot answer.
        `levels` fixes the level slots (e.g. the Assessment's)."""
        store = self._store()
        (key,) = self._add_images(store, [image], "img")
        question = clean_text(question)
        question = question[:1].upper() + question[1:]  # the taught questions are sentences
        nll = self.question_nll(store, key, question)
        (d,) = self.decode(store, [{"A": key}], [question], levels=None if levels is None else [{"A": dict(levels)}])
        if nll > self.model.config.question_nll_limit:
            verdict = f"Its overall quality is {LEVEL_NAMES[d.levels['A']['overall']]}."
            return Answer(f"{CANNOT_TELL}: the question is outside what an image-quality reading can answer "
                          f"(noise, artefacts, sharpness, contrast, texture, and whether lesions would be seen). "
                          f"{verdict}", False, d.levels["A"])
        return Answer(d.text, not d.text.startswith(CANNOT_TELL), d.levels["A"])

    @torch.no_grad()
    def question_nll(self, store: FeatureStore, key: str, question: str) -> float:
        """Gives the mean negative log-likelihood per token of a question about an image (how familiar it is)."""
        ex = Example("ask", {"A": key}, question, "")
        ids = prompt_ids(self.tok, ex.images, question, grid=self.grid)
        seq = sequence(self.tok, Example("ask", {"A": key}, question, "",
                                         levels={"A": dict.fromkeys(SLOT_ORDER, 2.0)}), grid=self.grid)
        batch = collate([seq], [ex], store, self.model.config.pad_id)
        batch["input_ids"] = torch.tensor([ids])
        batch["attention_mask"] = torch.ones((1, len(ids)), dtype=torch.long)
        logits = self.model(batch)[0]
        q_ids = self.tok.encode(" " + clean_text(question), add_special_tokens=False).ids
        start = len(ids) - 1 - len(q_ids)
        logp = F.log_softmax(logits[start - 1: start - 1 + len(q_ids)], dim=-1)
        return float(-logp[torch.arange(len(q_ids)), torch.tensor(q_ids)].mean())

    @torch.no_grad()
    def answer_nll(self, image: Any, question: str, answer: str) -> float:
        """Gives the mean negative log-likelihood per token of `answer` to `question` about `image`
        (slots at the model's own levels): low when the model would say it, high when it doubts it."""
        store = self._store()
        (key,) = self._add_images(store, [image], "img")
        return self.answer_nll_keys(store, key, question, answer)

    @torch.no_grad()
    def answer_nll_keys(self, store: FeatureStore, key: str, question: str, answer: str) -> float:
        """`answer_nll` of an image already encoded into `store` (by key)."""
        (d,) = self.decode(store, [{"A": key}], [question], slots_only=True)
        ex = Example("ask", {"A": key}, question, answer,
                     levels={"A": {s: float(v) for s, v in d.levels["A"].items()}})
        seq = sequence(self.tok, ex, grid=self.grid)
        batch = collate([seq], [ex], store, self.model.config.pad_id)
        logits = self.model(batch)
        labels = batch["labels"]
        return float(F.cross_entropy(logits[0, :-1], labels[0, 1:], ignore_index=-100))

    @torch.no_grad()
    def answer_keys(self, store: FeatureStore, key: str, question: str) -> str:
        """The model's own answer (its slots, greedy text) to a question about an image encoded into `store`."""
        (d,) = self.decode(store, [{"A": key}], [question])
        return d.text


#: greedy decoding never repeats a run of this many tokens (a caption states each finding once)
NO_REPEAT_NGRAM = 6


def _no_repeat(logits: torch.Tensor, so_far: list[int], n: int = NO_REPEAT_NGRAM) -> int:
    """Gives the greedy next token, skipping any that would repeat an n-gram already in `so_far`."""
    if len(so_far) < n - 1:
        return int(torch.argmax(logits))
    prefix = tuple(so_far[-(n - 1):])
    banned = {so_far[k + n - 1] for k in range(len(so_far) - n + 1) if tuple(so_far[k:k + n - 1]) == prefix}
    if not banned:
        return int(torch.argmax(logits))
    masked = logits.clone()
    masked[list(banned)] = float("-inf")
    return int(torch.argmax(masked))


def _template_caption(levels: dict[str, int], domain: str) -> str:
    """Gives the template bank's caption of slot levels, in the words of the image's domain."""
    if domain == "photo":
        from vliqa.text.photo import describe_photo  # noqa: PLC0415  # lazy: photo wording, photos only

        return describe_photo(_labels_of(levels))
    return describe(_labels_of(levels))


def _mean_levels(p: dict[str, list[float]], q: dict[str, list[float]]) -> dict[str, int]:
    return {s: int(np.argmax(np.asarray(p[s]) + np.asarray(q[s]))) for s in SLOT_ORDER}


def _plain_verdict(preferred: str, probability: float) -> str:
    if preferred == "tie":
        return f"Neither image is clearly better: it is a tie (probability {probability:.2f})."
    return f"Image {preferred} is preferred (probability {probability:.2f})."


#: loaded VLMs by (folder, weights' modification time): one load per process, shared by every Assessor
_LOADED: dict[tuple[str, float], QualityVLMPredictor] = {}


def load_vlm(name_or_path: str | Path = "vlm") -> QualityVLMPredictor:
    """Gives the quality VLM of a shipped name ("vlm") or a checkpoint folder (weights, config, tokenizer); a
    checkpoint is read once per process (inference keeps no state, so the loaded model is shared)."""
    folder = Path(name_or_path).expanduser()
    if not folder.is_dir():
        from vliqa.io.checkpoint import SHIPPED_DIR  # noqa: PLC0415  # lazy: beside its one use

        folder = SHIPPED_DIR / str(name_or_path)
    weights = folder / "model.safetensors"
    key = (str(folder.resolve()), weights.stat().st_mtime if weights.is_file() else -1.0)
    if key[1] >= 0 and key in _LOADED:
        return _LOADED[key]
    loaded = load(name_or_path, kind="language")
    tok = load_tokenizer(loaded.folder)
    predictor = QualityVLMPredictor(loaded.model, tok, name=loaded.name, folder=loaded.folder, card=loaded.card,
                                    metadata=loaded.metadata)
    _LOADED[key] = predictor
    return predictor


__all__ = ["Answer", "Caption", "Decoded", "PairVerdict", "QualityVLMPredictor", "load_vlm",
           "text_agrees"]
