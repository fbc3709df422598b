"""Trains the quality VLM (`make train-vlm`): examples from a CT-IQA dataset and photos, a tokenizer, the model.

Sources and labels:
- CT: a dataset folder of `vliqa data build` (degraded slices of real CT and phantoms with their references).
  Levels are the reader-fitted labeller's: the `reader` model's full-reference scores of each slice against
  its reference (overall, noise, texture, sharpness, contrast) with the physics artefact score (readers'
  studies grade no artefacts); distortions and where come from the build's records.
- photos: scikit-image's photographs with DepictQA's distortion families (`vliqa.data.photos`).

Tasks per image: caption (IQAGPT), distortion identification, free questions (including ones the image
cannot answer); per pair of slices of one reference, and of two photos of one crop: comparison and
reasoning, with and without the reference, both orders. Phrasings are drawn anew each step from the
template banks, so the model learns the meaning, not one sentence.
"""

from __future__ import annotations

import json
import logging
import random
import time
import zlib
from dataclasses import asdict, dataclass
from itertools import combinations
from pathlib import Path
from typing import Any

import numpy as np
import torch

from vliqa.core import ASPECTS, Distortion, QualityLabels
from vliqa.data.labelled import manifest_rows
from vliqa.errors import DatasetError, InvalidParameterError
from vliqa.io import load
from vliqa.io.write import atomic_path
from vliqa.models import save_checkpoint
from vliqa.models.vlm.diagnostic import diagnostic_question, pair_loss
from vliqa.models.vlm.encoder import CT_FR_DIM, CT_GLOBAL_DIM, GRID_DIM, ImageTokens, VisionEncoder
from vliqa.models.vlm.generate import QualityVLMPredictor
from vliqa.models.vlm.model import QualityVLM, VLMConfig, slot_loss, text_loss
from vliqa.models.vlm.prompts import Example, FeatureStore, collate, sequence, soft_preference
from vliqa.models.vlm.vocab import LEVEL_TOKENS, PREF_TOKENS, TOKENIZER_FILE, train_tokenizer
from vliqa.text import DescriptionContext, compare, describe, identify_text, question_for
from vliqa.text.questions import QUESTION_KINDS, answer_question, sample_question
from vliqa.train.common import run_steps
from vliqa.train.distributed import SINGLE, Workers

logger = logging.getLogger("vliqa.train")

#: question kinds drawn for free questions, and how often (unanswerable ones keep "I cannot tell" in mind)
ASK_WEIGHTS = {k: 1.0 for k in QUESTION_KINDS} | {"unanswerable": 1.5, "lesion": 1.5}
#: weight of the question tokens' loss beside the answer's (it only has to tell familiar questions)
QUESTION_WEIGHT = 0.3
#: how much less likely per token than a taught question a question may be before `ask` says "cannot tell"
QUESTION_NLL_MARGIN = 7.0
#: weights of the slot losses beside the text's: the numbers every answer states come from the slots
LEVEL_WEIGHT, PREFERENCE_WEIGHT = 2.0, 3.0
_TAG_WORDS = {"<image_A>": "Image A", "<image_B>": "Image B", "<image_ref>": "the reference"}


@dataclass(frozen=True)
class VLMTrainConfig:
    data: tuple[str, ...] = ("data/vlm-ct",)
    photos: int = 600
    steps: int = 4000
    batch_size: int = 16
    learning_rate: float = 1e-3
    warmup: int = 150
    seed: int = 0
    vocab_size: int = 2048
    d_model: int = 128
    n_layers: int = 3
    n_heads: int = 4
    max_pairs_per_reference: int = 6
    features_cache: str = "data/vlm-features.npz"
    #: a local pretrained causal LM folder to adapt with LoRA (the DepictQA recipe) instead of the small GPT-2
    llm: str | None = None
    device: str = "cpu"


@dataclass
class ImageItem:
    """One training image: key, domain, labels, where, and its reference key."""

    key: str
    labels: QualityLabels
    split: str
    reference: str | None
    context: DescriptionContext
    domain: str = "ct"
    region: str | None = None


