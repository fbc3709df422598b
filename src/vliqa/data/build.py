"""The CT-IQA dataset builder: clean sources -> degraded images, labels, captions, pairs, splits.

Layout of a dataset folder:
    images/<id>.png          degraded slices, 16-bit PNG holding HU + 1024 (vliqa.load reads HU back)
    references/<ref>.png     the reference (best) version of each source slice
    records.jsonl            one accepted sample per line, appended as they are made (resume point)
    state.json               build config and the next candidate to try
    manifest.parquet         the image manifest (schema in vliqa.data.manifest), written at the end
    pairs.parquet            A/B comparison pairs from the same reference, with and without reference

Candidates are made in worker processes from (seed, candidate index) alone, so a build is
deterministic for a given seed and worker count does not change the result. Overall scores
are balanced over five bins of the 0-4 scale by accepting a candidate only while its bin
holds fewer than `bin_cap` times an even share, so every quality level is covered without
throwing away most candidates (a strict even split rejected two of three).
"""

from __future__ import annotations

import hashlib
import json
import multiprocessing as mp
import re
import zlib
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from vliqa.core import ASPECTS, CTImage, Distortion, QualityLabels
from vliqa.data.manifest import IMAGE_SCHEMA, PAIR_SCHEMA, dumps, write_table
from vliqa.data.recipes import check_names, sample_recipe
from vliqa.data.sources import SourceSlice
from vliqa.errors import DatasetError, InvalidParameterError
from vliqa.io import load
from vliqa.io.write import atomic_write_bytes, save_png16
from vliqa.labels.physics import physics_labels
from vliqa.phantom import make_phantom
from vliqa.simulate.image_domain import estimate_noise_sigma_hu
from vliqa.simulate.recipe import degrade_with_artifact_field
from vliqa.simulate.registry import get_degradation, list_degradations
from vliqa.text import DescriptionContext, compare, describe

N_BINS = 5
BIN_EDGES = np.linspace(0.0, 4.0, N_BINS + 1)


@dataclass(frozen=True)
class BuildConfig:
    """Everything that decides a build's content (saved in state.json; a resume must match it)."""

    n: int
    seed: int = 0
    source: str = "phantom"
    phantom_size_px: int = 512
    real_fraction: float = 0.5
    pairs_per_reference: int = 4
    max_attempts_factor: int = 6
    bin_cap: float = 1.3
    exclude: tuple[str, ...] = ()
    #: noisy-reference variants per real slice (`vliqa.data.sources.noisy_reference_variants`)
    noisy_references: int = 0

    def __post_init__(self) -> None:
        if self.n < 1:
            raise InvalidParameterError(f"--n must be at least 1, got {self.n}")
        if self.bin_cap < 1.0:
            raise InvalidParameterError(f"bin_cap must be at least 1 (an even share per bin), got {self.bin_cap}")
        if not 0.0 <= self.real_fraction <= 1.0:
            raise InvalidParameterError(f"real_fraction must be in [0, 1], got {self.real_fraction}")
        if self.noisy_references < 0:
            raise InvalidParameterError(f"--noisy-references must be >= 0, got {self.noisy_references}")
        check_names(self.exclude, "--exclude")
        if not {d.name for d in list_degradations()} - set(self.exclude):
            raise InvalidParameterError("every degradation is excluded: nothing is left to make images with")


@dataclass
class BuildResult:
    out: Path
    n_images: int
    n_pairs: int
    n_candidates: int
    bin_counts: list[int]
    split_counts: dict[str, int] = field(default_factory=dict)


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name)


# ---------------------------------------------------------------- worker side

_WORKER: dict[str, Any] = {}


def _init_worker(sources: list[SourceSlice], cfg: BuildConfig) -> None:
    import torch  # lazy: imports torch

    torch.set_num_threads(1)  # one thread per process: the processes are the parallelism
    _WORKER["sources"] = sources
    _WORKER["cfg"] = cfg
    # The caches are keyed by source index: a second build in the same process has other sources.
    _source_and_reference.cache_clear()
    _load_volume.cache_clear()


