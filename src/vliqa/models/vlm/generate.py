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
from vliqa.models.vlm.fastdecode import HFDecoder, LeanGPT2, lean_supported
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
        #: decode through `LeanGPT2` where it reproduces the language model (False: through Hugging Face, as the
        #: test that compares the two sets it)
        self._lean_decode = True

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
        emb, tokens, mask, attention, roles = self.prompt_batch(store, images, questions)
        width, pad = attention.shape[1], self.model.config.pad_id
        plans = [self._plan(r, pair=len(r) == 2) for r in roles]
        positions = (attention.cumsum(-1) - 1).clamp(min=0)
        n_steps = max(len(p) for p in plans) + (0 if slots_only else max_new_tokens)
        lm = self.model.lm
        if self._lean_decode and lean_supported(lm):
            decoder: LeanGPT2 | HFDecoder = LeanGPT2(lm, tokens, mask, capacity=width + n_steps)
        else:
            decoder = HFDecoder(lm, self.model.cross_inputs(tokens, mask))
        logits = decoder.prefill(emb, attention, positions)
        table = _SlotTable(self, plans, levels, preferences)
        plan_length = torch.tensor([len(p) for p in plans])
        text = torch.full((n, max(1, max_new_tokens)), pad, dtype=torch.long)
        n_text = torch.zeros(n, dtype=torch.long)
        done = torch.zeros(n, dtype=torch.bool)
        rows = torch.arange(n)
        last_pos = positions[:, -1]
        text_width = 0  # how many text tokens the longest row has so far
        active = rows  # the rows the decoder still holds (the lean one drops finished rows)
        for t in range(n_steps):
            in_plan = t < plan_length
            chosen = table.tokens(t, logits) if t < table.width else torch.full((n,), pad, dtype=torch.long)
            if slots_only:
                finished = plan_length == t + 1
            elif t < table.shortest:
                finished = torch.zeros(n, dtype=torch.bool)
            else:
                writing = ~in_plan & ~done
                token = _no_repeat(logits, text[:, :text_width], n_text)
                finished = writing & ((token == self._ids[EOS]) | (n_text >= max_new_tokens))
                appended = writing & ~finished
                at = n_text.clamp(max=max_new_tokens - 1)
                text[rows, at] = torch.where(appended, token, text[rows, at])
                n_text += appended
                text_width = min(text_width + 1, max_new_tokens) if bool(appended.any()) else text_width
                chosen = torch.where(appended, token, torch.where(in_plan, chosen, pad))
            chosen = torch.where(done, pad, chosen)
            done = done | finished
            if bool(done.all()):
                break
            attention = torch.cat([attention, (~done).long()[:, None]], 1)
            last_pos = last_pos + 1
            # drop finished rows once a quarter of those held have finished (copying the caches costs about a step)
            if isinstance(decoder, LeanGPT2) and 4 * int(done[active].sum()) >= len(active):
                live = (~done[active]).nonzero()[:, 0]
                decoder.keep(live)
                active = active[live]
            if len(active) == n:
                logits = decoder.step(chosen, attention, last_pos)
            else:  # finished rows keep stale logits: nothing reads them
                logits[active] = decoder.step(chosen[active], attention[active], last_pos[active])
        out = table.decoded(plans)
        for i, row in enumerate(text.tolist()):
            out[i].text = self.tok.decode(row[:int(n_text[i])], skip_special_tokens=True).strip()
        return out

    def prompt_batch(self, store: FeatureStore, images: Sequence[dict[str, str]], questions: Sequence[str]
                     ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, list[tuple[str, ...]]]:
        """Gives the left-padded prompts of (images, question) pairs: their input embeddings (B, L, d), the image
        tokens (B, T, d) with their mask, the attention mask (B, L) and each prompt's image roles."""
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
        ids = torch.full((n, width), self.model.config.pad_id, dtype=torch.long)
        attention = torch.zeros((n, width), dtype=torch.long)
        for i, (p, _) in enumerate(prompts):
            ids[i, width - len(p):] = torch.tensor(p)
            attention[i, width - len(p):] = 1
        emb, tokens, mask = self.model.embed(ids, batch)
        return emb, tokens, mask, attention, [r for _, r in prompts]

    def _plan(self, roles: tuple[str, ...], *, pair: bool) -> list[tuple[str, ...]]:
        plan: list[tuple[str, ...]] = []
        if pair:  # the preference first, as trained: read from the images, not from the levels
            plan += [("force", PREF_OPEN), ("pref",), ("force", PREF_CLOSE)]
        for role in roles:
            plan.append(("force", LEVELS_OPEN))
            plan += [("level", role, slot) for slot in SLOT_ORDER]
            plan.append(("force", LEVELS_CLOSE))
        return plan

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


