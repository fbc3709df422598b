"""A lean incremental forward of the VLM's GPT-2 (with cross-attention), on the loaded model's own weights.

Hugging Face's GPT-2 forward spends ~3 ms a decode step in Python (output capture, cache objects, mask
factories) on a model this small. `LeanGPT2` runs the same tensor operations in the same order, on the
same shapes: self-attention keys/values in preallocated buffers, the image tokens' cross-attention keys/values
computed once, masks built as Hugging Face builds them for SDPA (none where nothing is masked). So its logits
equal the Hugging Face forward's bit for bit on CPU, and greedy decoding gives the same tokens.

    x = wte[token] + wpe[position]
    per block:  x += attn(ln_1 x)              causal, self keys/values cached
                x += crossattention(ln_cross x)  image tokens' keys/values computed once
                x += mlp(ln_2 x)
    logits = lm_head(ln_f x)
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn


def lean_supported(lm: nn.Module) -> bool:
    """Tells whether `LeanGPT2` reproduces `lm`: a Hugging Face GPT-2 LM with cross-attention, SDPA attention,
    in eval mode (anything else, e.g. a LoRA-wrapped pretrained LM, decodes through Hugging Face)."""
    from transformers import GPT2LMHeadModel  # noqa: PLC0415  # lazy: only to recognise the class

    if type(lm) is not GPT2LMHeadModel or lm.training:
        return False
    config = lm.config
    return (config._attn_implementation == "sdpa" and bool(config.add_cross_attention)
            and all(hasattr(block, "crossattention") for block in lm.transformer.h))


def _conv(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
    """Gives Hugging Face's Conv1D of `x` (the same kernel: addmm on the rows)."""
    return torch.addmm(bias, x.reshape(-1, x.shape[-1]), weight).view(*x.shape[:-1], weight.shape[1])


def _gelu_new(x: torch.Tensor) -> torch.Tensor:
    """Gives GPT-2's tanh GELU, written as transformers' `NewGELUActivation` writes it (so the same bits)."""
    return 0.5 * x * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * torch.pow(x, 3.0))))


@dataclass(frozen=True)
class _Block:
    """One GPT-2 block's weights, read from the loaded modules once (attribute look-ups cost more than the maths)."""

    ln_1: tuple[torch.Tensor, torch.Tensor, float]
    qkv: tuple[torch.Tensor, torch.Tensor]
    proj: tuple[torch.Tensor, torch.Tensor]
    scale: float
    ln_cross: tuple[torch.Tensor, torch.Tensor, float]
    cross_q: tuple[torch.Tensor, torch.Tensor]
    cross_kv: tuple[torch.Tensor, torch.Tensor]
    cross_proj: tuple[torch.Tensor, torch.Tensor]
    cross_scale: float
    ln_2: tuple[torch.Tensor, torch.Tensor, float]
    fc: tuple[torch.Tensor, torch.Tensor]
    fc_proj: tuple[torch.Tensor, torch.Tensor]
    act: Callable[[torch.Tensor], torch.Tensor]

    @classmethod
    def of(cls, block: nn.Module) -> _Block:
        def ln(m: nn.Module) -> tuple[torch.Tensor, torch.Tensor, float]:
            return m.weight, m.bias, m.eps

        def conv(m: nn.Module) -> tuple[torch.Tensor, torch.Tensor]:
            return m.weight, m.bias

        from transformers.activations import NewGELUActivation  # noqa: PLC0415  # lazy: beside its one use

        attn, cross, mlp = block.attn, block.crossattention, block.mlp
        act = _gelu_new if type(mlp.act) is NewGELUActivation else mlp.act
        return cls(ln(block.ln_1), conv(attn.c_attn), conv(attn.c_proj), attn.scaling, ln(block.ln_cross_attn),
                   conv(cross.q_attn), conv(cross.c_attn), conv(cross.c_proj), cross.scaling, ln(block.ln_2),
                   conv(mlp.c_fc), conv(mlp.c_proj), act)


