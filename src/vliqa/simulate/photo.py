"""Photo distortions (DepictQA's families): pure, seeded functions of an RGB image in [0, 1] at severities 1-5.

    noisy = apply_photo_distortion(rgb, "noise", 3, np.random.default_rng(0))
    both = distort_photo(rgb, [("jpeg", 2), ("blur", 4)], seed=7)      # applied in capture-pipeline order

`PHOTO_DISTORTIONS` is the one place a family is described: its parameter at each severity, the quality
aspects it lowers (weight 1 for the aspect it is named for, 0.5 for what it harms on the side) and its stage
in a camera's pipeline (exposure and colour, then optics, sensor noise, processing, compression), which
orders several distortions. Severity 5 is clearly bad in every family; severity 1 is visible but slight.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from PIL import Image, features
from scipy import ndimage

from vliqa.core import ASPECTS, unit_rgb
from vliqa.errors import DependencyUnavailableError, InvalidParameterError, UnknownNameError

SEVERITIES = (1, 2, 3, 4, 5)
#: Luminance weights (ITU-R BT.601) for contrast and colour changes.
LUMA = np.array([0.299, 0.587, 0.114], np.float32)

#: Two orthonormal colour directions that leave the luminance unchanged (red-green, then its perpendicular).
_RED_GREEN = np.array([0.587, -0.299, 0.0], np.float32)
_CHROMA_AXES = (_RED_GREEN / np.linalg.norm(_RED_GREEN),
                np.cross(LUMA, _RED_GREEN) / np.linalg.norm(np.cross(LUMA, _RED_GREEN)))

PhotoFn = Callable[[np.ndarray, int, np.random.Generator], np.ndarray]


@dataclass(frozen=True)
class PhotoDistortion:
    """One distortion family: its function, parameter per severity 1-5, the aspects it lowers, its pipeline stage."""

    name: str
    fn: PhotoFn
    #: what `levels` holds, with its unit
    parameter: str
    #: the parameter at severities 1..5
    levels: tuple
    #: aspect -> weight: 1 for the aspect the family is named for, 0.5 for an aspect it harms on the side
    aspects: dict[str, float]
    #: where it happens in a camera's pipeline: 0 exposure/colour, 1 optics, 2 sensor, 3 processing, 4 compression
    stage: int
    description: str
    #: why the family cannot run here ("" when it can)
    unavailable: str = ""

    def __call__(self, rgb: np.ndarray, severity: int, rng: np.random.Generator) -> np.ndarray:
        if self.unavailable:
            raise DependencyUnavailableError(f"photo distortion '{self.name}' cannot run: {self.unavailable}",
                                             hint="pick another family (vliqa.simulate.photo.available_distortions())")
        return self.fn(_checked(rgb), _severity(severity), rng)


PHOTO_DISTORTIONS: dict[str, PhotoDistortion] = {}


def _register(name: str, parameter: str, levels: tuple, aspects: dict[str, float], stage: int, description: str,
              unavailable: str = "") -> Callable[[PhotoFn], PhotoFn]:
    def deco(fn: PhotoFn) -> PhotoFn:
        assert set(aspects) <= set(ASPECTS) and len(levels) == len(SEVERITIES)
        PHOTO_DISTORTIONS[name] = PhotoDistortion(name, fn, parameter, tuple(levels), dict(aspects), stage,
                                                  description, unavailable)
        return fn

    return deco


def _checked(rgb: np.ndarray) -> np.ndarray:
    arr = np.asarray(rgb)
    if arr.ndim != 3 or arr.shape[-1] != 3 or arr.dtype != np.float32:
        arr = unit_rgb(arr)  # raises InvalidImageError for what is no photograph
    return arr


def _severity(severity: int) -> int:
    if int(severity) != severity or int(severity) not in SEVERITIES:
        raise InvalidParameterError(f"photo distortion severity must be an integer 1-5, got {severity}",
                                    hint="1 is slight, 5 is clearly bad")
    return int(severity)


def _clip(rgb: np.ndarray) -> np.ndarray:
    return np.clip(rgb, 0.0, 1.0).astype(np.float32)


def _to_uint8(rgb: np.ndarray) -> Image.Image:
    return Image.fromarray(np.rint(np.clip(rgb, 0.0, 1.0) * 255).astype(np.uint8), mode="RGB")


def _from_bytes(data: bytes) -> np.ndarray:
    with Image.open(io.BytesIO(data)) as im:
        return np.asarray(im.convert("RGB"), dtype=np.float32) * np.float32(1 / 255)


def _luma(rgb: np.ndarray) -> np.ndarray:
    return rgb @ LUMA


@_register("noise", "Gaussian sigma (0-1 scale)", (0.02, 0.04, 0.07, 0.11, 0.16), {"noise": 1.0}, 2,
           "white Gaussian noise, independent per channel")
def photo_noise(rgb: np.ndarray, severity: int, rng: np.random.Generator) -> np.ndarray:
    """Gives `rgb` with white Gaussian noise added."""
    sigma = PHOTO_DISTORTIONS["noise"].levels[severity - 1]
    return _clip(rgb + rng.normal(0.0, sigma, rgb.shape).astype(np.float32))


@_register("blur", "Gaussian sigma (px)", (0.8, 1.5, 2.5, 4.0, 6.0), {"sharpness": 1.0}, 1,
           "Gaussian blur (defocus)")
def photo_blur(rgb: np.ndarray, severity: int, rng: np.random.Generator) -> np.ndarray:
    """Gives `rgb` blurred by a Gaussian."""
    sigma = PHOTO_DISTORTIONS["blur"].levels[severity - 1]
    return _clip(ndimage.gaussian_filter(rgb, sigma=(sigma, sigma, 0), mode="reflect"))


@_register("jpeg", "JPEG quality (Pillow, 4:2:0)", (40, 25, 14, 8, 3), {"artifacts": 1.0, "texture": 0.5}, 4,
           "JPEG compression: 8x8 blocking, ringing, colour bleeding")
def photo_jpeg(rgb: np.ndarray, severity: int, rng: np.random.Generator) -> np.ndarray:
    """Gives `rgb` after a JPEG round trip at the severity's quality."""
    buf = io.BytesIO()
    _to_uint8(rgb).save(buf, "JPEG", quality=PHOTO_DISTORTIONS["jpeg"].levels[severity - 1])
    return _from_bytes(buf.getvalue())


