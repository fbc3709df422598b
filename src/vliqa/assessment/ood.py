"""Out-of-distribution checks: flag inputs too far from CT training data to be scored with confidence.

The scorers learn from CT slices in HU (or display exports of them). A score for a photograph, a blank
frame, a thumbnail or an array of probabilities would look as confident as any other, so these cheap
checks run first and the assessment says `out_of_distribution: true` with the reason instead.
Display-domain rasters (grey PNG/JPEG/TIFF exports) are in distribution: their HU were reconstructed
through the export window, so the air test uses that window's low end instead of -1000 HU.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from vliqa.core import CTImage

#: Slices smaller than this on a side are thumbnails or patches, not CT slices the models saw.
MIN_SIDE_PX = 64
#: HU above this count as body (tissue, bone, contrast); below is air or lung.
BODY_THRESHOLD_HU = -500.0
#: A slice whose body covers less than this fraction is mostly air (outside the patient, a blank FOV).
MIN_BODY_FRACTION = 0.05
#: An HU range narrower than this is not a CT slice (CT spans at least air to tissue, or noise of tens of HU).
MIN_HU_SPAN = 100.0
#: Air in HU: a real CT field of view holds some pixels near -1000 HU.
AIR_BELOW_HU = -800.0
#: Beyond these, values are not HU of any scanner (extended-range CT reaches about -3024 .. +30000).
EXTREME_LOW_HU, EXTREME_HIGH_HU = -3100.0, 31000.0
#: A colour raster whose mean channel difference is below this (in 8-bit levels) is a grey render saved as RGB.
GREY_RGB_TOLERANCE = 2.0
#: Pixels coarser than this (mm) are far from the training data (diagnostic CT: about 0.4-1.0 mm): a resampled
#: 3 mm volume upsampled to the scorer's 512 px looks blurred and its noise grain is unlike any scan's.
MAX_PIXEL_MM = 1.6
#: Below this correlation of neighbouring pixels an image has no spatial structure: it is noise, not anatomy.
#: Pure noise (Gaussian, uniform, salt-and-pepper) gives about 0 (+-0.02 at 64 px a side); every real slice and
#: render measured (628 of them: DICOM from 6 scanners, full and quarter dose, JPEG and PNG reader-study
#: renders with noise, blur and compression) gives at least 0.6, most above 0.95.
MIN_NEIGHBOUR_CORRELATION = 0.3
#: The uncertainty (score units) an out-of-distribution result gets at least: half the 0-4 scale.
OOD_MIN_UNCERTAINTY = 2.0


@dataclass(frozen=True)
class OODResult:
    """Whether an image is out of distribution, and why (None when it is in distribution)."""

    out_of_distribution: bool
    reason: str | None = None


def check_image(image: CTImage) -> OODResult:
    """Gives whether `image` is out of distribution for a CT quality scorer, with the first reason found."""
    rows, cols = image.shape
    if min(rows, cols) < MIN_SIDE_PX:
        return OODResult(True, f"tiny image ({rows}x{cols} px; CT slices are at least {MIN_SIDE_PX} px a side)")
    if image.pixel_spacing_mm and float(np.mean(image.pixel_spacing_mm)) > MAX_PIXEL_MM:
        return OODResult(True, f"coarse pixels ({float(np.mean(image.pixel_spacing_mm)):.2g} mm; the scorer knows "
                               f"diagnostic slices up to {MAX_PIXEL_MM} mm): a resampled volume, not a reconstruction?")
    hu = image.hu
    low, high = float(hu.min()), float(hu.max())
    if high - low < 1e-3:
        return OODResult(True, f"blank image (every pixel is {low:.4g})")
    colour = _colour_reason(image)
    if colour:
        return OODResult(True, colour)
    if image.display_window is None:
        if low < EXTREME_LOW_HU or high > EXTREME_HIGH_HU:
            return OODResult(True, f"values {low:.4g}..{high:.4g} lie outside any CT HU range")
        if high - low < MIN_HU_SPAN:
            return OODResult(True, f"values span only {low:.4g}..{high:.4g}, too narrow for HU "
                                   "(a display image or probabilities given as HU?)")
        soft_tissue = float(np.mean((hu >= 0.0) & (hu <= 100.0)))
        if low > AIR_BELOW_HU and soft_tissue < 0.01:
            return OODResult(True, f"no air near -1000 HU and no soft tissue 0-100 HU (values {low:.4g}..{high:.4g}):"
                                   " not HU")
        body_threshold = BODY_THRESHOLD_HU
    else:
        # air in an export is clipped to the window's low end: anything above that plateau is body
        body_threshold = max(BODY_THRESHOLD_HU, image.display_window.low_hu + 0.01 * image.display_window.width)
    body = float(np.mean(hu > body_threshold))
    if body < MIN_BODY_FRACTION:
        return OODResult(True,
                         f"mostly air ({100 * body:.1f} % body; at least {100 * MIN_BODY_FRACTION:.0f} % expected)")
    r = neighbour_correlation(hu)
    if r < MIN_NEIGHBOUR_CORRELATION:
        shown = 0.0 if abs(r) < 0.005 else r  # no "-0.00"
        return OODResult(True, f"no spatial structure, pure noise (neighbour correlation {shown:.2f}; CT slices "
                               f"have at least {MIN_NEIGHBOUR_CORRELATION})")
    return OODResult(False, None)


def neighbour_correlation(values: np.ndarray) -> float:
    """Gives the mean correlation of each pixel with its right and lower neighbour (about 0 for noise, near 1 for CT).

    In a CT slice most of the variance is anatomy (air, tissue, bone) that spans many pixels, so neighbours agree
    even under heavy noise; in white noise of any distribution they are independent.
    """
    x = np.asarray(values, dtype=np.float32)
    x = x - np.float32(x.mean(dtype=np.float64))

    def dot(a: np.ndarray, b: np.ndarray) -> float:
        return float(np.einsum("ij,ij->", a, b, dtype=np.float64))  # float64 sums, no float64 copy of the image

    total = 0.0
    for a, b in ((x[:, :-1], x[:, 1:]), (x[:-1, :], x[1:, :])):
        norm = float(np.sqrt(dot(a, a) * dot(b, b)))
        total += dot(a, b) / norm if norm > 0.0 else 1.0
    return total / 2.0


def _colour_reason(image: CTImage) -> str | None:
    """Gives a reason when the image was a colour raster with real colour (a photo or an overlay), else None."""
    if not any("colour image" in w for w in image.warnings):
        return None
    source = Path(image.source) if image.source else None
    if source is not None and source.is_file():
        try:
            with Image.open(source) as im:
                rgb = np.asarray(im.convert("RGB"), dtype=np.float32)
        except OSError:  # unreadable now: keep the loader's word that it was colour
            rgb = None
        if rgb is not None:
            spread = float(np.mean(np.abs(rgb[..., 0] - rgb[..., 1]) + np.abs(rgb[..., 1] - rgb[..., 2])))
            if spread < GREY_RGB_TOLERANCE:
                return None  # a grey CT render stored as RGB: in distribution
    return "colour image (a photograph or a coloured render), not a CT slice"