class LeanGPT2:
    """Incremental forward of a loaded `GPT2LMHeadModel` over a batch: `prefill` a (left-padded) prompt, then
    `step` one token per row; both give the next-token logits (B, vocab) at the last position. `keep` drops
    finished rows, so they cost nothing more."""

    def __init__(self, lm: nn.Module, encoder_states: torch.Tensor, encoder_mask: torch.Tensor, capacity: int):
        gpt = lm.transformer
        self.blocks = [_Block.of(block) for block in gpt.h]
        self.wte, self.wpe = gpt.wte.weight, gpt.wpe.weight
        self.ln_f = gpt.ln_f.weight, gpt.ln_f.bias, gpt.ln_f.eps
        self.head_weight = lm.lm_head.weight
        first = gpt.h[0].attn
        self.n_heads, self.head_dim, self.d = first.num_heads, first.head_dim, first.embed_dim
        b = encoder_states.shape[0]
        self.capacity, self.length = capacity, 0
        shape = (b, self.n_heads, capacity, self.head_dim)
        self.keys = [encoder_states.new_empty(shape) for _ in self.blocks]
        self.values = [encoder_states.new_empty(shape) for _ in self.blocks]
        # the image tokens' keys/values, once per decode (Hugging Face caches them after the prompt too)
        self.cross = [tuple(self._heads(t) for t in _conv(encoder_states, *block.cross_kv).split(self.d, dim=2))
                      for block in self.blocks]
        self.cross_padding = encoder_mask.bool()

    def _heads(self, x: torch.Tensor) -> torch.Tensor:
        return x.view(*x.shape[:-1], -1, self.head_dim).transpose(1, 2)

    def prefill(self, embeds: torch.Tensor, attention: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
        """Gives the logits after a prompt: `embeds` (B, L, d) input embeddings, `attention` (B, L) 1 on tokens,
        `positions` (B, L) position ids; fills the caches."""
        self.length = 0
        padding = attention.bool()
        length = padding.shape[1]
        mask = None  # as Hugging Face's `create_causal_mask` for SDPA: none without padding (SDPA's causal flag)
        if not bool(padding.all()):
            causal = torch.ones((length, length), dtype=torch.bool, device=padding.device).tril()
            mask = causal[None, None] & padding[:, None, None, :]
        return self._forward(embeds, positions, mask)

    def step(self, tokens: torch.Tensor, attention: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
        """Gives the logits after one more token per row: `tokens` (B,), `attention` (B, L + 1) all the mask so
        far, `positions` (B,)."""
        padding = attention.bool()
        mask = None if bool(padding.all()) else padding[:, None, None, :]
        return self._forward(F.embedding(tokens[:, None], self.wte), positions[:, None], mask)

    def keep(self, rows: torch.Tensor) -> None:
        """Keeps only `rows` (indices into the current batch) in the caches."""
        filled = self.length
        for cache in (self.keys, self.values):
            for i, buffer in enumerate(cache):
                kept = buffer.new_empty((len(rows), *buffer.shape[1:]))
                kept[:, :, :filled] = buffer[rows, :, :filled]
                cache[i] = kept
        self.cross = [(k[rows], v[rows]) for k, v in self.cross]
        self.cross_padding = self.cross_padding[rows]

    def _forward(self, x: torch.Tensor, positions: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        q_length = x.shape[1]
        start, end = self.length, self.length + q_length
        if end > self.capacity:
            raise ValueError(f"the lean decoder holds {self.capacity} positions, {end} asked")
        x = x + F.embedding(positions, self.wpe)
        causal = mask is None and q_length > 1
        cross_mask = None
        if not bool(self.cross_padding.all()):
            cross_mask = self.cross_padding[:, None, None, :].expand(-1, -1, q_length, -1)
        shape = x.shape
        for block, keys, values, (cross_k, cross_v) in zip(self.blocks, self.keys, self.values, self.cross,
                                                          strict=True):
            q, k, v = _conv(F.layer_norm(x, shape[-1:], *block.ln_1), *block.qkv).split(self.d, dim=2)
            k, v = self._heads(k), self._heads(v)
            keys[:, :, start:end] = k
            values[:, :, start:end] = v
            if start:
                k, v = keys[:, :, :end], values[:, :, :end]
            out = F.scaled_dot_product_attention(self._heads(q), k, v, attn_mask=mask, is_causal=causal,
                                                 scale=block.scale)
            x = _conv(out.transpose(1, 2).reshape(shape), *block.proj) + x
            q = self._heads(_conv(F.layer_norm(x, shape[-1:], *block.ln_cross), *block.cross_q))
            out = F.scaled_dot_product_attention(q, cross_k, cross_v, attn_mask=cross_mask, scale=block.cross_scale)
            x = x + _conv(out.transpose(1, 2).reshape(shape), *block.cross_proj)
            x = x + _conv(block.act(_conv(F.layer_norm(x, shape[-1:], *block.ln_2), *block.fc)), *block.fc_proj)
        self.length = end
        return F.linear(F.layer_norm(x[:, -1], shape[-1:], *self.ln_f), self.head_weight)


class HFDecoder:
    """`LeanGPT2`'s interface over the Hugging Face forward with its cache: for any language model (the LoRA path),
    and the reference the lean decoder is tested against."""

    def __init__(self, lm: nn.Module, cross: dict[str, torch.Tensor]):
        self.lm, self.cross, self.past = lm, cross, None

    def prefill(self, embeds: torch.Tensor, attention: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
        result = self.lm(inputs_embeds=embeds, attention_mask=attention, position_ids=positions, use_cache=True,
                         **self.cross)
        self.past = result.cache
        return result.logits[:, -1]

    def step(self, tokens: torch.Tensor, attention: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
        result = self.lm(inputs_embeds=self.lm.get_input_embeddings()(tokens[:, None]), attention_mask=attention,
                         position_ids=positions[:, None], cache=self.past, use_cache=True, **self.cross)
        self.past = result.cache
        return result.logits[:, -1]


__all__ = ["HFDecoder", "LeanGPT2", "lean_supported"]
