"""The Assessor: one service every entry point (CLI, Python API, HTTP, batch) calls to score CT images.

    assessor = Assessor("runs/r1")                    # a checkpoint folder, a shipped name, or a predictor object
    result = assessor.assess("scan/")                 # Assessment (a slice) or VolumeAssessment (a series)
    for r in assessor.assess_many(paths): ...

Slices go through the predictor in batches; physics measures, out-of-distribution checks, detected
distortions and a text description are added per slice (see vliqa.assess.schema for the result).
"""

from __future__ import annotations

import hashlib
import logging
import math
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from vliqa import __version__
from vliqa.assess.ood import OOD_MIN_UNCERTAINTY, check_image
from vliqa.assess.schema import Assessment, DetectedDistortion, VolumeAssessment, summarise
from vliqa.errors import InvalidParameterError, VliqaError
from vliqa.io.image import CTImage, CTVolume
from vliqa.labels.schema import LEVEL_NAMES, QualityLabels, level_of
from vliqa.simulate.registry import ASPECTS

logger = logging.getLogger("vliqa.assess")

#: An aspect scored below this (0-4) counts as evidence of its distortion; confidence grows to 1 at 0.
LOW_ASPECT_SCORE = 2.5
#: What a low aspect is called as a distortion.
ASPECT_DISTORTION = {"noise": "noise", "artifacts": "artifacts", "sharpness": "blur", "contrast": "low_contrast",
                     "texture": "oversmoothing"}
#: Physics evidence: (measure, distortion, onset, full): confidence rises linearly from onset to full.
#: Onsets sit well beyond the bundled routine-dose abdomen series (noise 12-16 HU, MTF50 2.2-2.7 lp/cm,
#: streak RMS 4-7 HU, ring RMS 0 HU), so a routine scan triggers none of them; the shoulder slices of the
#: Philips thorax, with real photon-starvation streaks, read 27-40 HU and do.
MEASURE_EVIDENCE = (
    ("noise_sigma_hu", "noise", 25.0, 60.0),
    ("mtf50_lp_per_cm", "blur", 1.5, 0.8),
    ("streak_rms_hu", "artifacts", 20.0, 60.0),
    ("ring_rms_hu", "artifacts", 2.0, 8.0),
)
#: A distortion is reported from this confidence on.
MIN_DISTORTION_CONFIDENCE = 0.1


@dataclass(frozen=True)
class Evidence:
    """One reason to believe a distortion is present: from a model aspect (`measure` None) or a physics measure."""

    distortion: str
    confidence: float
    text: str
    measure: str | None = None


def find_evidence(aspects: dict[str, float], measures: dict[str, float]) -> list[Evidence]:
    """Gives every piece of evidence the aspect scores and the physics measures give, in a fixed order."""
    found = []
    for aspect, name in ASPECT_DISTORTION.items():
        score = aspects.get(aspect)
        if score is not None and score < LOW_ASPECT_SCORE:
            found.append(Evidence(name, min(1.0, (LOW_ASPECT_SCORE - score) / LOW_ASPECT_SCORE),
                                  f"model: {aspect} aspect {score:.2f}/4"))
    for key, name, onset, full in MEASURE_EVIDENCE:
        value = measures.get(key, math.nan)
        if not math.isfinite(value) or (value <= onset if full > onset else value >= onset):
            continue
        found.append(Evidence(name, float(np.clip((value - onset) / (full - onset), 0.0, 1.0)),
                              f"measure: {key} {value:.3g} {'>' if full > onset else '<'} {onset:g}", key))
    return found


def detect_distortions(aspects: dict[str, float], measures: dict[str, float], *,
                       evidence: list[Evidence] | None = None) -> tuple[DetectedDistortion, ...]:
    """Gives the distortions that low aspect scores and out-of-range physics measures point to, most confident first.

    `evidence`, when the caller has it already, is `find_evidence(aspects, measures)`.
    """
    found: dict[str, tuple[float, list[str]]] = {}
    for e in find_evidence(aspects, measures) if evidence is None else evidence:
        conf, notes = found.get(e.distortion, (0.0, []))
        found[e.distortion] = (max(conf, e.confidence), [*notes, e.text])
    items = [DetectedDistortion(n, round(c, 3), tuple(e)) for n, (c, e) in found.items() if c >= MIN_DISTORTION_CONFIDENCE]
    return tuple(sorted(items, key=lambda d: -d.confidence))


#: How a measure that alone points to a distortion is worded in the description.
MEASURE_PHRASES = {
    "noise_sigma_hu": "noise of {v:.0f} HU in soft tissue",
    "mtf50_lp_per_cm": "an edge MTF50 of {v:.1f} lp/cm (blur)",
    "streak_rms_hu": "streaks ({v:.0f} HU RMS of directional fine-scale structure)",
    "ring_rms_hu": "rings around the rotation centre ({v:.1f} HU RMS)",
}


