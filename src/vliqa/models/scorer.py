"""MedQM-I: the blind CT quality scorer — a small CNN, medical textual priors and learned queries, a gated MoE head.

Reads top to bottom: config, output, image encoder, query attention, mixture-of-experts head, the model.
The input (windowing, known-HU mask) is built by `vliqa.models.scorer_input.preprocess`; docs/scorer.md
has the reasons behind each choice.

    slices (HU) ─ preprocess ─> (B, 4, 512, 512) three display windows + known-HU mask
      └ CNN encoder (8x8 patch stem, stride 32) ─> 16x16 image tokens (d_model)
          ├ textual priors (40 sentence vectors, frozen) ─ linear ─> queries ─┐
          └ K learned implicit queries ───────────────────────────────────────┴ cross-attention over tokens
              └ self-attention mixing of the P + K slots ─> pooled ─> gated experts ─> overall, aspects, std
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from vliqa.core import ASPECTS, CTImage, get_window
from vliqa.core.memo import IMAGE_MEMO
from vliqa.errors import InvalidParameterError
from vliqa.models import Predictions, register_model
from vliqa.models.priors import DEFAULT_PRIOR_SET, EMBEDDING_DIM, Concept, load_priors
from vliqa.models.score_map import apply_score_map, check_score_map
from vliqa.models.scorer_input import preprocess, upsample_maps  # noqa: F401 - upsample_maps re-exported
from vliqa.models.scorer_texture import TextureFeatures

MAX_SCORE = 4.0
OUTPUT_MODES = ("ordinal", "regression")
#: hidden width of the attention blocks' MLPs, in multiples of d_model (2, not the usual 4: CPU budget)
MLP_RATIO = 2
#: prior_set values that are not shipped sets: no priors at all, or random vectors (ablation of the text semantics)
NO_PRIORS, RANDOM_PRIORS = "none", "random"


@dataclass(frozen=True)
class ScorerConfig:
    """Architecture and input of MedQM-I (JSON-serialisable; stored in config.json beside the weights)."""

    #: side of the square input: 512 keeps CT slices at native resolution
    input_px: int = 512
    #: display windows, one input channel each (preset names or "LEVEL,WIDTH"); the first is the reading window
    windows: tuple[str, ...] = ("ldctiqac", "lung", "bone")
    #: add a channel that is 1 where the HU are known and 0 where a display export clipped them
    known_mask: bool = True
    #: patch size and stride of the stem conv
    stem_stride: int = 8
    #: add fixed native-resolution texture measurements (band energies, MSCN statistics): scorer_texture.py
    texture: bool = True
    #: channels and number of blocks of the encoder stages; every stage after the first halves the resolution
    channels: tuple[int, ...] = (24, 48, 96)
    depths: tuple[int, ...] = (1, 1, 2)
    #: width multiplier inside the inverted residual blocks
    expand: int = 2
    d_model: int = 96
    n_heads: int = 4
    n_queries: int = 8
    mix_layers: int = 1
    #: a shipped prior set name (vliqa.models.priors), "none", or "random" (same count, random vectors)
    prior_set: str = DEFAULT_PRIOR_SET
    n_experts: int = 4
    expert_hidden: int = 128
    #: 0: dense softmax gate over all experts; k > 0: keep the k largest gates, renormalised
    top_k: int = 0
    #: "ordinal": 21 bins 0, 0.2, ..., 4, softmax -> expected value (RPS loss); "regression": score + log-variance
    output_mode: str = "ordinal"
    n_bins: int = 21
    dropout: float = 0.0
    #: knots (raw, mapped) of the monotone map `predict` applies to the overall score (score_map.py); empty: none.
    #: Fitted on the validation split at the end of training.
    overall_calibration: tuple[tuple[float, float], ...] = ()
    #: factor on the predictive std after the map, fitted on the validation split with it so that
    #: standardised errors have unit RMS (the 21-bin spread alone was about twice the error); 1: none
    std_scale: float = 1.0

    def __post_init__(self) -> None:
        if not 32 <= self.input_px <= 1024:
            raise InvalidParameterError(f"input_px must be in 32..1024, got {self.input_px}")
        if not self.windows:
            raise InvalidParameterError("the scorer needs at least one display window")
        for spec in self.windows:
            get_window(spec)  # an unknown name raises UnknownNameError listing the presets
        if len(self.channels) != len(self.depths) or not self.channels:
            raise InvalidParameterError(f"channels {self.channels} and depths {self.depths} must have the same length")
        if self.stem_stride < 1 or self.expand < 1:
            raise InvalidParameterError("stem_stride and expand must be at least 1")
        if self.texture and (self.stem_stride < 2 or self.stem_stride & (self.stem_stride - 1)):
            raise InvalidParameterError(
                f"texture=True needs a power-of-two stem_stride (the Haar cell), got {self.stem_stride}",
                hint="use stem_stride 2, 4, 8 or 16, or texture=false")
        if self.input_px % self.token_stride:
            raise InvalidParameterError(
                f"input_px {self.input_px} must be a multiple of the token stride {self.token_stride}")
        if self.d_model % self.n_heads:
            raise InvalidParameterError(f"d_model {self.d_model} must be divisible by n_heads {self.n_heads}")
        if self.output_mode not in OUTPUT_MODES:
            raise InvalidParameterError(f"output_mode must be one of {OUTPUT_MODES}, got '{self.output_mode}'")
        if self.n_bins < 2 or self.n_experts < 1 or not 0 <= self.top_k <= self.n_experts or self.n_queries < 1:
            raise InvalidParameterError("need n_bins >= 2, n_experts >= 1, 0 <= top_k <= n_experts, n_queries >= 1")
        if not 0.0 <= self.dropout < 1.0:
            raise InvalidParameterError(f"dropout must be in [0, 1), got {self.dropout}")
        object.__setattr__(self, "overall_calibration",
                           tuple(tuple(float(v) for v in k) for k in self.overall_calibration))
        check_score_map(self.overall_calibration)
        if not (np.isfinite(self.std_scale) and self.std_scale > 0):
            raise InvalidParameterError(f"std_scale must be a positive number, got {self.std_scale}")

    @property
    def in_channels(self) -> int:
        return len(self.windows) + int(self.known_mask)

    @property
    def token_stride(self) -> int:
        """Input pixels per token side: the stem's stride, halved again by each stage after the first."""
        return self.stem_stride * 2 ** (len(self.channels) - 1)

    @property
    def token_grid(self) -> int:
        return self.input_px // self.token_stride

    @classmethod
    def tiny(cls, **overrides: object) -> ScorerConfig:
        """Gives a config that builds in milliseconds and trains a few steps in seconds (tests, smoke runs)."""
        values = dict(input_px=64, stem_stride=4, channels=(8, 16, 24), depths=(1, 1, 1), d_model=32, n_heads=2,
                      n_queries=4, n_experts=2, expert_hidden=32)
        values.update(overrides)
        return cls(**values)  # type: ignore[arg-type]


