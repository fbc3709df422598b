"""The VLM's lean decoder: the same logits as Hugging Face's GPT-2 forward, and the same decoded answers."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest
import torch
from transformers import GPT2Config, GPT2LMHeadModel

from vliqa.io import load
from vliqa.models import SHIPPED_DIR
from vliqa.models.vlm import fastdecode
from vliqa.models.vlm.fastdecode import HFDecoder, LeanGPT2, lean_supported
from vliqa.models.vlm.generate import CAPTION_QUESTION, COMPARE_QUESTION, NO_REPEAT_NGRAM, _no_repeat

SAMPLES = Path(__file__).resolve().parents[2] / "src" / "vliqa" / "samples"
needs_shipped_vlm = pytest.mark.skipif(not (SHIPPED_DIR / "vlm" / "model.safetensors").is_file(),
                                       reason="the shipped quality VLM is not built (make train-vlm)")


@pytest.fixture(scope="module")
def vlm():
    from vliqa.models.vlm import load_vlm

    return load_vlm()


@pytest.fixture(scope="module")
def slices():
    """Every bundled slice: the abdomen series, then the head series."""
    out = []
    for series in ("abdomen_ct_dicom", "head_ct_dicom"):
        volume = load(SAMPLES / series)
        out += [volume.slice(i) for i in range(len(volume))]
    return out


@contextmanager
def _through_hugging_face(vlm) -> Iterator[None]:
    vlm._lean_decode = False
    try:
        yield
    finally:
        vlm._lean_decode = True


def _both_paths(vlm, run):
    """Gives run()'s result through the lean decoder, then through Hugging Face's forward, and how many times the
    lean decoder dropped finished rows."""
    calls = {"prefill": 0, "keep": 0}

    def counted(name):
        method = getattr(LeanGPT2, name)

        def call(self, *args):
            calls[name] += 1
            return method(self, *args)
        return call

    with pytest.MonkeyPatch.context() as patch:
        for name in calls:
            patch.setattr(fastdecode.LeanGPT2, name, counted(name))
        lean = run()
    assert calls["prefill"], "the lean decoder was not used"
    with _through_hugging_face(vlm):
        reference = run()
    return lean, reference, calls["keep"]


def _plain(items):
    return [dataclasses.asdict(x) if dataclasses.is_dataclass(x) else x for x in items]


@needs_shipped_vlm
def test_lean_logits_equal_hugging_face_over_a_padded_prompt_and_cached_steps(vlm, slices):
    store = vlm._store()
    keys = vlm._add_images(store, slices[:3] + slices[-1:], "img")
    images = [{"A": keys[0]}, {"A": keys[1], "B": keys[3]}, {"A": keys[2]}, {"A": keys[3], "B": keys[0]}]
    questions = [CAPTION_QUESTION, COMPARE_QUESTION, "Is it noisy?", "Which is better?"]
    with torch.no_grad():
        emb, tokens, mask, attention, _ = vlm.prompt_batch(store, images, questions)
        assert not bool(attention.all()) and not bool(mask.all())  # left padding, and rows with fewer image tokens
        positions = (attention.cumsum(-1) - 1).clamp(min=0)
        lean = LeanGPT2(vlm.model.lm, tokens, mask, capacity=attention.shape[1] + 12)
        hf = HFDecoder(vlm.model.lm, vlm.model.cross_inputs(tokens, mask))
        diffs = [float((lean.prefill(emb, attention, positions) - hf.prefill(emb, attention, positions)).abs().max())]
        rng = torch.Generator().manual_seed(0)
        last, kept = positions[:, -1], torch.arange(4)
        for step in range(10):
            token = torch.randint(30, vlm.model.config.vocab_size, (4,), generator=rng)
            live = torch.tensor([1, 1, int(step < 4), int(step < 6)])  # row 2 finishes, then row 3
            attention = torch.cat([attention, live[:, None]], 1)
            last = last + 1
            if step == 7:  # the lean decoder drops the finished rows; Hugging Face keeps them
                kept = torch.tensor([0, 1])
                lean.keep(kept)
            reference = hf.step(token, attention, last)[kept]
            diffs.append(float((lean.step(token[kept], attention[kept], last[kept]) - reference).abs().max()))
    assert max(diffs) < 1e-4, diffs


@needs_shipped_vlm
def test_every_bundled_slice_gets_the_same_caption_through_both_paths(vlm, slices):
    assert lean_supported(vlm.model.lm)
    rng = np.random.default_rng(0)  # noisier copies: captions of other lengths, so finished rows are dropped
    noisy = [s.replace(hu=s.hu + rng.normal(0, sigma, s.shape).astype(np.float32))
             for s, sigma in zip(slices[::4], (15, 40, 80, 120, 160), strict=False)]
    store = vlm._store()
    keys = vlm._add_images(store, slices + noisy, "img")
    fixed = [{"noise": 1, "artifacts": 2, "sharpness": 3, "contrast": 0, "texture": 4, "overall": 1}] * 4

    def run():
        images = [{"A": k} for k in keys]
        return (_plain(vlm.decode(store, images, [CAPTION_QUESTION] * len(keys))),
                _plain(vlm.caption_keys(store, keys)), _plain(vlm.caption_keys(store, keys[:4], levels=fixed)),
                vlm.identify_keys(store, keys))

    lean, reference, dropped = _both_paths(vlm, run)
    assert lean == reference
    assert dropped and len({d["text"] for d in lean[0]}) > 1


@needs_shipped_vlm
def test_comparisons_and_answers_are_the_same_through_both_paths(vlm, slices):
    store = vlm._store()
    keys = vlm._add_images(store, slices, "img")
    ref = vlm._add_images(store, slices[:1], "ref")[0]
    vlm._add_pairs(store, keys[1:3], slices[1:3], ref, slices[0])

    def run():
        verdicts = [vlm.compare_keys(store, keys[a], keys[b]) for a, b in ((0, 5), (3, len(keys) - 1))]
        verdicts.append(vlm.compare_keys(store, keys[1], keys[2], ref))
        mixed = vlm.decode(store, [{"A": keys[0]}, {"A": keys[1], "B": keys[-1]}, {"A": keys[-2]}],
                           [CAPTION_QUESTION, COMPARE_QUESTION, "Is this image over-smoothed?"])
        answers = [vlm.ask(slices[i], q) for i, q in ((2, "is this image over-smoothed?"),
                                                      (-1, "could a 5 mm lesion be missed?"))]
        return _plain(verdicts), _plain(mixed), _plain(answers)

    lean, reference, _ = _both_paths(vlm, run)
    assert lean == reference
    assert all(v["model_probabilities"] != (0.0, 0.0, 0.0) for v in lean[0])


def _no_repeat_one_row(logits: torch.Tensor, so_far: list[int], n: int = NO_REPEAT_NGRAM) -> int:
    """The rule for one row, written plainly: the greedy token, skipping any that would repeat an n-gram."""
    if len(so_far) >= n - 1:
        prefix = so_far[len(so_far) - (n - 1):]
        banned = [so_far[k + n - 1] for k in range(len(so_far) - n + 1) if so_far[k:k + n - 1] == prefix]
        if banned:
            logits = logits.clone()
            logits[banned] = float("-inf")
    return int(torch.argmax(logits))


def test_the_batched_no_repeat_rule_bans_what_the_one_row_rule_bans():
    rng = np.random.default_rng(3)
    rows, width, vocab = 12, 40, 9
    history = torch.tensor(rng.integers(0, 2, (rows, width)))  # two tokens: chance repeats of 5 tokens
    lengths = torch.tensor(rng.integers(0, width + 1, rows))
    for i in range(0, rows, 2):  # plant one: the last 5 tokens once before, followed by token 2
        lengths[i] = int(rng.integers(20, width + 1))
        end = int(lengths[i])
        history[i, 3:8] = history[i, end - 5:end]
        history[i, 8] = 2
    logits = torch.tensor(rng.normal(size=(rows, vocab)), dtype=torch.float32)
    logits[:, 2] += 10.0  # the planted token is the greedy choice
    batched = _no_repeat(logits, history, lengths).tolist()
    one_by_one = [_no_repeat_one_row(logits[i], history[i, :int(lengths[i])].tolist()) for i in range(rows)]
    assert batched == one_by_one
    assert all(batched[i] != 2 for i in range(0, rows, 2))


def test_only_a_gpt2_with_cross_attention_in_eval_mode_takes_the_lean_path():
    def tiny(**overrides):
        config = {"vocab_size": 16, "n_positions": 32, "n_embd": 8, "n_layer": 1, "n_head": 2, "bos_token_id": 1,
                  "eos_token_id": 1, "add_cross_attention": True}
        return GPT2LMHeadModel(GPT2Config(**{**config, **overrides})).eval()

    assert lean_supported(tiny())
    assert not lean_supported(tiny(add_cross_attention=False))
    assert not lean_supported(tiny().train())
    assert not lean_supported(tiny(attn_implementation="eager"))
    assert not lean_supported(torch.nn.Linear(2, 2))