def measure_only_note(aspects: dict[str, float], measures: dict[str, float], *, evidence: list[Evidence] | None = None,
                      distortions: tuple[DetectedDistortion, ...] | None = None) -> str:
    """Gives a sentence on the reported distortions only the physics measures found, not the model's aspects ("" if none).

    The description is written from the model's scores; without this, an Assessment could list
    "artifacts" among its distortions (from the streak measure) while its text says there are none.
    """
    if evidence is None:
        evidence = find_evidence(aspects, measures)
    if distortions is None:
        distortions = detect_distortions(aspects, measures, evidence=evidence)
    from_model = {e.distortion for e in evidence if e.measure is None}
    reported = {d.name for d in distortions}
    found = [MEASURE_PHRASES[e.measure].format(v=measures[e.measure]) for e in evidence
             if e.measure in MEASURE_PHRASES and e.distortion in reported and e.distortion not in from_model]
    if not found:
        return ""
    listed = found[0] if len(found) == 1 else ", ".join(found[:-1]) + " and " + found[-1]
    return f"The physics measures also find {listed}, which the model's scores do not show."


def _references_for(slices: Sequence[CTImage], reference: CTImage | CTVolume) -> list[CTImage]:
    """Gives one reference slice per slice: the reference series slice by slice, or its one slice for all."""
    if isinstance(reference, CTImage):
        refs = [reference] * len(slices)
    elif isinstance(reference, CTVolume) and len(reference) == len(slices):
        refs = [reference.slice(i) for i in range(len(reference))]
    elif isinstance(reference, CTVolume) and len(reference) == 1:
        refs = [reference.slice(0)] * len(slices)
    else:
        n = len(reference) if isinstance(reference, CTVolume) else type(reference).__name__
        raise InvalidParameterError(f"the reference has {n} slices but the image has {len(slices)}",
                                    hint="give a reference of the same slices (e.g. the full-dose series) or one slice")
    for image, ref in zip(slices, refs, strict=True):
        if image.shape != ref.shape:
            raise InvalidParameterError(
                f"the reference slice is {ref.shape[1]}x{ref.shape[0]} px but the image is "
                f"{image.shape[1]}x{image.shape[0]}", path=image.source,
                hint="the reference must be the same slice at the same size (e.g. the full-dose image)")
    return refs


def _measures(image: CTImage) -> dict[str, float]:
    """Gives measure_all of the slice, or all-NaN when the slice defeats the measures (blank, tiny)."""
    from vliqa.ct.measures import measure_all

    try:
        return measure_all(image)
    except (ValueError, VliqaError) as exc:  # degenerate inputs: the OOD check already says why
        logger.info("measures not computable for %s: %s", image.source, exc)
        return _nan_measures()


def _nan_measures() -> dict[str, float]:
    """Gives every measure key with NaN (not computed)."""
    from vliqa.ct.measures import MEASURE_KEYS

    return {k: math.nan for k in MEASURE_KEYS}


