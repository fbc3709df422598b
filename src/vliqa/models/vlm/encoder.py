"""The VLM's vision encoder: what the language model sees of an image, shared with the scorers.

An image becomes a global vector and a 4 x 4 grid of local vectors:

    CT     global = reader features (20) + reader scores (5) + MedQM-I scores (6) + anatomy (3)
    photo  global = photo features + photo scorer scores (6)
    both   grid   = 8 local statistics of the display a person reads, per cell (where the noise,
                    blur, clipping and streaks are)
    pair   fr     = reader (CT) or photo full-reference features and scores of an image against the reference

The scorers are frozen: the VLM learns a projector from these vectors into its token space, so
what it says rests on the same evidence as the Assessment's numbers.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import ndimage as ndi

from vliqa.core import ASPECTS, CTImage
from vliqa.ct.anatomy import fill_holes
from vliqa.errors import InvalidImageError
from vliqa.models import load_shared
from vliqa.models.reader_features import MEASURE_PX, image_nr_features, reading_display

GRID = 4
GRID_TOKENS = GRID * GRID
GRID_DIM = 8
CT_GLOBAL_DIM = 20 + 5 + 6 + 3
#: reader full-reference features (42) + its five full-reference scores
CT_FR_DIM = 42 + 5
DOMAINS = ("ct", "photo")


@dataclass
class ImageTokens:
    """One image as the VLM sees it: its domain, global vector and grid (GRID_TOKENS, GRID_DIM)."""

    domain: str
    global_vec: np.ndarray
    grid: np.ndarray


def grid_stats(display: np.ndarray) -> np.ndarray:
    """Gives (GRID_TOKENS, GRID_DIM) local statistics of a display image in [0, 1] (long side any size)."""
    d = np.asarray(display, dtype=np.float32)
    h, w = d.shape
    ch, cw = max(1, h // GRID), max(1, w // GRID)
    d = d[: ch * GRID, : cw * GRID]
    lap = ndi.laplace(d)
    gy, gx = np.gradient(ndi.gaussian_filter(d, 1.0))
    grad = np.hypot(gx, gy)
    # horizontal and vertical energy balance: streaks and motion are directional, noise is not
    direction = (np.abs(gx) - np.abs(gy)) / (np.abs(gx) + np.abs(gy) + 1e-4)

    def cells(x: np.ndarray) -> np.ndarray:
        return x.reshape(GRID, ch, GRID, cw).transpose(0, 2, 1, 3).reshape(GRID_TOKENS, ch * cw)

    c_d, c_lap, c_grad, c_dir = cells(d), cells(lap), cells(grad), cells(direction)
    body = c_d > 0.04
    body_frac = body.mean(axis=1)
    mad = np.median(np.abs(c_lap), axis=1)
    out = np.stack([
        c_d.mean(axis=1), c_d.std(axis=1),
        np.log(mad * 1.4826 + 1e-4), np.log(c_grad.mean(axis=1) + 1e-4),
        body_frac, (c_d > 0.98).mean(axis=1), (body & (c_d < 0.02)).mean(axis=1) / np.maximum(body_frac, 1e-3),
        c_dir.mean(axis=1),
    ], axis=1)
    return out.astype(np.float32)


def _anatomy(image: CTImage, display: np.ndarray) -> np.ndarray:
    """Gives (head, lung fraction, body fraction): the body region as the display shows it."""
    from vliqa.models.reader_features import reading_window_of  # noqa: PLC0415  # lazy: keeps the window rule one

    try:
        head = float(reading_window_of(image).name == "brain") if image.display_window is None else 0.0
    except (ValueError, InvalidImageError):
        head = 0.0
    body = fill_holes(display > 0.04)
    inside = ndi.binary_erosion(body, iterations=4)
    lung = float(np.mean(display[inside] < 0.02)) if inside.sum() > 100 else 0.0
    return np.array([head, lung, float(body.mean())], dtype=np.float32)


class VisionEncoder:
    """Turns CT slices and photos into ImageTokens with the shipped scorers (loaded once, on first use)."""

    def __init__(self, reader: str = "reader", artifacts: str = "medqm", photo: str = "photo"):
        self._names = {"reader": reader, "medqm": artifacts, "photo": photo}
        self._loaded: dict[str, object] = {}

    def _model(self, key: str):
        if key not in self._loaded:
            self._loaded[key] = load_shared(self._names[key])
        return self._loaded[key]

    # ------------------------------------------------------------ CT

    def encode_ct(self, images: Sequence[CTImage]) -> list[ImageTokens]:
        """Gives the tokens of CT slices (features at the reader's 256 px display)."""
        images = list(images)
        if not images:
            return []
        reader = self._model("reader").model
        displays = [reading_display(im, MEASURE_PX) for im in images]
        feats = np.stack([image_nr_features(im, MEASURE_PX) for im in images])[:, reader._nr_index]
        medqm = self._model("medqm").predict(images)
        pred = reader.predict_features(feats, medqm.aspects["artifacts"])
        reader_scores = np.stack([pred.overall] + [pred.aspects[a] for a in ("noise", "texture", "sharpness",
                                                                             "contrast")], axis=1)
        medqm_scores = np.stack([medqm.overall] + [medqm.aspects[a] for a in ASPECTS], axis=1)
        out = []
        for i, (im, disp) in enumerate(zip(images, displays, strict=True)):
            g = np.concatenate([feats[i], reader_scores[i], medqm_scores[i], _anatomy(im, disp)]).astype(np.float32)
            out.append(ImageTokens("ct", g, grid_stats(disp)))
        return out

    def encode_ct_pairs(self, images: Sequence[CTImage], references: Sequence[CTImage]) -> np.ndarray:
        """Gives (N, CT_FR_DIM): each slice against its reference (reader full-reference features and scores)."""
        images, references = list(images), list(references)
        if not images:
            return np.zeros((0, CT_FR_DIM), np.float32)
        reader = self._model("reader").model
        x = reader.pair_features(images, references)
        pred = reader.predict_features(x, np.zeros(len(images)), full_reference=True)
        scores = np.stack([pred.overall] + [pred.aspects[a] for a in ("noise", "texture", "sharpness", "contrast")],
                          axis=1)
        return np.concatenate([x, scores], axis=1).astype(np.float32)

    # ------------------------------------------------------------ photos

    def encode_photos(self, photos: Sequence[np.ndarray]) -> list[ImageTokens]:
        """Gives the tokens of RGB photos (H, W, 3) in [0, 1]."""
        from vliqa.models.photo_features import as_photo_rgb, photo_features  # noqa: PLC0415  # lazy: photos only

        photos = [as_photo_rgb(p) for p in photos]
        if not photos:
            return []
        pred = self._model("photo").predict(photos)
        out = []
        for i, rgb in enumerate(photos):
            scores = np.array([pred.overall[i]] + [pred.aspects[a][i] for a in ASPECTS], np.float32)
            luminance = rgb @ np.array([0.299, 0.587, 0.114], np.float32)
            g = np.concatenate([photo_features(rgb), scores]).astype(np.float32)
            out.append(ImageTokens("photo", g, grid_stats(_resize_long(luminance, MEASURE_PX))))
        return out

    def encode_photo_pairs(self, photos: Sequence[np.ndarray], references: Sequence[np.ndarray]) -> np.ndarray:
        """Gives (N, photo FR dim): each photo against its reference."""
        from vliqa.models.photo_features import as_photo_rgb, photo_pair_features  # noqa: PLC0415  # lazy: photos

        return np.stack([photo_pair_features(as_photo_rgb(p), as_photo_rgb(r))
                         for p, r in zip(photos, references, strict=True)]).astype(np.float32)


def _resize_long(image: np.ndarray, px: int) -> np.ndarray:
    """Gives a 2-D image with its long side at `px` (order-1 zoom)."""
    scale = px / max(image.shape)
    if abs(scale - 1.0) < 1e-6:
        return image.astype(np.float32)
    return ndi.zoom(image, scale, order=1).astype(np.float32)