class _SlotTable:
    """A batch's slot plans as columns, one per step: the forced token or the slot softmax of each row, with the
    values fixed by the caller; it keeps what each slot read, for `decoded`."""

    def __init__(self, predictor: QualityVLMPredictor, plans: Sequence[list[tuple[str, ...]]], levels: Any,
                 preferences: Any):
        self.width = max(len(p) for p in plans)
        self.shortest = min(len(p) for p in plans)
        self.level_ids = torch.tensor(predictor._level_ids)
        self.pref_ids = torch.tensor(predictor._pref_ids)
        forced = [[-1] * self.width for _ in plans]  # the token of a forced step
        fixed = [[-1] * self.width for _ in plans]  # the slot value the caller fixed
        kind = [[0] * self.width for _ in plans]  # 1 a level slot, 2 the preference slot
        for i, plan in enumerate(plans):
            for t, item in enumerate(plan):
                if item[0] == "force":
                    forced[i][t] = predictor._ids[item[1]]
                elif item[0] == "level":
                    kind[i][t] = 1
                    value = (levels[i] or {}).get(item[1], {}).get(item[2]) if levels is not None else None
                    fixed[i][t] = -1 if value is None else int(value)
                else:
                    kind[i][t] = 2
                    value = preferences[i] if preferences is not None else None
                    fixed[i][t] = -1 if value is None else PREF_VALUES.index(value)
        self.forced, self.fixed, self.kind = torch.tensor(forced), torch.tensor(fixed), torch.tensor(kind)
        self.kinds_at = [set(column) for column in zip(*kind, strict=True)]
        #: step -> (probabilities (B, K), values (B,)) of the level / preference slots read there
        self.level_reads: dict[int, tuple[torch.Tensor, torch.Tensor]] = {}
        self.pref_reads: dict[int, tuple[torch.Tensor, torch.Tensor]] = {}

    def tokens(self, t: int, logits: torch.Tensor) -> torch.Tensor:
        """Gives each row's token at plan step `t` (-1 for rows whose plan has ended)."""
        token = self.forced[:, t]
        if 1 in self.kinds_at[t]:
            token = self._read(t, logits, 1, self.level_ids, self.level_reads, token)
        if 2 in self.kinds_at[t]:
            token = self._read(t, logits, 2, self.pref_ids, self.pref_reads, token)
        return token

    def _read(self, t: int, logits: torch.Tensor, kind: int, ids: torch.Tensor,
              reads: dict[int, tuple[torch.Tensor, torch.Tensor]], token: torch.Tensor) -> torch.Tensor:
        probs = F.softmax(logits[:, ids], dim=-1)
        fixed = self.fixed[:, t]
        value = torch.where(fixed >= 0, fixed, probs.argmax(-1))
        reads[t] = probs, value
        return torch.where(self.kind[:, t] == kind, ids[value], token)

    def decoded(self, plans: Sequence[list[tuple[str, ...]]]) -> list[Decoded]:
        """Gives each row's Decoded with its slot values and probabilities (the text still empty)."""
        level = {t: (p.tolist(), v.tolist()) for t, (p, v) in self.level_reads.items()}
        pref = {t: (p.tolist(), v.tolist()) for t, (p, v) in self.pref_reads.items()}
        out = [Decoded("") for _ in plans]
        for i, plan in enumerate(plans):
            for t, item in enumerate(plan):
                if item[0] == "level":
                    _, role, slot = item
                    probs, values = level[t]
                    out[i].level_probabilities.setdefault(role, {})[slot] = [round(p, 4) for p in probs[i]]
                    out[i].levels.setdefault(role, {})[slot] = values[i]
                elif item[0] == "pref":
                    probs, values = pref[t]
                    out[i].preference_probabilities = probs[i]
                    out[i].preference = PREF_VALUES[values[i]]
        return out


#: greedy decoding never repeats a run of this many tokens (a caption states each finding once)
NO_REPEAT_NGRAM = 6


def _no_repeat(logits: torch.Tensor, history: torch.Tensor, lengths: torch.Tensor,
               n: int = NO_REPEAT_NGRAM) -> torch.Tensor:
    """Gives each row's greedy next token (B,), skipping any that would repeat an n-gram already in its
    history: `history` (B, W) the tokens so far, the first `lengths` (B,) of each row real."""
    width = history.shape[1]
    if width < n:
        return logits.argmax(-1)
    windows = history.unfold(1, n - 1, 1)[:, :width - n + 1]  # window k: history[k: k + n - 1]
    offsets = torch.arange(n - 1)
    suffix = history.gather(1, (lengths - (n - 1)).clamp(min=0)[:, None] + offsets)  # the last n - 1 tokens
    starts = torch.arange(width - n + 1)
    repeats = (windows == suffix[:, None]).all(-1) & (starts[None] <= (lengths - n)[:, None])
    if not bool(repeats.any()):
        return logits.argmax(-1)
    rows, starts = repeats.nonzero(as_tuple=True)
    masked = logits.clone()
    masked[rows, history[rows, starts + n - 1]] = float("-inf")
    return masked.argmax(-1)


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
