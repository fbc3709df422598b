"""Photo training data: free photographs shipped with scikit-image, cropped, distorted and labelled by rule.

    train = photo_samples("train", 2000, seed=0)     # PhotoSample: image, reference, photo_id, distortions, labels
    pairs = photo_pairs("test", 500, seed=0)          # PhotoPair: two distortions of one reference crop

Every photo sits in one split (`SOURCES`), so the test photo is never seen in training. Training also uses three
scientific colour photographs (telescope, fundus, microscope): with two natural photos alone the model took the
low contrast of the test cat for a distortion (clean test crops scored 1.2 of 4; with them 3.2).
Sample i of a split and seed is a function of (split, seed, i) alone: the same pixels, in any order.

The label rule (`photo_labels`): a clean crop scores 4 on every aspect. A distortion at severity s (1-5) takes
0.8 * s * weight from each aspect it lowers (`vliqa.simulate.photo.PHOTO_DISTORTIONS`: weight 1 for the aspect it
is named for, 0.5 on the side), so severity 5 takes a named aspect to 0; two distortions add up; aspects are
clipped to 0-4. The overall score is the worst aspect less a quarter of the second worst aspect's loss:
    overall = clip(worst - 0.25 * (4 - second worst), 0, 4).
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
from PIL import Image

from vliqa.core import ASPECTS, Distortion, QualityLabels
from vliqa.errors import DependencyUnavailableError, InvalidParameterError, UnknownNameError
from vliqa.simulate.photo import SEVERITIES, available_distortions, distort_photo, get_photo_distortion


@dataclass(frozen=True)
class PhotoSource:
    """One photograph: its `skimage.data` loader, what it shows, its licence as skimage states it, and its split.

    `kind` is "natural" for a scene photographed with a camera, "scientific" for a telescope, fundus or microscope
    photograph: those widen the training content (dark, low-contrast, pastel scenes) and never sit in val or test.
    """

    photo_id: str
    loader: str
    title: str
    licence: str
    credit: str
    split: str
    kind: str = "natural"


#: The colour photographs `skimage.data` ships inside the wheel (no download), with their licences as the
#: skimage docstrings state them. Val and test hold one natural photo each, never seen in training.
SOURCES: tuple[PhotoSource, ...] = (
    PhotoSource("astronaut", "astronaut", "Eileen Collins, NASA astronaut portrait (512x512)",
                "public domain (no known copyright restrictions)", "NASA Great Images database", "train"),
    PhotoSource("coffee", "coffee", "a cup of coffee on a table (400x600)",
                "CC0", "Rachel Michetti, courtesy of Pikolo Espresso Bar", "train"),
    PhotoSource("hubble_deep_field", "hubble_deep_field", "Hubble eXtreme Deep Field (872x1000)",
                "public domain (NASA: may be freely used)", "NASA, HubbleSite", "train", "scientific"),
    PhotoSource("retina", "retina", "fundus photograph of a normal left eye (1411x1411)",
                "CC0 1.0", "Mikael Haggstrom, Wikimedia Commons", "train", "scientific"),
    PhotoSource("immunohistochemistry", "immunohistochemistry", "IHC-stained colonic glands (512x512)",
                "no known copyright restrictions", "Center for Microscopy And Molecular Imaging (CMMI)", "train",
                "scientific"),
    PhotoSource("rocket", "rocket", "Falcon 9 launch of DSCOVR (427x640)",
                "public domain", "SpaceX (SpaceX Photos on Flickr)", "val"),
    PhotoSource("chelsea", "chelsea", "Chelsea the cat (300x451)",
                "CC0", "Stefan van der Walt", "test"),
)
SPLITS = ("train", "val", "test")
#: Drop of an aspect per severity step of a distortion, times the aspect's weight for that distortion.
DROP_PER_SEVERITY = 0.8
#: Share of the second worst aspect's loss the overall score loses on top of the worst aspect.
SECOND_ASPECT_SHARE = 0.25
#: How many distortions a sample gets: 0, 1 or 2, with these probabilities.
N_DISTORTION_PROBABILITIES = (0.15, 0.55, 0.30)
#: Families never combined in one sample (they undo each other).
EXCLUSIVE = ({"overexposure", "underexposure"},)
_SPLIT_CODE = {"train": 11, "val": 12, "test": 13}


def photo_ids(split: str) -> tuple[str, ...]:
    """Gives the ids of the photos in `split` ("train", "val" or "test"), in SOURCES order."""
    _check_split(split)
    return tuple(s.photo_id for s in SOURCES if s.split == split)


def _check_split(split: str) -> None:
    if split not in SPLITS:
        raise InvalidParameterError(f"unknown photo split '{split}'", hint=f"use one of {', '.join(SPLITS)}")


@functools.lru_cache(maxsize=len(SOURCES))
def load_photo(photo_id: str) -> np.ndarray:
    """Gives the photo `photo_id` as uint8 RGB (rows, cols, 3), read from the scikit-image wheel (no download)."""
    by_id = {s.photo_id: s for s in SOURCES}
    if photo_id not in by_id:
        raise UnknownNameError(f"unknown photo '{photo_id}'", hint=f"known: {', '.join(by_id)}")
    try:
        from skimage import data as skdata  # lazy: skimage's data module is only needed to make photo samples
    except ImportError as exc:  # pragma: no cover - skimage is a dependency
        raise DependencyUnavailableError("scikit-image is needed for the photo samples",
                                         hint="pip install scikit-image") from exc
    pixels = np.asarray(getattr(skdata, by_id[photo_id].loader)())
    pixels.setflags(write=False)
    return pixels


def overall_from_aspects(aspects: np.ndarray) -> np.ndarray:
    """Gives the rule's overall score of aspect scores (..., 5 aspects): the worst aspect less a quarter of the
    second worst aspect's loss, clipped to 0-4."""
    ordered = np.sort(np.asarray(aspects, dtype=np.float64), axis=-1)
    return np.clip(ordered[..., 0] - SECOND_ASPECT_SHARE * (4.0 - ordered[..., 1]), 0.0, 4.0)