@lru_cache(maxsize=4)
def _load_volume(path: str):
    return load(path)


@lru_cache(maxsize=64)
def _source_and_reference(index: int) -> tuple[CTImage, CTImage, np.ndarray | None, tuple[str, ...]]:
    """Gives (clean input, reference, lesion mask, organs) for source `index`, cached per worker."""
    src: SourceSlice = _WORKER["sources"][index]
    cfg: BuildConfig = _WORKER["cfg"]
    if src.kind == "phantom":
        ph = make_phantom(src.region or "abdomen", size_px=cfg.phantom_size_px, seed=int(src.phantom_seed or 0))
        # A phantom is noise-free; its reference is the full-dose scan of it, with natural CT texture.
        reference = get_degradation("low_dose")(ph.image, seed=int(src.phantom_seed or 0), dose_fraction=1.0)
        organs = tuple(
            name for lab, name in sorted(ph.label_names.items()) if lab != 0 and (ph.labels == lab).sum() > 200
        )
        mask = ph.lesion_mask if ph.lesion_mask.any() else None
        return ph.image, reference, mask, organs
    obj = _load_volume(str(src.path))
    image = obj.slice(int(src.slice_index)) if src.slice_index is not None else obj
    if src.reference_noise_hu is not None:
        image = noisy_reference(image, src.reference_noise_hu,
                                seed=int(hashlib.sha1(src.source_id.encode()).hexdigest()[:8], 16))
    return image, image, None, ()


def noisy_reference(image: CTImage, target_noise_hu: float, *, seed: int) -> CTImage:
    """Gives `image` re-acquired (projection-domain noise insertion) at the dose that brings its noise to the target.

    Noise variance goes as 1/dose, so the dose fraction is (sigma / target)^2 with sigma the slice's own
    soft-tissue noise; a slice already at least that noisy is returned as it is.
    """
    sigma = estimate_noise_sigma_hu(image.hu)
    if not np.isfinite(sigma) or sigma <= 0 or sigma >= target_noise_hu:
        return image
    fraction = float(np.clip((sigma / target_noise_hu) ** 2, 0.01, 1.0))
    return get_degradation("low_dose")(image, seed=seed, dose_fraction=fraction)


def make_candidate(candidate: int) -> dict[str, Any]:
    """Gives one candidate sample (arrays, labels, caption) made from (build seed, candidate index)."""
    cfg: BuildConfig = _WORKER["cfg"]
    sources: list[SourceSlice] = _WORKER["sources"]
    seed = int(np.random.SeedSequence([cfg.seed, candidate]).generate_state(1)[0])
    rng = np.random.default_rng(seed)
    real = [i for i, s in enumerate(sources) if s.kind == "real"]
    phantoms = [i for i, s in enumerate(sources) if s.kind == "phantom"]
    if real and (not phantoms or rng.random() < cfg.real_fraction):
        index = real[int(rng.integers(len(real)))]
    else:
        index = phantoms[int(rng.integers(len(phantoms)))]
    src = sources[index]
    _, reference, lesion_mask, organs = _source_and_reference(index)
    recipe = sample_recipe(rng, exclude=cfg.exclude)
    steps = [(s.name, {"severity": s.severity}) for s in recipe.steps]
    degraded, artifact_hu = degrade_with_artifact_field(reference, steps, seed=seed)
    labels: QualityLabels = physics_labels(degraded, reference, lesion_mask=lesion_mask, artifact_hu=artifact_hu)
    caption = describe(labels, DescriptionContext(body_region=src.region, organs=organs), seed=seed)
    return {
        "candidate": candidate,
        "seed": seed,
        "source_index": index,
        "recipe": recipe.to_dict(),
        "labels": labels.to_dict(),
        "caption": caption,
        "organs": list(organs),
        "hu": degraded.hu,
        "reference_hu": reference.hu,
        "history": [dict(s) for s in degraded.history[len(reference.history):]],
        "pixel_spacing_mm": float(np.mean(reference.pixel_spacing_mm)) if reference.pixel_spacing_mm else 0.7,
    }