def _model_version(predictor: Any) -> str:
    """Gives a version string: the checkpoint's metadata version, else a short hash of its weights."""
    metadata = getattr(predictor, "metadata", None) or {}
    if metadata.get("version"):
        return str(metadata["version"])
    folder = getattr(predictor, "folder", None)
    weights = Path(folder) / "model.safetensors" if folder else None
    if weights is not None and weights.is_file():
        digest = hashlib.sha256()
        with open(weights, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                digest.update(block)
        return f"sha256:{digest.hexdigest()[:12]}"
    return str(getattr(predictor, "version", "unknown"))


class Assessor:
    """Scores CT slices and series with one quality model and gives `Assessment` / `VolumeAssessment` results.

    `model`: a shipped model name ("default"), a checkpoint folder, or any object with
    `predict(images) -> Predictions` and a `name`. `window`: the display window assumed for raster
    inputs (PNG/JPEG/TIFF), and the window of heatmaps. `measures`: add the physics measures (about
    0.25 s a 512x512 slice). `threads`: torch CPU threads (1 by default: more OpenMP threads busy-wait
    on small machines and slow everything else down).
    """

    def __init__(self, model: Any = "default", *, window: Any = None, measures: bool = True,
                 batch_size: int = 16, threads: int | None = 1):
        if batch_size < 1:
            raise InvalidParameterError(f"batch_size must be at least 1, got {batch_size}")
        if threads is not None:
            import torch

            torch.set_num_threads(int(threads))
        if isinstance(model, (str, Path)):
            from vliqa import models

            self.predictor = models.load(model)
        elif callable(getattr(model, "predict", None)):
            self.predictor = model
        else:
            raise InvalidParameterError(f"cannot use a {type(model).__name__} as a quality model",
                                        hint="pass a model name, a checkpoint folder or an object with predict(images)")
        self.model_name = str(getattr(self.predictor, "name", type(self.predictor).__name__))
        self.model_version = _model_version(self.predictor)
        self.window, self.measures, self.batch_size = window, measures, batch_size

    # ------------------------------------------------------------ entry points

    def assess(self, path_or_obj: Any, *, reference: Any = None) -> Assessment | VolumeAssessment:
        """Gives the assessment of one file, folder (one series), array, Pillow image, CTImage or CTVolume.

        `reference` (same kinds of input): judge the image against it, full-reference, as a researcher ranks
        denoisers against the full-dose scan; a series needs a reference series of as many slices, or one slice.
        """
        from vliqa.io import load

        image = load(path_or_obj, window=self.window)
        if reference is None:
            return self.assess_loaded(image)
        return self.assess_loaded(image, reference=load(reference, window=self.window))

    def assess_many(self, paths: Iterable[Any], *, skip_errors: bool = False) -> Iterator[Assessment | VolumeAssessment]:
        """Yields the assessment of every image found under `paths` (each DICOM series once), one at a time.

        Raises the first input's error unless `skip_errors`, which logs it on the 'vliqa.assess' logger and goes on.
        """
        from vliqa.io import iter_load

        for result in iter_load(list(paths), window=self.window):
            if result.error is not None:
                if not skip_errors:
                    raise result.error
                logger.warning("skipped %s: %s", result.source, result.error)
                continue
            yield self.assess_loaded(result.image)

    def assess_loaded(self, image: CTImage | CTVolume, *,
                      reference: CTImage | CTVolume | None = None) -> Assessment | VolumeAssessment:
        """Gives the assessment of an image already loaded: an Assessment for a slice, a VolumeAssessment for a series."""
        if isinstance(image, CTImage):
            refs = None if reference is None else _references_for([image], reference)
            return self.assess_slices([image], references=refs)[0]
        if isinstance(image, CTVolume):
            slices = [image.slice(i) for i in range(len(image))]
            refs = None if reference is None else _references_for(slices, reference)
            per_slice = self.assess_slices(slices, indices=list(range(len(image))), references=refs)
            return VolumeAssessment(path=image.source, slices=tuple(per_slice), summary=summarise(per_slice),
                                    model=self.model_name, model_version=self.model_version,
                                    vliqa_version=__version__, notes=tuple(image.warnings))
        raise InvalidParameterError(f"cannot assess a {type(image).__name__}", hint="pass a CTImage or a CTVolume")

    def assess_slices(self, slices: Sequence[CTImage], *, indices: Sequence[int | None] | None = None,
                      references: Sequence[CTImage] | None = None) -> list[Assessment]:
        """Gives one Assessment per slice, scoring them through the predictor in batches of `batch_size`.

        `references` (one per slice): score full-reference with the predictor's `predict_pair`.
        """
        if references is not None and not callable(getattr(self.predictor, "predict_pair", None)):
            raise InvalidParameterError(f"model '{self.model_name}' has no full-reference mode",
                                        hint="use the 'reader' model for --reference, or drop the reference")
        out: list[Assessment] = []
        for start in range(0, len(slices), self.batch_size):
            batch = list(slices[start:start + self.batch_size])
            if references is None:
                pred = self.predictor.predict(batch)
            else:
                pred = self.predictor.predict_pair(batch, list(references[start:start + self.batch_size]))
            for j, image in enumerate(batch):
                index = indices[start + j] if indices is not None else image.slice_index
                aspects = {a: float(pred.aspects[a][j]) for a in ASPECTS} if pred.aspects else {}
                std = float(pred.std[j]) if pred.std is not None else math.nan
                out.append(self._one(image, index, float(pred.overall[j]), aspects, std))
        return out

    # ------------------------------------------------------------ one slice

    def _one(self, image: CTImage, index: int | None, score: float, aspects: dict[str, float],
             std: float) -> Assessment:
        """Gives the Assessment of one scored slice: measures, OOD check, distortions and description added."""
        from vliqa.text import describe

        ood = check_image(image)
        measures: dict[str, float] = {}
        if self.measures:
            # physics on a photo or a blank frame means nothing: NaN, with the OOD reason saying why
            measures = _nan_measures() if ood.out_of_distribution else _measures(image)
        score = float(np.clip(score, 0.0, 4.0))
        uncertainty = std
        if ood.out_of_distribution:  # the model's own std is not trustworthy far from its training data
            uncertainty = max(std, OOD_MIN_UNCERTAINTY) if math.isfinite(std) else OOD_MIN_UNCERTAINTY
        full_aspects = aspects or {a: score for a in ASPECTS}  # a predictor without aspects: describe the overall
        description = describe(QualityLabels(overall=score, aspects=full_aspects, source="model", measures=measures))
        distortions: tuple[DetectedDistortion, ...] = ()
        note = ""
        if not ood.out_of_distribution:  # the evidence once, for both the distortions and the note
            evidence = find_evidence(aspects, measures)
            distortions = detect_distortions(aspects, measures, evidence=evidence)
            note = measure_only_note(aspects, measures, evidence=evidence, distortions=distortions)
        if note:
            description = f"{description} {note}"
        if ood.out_of_distribution:
            description = f"Out of distribution ({ood.reason}); the score is unreliable. {description}"
        return Assessment(
            path=image.source, slice_index=index, score=score, level=LEVEL_NAMES[level_of(score)], aspects=aspects,
            uncertainty=uncertainty, model_uncertainty=std,
            distortions=distortions,
            measures=measures, description=description, out_of_distribution=ood.out_of_distribution,
            ood_reason=ood.reason, model=self.model_name, model_version=self.model_version,
            vliqa_version=__version__,
        )
