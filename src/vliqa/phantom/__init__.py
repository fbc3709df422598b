"""Procedural anatomical CT slices (abdomen, chest, head) in HU, with organ labels and lesion masks.

A seed fully determines the slice. The image is the ideal, noise-free object:
its history starts with a step named "phantom", which tells the dose simulator
(`vliqa.simulate.dose`) that the slice has no noise of its own, so it adds the
whole noise of a scan.

    >>> from vliqa.phantom import make_phantom
    >>> ph = make_phantom("abdomen", seed=3, n_lesions=2)
    >>> ph.image.hu.shape, bool(ph.mask("liver").any()), ph.lesions[0].organ
    ((512, 512), True, 'liver')
"""

from __future__ import annotations

import numpy as np

from vliqa.core import Acquisition, CTImage
from vliqa.errors import InvalidParameterError, UnknownNameError
from vliqa.phantom.abdomen import draw_abdomen
from vliqa.phantom.canvas import Canvas
from vliqa.phantom.chest import draw_chest
from vliqa.phantom.core import GROUPS, LABEL_IDS, LABEL_NAMES, Lesion, Phantom, present_labels
from vliqa.phantom.head import draw_head
from vliqa.phantom.lesions import add_lesions

REGIONS: tuple[str, ...] = ("abdomen", "chest", "head")
MIN_SIZE_PX = 64
MAX_SIZE_PX = 1024

# per region: half-width of the body in mm, field-of-view range in mm, largest rotation in rad, DICOM body part
_REGION_GEOMETRY = {
    "abdomen": ((125.0, 200.0), (350.0, 500.0), 0.07, "ABDOMEN"),
    "chest": ((150.0, 200.0), (350.0, 500.0), 0.06, "CHEST"),
    "head": ((68.0, 80.0), (220.0, 250.0), 0.12, "HEAD"),
}
_DRAW = {"abdomen": draw_abdomen, "chest": draw_chest, "head": draw_head}

__all__ = ["GROUPS", "LABEL_IDS", "LABEL_NAMES", "Lesion", "Phantom", "REGIONS", "make_phantom", "random_phantom"]


def make_phantom(
    region: str = "abdomen",
    *,
    size_px: int = 512,
    seed: int = 0,
    n_lesions: int | None = None,
    fov_mm: float | None = None,
) -> Phantom:
    """Gives a noise-free procedural CT slice of `region` with its labels and lesions, fully determined by `seed`.

    n_lesions: None draws 0-3 at random; 0 gives none.
    fov_mm: the reconstructed field of view (default: drawn to fit the body,
    350-500 mm for the body, 220-250 mm for the head). A body wider than a
    field of view given by hand is shrunk to fit inside it.
    """
    key = str(region).strip().lower()
    if key not in REGIONS:
        raise UnknownNameError(f"unknown phantom region '{region}'", hint=f"use one of {', '.join(REGIONS)}")
    if (isinstance(size_px, bool) or not isinstance(size_px, (int, np.integer))
        or not MIN_SIZE_PX <= size_px <= MAX_SIZE_PX):
        raise InvalidParameterError(
            f"size_px={size_px!r} is out of range",
            hint=f"give an integer number of pixels from {MIN_SIZE_PX} to {MAX_SIZE_PX} (CT slices are usually 512)",
        )
    if (n_lesions is not None
        and (isinstance(n_lesions, bool) or not isinstance(n_lesions, (int, np.integer)) or not 0 <= n_lesions <= 20)):
        raise InvalidParameterError(f"n_lesions={n_lesions!r} is out of range", hint="give None (random), or 0 to 20")
    if fov_mm is not None and not (np.isfinite(fov_mm) and 100.0 <= float(fov_mm) <= 1000.0):
        raise InvalidParameterError(f"fov_mm={fov_mm!r} is out of range",
                                    hint="give a field of view from 100 to 1000 mm, or None")
    if not isinstance(seed, (int, np.integer)) or seed < 0:
        raise InvalidParameterError(f"seed={seed!r} is not a non-negative integer",
                                    hint="give an integer seed such as 0")

    size_px = int(size_px)
    rng = np.random.default_rng([int(seed), REGIONS.index(key)])
    (w_lo, w_hi), (f_lo, f_hi), max_rot, body_part = _REGION_GEOMETRY[key]
    half_w = _uniform(rng, w_lo, w_hi)
    fov = (float(fov_mm) if fov_mm is not None
           else round(float(np.clip(2 * half_w * _uniform(rng, 1.08, 1.35), f_lo, f_hi)), 2))
    half_w = min(half_w, 0.46 * fov)
    room = max(0.5 * fov - 1.04 * half_w, 0.0)
    shift = (_uniform(rng, -1, 1) * min(room, 0.04 * fov), _uniform(rng, -1, 1) * min(room, 0.04 * fov))
    angle = _uniform(rng, -max_rot, max_rot)
    canvas = Canvas(size_px, fov, int(seed), shift_mm=shift, angle_rad=angle)
    params = _DRAW[key](canvas, rng, half_w)
    count = int(rng.integers(0, 4)) if n_lesions is None else int(n_lesions)
    lesions, lesion_labels = add_lesions(canvas, rng, key, count)

    history_step = {
        "name": "phantom",
        "region": key,
        "seed": int(seed),
        "size_px": size_px,
        "fov_mm": fov,
        "shift_mm": [round(shift[0], 2), round(shift[1], 2)],
        "rotation_deg": round(float(np.degrees(angle)), 2),
        "n_lesions": len(lesions),
        **params,
    }
    np.maximum(canvas.hu, -1000.0, out=canvas.hu)  # compositing round-off must not leave values below air
    image = CTImage(
        hu=canvas.hu,
        pixel_spacing_mm=(fov / size_px, fov / size_px),
        acquisition=Acquisition(modality="CT", kvp=120.0, manufacturer="vliqa phantom", body_part=body_part),
        source=f"phantom:{key}:{int(seed)}",
        history=(history_step,),
    )
    organ_hu = {name: hu for name, hu in canvas.organ_hu.items()}
    return Phantom(
        image=image,
        labels=canvas.labels,
        label_names=present_labels(canvas.labels),
        lesion_mask=lesion_labels > 0,
        lesions=tuple(lesions),
        organ_hu=organ_hu,
        lesion_labels=lesion_labels,
    )


def random_phantom(seed: int, size_px: int = 512) -> Phantom:
    """Gives a phantom of a region picked from `seed` (abdomen and chest twice as often as head)."""
    rng = np.random.default_rng([int(seed), 0x5E1EC7])
    region = str(rng.choice(REGIONS, p=[0.4, 0.4, 0.2]))
    return make_phantom(region, size_px=size_px, seed=seed)


def _uniform(rng: np.random.Generator, low: float, high: float) -> float:
    """Gives one uniform draw as a float."""
    return float(rng.uniform(low, high))
