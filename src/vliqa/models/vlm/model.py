"""The quality VLM: projectors from image vectors into tokens, and a small causal language model.

    image vectors (encoder.py) --MLP projector--> tokens (global + 4x4 grid [+ full-reference])
          |                                          |
          |   spliced into the text at <img> places  |  and attended by every layer (cross-attention)
          v                                          v
    <Reference> <img>.. </Reference> <Image-A> <img>.. </Image-A> <q> question <a> <lv> slots </lv> answer <eos>
                                   GPT-2 blocks with cross-attention (transformers)

The language model is a Hugging Face `GPT2LMHeadModel` with `add_cross_attention` (IQAGPT's captioner:
text attends to image features) that also reads the image tokens in its own sequence (DepictQA's
spliced tokens, so one model handles one, two or three images). Slot positions are trained with
soft labels over their few tokens only (levels from the continuous scores, as Q-Align / DeQA-Score).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn
from transformers import GPT2Config, GPT2LMHeadModel

from vliqa.models import register_model
from vliqa.models.vlm.encoder import CT_FR_DIM, CT_GLOBAL_DIM, GRID_DIM, GRID_TOKENS

#: image slots of a batch, in the order their tokens enter the sequence
N_ROLES = 3


@dataclass
class VLMConfig:
    vocab_size: int = 2048
    d_model: int = 128
    n_layers: int = 3
    n_heads: int = 4
    max_len: int = 512
    dropout: float = 0.1
    ct_global_dim: int = CT_GLOBAL_DIM
    photo_global_dim: int = 0
    grid_dim: int = GRID_DIM
    ct_fr_dim: int = CT_FR_DIM
    photo_fr_dim: int = 0
    # token ids (set from the tokenizer when training)
    pad_id: int = 0
    eos_id: int = 1
    img_id: int = 3
    level_ids: list[int] = field(default_factory=list)
    pref_ids: list[int] = field(default_factory=list)
    # feature standardisation (fitted on the training images): name -> (mean list, std list)
    feature_stats: dict[str, list[list[float]]] = field(default_factory=dict)
    #: the question-perplexity bound above which `ask` answers "cannot tell" (fitted at training)
    question_nll_limit: float = 4.0
    #: a local pretrained causal LM (Hugging Face folder) to adapt with LoRA instead of the small GPT-2 trained
    #: from scratch; it reads every image token in its sequence (it has no cross-attention)
    llm_path: str = ""
    #: MedQM-D: the sigmoid from the VLM's diagnostic loss to 0-4 (b = 0: not fitted)
    diagnostic_a: float = 0.0
    diagnostic_b: float = 0.0
    diagnostic_fitted_to: str = ""
    lora_rank: int = 8
    lora_alpha: int = 16

    @property
    def splice_grid(self) -> bool:
        """True when the text carries every image token (a pretrained LM without cross-attention)."""
        return bool(self.llm_path)

    @classmethod
    def tiny(cls, **overrides: object) -> VLMConfig:
        """Gives a tiny configuration for tests."""
        base = {"vocab_size": 512, "d_model": 32, "n_layers": 1, "n_heads": 2, "max_len": 256}
        return cls(**{**base, **overrides})


def _projector(n_in: int, d: int) -> nn.Module:
    return nn.Sequential(nn.LayerNorm(n_in), nn.Linear(n_in, d), nn.GELU(), nn.Linear(d, d))


@register_model("quality_vlm", kind="language")
class QualityVLM(nn.Module):
    """Projectors + GPT-2 with cross-attention; `forward` gives token logits for a batch (see `collate`)."""

    config_class = VLMConfig
    kind = "language"

    def __init__(self, config: VLMConfig):
        super().__init__()
        self.config = c = config
        d = c.d_model
        self.project = nn.ModuleDict({"ct": _projector(c.ct_global_dim, d),
                                      "grid": _projector(c.grid_dim, d),
                                      "ct_fr": _projector(c.ct_fr_dim, d)})
        self.project["ct_diff"] = _projector(c.ct_global_dim, d)
        if c.photo_global_dim:
            self.project["photo"] = _projector(c.photo_global_dim, d)
            self.project["photo_diff"] = _projector(c.photo_global_dim, d)
        if c.photo_fr_dim:
            self.project["photo_fr"] = _projector(c.photo_fr_dim, d)
        self.grid_position = nn.Parameter(torch.randn(GRID_TOKENS, d) * 0.02)
        self.role = nn.Embedding(N_ROLES, d)
        self.token_type = nn.Embedding(4, d)  # global, grid, full-reference, A-minus-B difference
        if c.llm_path:
            self.lm = pretrained_with_lora(c)
        else:
            gpt = GPT2Config(vocab_size=c.vocab_size, n_positions=c.max_len, n_embd=d, n_layer=c.n_layers,
                             n_head=c.n_heads, add_cross_attention=True, resid_pdrop=c.dropout, embd_pdrop=c.dropout,
                             attn_pdrop=c.dropout, bos_token_id=c.eos_id, eos_token_id=c.eos_id,
                             pad_token_id=c.pad_id, tie_word_embeddings=False)
            self.lm = GPT2LMHeadModel(gpt)
        for name, (mean, std) in c.feature_stats.items():
            self.register_buffer(f"mean_{name}", torch.tensor(mean, dtype=torch.float32), persistent=False)
            self.register_buffer(f"std_{name}", torch.tensor(std, dtype=torch.float32), persistent=False)

    def _standardise(self, name: str, x: torch.Tensor) -> torch.Tensor:
        mean = getattr(self, f"mean_{name}", None)
        if mean is None:
            return x
        return (x - mean) / getattr(self, f"std_{name}")

    def image_tokens(self, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor,
                                                                      torch.Tensor]:
        """Gives the image tokens in sequence order (reference, A, B): all of them with their mask (B, T), what the
        cross-attention reads, and the summary tokens (global, full-reference) with theirs, what the text splices."""
        present, has_fr, domain = batch["present"], batch["has_fr"], batch["domain"]
        b = present.shape[0]
        d = self.config.d_model
        is_ct = (domain == 0)[..., None]
        ct_std = self._standardise("ct", batch["ct_global"])
        glob = is_ct * self.project["ct"](ct_std)
        # a pair's difference token (A minus B, on image B): comparing two images is reading one vector
        diff = is_ct[:, 2] * self.project["ct_diff"](ct_std[:, 1] - ct_std[:, 2])
        if "photo" in self.project:
            photo_std = self._standardise("photo", batch["photo_global"])
            glob = glob + (~is_ct) * self.project["photo"](photo_std)
            diff = diff + (~is_ct[:, 2]) * self.project["photo_diff"](photo_std[:, 1] - photo_std[:, 2])
        glob = glob + self.token_type.weight[0]
        diff = diff + self.token_type.weight[3]
        grid = self.project["grid"](self._standardise("grid", batch["grid"])) + self.grid_position
        grid = grid + self.token_type.weight[1]
        fr = is_ct * self.project["ct_fr"](self._standardise("ct_fr", batch["ct_fr"]))
        if "photo_fr" in self.project:
            fr = fr + (~is_ct) * self.project["photo_fr"](self._standardise("photo_fr", batch["photo_fr"]))
        fr = fr + self.token_type.weight[2]
        role = self.role.weight[None, :, None]  # (1, 3, 1, d)
        with_fr = (present & has_fr)[..., None]
        pair = present[:, 1] & present[:, 2]
        with_diff = torch.zeros_like(present)
        with_diff[:, 2] = pair
        diff_tokens = torch.zeros_like(glob)
        diff_tokens[:, 2] = diff
        every = torch.cat([glob[:, :, None], grid, fr[:, :, None], diff_tokens[:, :, None]], dim=2) + role
        every_mask = torch.cat([present[..., None].expand(-1, -1, 1 + GRID_TOKENS), with_fr, with_diff[..., None]],
                               dim=2)
        summary = torch.cat([glob[:, :, None], fr[:, :, None], diff_tokens[:, :, None]], dim=2) + role
        summary_mask = torch.cat([present[..., None], with_fr, with_diff[..., None]], dim=2)
        return (*_packed(every.reshape(b, -1, d), every_mask.reshape(b, -1)),
                *_packed(summary.reshape(b, -1, d), summary_mask.reshape(b, -1)))

    def embed(self, input_ids: torch.Tensor, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor,
                                                                                       torch.Tensor]:
        """Gives the input embeddings with the summary image tokens spliced at the <img> places, and every image
        token with its mask (for the cross-attention)."""
        tokens, mask, summary, summary_mask = self.image_tokens(batch)
        if self.config.splice_grid:
            summary, summary_mask = tokens, mask
        emb = self.lm.get_input_embeddings()(input_ids)
        places = input_ids == self.config.img_id
        if int(places.sum()) != int(summary_mask.sum()):
            raise ValueError(f"{int(places.sum())} <img> places for {int(summary_mask.sum())} image tokens")
        emb = emb.masked_scatter(places[..., None], summary[summary_mask])
        return emb, tokens, mask

    def forward(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """Gives the (B, L, vocab) next-token logits of a collated batch."""
        emb, tokens, mask = self.embed(batch["input_ids"], batch)
        attention = batch["attention_mask"]
        positions = (attention.long().cumsum(-1) - 1).clamp(min=0)
        out = self.lm(inputs_embeds=emb, attention_mask=attention, position_ids=positions,
                      **self.cross_inputs(tokens, mask))
        return out.logits

    def cross_inputs(self, tokens: torch.Tensor, mask: torch.Tensor) -> dict[str, torch.Tensor]:
        """Gives the cross-attention inputs of the language model (none for a pretrained LM without it)."""
        if self.config.splice_grid:
            return {}
        return {"encoder_hidden_states": tokens, "encoder_attention_mask": mask.long()}


def pretrained_with_lora(c: VLMConfig) -> nn.Module:
    """Gives the local pretrained causal LM at `c.llm_path` with LoRA adapters on its attention projections
    (q/k/v/o, or GPT-2's fused c_attn/c_proj) and trainable token embeddings for the VLM's added tokens."""
    from pathlib import Path  # noqa: PLC0415  # lazy: only the pretrained path needs these

    from peft import LoraConfig, get_peft_model  # noqa: PLC0415  # lazy: peft only for --llm
    from transformers import AutoModelForCausalLM  # noqa: PLC0415  # lazy: as above

    from vliqa.errors import DependencyUnavailableError, InputNotFoundError  # noqa: PLC0415  # lazy: as above

    if not Path(c.llm_path).is_dir():
        raise InputNotFoundError("the pretrained language model folder does not exist", path=c.llm_path,
                                 hint="pass --llm a local Hugging Face model folder (config.json + weights)")
    try:
        base = AutoModelForCausalLM.from_pretrained(c.llm_path)
    except (OSError, ValueError) as exc:
        raise DependencyUnavailableError(f"cannot load a causal LM from {c.llm_path}: {exc}",
                                         hint="the folder needs a transformers causal LM (config.json + weights)"
                                         ) from exc
    base.resize_token_embeddings(c.vocab_size)
    names = {n.rsplit(".", 1)[-1] for n, _ in base.named_modules()}
    targets = [t for t in ("q_proj", "k_proj", "v_proj", "o_proj") if t in names] or \
              [t for t in ("c_attn", "c_proj") if t in names]
    lm = get_peft_model(base, LoraConfig(r=c.lora_rank, lora_alpha=c.lora_alpha, lora_dropout=0.05,
                                         target_modules=targets, task_type="CAUSAL_LM"))
    lm.get_input_embeddings().weight.requires_grad_(True)
    lm.get_output_embeddings().weight.requires_grad_(True)
    return lm


def _packed(tokens: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Gives the masked-in tokens moved to the front of each row, in order, cut to the longest row."""
    order = torch.argsort((~mask).to(torch.int8), dim=1, stable=True)
    tokens = torch.gather(tokens, 1, order[..., None].expand(-1, -1, tokens.shape[-1]))
    mask = torch.gather(mask, 1, order)
    width = max(1, int(mask.sum(dim=1).max().item()))
    return tokens[:, :width].contiguous(), mask[:, :width].contiguous()


def slot_loss(logits: torch.Tensor, positions: torch.Tensor, targets: torch.Tensor, ids: list[int]) -> torch.Tensor:
    """Gives the soft-label cross-entropy of slot tokens: logits (B, L, V), positions (N, 2) of the slot tokens
    (batch, index), targets (N, K) probabilities over the K slot ids."""
    if positions.numel() == 0:
        return logits.sum() * 0.0
    rows = logits[positions[:, 0], positions[:, 1] - 1][:, ids]  # the token at t is predicted at t - 1
    return -(targets * F.log_softmax(rows, dim=-1)).sum(dim=-1).mean()


def text_loss(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Gives the next-token cross-entropy on answer tokens (labels -100 elsewhere)."""
    return F.cross_entropy(logits[:, :-1].reshape(-1, logits.shape[-1]), labels[:, 1:].reshape(-1),
                           ignore_index=-100)
