"""How each simulated distortion is named in text: nouns, causes, artefact phrases and recognition patterns.

Every phrase of a distortion contains its recognition pattern, so `parse` can find
the distortion again in any text `describe`, `identify_text` or `compare` writes.
Names the table does not know get generic phrasing built from the name itself.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from vliqa.core import ASPECTS
from vliqa.errors import VliqaError
from vliqa.simulate.registry import get_degradation


@dataclass(frozen=True)
class DistortionPhrase:
    """The words for one distortion: what it is, what caused it, how its artefacts look, what it harms."""

    name: str
    #: noun phrase for identification ("low-dose noise")
    noun: str
    #: cause noun phrases, used after "from" / "due to" ("the reduced tube dose")
    causes: tuple[str, ...]
    #: plural noun phrase for artefact sentences, or "" when the distortion makes no artefact
    artifact: str
    #: quality aspects the distortion mainly lowers
    aspects: tuple[str, ...]
    #: regex finding a mention in normalised (lower-case, "artefact"-spelled) text
    pattern: str
    #: how it changes texture: "smooth" (waxy, plastic), "coarse" (grainy, blocky) or ""
    texture_family: str = ""


def _p(name: str, noun: str, causes: tuple[str, ...], artifact: str, aspects: tuple[str, ...], pattern: str,
       texture_family: str = "") -> DistortionPhrase:
    return DistortionPhrase(name, noun, causes, artifact, aspects, pattern, texture_family)


#: Denoisers lower texture first, then sharpness and low-contrast detail (as the simulator registers them).
_SMOOTHER = ("texture", "sharpness", "contrast")

#: Phrases for every degradation the simulator registers; `aspects` mirror the registry's.
DISTORTION_PHRASES: dict[str, DistortionPhrase] = {
    p.name: p
    for p in (
        _p("low_dose", "low-dose noise", ("the reduced dose", "the low-dose acquisition"),
           "photon-starvation streaks from the low dose", ("noise", "artifacts"),
           r"low[- ]dose|reduced (?:tube )?dose|dose reduction", "coarse"),
        _p("sparse_view", "sparse-view streaks", ("sparse-view sampling", "the sparse-view acquisition"),
           "fine radial streaks from sparse-view sampling", ("artifacts",), r"sparse[- ]view"),
        _p("limited_angle", "limited-angle artefacts", ("the limited-angle acquisition", "limited-angle sampling"),
           "directional streaks and smeared edges from the limited-angle acquisition", ("artifacts",),
           r"limited[- ]angle"),
        _p("metal", "metal streak artefacts", ("the metal implant", "metal hardware"),
           "streaks radiating from the metal implant", ("artifacts",), r"\bmetal"),
        _p("ring", "ring artefacts", ("a ring pattern from miscalibrated detector channels",),
           "concentric ring artefacts centred on the rotation axis", ("artifacts",),
           r"\bring (?:artefact|pattern)|concentric rings?\b"),
        _p("motion", "motion artefacts", ("patient motion", "motion during the scan"),
           "motion ghosts and doubled edges", ("artifacts", "sharpness"), r"\bmotion\b"),
        _p("blur", "global image blur", ("global image blur", "a blurring filter"), "", ("sharpness",),
           r"global (?:image )?blur|blurring filter"),
        _p("thick_slice", "thick-slice partial-volume blurring",
           ("the thick slice reconstruction", "partial-volume averaging over a thick slice"), "", ("sharpness",),
           r"thick[- ]slice"),
        _p("resample", "resampling blur", ("resampling (interpolation)", "interpolation during resampling"), "",
           ("sharpness",), r"resampl|interpolation"),
        _p("jpeg", "JPEG blocking artefacts", ("lossy JPEG compression",),
           "8x8 blocking artefacts from JPEG compression", ("artifacts", "texture"), r"\bjpeg\b(?![- ]?2000)",
           "coarse"),
        _p("jpeg2000", "JPEG 2000 compression blur",
           ("lossy JPEG 2000 compression", "wavelet (JPEG 2000) compression"),
           "ringing artefacts around edges from JPEG 2000 compression", ("artifacts", "texture", "sharpness"),
           r"jpeg[- ]?2000", "smooth"),
        _p("quantise", "grey-level quantisation (banding)",
           ("grey-level quantisation", "quantisation of the grey levels"),
           "banding (contour) artefacts from grey-level quantisation", ("artifacts", "texture"), r"quantis|banding",
           "coarse"),
        _p("wrong_window", "an inappropriate display window", ("an inappropriate display window",
           "a wrong window setting"), "", ("contrast",), r"display window|window setting|wrong window|mis-?windowed"),
        _p("smooth_gaussian", "Gaussian-filter over-smoothing",
           ("Gaussian-filter smoothing", "a Gaussian smoothing filter"), "", _SMOOTHER, r"gaussian", "smooth"),
        _p("smooth_bilateral", "bilateral-filter over-smoothing", ("bilateral-filter denoising", "a bilateral filter"),
           "", _SMOOTHER, r"bilateral", "smooth"),
        _p("smooth_nlm", "non-local-means over-smoothing", ("non-local-means denoising",), "", _SMOOTHER,
           r"non[- ]local[- ]means|\bnlm\b", "smooth"),
        _p("smooth_tv", "total-variation over-smoothing", ("total-variation denoising",), "", _SMOOTHER,
           r"total[- ]variation|\btv\b", "smooth"),
        _p("smooth_bm3d", "BM3D over-smoothing", ("BM3D denoising",), "", _SMOOTHER, r"bm3d", "smooth"),
        _p("smooth_cnn", "deep-learning denoising texture", ("deep-learning denoising", "a CNN denoiser"), "",
           _SMOOTHER, r"deep[- ]learning|\bcnn\b|neural[- ]network", "smooth"),
        _p("ir_texture", "blotchy iterative-reconstruction texture",
           ("strong iterative reconstruction", "the iterative reconstruction"), "", ("texture", "sharpness", "noise"),
           r"iterative[- ]reconstruction", "smooth"),
        _p("detail_loss", "detail loss from aggressive post-processing", ("detail-suppressing post-processing",),
           "", ("contrast", "sharpness"), r"detail[- ]suppress|detail loss", "smooth"),
        _p("residual_streaks", "residual streaks", ("residual streaks after artefact correction",),
           "residual streaks left after artefact correction", ("artifacts", "texture"), r"residual streak", "coarse"),
    )
}

KNOWN_DISTORTIONS: tuple[str, ...] = tuple(DISTORTION_PHRASES)

_COMPILED = {name: re.compile(p.pattern) for name, p in DISTORTION_PHRASES.items()}


@lru_cache(maxsize=256)
def phrase_for(name: str) -> DistortionPhrase:
    """Gives the phrases of distortion `name`; unknown names get generic phrases built from the name."""
    known = DISTORTION_PHRASES.get(name)
    if known is not None:
        return known
    words = re.sub(r"[_\-]+", " ", str(name)).strip() or "unknown"
    return DistortionPhrase(
        name=name,
        noun=f"{words} distortion",
        causes=(words,),
        artifact=f"artefacts from {words}",
        aspects=_registered_aspects(name) or ("artifacts",),
        pattern=re.escape(words.lower()),
    )


def _registered_aspects(name: str) -> tuple[str, ...]:
    # A user-registered degradation knows which aspects it harms; ask the registry, quietly.
    try:
        return tuple(a for a in get_degradation(name).aspects if a in ASPECTS)
    except (VliqaError, ImportError):
        return ()


def severity_word(severity: float) -> str:
    """Gives the adjective for a distortion severity in [0, 1] ("slight" ... "severe")."""
    s = float(severity)
    if s < 0.15:
        return "slight"
    if s < 0.4:
        return "mild"
    if s < 0.65:
        return "moderate"
    if s < 0.85:
        return "marked"
    return "severe"


def find_distortions(normalised_text: str) -> tuple[str, ...]:
    """Gives the known distortion names mentioned in normalised text, in order of first mention."""
    hits = []
    for name, rx in _COMPILED.items():
        m = rx.search(normalised_text)
        if m:
            hits.append((m.start(), name))
    return tuple(name for _, name in sorted(hits))