def _words(question: str) -> str:
    for tag, word in _TAG_WORDS.items():
        question = question.replace(tag, word)
    return question


def _distortions(degradations_json: str) -> tuple[Distortion, ...]:
    out = []
    for step in json.loads(degradations_json or "[]"):
        name = step.get("name")
        if name:
            out.append(Distortion(name=name, severity=float(step.get("severity", 0.5))))
    return tuple(out)


# ---------------------------------------------------------------- CT features and labels

def ct_items(folders: tuple[str, ...], encoder: VisionEncoder, store: FeatureStore, cache: Path | None,
             progress: bool = True) -> list[ImageItem]:
    """Gives the CT images of the dataset folders with reader-fitted labels; their vectors go into `store`."""
    rows = []
    for folder in folders:
        for row in manifest_rows(folder, "all"):
            rows.append((Path(folder), row))
    if not rows:
        raise DatasetError(f"no images in {', '.join(folders)}", hint="build one with `vliqa data build`")
    cached = _read_cache(cache)
    todo = [(f, r) for f, r in rows if f"ct:{r['id']}" not in cached["global"]]
    refs_todo = sorted({(str(f), r["reference_id"], r["reference_path"]) for f, r in rows
                        if f"ref:{r['reference_id']}" not in cached["global"]})
    chunk = 32

    def encode(batch_keys: list[str], images: list[Any]) -> None:
        for key, tokens in zip(batch_keys, encoder.encode_ct(images), strict=True):
            cached["global"][key] = tokens.global_vec
            cached["grid"][key] = tokens.grid

    for start in range(0, len(refs_todo), chunk):
        part = refs_todo[start:start + chunk]
        refs = [load(str(Path(f) / p)) for f, _, p in part]
        encode([f"ref:{rid}" for _, rid, _ in part], refs)
        for (_, rid, _), row in zip(part, encoder.encode_ct_pairs(refs, refs), strict=True):
            cached["fr"][f"ref:{rid}"] = row
        logger.info("reference vectors %d/%d", min(start + chunk, len(refs_todo)), len(refs_todo))
    for start in range(0, len(todo), chunk):
        part = todo[start:start + chunk]
        images = [load(str(f / r["path"])) for f, r in part]
        encode([f"ct:{r['id']}" for _, r in part], images)
        refs = [load(str(f / r["reference_path"])) for f, r in part]
        fr = encoder.encode_ct_pairs(images, refs)
        for (_, r), row in zip(part, fr, strict=True):
            cached["fr"][f"ct:{r['id']}"] = row
        logger.info("image vectors %d/%d", min(start + chunk, len(todo)), len(todo))
        if cache is not None and (start // chunk) % 10 == 9:
            _write_cache(cache, cached)
    if cache is not None and (todo or refs_todo):
        _write_cache(cache, cached)
    items = []
    for _, r in rows:
        key, ref = f"ct:{r['id']}", f"ref:{r['reference_id']}"
        store.add(key, ImageTokens("ct", cached["global"][key], cached["grid"][key]))
        store.add(ref, ImageTokens("ct", cached["global"][ref], cached["grid"][ref]))
        fr = cached["fr"][key]
        store.add_pair(key, ref, fr)
        labels = reader_labels(fr, r)
        organs = tuple(json.loads(r.get("organs") or "[]"))
        region = r.get("region") or None
        ctx = DescriptionContext(body_region=region if region in ("abdomen", "chest", "head") else None,
                                 organs=organs)
        items.append(ImageItem(key, labels, r["split"], ref, ctx, "ct", region))
        store.add_pair(ref, ref, cached["fr"][ref])  # the reference against itself (a clean image in a pair)
    return items


def reader_labels(fr: np.ndarray, row: dict[str, Any]) -> QualityLabels:
    """Gives the reader-fitted labels of a dataset row: the reader's full-reference scores (the last five values
    of its full-reference vector: overall, noise, texture, sharpness, contrast) and the physics artefact score."""
    overall, noise, texture, sharpness, contrast = (float(v) for v in fr[-5:])
    artifacts = float(row["artifacts"])
    # readers' grades carry no artefacts: an artefact the physics sees caps the verdict at its level
    overall = min(overall, artifacts + 0.5)
    aspects = {"noise": noise, "artifacts": artifacts, "sharpness": sharpness, "contrast": contrast,
               "texture": texture}
    aspects = {a: float(np.clip(v, 0.0, 4.0)) for a, v in aspects.items()}
    return QualityLabels(overall=float(np.clip(overall, 0.0, 4.0)), aspects=aspects,
                         distortions=_distortions(row.get("degradations", "[]")), source="reader")


def _read_cache(path: Path | None) -> dict[str, dict[str, np.ndarray]]:
    out: dict[str, dict[str, np.ndarray]] = {"global": {}, "grid": {}, "fr": {}}
    if path is None or not path.is_file():
        return out
    with np.load(path) as z:
        for name in z.files:
            part, _, key = name.partition("|")
            out[part][key] = z[name]
    return out


def _write_cache(path: Path, cached: dict[str, dict[str, np.ndarray]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp.npz")
    np.savez(tmp, **{f"{part}|{key}": v for part, d in cached.items() for key, v in d.items()})
    tmp.replace(path)


# ---------------------------------------------------------------- photos

def photo_items(n: int, store: FeatureStore, encoder: VisionEncoder, seed: int, *, n_pairs: int | None = None,
                cache: Path | None = None) -> tuple[list[ImageItem], list[tuple[str, str, str]]]:
    """Gives photo items of every split and photo pairs (a, b, reference key) with their vectors in `store`:
    `n` single distorted crops and `n_pairs` (default n / 2) pairs of two distortions of one crop."""
    from vliqa.data.photos import photo_pairs, photo_samples  # noqa: PLC0415  # lazy: the photo domain is optional

    items: list[ImageItem] = []
    pairs: list[tuple[str, str, str]] = []
    shares = {"train": 0.8, "val": 0.1, "test": 0.1}
    n_pairs = n // 2 if n_pairs is None else n_pairs

    cached = _read_cache(cache)

    def tokens_of(key: str, image: np.ndarray) -> ImageTokens:
        if key not in cached["global"]:
            (t,) = encoder.encode_photos([image])
            cached["global"][key], cached["grid"][key] = t.global_vec, t.grid
        return ImageTokens("photo", cached["global"][key], cached["grid"][key])

    def fr_of(key: str, image: np.ndarray, reference: np.ndarray) -> np.ndarray:
        if key not in cached["fr"]:
            cached["fr"][key] = encoder.encode_photo_pairs([image], [reference])[0]
        return cached["fr"][key]

    def add(key: str, image: np.ndarray, reference: np.ndarray, ref_key: str, labels: QualityLabels,
            split: str) -> None:
        store.add(key, tokens_of(key, image))
        if ref_key not in store.images:
            store.add(ref_key, tokens_of(ref_key, reference))
            store.add_pair(ref_key, ref_key, fr_of(ref_key, reference, reference))
        store.add_pair(key, ref_key, fr_of(key, image, reference))
        items.append(ImageItem(key, labels, split, ref_key, DescriptionContext(), "photo", None))

    for split, share in shares.items():
        for i, s in enumerate(photo_samples(split, max(4, int(n * share)), seed)):
            add(f"photo{seed}:{split}:{i}", s.image, s.reference, f"photoref{seed}:{split}:{i}", s.labels, split)
        for i, p in enumerate(photo_pairs(split, max(4, int(n_pairs * share)), seed + 1)):
            ref_key = f"photopairref{seed}:{split}:{i}"
            a, b = f"photopair{seed}:{split}:{i}:a", f"photopair{seed}:{split}:{i}:b"
            add(a, p.image_a, p.reference, ref_key, p.labels_a, split)
            add(b, p.image_b, p.reference, ref_key, p.labels_b, split)
            pairs.append((a, b, ref_key))
        if cache is not None:
            _write_cache(cache, cached)
    return items, pairs


# ---------------------------------------------------------------- examples

def levels_of(labels: QualityLabels) -> dict[str, float]:
    """Gives the continuous scores behind the level slots (SLOT_ORDER)."""
    return {a: float(labels.aspects[a]) for a in ASPECTS} | {"overall": float(labels.overall)}


def single_example(item: ImageItem, task: str, rng: random.Random) -> Example:
    """Gives a caption, identify or ask example about one image."""
    seed = rng.randrange(1 << 30)
    photo = item.domain == "photo"
    if task == "caption":
        question = _words(question_for("describe", with_reference=False, seed=seed)).replace("Image A", "this image")
        answer = _photo_text("describe", item.labels, seed) if photo else describe(item.labels, item.context,
                                                                                   seed=seed)
    elif task == "identify":
        question = _words(question_for("identify", with_reference=False, seed=seed)).replace("Image A", "this image")
        answer = _photo_text("identify", item.labels, seed) if photo else identify_text(item.labels, seed=seed)
    else:
        kinds = [k for k in ASK_WEIGHTS if not (photo and k == "lesion")]
        kind = rng.choices(kinds, weights=[ASK_WEIGHTS[k] for k in kinds])[0]
        q = sample_question(kind, rng, region=None if photo else item.region)
        question, answer = q.text, answer_question(q, item.labels, region="photo" if photo else item.region)
    return Example(task, {"A": item.key}, question, answer, levels={"A": levels_of(item.labels)})


def _photo_text(kind: str, labels: QualityLabels, seed: int) -> str:
    from vliqa.text.photo import describe_photo, identify_photo_text  # noqa: PLC0415  # lazy: photo domain optional

    return describe_photo(labels, seed=seed) if kind == "describe" else identify_photo_text(labels)


def pair_example(a: ImageItem, b: ImageItem, reference: str | None, rng: random.Random) -> Example:
    """Gives a comparison (short verdict or aspect-by-aspect reasoning) of two images, with or without reference."""
    seed = rng.randrange(1 << 30)
    task = rng.choice(("compare", "reason"))
    with_ref = reference is not None
    question = _words(question_for(task, with_reference=with_ref, seed=seed))
    result = compare(a.labels, b.labels, a.context, with_reference=with_ref, seed=seed)
    answer = result.verdict if task == "compare" else result.text
    images = {"A": a.key, "B": b.key} | ({"reference": reference} if with_ref else {})
    return Example(task, images, question, answer, levels={"A": levels_of(a.labels), "B": levels_of(b.labels)},
                   preference=soft_preference(a.labels.overall, b.labels.overall))


def ct_pairs(items: list[ImageItem], limit: int, rng: random.Random) -> list[tuple[ImageItem, ImageItem]]:
    """Gives pairs of degraded versions of one reference (at most `limit` per reference), and each with its
    reference (the clean image against a degraded one)."""
    by_ref: dict[str, list[ImageItem]] = {}
    for item in items:
        by_ref.setdefault(item.reference or "", []).append(item)
    out = []
    for members in by_ref.values():
        combos = list(combinations(members, 2))
        rng.shuffle(combos)
        out += combos[:limit]
    return out


class ExampleSampler:
    """Draws training examples: each draw picks a task, then an image or pair, then fresh phrasings."""

    TASK_WEIGHTS = {"caption": 0.3, "identify": 0.12, "ask": 0.2, "pair": 0.38}

    def __init__(self, items: list[ImageItem], pairs: list[tuple[ImageItem, ImageItem, str | None]],
                 clean: dict[str, ImageItem], seed: int):
        self.items, self.pairs, self.clean = items, pairs, clean
        self.rng = random.Random(seed)

    def draw(self) -> Example:
        task = self.rng.choices(list(self.TASK_WEIGHTS), weights=list(self.TASK_WEIGHTS.values()))[0]
        if task != "pair":
            pool = self.items + list(self.clean.values())
            return single_example(self.rng.choice(pool), task, self.rng)
        a, b, ref = self.rng.choice(self.pairs)
        if self.rng.random() < 0.5:
            a, b = b, a
        if ref is None or self.rng.random() < 0.5:
            ref = None
        return pair_example(a, b, ref, self.rng)


def corpus_texts(sampler: ExampleSampler, n: int) -> list[str]:
    """Gives `n` drawn questions and answers (the tokenizer's training text)."""
    out = []
    for _ in range(n):
        ex = sampler.draw()
        out += [ex.question, ex.answer]
    return out


# ---------------------------------------------------------------- training

def feature_stats(store: FeatureStore, keys: list[str]) -> dict[str, list[list[float]]]:
    """Gives mean and std of each vector family over `keys` (the standardisation the model stores)."""
    out = {}
    groups: dict[str, list[np.ndarray]] = {"ct": [], "photo": [], "grid": [], "ct_fr": [], "photo_fr": []}
    for key in keys:
        t = store.images[key]
        groups["ct" if t.domain == "ct" else "photo"].append(t.global_vec)
        groups["grid"].append(t.grid.reshape(-1, t.grid.shape[-1]))
    for (key, _), fr in store.pairs.items():
        groups["ct_fr" if store.images[key].domain == "ct" else "photo_fr"].append(fr[None])
    for name, rows in groups.items():
        if not rows:
            continue
        x = np.concatenate([np.atleast_2d(r) for r in rows]).astype(np.float64)
        out[name] = [x.mean(axis=0).tolist(), np.maximum(x.std(axis=0), 1e-3).tolist()]
    return out


def build_sampler(cfg: VLMTrainConfig, store: FeatureStore, split: str, all_items: list[ImageItem],
                  photo_pair_keys: list[tuple[str, str, str]]) -> ExampleSampler:
    """Gives the example sampler of one split (train, val or test)."""
    rng = random.Random(cfg.seed)
    items = [it for it in all_items if it.split == split]
    by_key = {it.key: it for it in all_items}
    clean = {}
    for it in items:
        if it.domain == "ct" and it.reference and it.reference not in clean:
            labels = reader_labels(store.pairs[it.reference, it.reference], {"artifacts": 4.0})
            clean[it.reference] = ImageItem(it.reference, labels, split, it.reference, it.context, "ct", it.region)
    pairs: list[tuple[ImageItem, ImageItem, str | None]] = []
    ct = [it for it in items if it.domain == "ct"]
    pairs += [(a, b, a.reference) for a, b in ct_pairs(ct, cfg.max_pairs_per_reference, rng)]
    pairs += [(it, clean[it.reference], it.reference) for it in ct if rng.random() < 0.3]
    # different anatomy, no reference: quality alone
    for _ in range(len(ct) // 4):
        a, b = rng.sample(ct, 2) if len(ct) > 1 else (ct[0], ct[0])
        if a.reference != b.reference:
            pairs.append((a, b, None))
    pairs += [(by_key[a], by_key[b], r) for a, b, r in photo_pair_keys if by_key[a].split == split]
    if not pairs:
        raise DatasetError(f"no comparison pairs in split '{split}'", hint="build a larger dataset")
    # crc32, not hash(): str hashes differ between processes, and every process of a run must draw alike
    return ExampleSampler(items, pairs, clean, cfg.seed + zlib.crc32(split.encode()) % 997)


def prepare_data(cfg: VLMTrainConfig, *, progress: bool = True) -> tuple[FeatureStore, list[ImageItem],
                                                                          list[tuple[str, str, str]]]:
    """Gives the image vectors, the images (CT and photos, every split) and the photo pairs of a training run."""
    encoder = VisionEncoder()
    photo_dim, photo_fr_dim = _photo_dims(cfg)
    store = FeatureStore(CT_GLOBAL_DIM, GRID_DIM, CT_FR_DIM, photo_dim, photo_fr_dim)
    cache = Path(cfg.features_cache) if cfg.features_cache else None
    items = ct_items(cfg.data, encoder, store, cache, progress)
    photo_pair_keys: list[tuple[str, str, str]] = []
    if cfg.photos:
        photo, photo_pair_keys = photo_items(cfg.photos, store, encoder, cfg.seed, cache=cache)
        items += photo
    return store, items, photo_pair_keys


def train_vlm(cfg: VLMTrainConfig, out: str | Path, *, progress: bool = True,
              workers: Workers = SINGLE) -> dict[str, Any]:
    """Trains the quality VLM and writes its checkpoint folder `out` (weights, config, tokenizer, model card).

    In a data-parallel run rank 0 computes the image vectors (and writes the features cache) and hands them to the
    others; see `fit`.
    """
    started = time.perf_counter()
    prepared = prepare_data(cfg, progress=progress) if workers.is_main else None
    store, items, photo_pairs = workers.broadcast(prepared)
    return fit(cfg, store, items, photo_pairs, out, progress=progress, started=started, workers=workers)


def _tokenizer(cfg: VLMTrainConfig, sampler: ExampleSampler) -> Any:
    """Gives the tokenizer: ours trained on the drawn text, or the pretrained LM's with the VLM's tokens added."""
    if not cfg.llm:
        return train_tokenizer(corpus_texts(sampler, 30000), vocab_size=cfg.vocab_size)
    from transformers import AutoTokenizer  # noqa: PLC0415  # lazy: only the pretrained path needs it

    from vliqa.models.vlm.vocab import SPECIAL_TOKENS  # noqa: PLC0415  # lazy: beside its only use

    hf = AutoTokenizer.from_pretrained(cfg.llm)
    hf.add_special_tokens({"additional_special_tokens": list(SPECIAL_TOKENS)})
    return hf.backend_tokenizer


def fit(cfg: VLMTrainConfig, store: FeatureStore, items: list[ImageItem], photo_pairs: list[tuple[str, str, str]],
        out: str | Path, *, progress: bool = True, started: float | None = None,
        workers: Workers = SINGLE) -> dict[str, Any]:
    """Trains the VLM on prepared images and writes the checkpoint folder `out`; gives the run's summary.

    In a data-parallel run every process draws the same examples (same seeds) and computes its shard of each batch,
    with the losses weighted by the batch's token counts (`sharded_loss`); rank 0 fits the question limit and the
    diagnostic mapping and writes the checkpoint. Dropout masks differ from a single process's, so the runs agree in
    expectation, not bit for bit.
    """
    torch.manual_seed(cfg.seed)
    started = time.perf_counter() if started is None else started
    train = build_sampler(cfg, store, "train", items, photo_pairs)
    tok = _tokenizer(cfg, train)  # every process draws the corpus, so the samplers stay in step
    if workers.distributed:  # rank 0's tokenizer: BPE training need not break ties alike in every process
        from tokenizers import Tokenizer  # noqa: PLC0415  # lazy: beside its only use

        tok = Tokenizer.from_str(workers.broadcast(tok.to_str()))
    train_keys = sorted({k for it in items if it.split == "train" for k in (it.key, it.reference) if k})
    dims = store.dims
    config = VLMConfig(vocab_size=tok.get_vocab_size(), d_model=cfg.d_model, n_layers=cfg.n_layers,
                       n_heads=cfg.n_heads, ct_global_dim=dims["ct"], grid_dim=dims["grid"], ct_fr_dim=dims["ct_fr"],
                       photo_global_dim=dims["photo"], photo_fr_dim=dims["photo_fr"],
                       pad_id=tok.token_to_id("<pad>"), eos_id=tok.token_to_id("<eos>"),
                       img_id=tok.token_to_id("<img>"),
                       level_ids=[tok.token_to_id(t) for t in LEVEL_TOKENS],
                       pref_ids=[tok.token_to_id(t) for t in PREF_TOKENS],
                       feature_stats=feature_stats(store, train_keys), llm_path=cfg.llm or "")
    model = QualityVLM(config)
    if config.llm_path:
        config.d_model = int(model.lm.get_input_embeddings().weight.shape[1])
        model = QualityVLM(config)  # projectors sized to the pretrained LM's width
    device = torch.device(workers.device if workers.distributed else cfg.device)
    model.to(device)
    # a shard may hold no photo (or no pair): those projectors then get no gradient in that process
    net = workers.wrap(model, find_unused_parameters=True)
    trainable = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(trainable, lr=cfg.learning_rate, weight_decay=0.01)
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: min(1.0, (s + 1) / cfg.warmup) * 0.5 * (
        1 + np.cos(np.pi * min(1.0, s / cfg.steps))))
    grid = config.splice_grid

    def step(_: int) -> float:
        model.train()
        examples = [train.draw() for _ in range(cfg.batch_size)][workers.shard(cfg.batch_size)]
        seqs = [sequence(tok, ex, grid=grid) for ex in examples]
        batch = {k: v.to(device) for k, v in collate(seqs, examples, store, config.pad_id).items()}
        with workers.own_rng():
            logits = net(batch)
        loss = sharded_loss(logits, batch, config, workers)
        optimizer.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(trainable, 1.0)
        optimizer.step()
        schedule.step()
        return float(loss.detach())

    losses = run_steps(cfg.steps, step, title="training the quality VLM", progress=progress and workers.is_main)
    if not workers.is_main:
        return {"steps": cfg.steps, "final_loss": float(np.mean(losses[-50:])),
                "seconds": time.perf_counter() - started}
    model.to("cpu").eval()
    val = build_sampler(cfg, store, "val", items, photo_pairs)
    config.question_nll_limit = question_limit(model, tok, store, val)
    fit_diagnostic(model, tok, store, [it for it in items if it.split == "val" and it.domain == "ct"], config)
    out = Path(out)
    summary = {"steps": cfg.steps, "final_loss": float(np.mean(losses[-50:])), "seconds": time.perf_counter() - started,
               "n_images": {s: sum(it.split == s for it in items) for s in ("train", "val", "test")},
               "n_photos": sum(it.domain == "photo" for it in items), "config": asdict(cfg)}
    out.mkdir(parents=True, exist_ok=True)
    with atomic_path(out / TOKENIZER_FILE) as tmp:  # before config.json, which marks a whole checkpoint
        tok.save(str(tmp))
    save_checkpoint(model, config, out, model_card(cfg, summary), metadata={"kind": "language", "summary": summary})
    return summary


def sharded_loss(logits: torch.Tensor, batch: dict[str, torch.Tensor], config: VLMConfig,
                 workers: Workers = SINGLE) -> torch.Tensor:
    """Gives the training loss of this process's shard, scaled so that DDP's average over the processes is the loss of
    the whole batch: each term is a mean over the batch's answer tokens or slots, so each shard's mean counts by its
    share of them (in an ordinary run the plain sum of the weighted terms)."""
    terms = [(1.0, text_loss(logits, batch["labels"]), (batch["labels"][:, 1:] != -100).sum()),
             (QUESTION_WEIGHT, text_loss(logits, batch["question_labels"]),
              (batch["question_labels"][:, 1:] != -100).sum()),
             (LEVEL_WEIGHT, slot_loss(logits, batch["level_positions"], batch["level_targets"], config.level_ids),
              batch["level_positions"].new_tensor(len(batch["level_positions"]))),
             (PREFERENCE_WEIGHT, slot_loss(logits, batch["pref_positions"], batch["pref_targets"], config.pref_ids),
              batch["pref_positions"].new_tensor(len(batch["pref_positions"])))]
    if not workers.distributed:
        return sum(w * term for w, term, _ in terms)  # type: ignore[return-value]
    counts = torch.stack([n for _, _, n in terms]).double()
    totals = workers.sum(counts)
    loss = logits.sum() * 0.0  # a term with no tokens in this shard adds nothing (its mean would be NaN)
    for (weight, term, _), n, total in zip(terms, counts.tolist(), totals.tolist(), strict=True):
        if n > 0:
            loss = loss + weight * term * (n * workers.world_size / total)
    return loss


def _photo_dims(cfg: VLMTrainConfig) -> tuple[int, int]:
    if not cfg.photos:
        return 0, 0
    from vliqa.models.photo_features import photo_features, photo_pair_features  # noqa: PLC0415  # lazy: optional

    probe = np.full((64, 64, 3), 0.5, np.float32)
    probe[::2] = 0.4
    return len(photo_features(probe)) + 1 + len(ASPECTS), len(photo_pair_features(probe, probe))


@torch.no_grad()
def question_limit(model: QualityVLM, tok: Any, store: FeatureStore, sampler: ExampleSampler, n: int = 300) -> float:
    """Gives the question NLL above which `ask` says "cannot tell": the 99th percentile of taught questions plus
    QUESTION_NLL_MARGIN nats per token (paraphrases of taught questions read 2-8, off-topic questions 10-16)."""
    predictor = QualityVLMPredictor(model, tok, encoder=None)
    values = []
    for _ in range(n):
        ex = sampler.draw()
        if "B" in ex.images or ex.task != "ask":
            continue
        values.append(predictor.question_nll(store, ex.images["A"], ex.question))
    return float(np.percentile(values, 99) + QUESTION_NLL_MARGIN) if values else 8.0


def fit_diagnostic(model: QualityVLM, tok: Any, store: FeatureStore, items: list[ImageItem], config: VLMConfig,
                   n: int = 80) -> None:
    """Fits MedQM-D's sigmoid from the VLM's diagnostic loss to the reader-fitted overall labels of `items`."""
    from vliqa.labels.diagnostic import fit_sigmoid  # noqa: PLC0415  # lazy: scipy's optimiser, only here
    predictor = QualityVLMPredictor(model, tok, encoder=None)
    chosen = random.Random(0).sample(items, min(n, len(items)))
    losses, targets = [], []
    for it in chosen:
        if not it.reference:
            continue
        losses.append(pair_loss(predictor, store, it.key, it.reference, diagnostic_question(it.region)))
        targets.append(float(it.labels.overall))
    try:
        mapping = fit_sigmoid(np.array(losses), np.array(targets), fitted_to="reader-fitted overall labels")
    except InvalidParameterError as exc:  # too few distinct losses: the model ships without a mapping
        logger.warning("diagnostic mapping not fitted: %s", exc)
        return
    config.diagnostic_a, config.diagnostic_b = mapping.a, mapping.b
    config.diagnostic_fitted_to = f"reader-fitted overall labels of {mapping.n_samples} validation slices"


def model_card(cfg: VLMTrainConfig, summary: dict[str, Any]) -> str:
    """Gives the MODEL_CARD.md text of the quality VLM."""
    n = summary["n_images"]
    return f"""# vlm: the quality vision-language model

Writes quality descriptions (IQAGPT), names distortions, compares two images with or without a reference
(DepictQA) and answers free quality questions, for CT slices and photographs. Architecture: frozen vision
encoder (the `reader` and `medqm` scorers' features and scores, a 4x4 grid of local statistics, the `photo`
scorer for photographs) -> MLP projectors -> GPT-2 ({cfg.n_layers} layers, d={cfg.d_model}) with cross-attention,
trained from scratch here with a byte-level BPE tokenizer ({cfg.vocab_size} tokens) on our text. Answers start
with level slots (bad/poor/fair/good/excellent per aspect and overall) and, for pairs, a preference slot
(A/B/tie), trained with soft labels; text is decoded conditioned on them.

Reproduce: `make train-vlm` ({cfg.steps} steps of {cfg.batch_size} examples, seed {cfg.seed};
{summary['seconds'] / 60:.0f} min on 2 CPU cores).

## Data
- CT: {', '.join(cfg.data)} built by `vliqa data build --source default` (real CT of ../shared/data and the
  bundled samples, and digital phantoms, with simulated degradations). Images: train {n['train']},
  val {n['val']}, test {n['test']} (split by patient). Levels: the `reader` model's full-reference scores
  (fitted to radiologists' reader studies, ../shared/data/reader_studies) with the physics artefact score.
- Photographs: scikit-image's bundled photographs (`vliqa.data.photos`, licences listed there) with
  DepictQA's distortion families at five severities ({summary['n_photos']} images, split by photograph).
- Text: vliqa's template banks (`vliqa.text`), phrasings drawn at random each step.

Final training loss {summary['final_loss']:.3f}. Figures: BENCHMARKS.md, "Vision-language model".
"""


__all__ = ["VLMTrainConfig", "train_vlm"]
