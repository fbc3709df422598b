"""Where clean CT slices for a dataset come from: real scans (any folder) or procedural phantoms.

A `SourceSlice` is one clean slice with a patient id (splits are made by patient, so no
patient's slices land in two splits) and a reference-making rule: a real slice is its
own reference; a noise-free phantom gets natural CT noise by a full-dose simulation.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from vliqa.core import CTImage, CTVolume
from vliqa.errors import EmptyInputError, InvalidParameterError
from vliqa.io import load_all
from vliqa.phantom import REGIONS

#: Folders of ../shared/data that the default recipe reads, with the split each patient goes to.
#: Real patients are few, so they are split by hand: two with clear licences train, the
#: licence-unclear ones (used only for evaluation, never redistributed) validate and test.
DEFAULT_REAL_SOURCES: dict[str, str] = {
    "totalsegmentator_example/example_ct_dicom": "train",
    "dcm_qa_ct_ge_head": "train",
    "dcmqi_ct3slice_chest": "val",
    "itkelastix_chest_4dct_philips": "test",
}

SPLITS = ("train", "val", "test")


@dataclass(frozen=True)
class SourceSlice:
    """One clean slice a dataset sample is made from."""

    source_id: str
    patient_id: str
    region: str | None
    #: "real" or "phantom"
    kind: str
    #: for real slices: the file/folder and the slice index; for phantoms: the seed
    path: str | None = None
    slice_index: int | None = None
    phantom_seed: int | None = None
    split: str | None = None
    #: real slices only: when set, the reference is this slice re-acquired at a lower dose so that its
    #: soft-tissue noise is about this many HU (a noisy clinical acquisition: a 4D-CT phase, a large
    #: patient, a low-dose protocol); labels are then measured against that noisy reference
    reference_noise_hu: float | None = None


def shared_data_dir() -> Path | None:
    """Gives ../shared/data next to the project (or $VLIQA_SHARED_DATA) when it exists."""
    env = os.environ.get("VLIQA_SHARED_DATA")
    candidates = [Path(env)] if env else []
    here = Path(__file__).resolve()
    candidates += [p / "shared" / "data" for p in here.parents]
    for c in candidates:
        if c.is_dir():
            return c
    return None


def bundled_samples_dir() -> Path:
    """Gives the folder of CT samples shipped inside the package."""
    return Path(__file__).resolve().parent.parent / "samples"


def _guess_region(image: CTImage | CTVolume, fallback: str | None = None) -> str | None:
    text = " ".join(
        str(v or "") for v in (image.acquisition.body_part, image.acquisition.series_description, image.source)
    ).lower()
    for word, region in (("head", "head"), ("brain", "head"), ("chest", "chest"), ("thorax", "chest"),
                         ("lung", "chest"),
                         ("abdomen", "abdomen"), ("body", "abdomen"), ("liver", "abdomen"), ("pelvis", "abdomen")):
        if word in text:
            return region
    return fallback


def _patient_id(obj: CTImage | CTVolume, path: str) -> str:
    uid = obj.acquisition.series_uid or path
    return hashlib.sha1(uid.encode()).hexdigest()[:12]


def real_sources(paths: list[str | Path], *, max_slices_per_series: int = 40,
                 split: str | None = None) -> list[SourceSlice]:
    """Gives a SourceSlice for each usable slice of every series/volume under `paths`."""
    out: list[SourceSlice] = []
    for obj in load_all([str(p) for p in paths]):
        src = obj.source or "memory"
        pid = _patient_id(obj, src)
        region = _guess_region(obj)
        n = len(obj) if isinstance(obj, CTVolume) else 1
        # Skip slices that are mostly air (above the shoulders, below the feet), evenly thin the rest.
        keep = [i for i in range(n) if _has_body(obj.hu[i] if isinstance(obj, CTVolume) else obj.hu)]
        if len(keep) > max_slices_per_series:
            keep = [keep[int(round(j))] for j in np.linspace(0, len(keep) - 1, max_slices_per_series)]
        for i in keep:
            out.append(
                SourceSlice(
                    source_id=f"{pid}:{i}", patient_id=pid, region=region, kind="real", path=src,
                    slice_index=i if isinstance(obj, CTVolume) else None, split=split,
                )
            )
    if not out:
        raise EmptyInputError("no CT slice with enough body in it was found", path=", ".join(map(str, paths)))
    return out


def _has_body(hu: np.ndarray) -> bool:
    return float(np.mean(hu > -500)) > 0.08


def phantom_sources(n: int, *, seed: int = 0) -> list[SourceSlice]:
    """Gives `n` phantom sources; the split comes from the phantom seed (10 % val, 10 % test)."""
    out = []
    for k in range(n):
        pseed = seed * 1_000_003 + k
        region = REGIONS[k % len(REGIONS)]
        bucket = k % 10
        split = "test" if bucket == 0 else "val" if bucket == 1 else "train"
        out.append(SourceSlice(source_id=f"phantom:{region}:{pseed}", patient_id=f"phantom-{pseed}", region=region,
                               kind="phantom", phantom_seed=pseed, split=split))
    return out


#: Range (HU) of the soft-tissue noise of noisy-reference variants, drawn log-uniformly.
NOISY_REFERENCE_HU = (25.0, 60.0)


def noisy_reference_variants(sources: list[SourceSlice], per_slice: int, *, seed: int = 0) -> list[SourceSlice]:
    """Gives `per_slice` noisy-reference variants of every real source (same patient and split).

    A variant's reference is the slice re-acquired at the dose that gives it a soft-tissue noise drawn
    log-uniformly from `NOISY_REFERENCE_HU` (no change where the slice is already that noisy). It
    teaches a scorer what noisy full-dose scans and their denoised versions look like, which two
    low-noise training patients cannot.
    """
    if per_slice < 0:
        raise InvalidParameterError(f"noisy-reference variants per slice must be >= 0, got {per_slice}")
    rng = np.random.default_rng([seed, 4242])
    low, high = np.log(NOISY_REFERENCE_HU[0]), np.log(NOISY_REFERENCE_HU[1])
    out = []
    for src in sources:
        if src.kind != "real" or src.reference_noise_hu is not None:
            continue
        for k in range(per_slice):
            target = float(np.exp(rng.uniform(low, high)))
            out.append(replace(src, source_id=f"{src.source_id}~noisy{k}", reference_noise_hu=round(target, 1)))
    return out


def default_sources(*, n_phantoms: int = 300, seed: int = 0) -> list[SourceSlice]:
    """Gives the default recipe's sources: the real CT of ../shared/data (or the bundled samples) plus phantoms."""
    shared = shared_data_dir()
    real: list[SourceSlice] = []
    if shared is not None:
        for rel, split in DEFAULT_REAL_SOURCES.items():
            folder = shared / rel
            if folder.is_dir():
                real += real_sources([folder], split=split)
    else:
        real = real_sources([bundled_samples_dir() / "abdomen_ct_dicom"], split="train")
        real += real_sources([bundled_samples_dir() / "head_ct_dicom"], split="test")
    return real + phantom_sources(n_phantoms, seed=seed)


