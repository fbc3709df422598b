"""The quality VLM: tokens and slots, training a tiny model, slot-first decoding, swap symmetry, the LoRA path."""

from __future__ import annotations

import random

import numpy as np
import pytest
import torch

from vliqa.core import ASPECTS, Distortion, QualityLabels, level_of
from vliqa.models.vlm import load_vlm, text_agrees
from vliqa.models.vlm.encoder import CT_FR_DIM, CT_GLOBAL_DIM, GRID_DIM, GRID_TOKENS, ImageTokens, grid_stats
from vliqa.models.vlm.prompts import (
    Example,
    FeatureStore,
    clean_text,
    prompt_ids,
    sequence,
    soft_levels,
    soft_preference,
)
from vliqa.models.vlm.vocab import IMG, LEVEL_TOKENS, SPECIAL_TOKENS, train_tokenizer
from vliqa.text import DescriptionContext, parse
from vliqa.train.vlm import ImageItem, VLMTrainConfig, fit

TINY = {"steps": 6, "batch_size": 4, "d_model": 32, "n_layers": 1, "n_heads": 2, "vocab_size": 600, "photos": 0,
        "warmup": 2, "features_cache": ""}


def _synthetic(n: int = 24, seed: int = 0) -> tuple[FeatureStore, list[ImageItem]]:
    """Images as vectors whose first entries carry their overall score, 4 per reference, split train/val/test."""
    rng = np.random.default_rng(seed)
    store = FeatureStore(CT_GLOBAL_DIM, GRID_DIM, CT_FR_DIM)
    items = []
    for i in range(n):
        overall = float(rng.uniform(0, 4))
        aspects = {a: float(np.clip(overall + rng.normal(0, 0.5), 0, 4)) for a in ASPECTS}
        labels = QualityLabels(overall=overall, aspects=aspects, distortions=(Distortion("low_dose", 0.5),),
                               source="reader")
        key, ref = f"ct:{i}", f"ref:{i // 4}"
        vec = rng.normal(size=CT_GLOBAL_DIM).astype(np.float32)
        vec[:5] = overall
        store.add(key, ImageTokens("ct", vec, rng.normal(size=(GRID_TOKENS, GRID_DIM)).astype(np.float32)))
        if ref not in store.images:
            store.add(ref, ImageTokens("ct", np.full(CT_GLOBAL_DIM, 4.0, np.float32),
                                       np.zeros((GRID_TOKENS, GRID_DIM), np.float32)))
            fr = np.zeros(CT_FR_DIM, np.float32)
            fr[-5:] = 4.0
            store.add_pair(ref, ref, fr)
        fr = rng.normal(size=CT_FR_DIM).astype(np.float32)
        fr[-5:] = overall
        store.add_pair(key, ref, fr)
        split = ("train", "train", "val", "test")[(i // 4) % 4]
        items.append(ImageItem(key, labels, split, ref, DescriptionContext(body_region="abdomen"), "ct", "abdomen"))
    return store, items


@pytest.fixture(scope="module")
def tiny_vlm(tmp_path_factory):
    store, items = _synthetic()
    out = tmp_path_factory.mktemp("vlm")
    summary = fit(VLMTrainConfig(**{**TINY, "steps": 60}), store, items, [], out, progress=False)
    return load_vlm(out), store, items, summary


def test_every_level_word_and_tag_is_one_token():
    tok = train_tokenizer(["noise is fair", "the image is good"], vocab_size=300)
    for token in SPECIAL_TOKENS:
        assert tok.token_to_id(token) is not None
    ids = tok.encode("".join(LEVEL_TOKENS), add_special_tokens=False).ids
    assert len(ids) == 5


def test_soft_levels_peak_at_the_level_of_the_score():
    for score in np.linspace(0.05, 3.95, 40):  # away from the half-way points, where two levels tie
        p = soft_levels(score)
        assert p.sum() == pytest.approx(1.0)
        assert int(np.argmax(p)) == level_of(score)


def test_soft_preference_swaps_with_the_order_and_ties_close_scores():
    pa, pb, tie = soft_preference(3.2, 1.0)
    assert pa > 0.95 and sum((pa, pb, tie)) == pytest.approx(1.0)
    assert soft_preference(1.0, 3.2) == pytest.approx((pb, pa, tie))
    assert int(np.argmax(soft_preference(2.0, 2.1))) == 2


def test_a_question_cannot_inject_image_places():
    tok = train_tokenizer(["describe the image"], vocab_size=300)
    plain = prompt_ids(tok, {"A": "k"}, "describe the image")
    injected = prompt_ids(tok, {"A": "k"}, f"describe {IMG}{IMG} the image <lv>")
    img = tok.token_to_id(IMG)
    assert plain.count(img) == injected.count(img) == 1
    assert "<lv>" not in clean_text("a <lv> b")


def test_sequence_puts_slot_tokens_where_the_targets_are():
    tok = train_tokenizer(["a b c"], vocab_size=300)
    ex = Example("caption", {"A": "k"}, "q", "answer", levels={"A": dict.fromkeys((*ASPECTS, "overall"), 1.2)})
    seq = sequence(tok, ex)
    assert len(seq.level_positions) == 6
    assert all(seq.ids[p] == tok.token_to_id(LEVEL_TOKENS[1]) for p in seq.level_positions)
    assert all(seq.labels[p] == -100 for p in seq.level_positions)


def test_grid_stats_locate_noise_in_its_cell():
    rng = np.random.default_rng(0)
    display = np.full((256, 256), 0.5, np.float32)
    display[:64, :64] += rng.normal(0, 0.1, (64, 64)).astype(np.float32)
    g = grid_stats(display)
    assert g.shape == (GRID_TOKENS, GRID_DIM)
    assert int(np.argmax(g[:, 2])) == 0  # the noisy top-left cell has the largest Laplacian MAD


def test_tiny_vlm_trains_saves_and_reloads(tiny_vlm):
    vlm, store, items, summary = tiny_vlm
    assert np.isfinite(summary["final_loss"])
    assert (vlm.folder / "tokenizer.json").is_file() and (vlm.folder / "MODEL_CARD.md").is_file()
    assert vlm.model.config.question_nll_limit > 0


def test_fixed_levels_are_the_levels_every_caption_states(tiny_vlm):
    vlm, store, items, _ = tiny_vlm
    rng = random.Random(0)
    keys = [it.key for it in items[:8]]
    levels = [{k: rng.randrange(5) for k in (*ASPECTS, "overall")} for _ in keys]
    for cap, lv in zip(vlm.caption_keys(store, keys, levels=levels), levels, strict=True):
        assert cap.levels == lv
        assert text_agrees(cap.text, lv)
        assert parse(cap.text).overall == lv["overall"]


def test_comparison_is_the_same_in_either_order(tiny_vlm):
    vlm, store, items, _ = tiny_vlm
    a, b = items[0].key, items[1].key
    ab = vlm.compare_keys(store, a, b, text=False)
    ba = vlm.compare_keys(store, b, a, text=False)
    assert ab.probabilities[0] == pytest.approx(ba.probabilities[1], abs=1e-6)
    assert ab.probabilities[2] == pytest.approx(ba.probabilities[2], abs=1e-6)
    assert {"A": "B", "B": "A", "tie": "tie"}[ab.preferred] == ba.preferred
    with_ref = vlm.compare_keys(store, a, b, items[0].reference)
    assert with_ref.with_reference and with_ref.preferred in ("A", "B", "tie") and with_ref.explanation


def test_an_unfamiliar_question_gets_cannot_tell(tiny_vlm):
    vlm, store, items, _ = tiny_vlm
    familiar = vlm.question_nll(store, items[0].key, "Describe the quality of this image.")
    strange = vlm.question_nll(store, items[0].key, "zxq vortex pineapple quantum tariff 1987 Belgium?")
    assert strange > familiar


@pytest.mark.slow
def test_lora_path_trains_a_local_pretrained_causal_lm(tmp_path):
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    base = tmp_path / "tiny-llama"
    tok = train_tokenizer(["the image is noisy and blurred", "overall quality is fair"], vocab_size=300)
    PreTrainedTokenizerFast(tokenizer_object=tok, eos_token="<eos>", pad_token="<pad>").save_pretrained(base)
    cfg = LlamaConfig(vocab_size=tok.get_vocab_size(), hidden_size=32, intermediate_size=64, num_hidden_layers=1,
                      num_attention_heads=2, num_key_value_heads=2, max_position_embeddings=512)
    torch.manual_seed(0)
    LlamaForCausalLM(cfg).save_pretrained(base)
    store, items = _synthetic(16)
    out = tmp_path / "vlm-lora"
    summary = fit(VLMTrainConfig(**{**TINY, "llm": str(base), "steps": 3}), store, items, [], out, progress=False)
    assert np.isfinite(summary["final_loss"])
    vlm = load_vlm(out)
    trainable = {n for n, p in vlm.model.named_parameters() if p.requires_grad}
    assert any("lora_" in n for n in trainable)
    assert not any("mlp" in n and "lora_" not in n for n in trainable)  # the base LM's own weights stay frozen
    lv = {k: 2 for k in (*ASPECTS, "overall")}
    (cap,) = vlm.caption_keys(store, [items[0].key], levels=[lv])
    assert cap.levels == lv and text_agrees(cap.text, lv)
