"""Examples, token sequences and batches of the quality VLM.

An `Example` is one question about one to three images with its answer, the continuous scores behind
the answer's level slots and, for a pair, the soft preference. `sequence` turns it into token ids
with the image places, slot positions and loss labels; `collate` pads a list of them into a batch
with the image vectors of a `FeatureStore`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np
import torch
from tokenizers import Tokenizer

from vliqa.core import level_of
from vliqa.models.vlm.encoder import GRID_DIM, GRID_TOKENS, ImageTokens
from vliqa.models.vlm.vocab import (
    ANSWER,
    EOS,
    IMG,
    LEVEL_TOKENS,
    LEVELS_CLOSE,
    LEVELS_OPEN,
    PAD,
    PREF_CLOSE,
    PREF_OPEN,
    PREF_TOKENS,
    QUESTION,
    ROLES,
    SLOT_ORDER,
    SPECIAL_TOKENS,
    TAGS,
)

#: how wide the soft level label is around the continuous score (levels 0..4)
LEVEL_SIGMA = 0.5
#: overall scores closer than this are a tie (as `vliqa.text.compare` words it)
TIE_GAP = 0.25
_SPECIAL_RX = re.compile("|".join(re.escape(t) for t in SPECIAL_TOKENS))


@dataclass
class Example:
    """One question about images (role -> image key), its answer and the numbers behind its slots."""

    task: str
    images: dict[str, str]
    question: str
    answer: str
    #: role ("A", "B") -> SLOT_ORDER name -> continuous 0-4 score (the level slots of that image)
    levels: dict[str, dict[str, float]] = field(default_factory=dict)
    #: soft preference over (A, B, tie), pair tasks only
    preference: tuple[float, float, float] | None = None


def soft_levels(score: float, sigma: float = LEVEL_SIGMA) -> np.ndarray:
    """Gives the soft label over levels 0..4 of a continuous score (a Gaussian around it, normalised)."""
    k = np.arange(5, dtype=np.float64)
    p = np.exp(-0.5 * ((k - float(np.clip(score, 0.0, 4.0))) / sigma) ** 2)
    return (p / p.sum()).astype(np.float32)


def soft_preference(overall_a: float, overall_b: float, gap: float = TIE_GAP, width: float = 0.1) -> tuple[float, ...]:
    """Gives P(A better), P(B better), P(tie) from two overall scores: ties within `gap`, soft over `width`."""
    d = float(overall_a) - float(overall_b)
    pa = 1.0 / (1.0 + np.exp(-(d - gap) / width))
    pb = 1.0 / (1.0 + np.exp(-(-d - gap) / width))
    tie = max(0.0, 1.0 - pa - pb)
    total = pa + pb + tie
    return (pa / total, pb / total, tie / total)


def clean_text(text: str) -> str:
    """Gives user text without the VLM's special tokens (a question cannot inject image places or slots)."""
    return _SPECIAL_RX.sub(" ", str(text)).strip()


def image_token_count(role: str, has_reference: bool, *, grid: bool = False, pair: bool = False) -> int:
    """Gives how many <img> places an image of `role` takes in the text: its global token, its grid tokens when
    `grid` (a language model without cross-attention), its full-reference token for A and B when there is a
    reference, and for B of a pair the A-minus-B difference token."""
    return (1 + (GRID_TOKENS if grid else 0) + (1 if has_reference and role != "reference" else 0)
            + (1 if pair and role == "B" else 0))


@dataclass
class TokenSequence:
    """Token ids of one example with what the loss needs."""

    ids: list[int]
    #: next-token labels for the answer text (-100 where no text loss)
    labels: list[int]
    #: next-token labels for the question text (-100 elsewhere): a lighter loss that teaches which questions are
    #: familiar, so `ask` can tell a question it was never taught
    question_labels: list[int]
    level_positions: list[int]
    level_targets: list[np.ndarray]
    pref_positions: list[int]
    pref_targets: list[np.ndarray]


def prompt_ids(tok: Tokenizer, images: dict[str, str], question: str, *, grid: bool = False) -> list[int]:
    """Gives the prompt: each image's tag with its <img> places, then <q> question <a>."""
    ids: list[int] = []
    has_ref = "reference" in images
    pair = "A" in images and "B" in images
    for role in ROLES:
        if role in images:
            open_tag, close_tag = TAGS[role]
            places = image_token_count(role, has_ref, grid=grid, pair=pair)
            ids += [tok.token_to_id(open_tag)] + [tok.token_to_id(IMG)] * places
            ids.append(tok.token_to_id(close_tag))
    ids.append(tok.token_to_id(QUESTION))
    ids += tok.encode(" " + clean_text(question), add_special_tokens=False).ids
    ids.append(tok.token_to_id(ANSWER))
    return ids


def answer_roles(images: dict[str, str]) -> tuple[str, ...]:
    """Gives the images whose levels an answer's slots hold: A, and B for a pair."""
    return tuple(r for r in ("A", "B") if r in images)