def default_phantom_count(source: str, n: int) -> int:
    """Gives the number of phantom sources `vliqa data build --source SOURCE --n N` uses without --phantoms."""
    return max(10, n // 4) if source == "phantom" else 300 if source == "default" else 0


def build_sources(source: str, *, n: int, phantoms: int | None = None, seed: int = 0,
                  noisy_references: int = 0) -> list[SourceSlice]:
    """Gives the sources of a build, splits assigned: 'phantom', 'default' (shared real CT + phantoms) or a CT folder.

    The same arguments give the same list, in the same order: a build's candidates index into it, which is what
    lets `vliqa.data.replay` make every image of a finished build again.
    """
    phantoms = default_phantom_count(source, n) if phantoms is None else phantoms
    if source == "phantom":
        sources = phantom_sources(phantoms, seed=seed)
    elif source == "default":
        sources = default_sources(n_phantoms=phantoms, seed=seed)
    else:
        sources = real_sources([source]) + (phantom_sources(phantoms, seed=seed) if phantoms else [])
    return assign_splits(sources + noisy_reference_variants(sources, noisy_references, seed=seed), seed=seed)


def assign_splits(sources: list[SourceSlice], *, seed: int = 0,
                  fractions: tuple[float, float, float] = (0.8, 0.1, 0.1)) -> list[SourceSlice]:
    """Gives the sources with a split each, by patient (every slice of a patient in one split)."""
    if abs(sum(fractions) - 1.0) > 1e-6 or min(fractions) < 0:
        raise InvalidParameterError(f"split fractions {fractions} must be >= 0 and sum to 1")
    patients = sorted({s.patient_id for s in sources if s.split is None})
    rng = np.random.default_rng(seed)
    rng.shuffle(patients)
    n = len(patients)
    n_test = int(round(fractions[2] * n)) if n >= 3 else 0
    n_val = int(round(fractions[1] * n)) if n >= 3 else 0
    if n >= 3:
        n_test, n_val = max(n_test, 1), max(n_val, 1)
    split_of = {p: "test" for p in patients[:n_test]}
    split_of.update({p: "val" for p in patients[n_test : n_test + n_val]})
    split_of.update({p: "train" for p in patients[n_test + n_val :]})
    return [s if s.split is not None else replace(s, split=split_of[s.patient_id]) for s in sources]
