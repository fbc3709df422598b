"""Where the anatomy of a CT slice is: the patient body, its soft tissue, and whether the slice is of the brain.

The labels (`vliqa.labels.physics`) measure noise and sharpness inside these masks; the reader model
(`vliqa.models.reader_features`) reads a brain slice in the brain window.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from vliqa.core import CTImage


def mean_spacing_mm(image: CTImage) -> float:
    """Gives the mean pixel spacing (mm) of `image`; 0.7 mm when it has none."""
    if image.pixel_spacing_mm:
        return float(np.mean(image.pixel_spacing_mm))
    return 0.7


def fill_holes(mask: np.ndarray) -> np.ndarray:
    """Gives `ndimage.binary_fill_holes(mask)` (the same pixels) in about a third of the time: the background
    regions (4-connected) that touch the image border stay, every other one is filled."""
    background, n = ndimage.label(~mask)
    keep = np.zeros(n + 1, bool)
    keep[np.concatenate([background[0], background[-1], background[:, 0], background[:, -1]])] = True
    keep[0] = False
    return ~keep[background]


def body_mask(reference: CTImage) -> np.ndarray:
    """Gives the patient body as a boolean mask (largest connected region above -400 HU, holes filled)."""
    mask = ndimage.binary_opening(reference.hu > -400, iterations=2)
    lab, n = ndimage.label(mask)
    if n == 0:
        return np.ones(reference.shape, bool)
    sizes = ndimage.sum(mask, lab, range(1, n + 1))
    body = lab == (int(np.argmax(sizes)) + 1)
    return fill_holes(body)


def halved(image: CTImage) -> CTImage:
    """Gives `image` at half resolution (2x2 block means, pixel spacing doubled; an odd last row/column dropped).

    `is_brain_slice` of a halved 512 px slice decides as the full slice does on every CT slice of the bundled
    samples and ../shared/data (196 slices of 384 px and more, 19 of them brain: 0 differ) in 40 % of the time.
    """
    h, w = image.shape
    hu = image.hu[: h // 2 * 2, : w // 2 * 2].reshape(h // 2, 2, w // 2, 2).mean(axis=(1, 3), dtype=np.float32)
    sp = image.pixel_spacing_mm
    return CTImage(hu, pixel_spacing_mm=None if sp is None else (2.0 * sp[0], 2.0 * sp[1]), source=image.source)


#: A cross-section wider than this (mm) is not a head: adult heads are 140-210 mm across, bodies 250 mm and more
HEAD_MAX_WIDTH_MM = 240.0


def is_brain_slice(reference: CTImage, body: np.ndarray | None = None, *, tissue: np.ndarray | None = None) -> bool:
    """Tells whether a slice goes through the cranial vault: a narrow body (<= HEAD_MAX_WIDTH_MM) ringed by skull.

    Ringed: bone (> 250 HU after a 0.5 mm smoothing) within 25 mm of the skin (scalp, and a head rest the body
    outline takes in) at 90 % or more of 72 directions around the body's centre, with soft tissue (brain) over
    30 % of the body. Its soft tissue is then brain, read in the brain window. Not: the skull base (the face
    leaves a third of the directions without bone; its soft tissue is muscle and fat, whose measured sigma is
    mostly structure, 9-22 HU on the GE head here) and the vertex (scalp around a cut skull cap). A body that the
    image edge cuts along a tenth of its border is a cropped field of view (a zoomed chest CTA, whose contrast
    blood reads as bone), never a head. Checked on every reference of the datasets here and every slice in
    ../shared/data (docs/labels.md, "Noise of a brain slice"): GE head slices 11-25 of 28 are brain, no slice of
    an abdomen, chest or CTA is. `body` and `tissue` (`soft_tissue`'s mask), when the caller has them, are not
    computed again.
    """
    px = mean_spacing_mm(reference)
    body = body_mask(reference) if body is None else body
    ys, xs = np.nonzero(body)
    if len(ys) < 100 or max(np.ptp(xs), np.ptp(ys)) * px > HEAD_MAX_WIDTH_MM:
        return False
    edge = np.concatenate([body[0], body[-1], body[:, 0], body[:, -1]])
    if edge.mean() > 0.1:
        return False
    if tissue is None:
        tissue = soft_tissue(reference, body)[1]
    if tissue.sum() < 0.3 * body.sum():
        return False
    bone = ndimage.gaussian_filter(reference.hu.astype(np.float32), 0.5 / px) > 250
    near_skin = ndimage.distance_transform_edt(body) * px <= 25.0
    by, bx = np.nonzero(body & near_skin & bone)
    sector = ((np.arctan2(by - ys.mean(), bx - xs.mean()) + np.pi) / (2 * np.pi) * 72).astype(int) % 72
    return len(np.unique(sector)) >= 0.9 * 72


def soft_tissue(reference: CTImage, body: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Gives the 2 mm-smoothed reference and its soft tissue (-150..200 HU) at least 3 mm from any edge."""
    px = mean_spacing_mm(reference)
    smooth = ndimage.gaussian_filter(reference.hu, 2.0 / px)
    tissue = (smooth > -150) & (smooth < 200) & body
    return smooth, ndimage.binary_erosion(tissue, iterations=max(2, int(round(3.0 / px))))