def sequence(tok: Tokenizer, ex: Example, *, grid: bool = False) -> TokenSequence:
    """Gives the token ids of an example: prompt, slot blocks, answer text, <eos>."""
    ids = prompt_ids(tok, ex.images, ex.question, grid=grid)
    labels = [-100] * len(ids)
    n_question = len(tok.encode(" " + clean_text(ex.question), add_special_tokens=False).ids)
    question_labels = [-100] * (len(ids) - 1 - n_question) + ids[len(ids) - 1 - n_question:len(ids) - 1] + [-100]
    lp, lt, pp, pt = [], [], [], []
    # the preference comes first: read from the images, not from the level words written after it
    if ex.preference is not None:
        ids.append(tok.token_to_id(PREF_OPEN))
        labels.append(-100)
        target = np.asarray(ex.preference, np.float32)
        pp.append(len(ids))
        pt.append(target)
        ids.append(tok.token_to_id(PREF_TOKENS[int(np.argmax(target))]))
        ids.append(tok.token_to_id(PREF_CLOSE))
        labels += [-100, -100]
    for role in answer_roles(ex.images):
        ids.append(tok.token_to_id(LEVELS_OPEN))
        labels.append(-100)
        for slot in SLOT_ORDER:
            score = ex.levels[role][slot]
            lp.append(len(ids))
            lt.append(soft_levels(score))
            ids.append(tok.token_to_id(LEVEL_TOKENS[level_of(score)]))
            labels.append(-100)
        ids.append(tok.token_to_id(LEVELS_CLOSE))
        labels.append(-100)
    answer = tok.encode(" " + ex.answer, add_special_tokens=False).ids + [tok.token_to_id(EOS)]
    ids += answer
    labels += answer
    question_labels += [-100] * (len(ids) - len(question_labels))
    return TokenSequence(ids, labels, question_labels, lp, lt, pp, pt)


class FeatureStore:
    """Image vectors by key, and full-reference vectors by (image key, reference key)."""

    def __init__(self, ct_global_dim: int, grid_dim: int, ct_fr_dim: int, photo_global_dim: int = 0,
                 photo_fr_dim: int = 0):
        self.dims = {"ct": ct_global_dim, "photo": photo_global_dim, "ct_fr": ct_fr_dim, "photo_fr": photo_fr_dim,
                     "grid": grid_dim}
        self.images: dict[str, ImageTokens] = {}
        self.pairs: dict[tuple[str, str], np.ndarray] = {}

    def add(self, key: str, tokens: ImageTokens) -> None:
        self.images[key] = tokens

    def add_pair(self, key: str, reference_key: str, fr: np.ndarray) -> None:
        self.pairs[key, reference_key] = np.asarray(fr, np.float32)


def collate(seqs: list[TokenSequence], examples: list[Example], store: FeatureStore,
            pad_id: int) -> dict[str, torch.Tensor]:
    """Gives a padded batch: ids, attention mask, labels, slot positions and targets, and the image vectors."""
    b, width = len(seqs), max(len(s.ids) for s in seqs)
    ids = torch.full((b, width), pad_id, dtype=torch.long)
    labels = torch.full((b, width), -100, dtype=torch.long)
    question_labels = torch.full((b, width), -100, dtype=torch.long)
    attention = torch.zeros((b, width), dtype=torch.long)
    n_roles = len(ROLES)
    dims = store.dims
    arrays = {"ct_global": np.zeros((b, n_roles, dims["ct"]), np.float32),
              "photo_global": np.zeros((b, n_roles, max(1, dims["photo"])), np.float32),
              "grid": np.zeros((b, n_roles, GRID_TOKENS, GRID_DIM), np.float32),
              "ct_fr": np.zeros((b, n_roles, dims["ct_fr"]), np.float32),
              "photo_fr": np.zeros((b, n_roles, max(1, dims["photo_fr"])), np.float32)}
    domain = np.zeros((b, n_roles), np.int64)
    present = np.zeros((b, n_roles), bool)
    has_fr = np.zeros((b, n_roles), bool)
    lpos, ltar, ppos, ptar = [], [], [], []
    for i, (s, ex) in enumerate(zip(seqs, examples, strict=True)):
        ids[i, : len(s.ids)] = torch.tensor(s.ids)
        labels[i, : len(s.labels)] = torch.tensor(s.labels)
        question_labels[i, : len(s.question_labels)] = torch.tensor(s.question_labels)
        attention[i, : len(s.ids)] = 1
        lpos += [(i, p) for p in s.level_positions]
        ltar += s.level_targets
        ppos += [(i, p) for p in s.pref_positions]
        ptar += s.pref_targets
        ref_key = ex.images.get("reference")
        for r, role in enumerate(ROLES):
            key = ex.images.get(role)
            if key is None:
                continue
            tokens = store.images[key]
            present[i, r] = True
            domain[i, r] = 0 if tokens.domain == "ct" else 1
            arrays["ct_global" if tokens.domain == "ct" else "photo_global"][i, r] = tokens.global_vec
            arrays["grid"][i, r] = tokens.grid
            if ref_key is not None and role != "reference":
                has_fr[i, r] = True
                arrays["ct_fr" if tokens.domain == "ct" else "photo_fr"][i, r] = store.pairs[key, ref_key]
    batch = {k: torch.from_numpy(v) for k, v in arrays.items()}
    batch.update(input_ids=ids, labels=labels, question_labels=question_labels, attention_mask=attention,
                 domain=torch.from_numpy(domain),
                 present=torch.from_numpy(present), has_fr=torch.from_numpy(has_fr),
                 level_positions=torch.tensor(lpos, dtype=torch.long).reshape(-1, 2),
                 level_targets=torch.from_numpy(np.stack(ltar)) if ltar else torch.zeros((0, 5)),
                 pref_positions=torch.tensor(ppos, dtype=torch.long).reshape(-1, 2),
                 pref_targets=torch.from_numpy(np.stack(ptar)) if ptar else torch.zeros((0, 3)))
    return batch


__all__ = ["PAD", "Example", "FeatureStore", "TokenSequence", "collate", "prompt_ids", "sequence", "soft_levels",
           "soft_preference"]