@dataclass
class ScorerOutput:
    """What MedQM-I gives for a batch of B inputs (scores on 0-4, higher = better).

    overall (B,); overall_logits (B, n_bins) log-probabilities of the score bins, None in regression mode;
    aspects (B, 5) in the order of ASPECTS; std (B,) predictive standard deviation of the overall score;
    overall_log_variance (B,) in regression mode (else None); gates (B, n_experts), rows sum to 1;
    prior_attention (B, P, h, w) and query_attention (B, K, h, w): each map sums to 1 over the token grid
    (only with return_maps=True, else None).
    """

    overall: torch.Tensor
    overall_logits: torch.Tensor | None
    aspects: torch.Tensor
    std: torch.Tensor
    gates: torch.Tensor
    prior_attention: torch.Tensor | None = None
    query_attention: torch.Tensor | None = None
    overall_log_variance: torch.Tensor | None = None


# ---------------------------------------------------------------- image encoder


class ConvBNAct(nn.Module):
    """Conv -> BatchNorm -> ReLU (no ReLU with act=False); in eval mode the BatchNorm is folded into the conv."""

    def __init__(self, c_in: int, c_out: int, kernel: int = 3, stride: int = 1, groups: int = 1, act: bool = True,
                 padding: int | None = None):
        super().__init__()
        self.conv = nn.Conv2d(c_in, c_out, kernel, stride, kernel // 2 if padding is None else padding, groups=groups,
                              bias=False)
        self.bn = nn.BatchNorm2d(c_out)
        self.act = act

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.training:
            x = self.bn(self.conv(x))
        else:  # one pass over the feature map instead of two: BatchNorm is an affine map per channel
            scale = self.bn.weight / torch.sqrt(self.bn.running_var + self.bn.eps)
            x = F.conv2d(x, self.conv.weight * scale.view(-1, 1, 1, 1), self.bn.bias - self.bn.running_mean * scale,
                         self.conv.stride, self.conv.padding, 1, self.conv.groups)
        return F.relu(x, inplace=True) if self.act else x