# ---------------------------------------------------------------- main process


def _bin_of(score: float) -> int:
    return int(np.clip(np.searchsorted(BIN_EDGES, score, side="right") - 1, 0, N_BINS - 1))


def _load_state(out: Path, cfg: BuildConfig, overwrite: bool) -> tuple[int, list[dict[str, Any]]]:
    state_path, records_path = out / "state.json", out / "records.jsonl"
    if overwrite or not state_path.exists():
        for p in (state_path, records_path, out / "manifest.parquet", out / "pairs.parquet"):
            p.unlink(missing_ok=True)
        return 0, []
    saved, state = saved_build(out)
    if json.loads(json.dumps(asdict(saved))) != json.loads(json.dumps(asdict(cfg))):
        raise DatasetError(
            "this folder holds a build with a different configuration",
            path=out,
            hint="use a new --out folder, or --overwrite to start again",
        )
    records = read_jsonl(records_path) if records_path.exists() else []
    # Images of the kept records must exist; drop a record whose image write was cut short.
    records = [r for r in records if (out / r["path"]).is_file()]
    with open(records_path, "w") as fh:  # rewrite without any cut line
        fh.writelines(json.dumps(r) + "\n" for r in records)
    next_candidate = max([int(state.get("next_candidate", 0))] + [r["candidate"] + 1 for r in records])
    return next_candidate, records


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    """Gives the objects of a JSON-lines file that is appended to as work finishes, up to a line an interruption cut."""
    items = []
    for line in path.read_text().splitlines():
        try:
            items.append(json.loads(line))
        except json.JSONDecodeError:
            break  # a line cut by an interruption: everything before it is whole
    return items


def label_fields(labels: dict[str, Any], caption: str) -> dict[str, Any]:
    """Gives the record/manifest fields of a candidate's labels (`QualityLabels.to_dict()`) and caption."""
    return {"overall": labels["overall"], **{a: labels["aspects"][a] for a in ASPECTS},
            "label_source": labels["source"], "measures": dumps(labels["measures"]), "caption": caption}


def saved_build(out: Path) -> tuple[BuildConfig, dict[str, Any]]:
    """Gives the BuildConfig saved in `out`/state.json and the whole state (its "n_phantoms" is absent in builds older
    than it).

    A key added to BuildConfig after the folder was built takes its default there.
    """
    state_path = out / "state.json"
    try:
        state = json.loads(state_path.read_text())
        config = dict(state.get("config") or {})
        config["exclude"] = tuple(config.get("exclude", ()))
        return BuildConfig(**config), state
    except FileNotFoundError:
        raise DatasetError("no build state here: this folder was not made by `vliqa data build`", path=state_path,
                           hint="a merged dataset has none: work on the folders it was merged from") from None
    except (json.JSONDecodeError, TypeError, AttributeError) as exc:
        raise DatasetError(f"the build state cannot be read ({exc})", path=state_path) from exc


def _save_state(out: Path, cfg: BuildConfig, next_candidate: int, n_phantoms: int) -> None:

    # the phantom count is not in BuildConfig (the sources are the caller's), but replaying the build needs it
    payload = {"config": asdict(cfg), "next_candidate": next_candidate, "n_phantoms": n_phantoms, "manifest_version": 1}
    atomic_write_bytes(out / "state.json", json.dumps(payload, indent=2).encode())