_J2K_MISSING = "" if features.check("jpg_2000") else "this Pillow has no OpenJPEG (JPEG 2000) codec"


@_register("jpeg2000", "JPEG 2000 target PSNR, dB (Pillow/OpenJPEG; a ratio would hit the header floor on small "
           "crops)", (30, 27, 24, 21, 18),
           {"artifacts": 1.0, "texture": 0.5, "sharpness": 0.5}, 4,
           "JPEG 2000 (wavelet) compression: blur and ringing around edges", unavailable=_J2K_MISSING)
def photo_jpeg2000(rgb: np.ndarray, severity: int, rng: np.random.Generator) -> np.ndarray:
    """Gives `rgb` after a JPEG 2000 round trip compressed down to the severity's PSNR."""
    buf = io.BytesIO()
    _to_uint8(rgb).save(buf, "JPEG2000", quality_mode="dB", irreversible=True,
                        quality_layers=[PHOTO_DISTORTIONS["jpeg2000"].levels[severity - 1]])
    return _from_bytes(buf.getvalue())


@_register("contrast_decrease", "contrast kept (fraction)", (0.75, 0.58, 0.42, 0.28, 0.16), {"contrast": 1.0}, 0,
           "contrast pulled towards the mean grey")
def photo_contrast_decrease(rgb: np.ndarray, severity: int, rng: np.random.Generator) -> np.ndarray:
    """Gives `rgb` with its contrast scaled down around its mean luminance."""
    kept = PHOTO_DISTORTIONS["contrast_decrease"].levels[severity - 1]
    mean = float(_luma(rgb).mean())
    return _clip(mean + kept * (rgb - mean))


@_register("colour_shift", "(saturation kept, colour cast on 0-1)",
           ((0.75, 0.03), (0.55, 0.06), (0.38, 0.09), (0.22, 0.13), (0.08, 0.18)), {"contrast": 1.0}, 0,
           "washed-out colours with a colour cast of a random hue")
def photo_colour_shift(rgb: np.ndarray, severity: int, rng: np.random.Generator) -> np.ndarray:
    """Gives `rgb` desaturated and shifted towards a random hue (the hue is drawn from `rng`)."""
    kept, cast = PHOTO_DISTORTIONS["colour_shift"].levels[severity - 1]
    grey = _luma(rgb)[..., None]
    angle = float(rng.uniform(0.0, 2 * np.pi))
    shift = cast * (np.cos(angle) * _CHROMA_AXES[0] + np.sin(angle) * _CHROMA_AXES[1])
    return _clip(grey + kept * (rgb - grey) + shift)