def photo_labels(distortions: tuple[tuple[str, int], ...] | list[tuple[str, int]]) -> QualityLabels:
    """Gives the rule's labels (module docstring) of a photo carrying `distortions` ((name, severity 1-5) pairs)."""
    aspects = {a: 4.0 for a in ASPECTS}
    for name, severity in distortions:
        spec = get_photo_distortion(name)
        if severity not in SEVERITIES:
            raise InvalidParameterError(f"severity of '{name}' must be 1-5, got {severity}")
        for aspect, weight in spec.aspects.items():
            aspects[aspect] -= DROP_PER_SEVERITY * weight * severity
    aspects = {a: round(float(np.clip(v, 0.0, 4.0)), 4) for a, v in aspects.items()}
    overall = round(float(overall_from_aspects(np.array(list(aspects.values())))), 4)
    found = tuple(Distortion(name, severity / 5.0, params={"severity_level": int(severity)})
                  for name, severity in distortions)
    return QualityLabels(overall=overall, aspects=aspects, distortions=found, source="photo_rule")


@dataclass(frozen=True)
class PhotoSample:
    """One labelled photo crop: the distorted `image` and its clean `reference` (H, W, 3 float32 in [0, 1])."""

    image: np.ndarray
    reference: np.ndarray
    photo_id: str
    #: (name, severity 1-5) in the order applied (pipeline order); () for a clean crop
    distortions: tuple[tuple[str, int], ...]
    labels: QualityLabels


@dataclass(frozen=True)
class PhotoPair:
    """Two distortions of one reference crop, for A/B comparison: which is better by the labels, or a tie."""

    reference: np.ndarray
    image_a: np.ndarray
    image_b: np.ndarray
    photo_id: str
    distortions_a: tuple[tuple[str, int], ...]
    distortions_b: tuple[tuple[str, int], ...]
    labels_a: QualityLabels
    labels_b: QualityLabels

    @property
    def preferred(self) -> str:
        """Gives "A", "B" or "tie" (equal overall labels)."""
        a, b = self.labels_a.overall, self.labels_b.overall
        return "tie" if abs(a - b) < 1e-6 else ("A" if a > b else "B")


def random_crop(photo: np.ndarray, size: int, rng: np.random.Generator) -> np.ndarray:
    """Gives a random square crop of `photo` (side between `size` and the photo's short side), resized to `size`
    px (Lanczos), flipped left-right half of the time, as float32 RGB in [0, 1]."""
    rows, cols = photo.shape[:2]
    short = min(rows, cols)
    side = int(rng.integers(min(size, short), short + 1))
    top, left = int(rng.integers(0, rows - side + 1)), int(rng.integers(0, cols - side + 1))
    crop = photo[top:top + side, left:left + side]
    if side != size:
        crop = np.asarray(Image.fromarray(np.ascontiguousarray(crop)).resize((size, size), Image.Resampling.LANCZOS))
    if rng.random() < 0.5:
        crop = crop[:, ::-1]
    return np.ascontiguousarray(crop, dtype=np.float32) * np.float32(1 / 255)