class InvertedResidual(nn.Module):
    """x + pointwise(expand(depthwise 3x3(x))): a MobileNet-style block, cheap on CPU."""

    def __init__(self, channels: int, expand: int = 2):
        super().__init__()
        self.body = nn.Sequential(
            ConvBNAct(channels, channels, 3, groups=channels),
            ConvBNAct(channels, channels * expand, 1),
            ConvBNAct(channels * expand, channels, 1, act=False),
        )
        nn.init.zeros_(self.body[-1].bn.weight)  # each block starts as the identity: stable early training

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class ImageEncoder(nn.Module):
    """A patchify stem and stages of inverted residual blocks: (B, C, H, W) -> (B, c_last, H/stride, W/stride).

    The stem is a stem_stride x stem_stride conv with the same stride: every input pixel reaches a learned
    filter at full resolution (the pixel-level noise texture the score depends on), yet the first feature
    map is already small, which is what makes a 512 px input affordable on a CPU. Each stage after the
    first halves the resolution. BatchNorm, not GroupNorm or LayerNorm: per-image normalisation would
    rescale each slice's feature maps and erase the absolute noise magnitude.
    """

    def __init__(self, config: ScorerConfig, texture_maps: int = 0):
        super().__init__()
        c_in = config.channels[0]
        self.stem = ConvBNAct(config.in_channels, c_in, config.stem_stride, stride=config.stem_stride, padding=0)
        # the texture module's per-cell log-energies, mapped to the stem's width and added to its output
        self.texture_in = ConvBNAct(texture_maps, c_in, 1, act=False) if texture_maps else None
        stages: list[nn.Module] = []
        for i, (c_out, depth) in enumerate(zip(config.channels, config.depths, strict=True)):
            # a strided depthwise conv then a pointwise one: halves the resolution and changes the width
            down = [] if i == 0 else [ConvBNAct(c_in, c_in, 3, stride=2, groups=c_in), ConvBNAct(c_in, c_out, 1)]
            stages.append(nn.Sequential(*down, *[InvertedResidual(c_out, config.expand) for _ in range(depth)]))
            c_in = c_out
        self.stages = nn.Sequential(*stages)
        self.out_channels = c_in

    def forward(self, x: torch.Tensor, texture_maps: torch.Tensor | None = None) -> torch.Tensor:
        stem = self.stem(x)
        if self.texture_in is not None and texture_maps is not None:
            stem = stem + self.texture_in(texture_maps)
        # channels-last runs oneDNN's depthwise and pointwise convs about twice as fast on CPU; converting after
        # the stem copies a 64x smaller tensor than the input
        return self.stages(stem.contiguous(memory_format=torch.channels_last))


def sincos_position_2d(grid_h: int, grid_w: int, dim: int) -> torch.Tensor:
    """Gives fixed 2-D sine-cosine position codes (grid_h * grid_w, dim): half the channels for rows, half for
    columns."""
    quarter = dim // 4
    freqs = 1.0 / (10000 ** (torch.arange(quarter, dtype=torch.float32) / max(quarter, 1)))
    rows = torch.arange(grid_h, dtype=torch.float32)[:, None] * freqs[None]
    cols = torch.arange(grid_w, dtype=torch.float32)[:, None] * freqs[None]
    row_code = torch.cat([rows.sin(), rows.cos()], dim=1)[:, None, :].expand(grid_h, grid_w, 2 * quarter)
    col_code = torch.cat([cols.sin(), cols.cos()], dim=1)[None, :, :].expand(grid_h, grid_w, 2 * quarter)
    code = torch.cat([row_code, col_code], dim=2).reshape(grid_h * grid_w, 4 * quarter)
    return F.pad(code, (0, dim - 4 * quarter))


# ---------------------------------------------------------------- queries over the image tokens