@_register("overexposure", "(gain, lift)", ((1.25, 0.04), (1.5, 0.08), (1.8, 0.12), (2.2, 0.16), (2.7, 0.2)),
           {"contrast": 1.0}, 0, "overexposure: brightened, highlights clipped to white")
def photo_overexposure(rgb: np.ndarray, severity: int, rng: np.random.Generator) -> np.ndarray:
    """Gives `rgb` brightened with clipped highlights."""
    gain, lift = PHOTO_DISTORTIONS["overexposure"].levels[severity - 1]
    return _clip(rgb * gain + lift)


@_register("underexposure", "(gain, gamma)", ((0.7, 1.1), (0.5, 1.25), (0.35, 1.4), (0.22, 1.6), (0.12, 1.8)),
           {"contrast": 1.0}, 0, "underexposure: darkened, shadows crushed, stored at 8 bits")
def photo_underexposure(rgb: np.ndarray, severity: int, rng: np.random.Generator) -> np.ndarray:
    """Gives `rgb` darkened (gain and gamma), quantised to 8 bits as a camera stores it."""
    gain, gamma = PHOTO_DISTORTIONS["underexposure"].levels[severity - 1]
    dark = gain * np.power(rgb, gamma)
    return _clip(np.rint(dark * 255) / 255)


@_register("pixelate", "block size (px)", (2, 3, 4, 6, 8), {"artifacts": 1.0, "texture": 0.5, "sharpness": 0.5}, 3,
           "pixelation: block averages shown as square blocks")
def photo_pixelate(rgb: np.ndarray, severity: int, rng: np.random.Generator) -> np.ndarray:
    """Gives `rgb` averaged over square blocks and shown blocky (blocks aligned to the top-left corner)."""
    block = PHOTO_DISTORTIONS["pixelate"].levels[severity - 1]
    rows, cols = rgb.shape[:2]
    pad = ((0, -rows % block), (0, -cols % block), (0, 0))
    padded = np.pad(rgb, pad, mode="edge")
    r, c = padded.shape[0] // block, padded.shape[1] // block
    means = padded.reshape(r, block, c, block, 3).mean(axis=(1, 3))
    return _clip(np.repeat(np.repeat(means, block, axis=0), block, axis=1)[:rows, :cols])


@_register("quantise", "levels per channel", (24, 14, 8, 5, 3), {"artifacts": 1.0, "texture": 0.5}, 3,
           "colour quantisation: banding and false contours")
def photo_quantise(rgb: np.ndarray, severity: int, rng: np.random.Generator) -> np.ndarray:
    """Gives `rgb` with each channel rounded to a few levels."""
    steps = PHOTO_DISTORTIONS["quantise"].levels[severity - 1] - 1
    return _clip(np.rint(rgb * steps) / steps)


def available_distortions() -> tuple[str, ...]:
    """Gives the names of the families that can run with the installed codecs, in registry order."""
    return tuple(name for name, d in PHOTO_DISTORTIONS.items() if not d.unavailable)


def get_photo_distortion(name: str) -> PhotoDistortion:
    """Gives the registered photo distortion called `name`."""
    if name not in PHOTO_DISTORTIONS:
        raise UnknownNameError(f"unknown photo distortion '{name}'", hint=f"known: {', '.join(PHOTO_DISTORTIONS)}")
    return PHOTO_DISTORTIONS[name]


def apply_photo_distortion(rgb: np.ndarray, name: str, severity: int, rng: np.random.Generator) -> np.ndarray:
    """Gives `rgb` (H, W, 3 float32 in [0, 1]) with distortion `name` at severity 1-5; `rng` draws what is random."""
    return get_photo_distortion(name)(rgb, severity, rng)


def pipeline_order(distortions: Sequence[tuple[str, int]]) -> list[tuple[str, int]]:
    """Gives (name, severity) pairs sorted by pipeline stage (ties keep their order)."""
    return sorted(distortions, key=lambda d: get_photo_distortion(d[0]).stage)


def distort_photo(rgb: np.ndarray, distortions: Sequence[tuple[str, int]], seed: int = 0) -> np.ndarray:
    """Gives `rgb` with every (name, severity) applied in pipeline order; the same seed gives the same pixels."""
    out = _checked(rgb)
    for k, (name, severity) in enumerate(pipeline_order(distortions)):
        out = apply_photo_distortion(out, name, severity, np.random.default_rng([int(seed), k]))
    return out