def _draw_distortions(rng: np.random.Generator, families: tuple[str, ...]) -> tuple[tuple[str, int], ...]:
    n = int(rng.choice(3, p=N_DISTORTION_PROBABILITIES))
    names: list[str] = []
    while len(names) < n:
        name = str(rng.choice(families))
        if name in names or any({name, *names} >= pair for pair in EXCLUSIVE):
            continue
        names.append(name)
    chosen = [(name, int(rng.integers(1, 6))) for name in names]
    return tuple(sorted(chosen, key=lambda d: get_photo_distortion(d[0]).stage))


def _check(split: str, n: int, size: int) -> None:
    _check_split(split)
    if n < 0:
        raise InvalidParameterError(f"n must be at least 0, got {n}")
    if size < 32:
        raise InvalidParameterError(f"size must be at least 32 px, got {size}")


def photo_sample(split: str, index: int, seed: int = 0, size: int = 256) -> PhotoSample:
    """Gives sample `index` of `photo_samples(split, n, seed, size)` (any n above `index`) on its own."""
    _check(split, index, size)
    rng = np.random.default_rng([int(seed), _SPLIT_CODE[split], int(index)])
    ids = photo_ids(split)
    photo_id = ids[int(rng.integers(len(ids)))]
    reference = random_crop(load_photo(photo_id), size, rng)
    distortions = _draw_distortions(rng, available_distortions())
    image = distort_photo(reference, distortions, seed=int(rng.integers(1 << 31))) if distortions else reference
    return PhotoSample(image, reference, photo_id, distortions, photo_labels(distortions))


def iter_photo_samples(split: str, n: int, seed: int = 0, size: int = 256) -> Iterator[PhotoSample]:
    """Yields `photo_samples(split, n, seed, size)` one at a time (for sets too large to hold in memory)."""
    _check(split, n, size)
    for i in range(n):
        yield photo_sample(split, i, seed, size)


def photo_samples(split: str, n: int, seed: int = 0, size: int = 256) -> list[PhotoSample]:
    """Gives `n` labelled crops of the photos of `split`: 15 % clean, 55 % with one distortion, 30 % with two.

    Deterministic: sample i depends on (split, seed, i) only. `size`: the side of the square crops, in px.
    """
    return list(iter_photo_samples(split, n, seed, size))


def photo_pair(split: str, index: int, seed: int = 0, size: int = 256) -> PhotoPair:
    """Gives pair `index` of `photo_pairs(split, n, seed, size)` (any n above `index`) on its own."""
    _check(split, index, size)
    rng = np.random.default_rng([int(seed), _SPLIT_CODE[split], 1_000_003, int(index)])
    ids, families = photo_ids(split), available_distortions()
    photo_id = ids[int(rng.integers(len(ids)))]
    reference = random_crop(load_photo(photo_id), size, rng)
    name_a = str(rng.choice(families))
    # half the pairs compare two severities of one family, half two families
    name_b = name_a if rng.random() < 0.5 else str(rng.choice([f for f in families if f != name_a]))
    sev_a = int(rng.integers(1, 6))
    sev_b = int(rng.choice([s for s in SEVERITIES if s != sev_a])) if name_b == name_a else int(rng.integers(1, 6))
    dist_a, dist_b = ((name_a, sev_a),), ((name_b, sev_b),)
    image_a = distort_photo(reference, dist_a, seed=int(rng.integers(1 << 31)))
    image_b = distort_photo(reference, dist_b, seed=int(rng.integers(1 << 31)))
    return PhotoPair(reference, image_a, image_b, photo_id, dist_a, dist_b, photo_labels(dist_a), photo_labels(dist_b))


def iter_photo_pairs(split: str, n: int, seed: int = 0, size: int = 256) -> Iterator[PhotoPair]:
    """Yields `photo_pairs(split, n, seed, size)` one at a time."""
    _check(split, n, size)
    for i in range(n):
        yield photo_pair(split, i, seed, size)


def photo_pairs(split: str, n: int, seed: int = 0, size: int = 256) -> list[PhotoPair]:
    """Gives `n` A/B pairs: one reference crop, each side with one distortion; half the pairs compare two
    severities of one family (its A/B accuracy per family), half two families. Deterministic as `photo_samples`."""
    return list(iter_photo_pairs(split, n, seed, size))