def _record_row(c: dict[str, Any], src: SourceSlice, image_id: str, ref_id: str) -> dict[str, Any]:
    degradations = [
        {k: v for k, v in step.items() if isinstance(v, (int, float, str, bool)) or v is None} for step in c["history"]
    ]
    row = {
        "id": image_id,
        "path": f"images/{image_id}.png",
        "reference_path": f"references/{ref_id}.png",
        "reference_id": ref_id,
        "source_id": src.source_id,
        "patient_id": src.patient_id,
        "source_kind": src.kind,
        "region": src.region,
        "split": src.split,
        "family": c["recipe"]["family"],
        "degradations": dumps(degradations),
        **label_fields(c["labels"], c["caption"]),
        "organs": dumps(c["organs"]),
        "seed": c["seed"],
        "pixel_spacing_mm": c["pixel_spacing_mm"],
        "candidate": c["candidate"],
    }
    return row


def build_dataset(
    sources: list[SourceSlice],
    out: str | Path,
    cfg: BuildConfig,
    *,
    workers: int = 2,
    overwrite: bool = False,
    progress: bool = True,
) -> BuildResult:
    """Builds (or resumes) a dataset in `out` from `sources`; gives counts of what it holds."""

    if not sources:
        raise DatasetError("no sources to build from", path=out)
    if any(s.split is None for s in sources):
        raise DatasetError("every source needs a split", hint="call vliqa.data.sources.assign_splits first")
    out = Path(out)
    (out / "images").mkdir(parents=True, exist_ok=True)
    (out / "references").mkdir(parents=True, exist_ok=True)
    next_candidate, records = _load_state(out, cfg, overwrite)
    n_phantoms = sum(s.kind == "phantom" for s in sources)
    _save_state(out, cfg, next_candidate, n_phantoms)
    counts = [0] * N_BINS
    for r in records:
        counts[_bin_of(r["overall"])] += 1
    target = int(np.ceil(cfg.n / N_BINS * cfg.bin_cap))
    max_candidates = cfg.n * cfg.max_attempts_factor

    # spawn, not fork: a forked child deadlocks in torch ops once the parent has used torch threads
    ctx = mp.get_context("spawn")
    pool = ctx.Pool(workers, initializer=_init_worker, initargs=(sources, cfg)) if workers > 1 else None
    if pool is None:
        _init_worker(sources, cfg)
    columns = (TextColumn("[bold]building[/]"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.fields[info]}"),
               TimeRemainingColumn())
    records_fh = open(out / "records.jsonl", "a")
    try:
        with Progress(*columns, disable=not progress, transient=False) as bar:
            task = bar.add_task("build", total=cfg.n, completed=len(records), info="")
            candidate = next_candidate
            while len(records) < cfg.n and candidate < max_candidates:
                batch = list(range(candidate, min(candidate + 4 * workers, max_candidates)))
                results = pool.imap(make_candidate, batch) if pool else map(make_candidate, batch)
                for c in results:
                    candidate = c["candidate"] + 1
                    if len(records) >= cfg.n:
                        continue
                    b = _bin_of(c["labels"]["overall"])
                    # Past half the attempt budget, accept anything so the build always finishes.
                    if counts[b] >= target and candidate < max_candidates // 2:
                        continue
                    src = sources[c["source_index"]]
                    ref_id = _safe(src.source_id)
                    image_id = f"{len(records):06d}_{ref_id}"[:120]
                    ref_path = out / "references" / f"{ref_id}.png"
                    spacing = (c["pixel_spacing_mm"],) * 2  # kept in the PNG, so the images stand on their own
                    if not ref_path.exists():
                        save_png16(CTImage(c["reference_hu"], pixel_spacing_mm=spacing), ref_path)
                    save_png16(CTImage(c["hu"], pixel_spacing_mm=spacing), out / "images" / f"{image_id}.png")
                    row = _record_row(c, src, image_id, ref_id)
                    records.append(row)
                    records_fh.write(json.dumps(row) + "\n")
                    records_fh.flush()
                    counts[b] += 1
                    bar.update(task, completed=len(records), info=f"bins {counts}")
                _save_state(out, cfg, candidate, n_phantoms)
    finally:
        records_fh.close()
        if pool is not None:
            pool.terminate()
            pool.join()

    rows = [{k: r[k] for k in IMAGE_SCHEMA.names} for r in records]
    write_table(rows, IMAGE_SCHEMA, out / "manifest.parquet")
    pairs = make_pairs(records, cfg)
    write_table(pairs, PAIR_SCHEMA, out / "pairs.parquet")
    splits = {s: sum(1 for r in records if r["split"] == s) for s in ("train", "val", "test")}
    return BuildResult(out=out, n_images=len(records), n_pairs=len(pairs), n_candidates=candidate,
                       bin_counts=counts, split_counts=splits)