class CrossAttention(nn.Module):
    """Multi-head attention of queries over tokens that also gives the head-averaged attention weights."""

    def __init__(self, dim: int, n_heads: int, dropout: float = 0.0):
        super().__init__()
        self.n_heads, self.head_dim = n_heads, dim // n_heads
        self.q, self.k, self.v, self.out = (nn.Linear(dim, dim) for _ in range(4))
        self.dropout = nn.Dropout(dropout)

    def forward(self, queries: torch.Tensor, keys: torch.Tensor,
                values: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Gives (attended (B, Q, dim), weights (B, Q, N) summing to 1 over the N tokens)."""
        b, nq, _ = queries.shape
        nk = keys.shape[1]
        q = self.q(queries).view(b, nq, self.n_heads, self.head_dim).transpose(1, 2)
        k = self.k(keys).view(b, nk, self.n_heads, self.head_dim).transpose(1, 2)
        v = self.v(values).view(b, nk, self.n_heads, self.head_dim).transpose(1, 2)
        weights = torch.softmax(q @ k.transpose(-2, -1) / math.sqrt(self.head_dim), dim=-1)  # (B, heads, Q, N)
        attended = (self.dropout(weights) @ v).transpose(1, 2).reshape(b, nq, -1)
        return self.out(attended), weights.mean(dim=1)


def mlp(dim: int, hidden: int, out: int, dropout: float = 0.0) -> nn.Sequential:
    """Gives Linear -> GELU -> Dropout -> Linear."""
    return nn.Sequential(nn.Linear(dim, hidden), nn.GELU(), nn.Dropout(dropout), nn.Linear(hidden, out))


class AttentionBlock(nn.Module):
    """Pre-norm transformer block: queries attend over tokens (over themselves when none are given), then an MLP."""

    def __init__(self, dim: int, n_heads: int, dropout: float = 0.0):
        super().__init__()
        self.norm_q, self.norm_mlp = nn.LayerNorm(dim), nn.LayerNorm(dim)
        self.attn = CrossAttention(dim, n_heads, dropout)
        self.mlp = mlp(dim, MLP_RATIO * dim, dim, dropout)

    def forward(self, queries: torch.Tensor, keys: torch.Tensor | None = None,
                values: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Gives (updated queries, attention weights (B, Q, N))."""
        normed = self.norm_q(queries)
        attended, weights = self.attn(normed, normed, normed) if keys is None else self.attn(normed, keys, values)
        queries = queries + attended
        return queries + self.mlp(self.norm_mlp(queries)), weights


# ---------------------------------------------------------------- gated mixture of experts


class GatedExperts(nn.Module):
    """E small MLP experts and a softmax gate over them (optionally top-k); gives every expert's output and the
    gates."""

    def __init__(self, dim: int, hidden: int, out: int, n_experts: int, top_k: int = 0, dropout: float = 0.0):
        super().__init__()
        self.top_k = top_k
        self.gate = nn.Linear(dim, n_experts)
        nn.init.zeros_(self.gate.weight)  # uniform gates at the start: every expert gets gradient
        nn.init.zeros_(self.gate.bias)
        self.experts = nn.ModuleList(mlp(dim, hidden, out, dropout) for _ in range(n_experts))

    def forward(self, pooled: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Gives (expert outputs (B, E, out), gates (B, E) summing to 1 per row)."""
        gates = torch.softmax(self.gate(pooled), dim=-1)
        if 0 < self.top_k < gates.shape[-1]:
            kept = torch.zeros_like(gates).scatter(-1, gates.topk(self.top_k, dim=-1).indices, 1.0)
            gates = gates * kept / (gates * kept).sum(dim=-1, keepdim=True)
        return torch.stack([expert(pooled) for expert in self.experts], dim=1), gates


def score_bins(n_bins: int) -> torch.Tensor:
    """Gives the bin centres 0, 4/(n-1), ..., 4 of the ordinal output (0, 0.2, ..., 4 for 21 bins)."""
    return torch.linspace(0.0, MAX_SCORE, n_bins)


# ---------------------------------------------------------------- the model


@register_model("medqm_i")
class MedQMScorer(nn.Module):
    """MedQM-I: preprocessed windows in, overall score, five aspect scores, uncertainty, gates and attention maps
    out."""

    config_class = ScorerConfig

    def __init__(self, config: ScorerConfig):
        super().__init__()
        self.config = config
        d = config.d_model
        self.texture = self._texture_module(config) if config.texture else None
        self.encoder = ImageEncoder(config, self.texture.n_maps if self.texture else 0)
        self.token_proj = nn.Conv2d(self.encoder.out_channels, d, 1)
        self.token_norm = nn.LayerNorm(d)
        self.register_buffer("token_position", sincos_position_2d(config.token_grid, config.token_grid, d),
                             persistent=False)

        # frozen sentence vectors (a buffer: saved in checkpoints, never trained); only the projection learns
        vectors, self.prior_concepts = self._prior_vectors(config.prior_set)
        self.register_buffer("prior_embeddings", vectors)
        self.prior_proj = nn.Sequential(nn.Linear(vectors.shape[1], d), nn.LayerNorm(d)) if len(vectors) else None
        self.implicit_queries = nn.Parameter(torch.randn(config.n_queries, d) * 0.02)
        self.query_block = AttentionBlock(d, config.n_heads, config.dropout)  # prior + implicit queries read the image
        # self-attention over the P + K slots: the implicit queries read what the priors found, and back
        self.mix = nn.ModuleList(AttentionBlock(d, config.n_heads, config.dropout) for _ in range(config.mix_layers))
        self.slot_norm = nn.LayerNorm(d)

        # texture statistics: a BatchNorm puts log-energies, fractions and kurtoses on one scale, then one slot's width
        self.texture_proj = nn.Sequential(nn.BatchNorm1d(self.texture.n_stats), nn.Linear(self.texture.n_stats, d),
                                          nn.GELU()) if self.texture else None
        # mean of prior slots, of implicit slots, of image tokens, and the texture statistics
        n_pooled = (3 if len(vectors) else 2) + int(self.texture is not None)
        n_out = (config.n_bins if config.output_mode == "ordinal" else 2) + len(ASPECTS)
        self.pool_norm = nn.LayerNorm(n_pooled * d)
        self.head = GatedExperts(n_pooled * d, config.expert_hidden, n_out, config.n_experts, config.top_k,
                                 config.dropout)
        self.register_buffer("bins", score_bins(config.n_bins), persistent=False)

    @staticmethod
    def _texture_module(config: ScorerConfig) -> TextureFeatures:
        """Gives the texture measurements: noise bands on the widest window (least clipping), MSCN on the reading
        window."""
        windows = [get_window(spec) for spec in config.windows]
        widest = max(range(len(windows)), key=lambda i: windows[i].width)
        return TextureFeatures(config.stem_stride, widest, windows[widest],
                               known_channel=len(windows) if config.known_mask else None, reading_channel=0)

    @staticmethod
    def _prior_vectors(prior_set: str) -> tuple[torch.Tensor, tuple[Concept, ...]]:
        """Gives the prior vectors (P, 384) and their concepts (ids and groups label the prior attention maps)."""
        if prior_set == NO_PRIORS:
            return torch.zeros(0, EMBEDDING_DIM), ()
        priors = load_priors(DEFAULT_PRIOR_SET if prior_set == RANDOM_PRIORS else prior_set)
        if prior_set == RANDOM_PRIORS:  # same count and norm, no meaning: tells whether the text semantics help
            random = torch.randn(len(priors), EMBEDDING_DIM, generator=torch.Generator().manual_seed(0))
            return F.normalize(random, dim=1), tuple(Concept(f"random_{i}", "random", "") for i in range(len(priors)))
        return torch.from_numpy(priors.embeddings.copy()), priors.concepts

    @property
    def n_priors(self) -> int:
        return int(self.prior_embeddings.shape[0])

    def forward(self, x: torch.Tensor, return_maps: bool = False) -> ScorerOutput:
        """Gives the scores of a preprocessed batch x (B, in_channels, input_px, input_px); see ScorerOutput."""
        cfg = self.config
        texture_maps, texture_stats = self.texture(x) if self.texture is not None else (None, None)
        feats = self.token_proj(self.encoder(x, texture_maps))  # (B, d, h, w)
        b, _, h, w = feats.shape
        tokens = self.token_norm(feats.flatten(2).transpose(1, 2))  # (B, N, d)
        position = self.token_position if h * w == self.token_position.shape[0] else \
            sincos_position_2d(h, w, cfg.d_model).to(tokens)
        keys = tokens + position  # position in the keys only: where to look, not what is there

        queries = self.implicit_queries.expand(b, -1, -1)
        if self.prior_proj is not None:
            queries = torch.cat([self.prior_proj(self.prior_embeddings).expand(b, -1, -1), queries], dim=1)
        slots, weights = self.query_block(queries, keys, tokens)
        for block in self.mix:
            slots = block(slots)[0]
        slots = self.slot_norm(slots)

        p = self.n_priors
        pooled = [slots[:, p:].mean(dim=1), tokens.mean(dim=1)]
        if p:
            pooled.insert(0, slots[:, :p].mean(dim=1))
        if self.texture_proj is not None:
            pooled.append(self.texture_proj(texture_stats))
        expert_out, gates = self.head(self.pool_norm(torch.cat(pooled, dim=1)))
        out = self._decode(expert_out, gates)
        if return_maps:
            maps = weights.view(b, -1, h, w)
            out.prior_attention, out.query_attention = maps[:, :p], maps[:, p:]
        return out

    def _decode(self, expert_out: torch.Tensor, gates: torch.Tensor) -> ScorerOutput:
        """Gives the gate-weighted mixture of the experts' scores, as distributions or as regressions."""
        g = gates.unsqueeze(-1)
        # a convex combination of per-expert scores in [0, 4] stays in [0, 4]
        aspects = (g * MAX_SCORE * torch.sigmoid(expert_out[..., -len(ASPECTS):])).sum(dim=1)
        if self.config.output_mode == "ordinal":
            # mix probabilities, not logits: the result is a proper mixture distribution over the score bins
            probs = (g * torch.softmax(expert_out[..., : self.config.n_bins], dim=-1)).sum(dim=1)
            overall = probs @ self.bins
            std = torch.sqrt(torch.clamp(probs @ self.bins**2 - overall**2, min=1e-8))
            return ScorerOutput(overall=overall, overall_logits=torch.log(probs.clamp_min(1e-12)), aspects=aspects,
                                std=std, gates=gates)
        overall = (gates * MAX_SCORE * torch.sigmoid(expert_out[..., 0])).sum(dim=1)
        log_var = (gates * expert_out[..., 1]).sum(dim=1).clamp(-10.0, 4.0)
        return ScorerOutput(overall=overall, overall_logits=None, aspects=aspects, std=torch.exp(0.5 * log_var),
                            gates=gates, overall_log_variance=log_var)

    def preprocess(self, images: Sequence[CTImage]) -> torch.Tensor:
        """Gives the model input for `images` (see vliqa.models.scorer_input.preprocess)."""
        return preprocess(images, self.config)

    @torch.inference_mode()
    def predict(self, images: Sequence[CTImage], *, batch_size: int = 16, raw: bool = False) -> Predictions:
        """Gives the overall and aspect scores (0-4) of `images` and the predictive std of the overall score.

        The overall score goes through the config's `overall_calibration` map, and the std through the map's
        slope and `std_scale`, unless `raw`. An image scored by these very weights a moment ago (the reader model
        runs this scorer for its artifacts aspect, the VLM encoder for its scores) is not run again
        (`vliqa.core.memo`; a weight update changes the key).
        """
        images = list(images)
        key = ("medqm_predict", self, raw, tuple(p._version for p in self.parameters()))
        rows: list[np.ndarray | None] = []
        for im in images:
            found, row = IMAGE_MEMO.lookup(im, key)
            rows.append(row if found else None)
        todo = [i for i, row in enumerate(rows) if row is None]
        if todo:
            fresh = self._predict([images[i] for i in todo], batch_size=batch_size, raw=raw)
            for j, i in enumerate(todo):
                rows[i] = IMAGE_MEMO.store(images[i], key, fresh[j])
        if not rows:
            empty = np.zeros(0)
            return Predictions(overall=empty, aspects={a: empty for a in ASPECTS}, std=empty)
        table = np.stack(rows)  # (N, 2 + len(ASPECTS)): overall, std, aspects
        aspects = {a: table[:, 2 + i].copy() for i, a in enumerate(ASPECTS)}
        return Predictions(overall=table[:, 0].copy(), aspects=aspects, std=table[:, 1].copy())

    def _predict(self, images: list[CTImage], *, batch_size: int, raw: bool) -> np.ndarray:
        """Gives (N, 2 + len(ASPECTS)) rows of overall, std and aspects, run through the network."""
        was_training = self.training
        self.eval()
        outs = [self(self.preprocess(images[i:i + batch_size])) for i in range(0, len(images), batch_size)]
        self.train(was_training)
        aspects = torch.cat([o.aspects for o in outs]).double().numpy()
        overall = torch.cat([o.overall for o in outs]).double().numpy()
        std = torch.cat([o.std for o in outs]).double().numpy()
        if not raw:
            overall, std = apply_score_map(overall, self.config.overall_calibration, std)
            std = std * self.config.std_scale
        return np.concatenate([overall[:, None], std[:, None], aspects], axis=1)


def n_parameters(model: nn.Module) -> int:
    """Gives the number of trainable parameters of `model`."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