def make_pairs(records: list[dict[str, Any]], cfg: BuildConfig, *, tie_margin: float = 0.25) -> list[dict[str, Any]]:
    """Gives A/B comparison pairs of images made from the same reference, with DepictQA-style answers."""
    by_ref: dict[str, list[dict[str, Any]]] = {}
    for r in records:
        by_ref.setdefault(r["reference_id"], []).append(r)
    rng = np.random.default_rng(cfg.seed + 17)
    pairs = []
    for ref_id in sorted(by_ref):
        group = by_ref[ref_id]
        if len(group) < 2:
            continue
        combos = [(i, j) for i in range(len(group)) for j in range(i + 1, len(group))]
        rng.shuffle(combos)
        for i, j in combos[: cfg.pairs_per_reference]:
            pairs.append(_pair(group[i], group[j], ref_id, int(rng.integers(2**31)), tie_margin))
    return pairs


def refresh_pairs(pairs: list[dict[str, Any]], rows: list[dict[str, Any]], *,
                  tie_margin: float = 0.25) -> list[dict[str, Any]]:
    """Gives `pairs` (the same images paired) with scores, preference and answers from the current labels of `rows`.

    After a relabelling: the pairs a build drew stay, what they say follows the new scores. A pair whose two
    overall scores did not change (by 1e-6) keeps its answers (the overall moves with every aspect); another is
    rewritten,
    its text seed taken from its ids.
    """
    by_id = {r["id"]: r for r in rows}
    out = []
    for p in pairs:
        a, b = by_id[p["a_id"]], by_id[p["b_id"]]
        if abs(p["overall_a"] - a["overall"]) < 1e-6 and abs(p["overall_b"] - b["overall"]) < 1e-6:
            out.append({**p, "overall_a": a["overall"], "overall_b": b["overall"]})  # rescoring moves the last bits
            continue
        seed = zlib.crc32(f"{p['a_id']}|{p['b_id']}".encode())
        out.append(_pair(a, b, p["reference_id"], seed, tie_margin))
    return out


def _pair(a: dict[str, Any], b: dict[str, Any], ref_id: str, seed: int, tie_margin: float) -> dict[str, Any]:
    la, lb = _labels_of(a), _labels_of(b)
    context = DescriptionContext(body_region=a["region"], organs=tuple(json.loads(a["organs"])))
    with_ref = compare(la, lb, context, with_reference=True, seed=seed, tie_threshold=tie_margin)
    without = compare(la, lb, context, with_reference=False, seed=seed + 1, tie_threshold=tie_margin)
    return {
        "a_id": a["id"], "b_id": b["id"], "reference_id": ref_id, "split": a["split"],
        "preferred": with_ref.preferred, "overall_a": a["overall"], "overall_b": b["overall"],
        "text_with_reference": with_ref.text, "text_without_reference": without.text,
    }


def _labels_of(row: dict[str, Any]) -> QualityLabels:
    dist = tuple(
        Distortion(name=d["name"], severity=float(d.get("severity", float("nan"))), region=d.get("region"))
        for d in json.loads(row["degradations"])
    )
    return QualityLabels(overall=row["overall"], aspects={a: row[a] for a in ASPECTS}, distortions=dist,
                         source=row["label_source"], measures=json.loads(row["measures"]))
