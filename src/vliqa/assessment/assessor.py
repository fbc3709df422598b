"""The Assessor: one service every entry point (CLI, Python API, HTTP, batch) calls to score CT images.

    assessor = Assessor("runs/r1")                    # a checkpoint folder, a shipped name, a baseline, a predictor
    result = assessor.assess("scan/")                 # Assessment (a slice) or VolumeAssessment (a series)
    for r in assessor.assess_many(paths): ...
    for item in assessor.assess_inputs(paths, heatmap_dir="maps", plot="q.png"): ...   # + worst-slice heatmaps

Slices go through the predictor in batches; physics measures, out-of-distribution checks, detected
distortions and a text description (worded by `vliqa.text`) are added per slice (see
vliqa.assessment.schema for the result). Inputs are found and read by `vliqa.io.iter_load`, once.
Photographs (`domain` "auto" finds them, "photo" forces) go to the photo model instead: no CT measures,
no CT out-of-distribution check, a photo description (`vliqa.text.describe_photo`).
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import math
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from vliqa import models, text
from vliqa.assessment.language import (
    Comparison,
    Judged,
    QuestionAnswer,
    ask_image,
    compare_images,
    middle_slice,
    score_levels,
    vlm_descriptions,
)
from vliqa.assessment.ood import OOD_MIN_UNCERTAINTY, OODResult, check_image
from vliqa.assessment.schema import QUALITY_SCALE, Assessment, DetectedDistortion, VolumeAssessment, summarise
from vliqa.core import (
    ASPECT_DISTORTION,
    ASPECTS,
    LEVEL_NAMES,
    CTImage,
    CTVolume,
    PhotoImage,
    QualityLabels,
    __version__,
    check_domain,
    level_of,
)
from vliqa.errors import InvalidImageError, InvalidParameterError, VliqaError
from vliqa.io import iter_load, load
from vliqa.text import measures_note

logger = logging.getLogger("vliqa.assessment")

#: An aspect scored below this (0-4) counts as evidence of its distortion; confidence grows to 1 at 0.
LOW_ASPECT_SCORE = 2.5
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
class AssessedInput:
    """One input of `Assessor.assess_inputs`: its assessment, or the error that stopped it, and the figures written."""

    source: str
    result: Assessment | VolumeAssessment | None = None
    error: VliqaError | None = None
    files: tuple[Path, ...] = ()


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
    items = [DetectedDistortion(n, round(c, 3), tuple(e)) for n, (c, e) in found.items()
             if c >= MIN_DISTORTION_CONFIDENCE]
    return tuple(sorted(items, key=lambda d: -d.confidence))


def measure_only_note(aspects: dict[str, float], measures: dict[str, float], *, evidence: list[Evidence] | None = None,
                      distortions: tuple[DetectedDistortion, ...] | None = None) -> str:
    """Gives a sentence on the reported distortions only the physics measures found, not the model's aspects
    ("" if none).

    The description is written from the model's scores; without this, an Assessment could list
    "artifacts" among its distortions (from the streak measure) while its text says there are none.
    The wording is `vliqa.text.measures_note`'s.
    """

    if evidence is None:
        evidence = find_evidence(aspects, measures)
    if distortions is None:
        distortions = detect_distortions(aspects, measures, evidence=evidence)
    from_model = {e.distortion for e in evidence if e.measure is None}
    reported = {d.name for d in distortions}
    found = [(e.measure, measures[e.measure]) for e in evidence
             if e.measure is not None and e.distortion in reported and e.distortion not in from_model]
    return measures_note(found, model_has_aspects=bool(aspects))


def _name(given: Any, image: Any) -> str | None:
    """Gives what to call an input in a result: its path, or the loaded image's source."""
    if isinstance(given, (str, Path)):
        return str(given)
    return getattr(image, "source", None)


def _unique(path: Path, taken: set[Path]) -> Path:
    """Gives `path`, or `path` with _2, _3, ... before its suffix when an earlier image already wrote it."""
    candidate, n = path, 2
    while candidate in taken:
        candidate, n = path.with_name(f"{path.stem}_{n}{path.suffix}"), n + 1
    taken.add(candidate)
    return candidate


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


#: Slices the VLM describes in one decoding batch (its throughput grows with the batch up to about this).
CAPTION_BATCH = 64


def _measures_alone(image: CTImage) -> dict[str, float]:
    """Gives the measures of one slice, or all-NaN when the slice defeats them (the OOD check says what is odd)."""
    from vliqa.ct.measures import measure_series  # lazy: imports skimage

    try:
        return measure_series([image])[0]
    except (ValueError, VliqaError) as exc:
        logger.info("measures not computable for %s: %s", image.source, exc)
        return _nan_measures()


def _nan_measures() -> dict[str, float]:
    """Gives every measure key with NaN (not computed)."""
    from vliqa.ct.measures import MEASURE_KEYS  # lazy: imports skimage

    return {k: math.nan for k in MEASURE_KEYS}


def _predict_pair(predictor: Any) -> Any:
    """Gives the predictor's full-reference `predict_pair(images, references)`, or its module's, else None."""
    for owner in (predictor, getattr(predictor, "model", None)):
        pair = getattr(owner, "predict_pair", None)
        if callable(pair):
            return pair
    return None


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


def _predictor_domain(predictor: Any) -> str:
    """Gives the image domain a predictor scores: "photo" when it (or its loaded module) says so, else "ct"."""
    for owner in (predictor, getattr(predictor, "model", None)):
        if getattr(owner, "domain", None) == "photo":
            return "photo"
    return "ct"


class Assessor:
    """Scores CT slices and series with one quality model and gives `Assessment` / `VolumeAssessment` results.

    `model`: a shipped model name ("default" = the reader model, "medqm"), a checkpoint folder, a baseline name
    ("brisque"; scores on
    its own scale, no level, no aspects), or any object with `predict(images) -> Predictions` and a
    `name` (and optionally `scale`, see `vliqa.models.scale_of`). `window`: the display window assumed
    for raster inputs (PNG/JPEG/TIFF), and the window of heatmaps. `measures`: add the physics measures
    (`vliqa.ct.measures.measure_series`: about 12 ms a 512x512 slice of a series). `threads`: torch CPU threads
    when the model runs on torch (1 by default: more OpenMP threads busy-wait on small machines and slow everything
    else down).
    `domain`: "auto" (colour photographs go to `photo_model`, everything else to `model`), "ct" (every input
    is CT) or "photo" (every raster and array is a photograph; `model` "default" then means `photo_model`).
    """

    def __init__(self, model: Any = "default", *, window: Any = None, measures: bool = True,
                 batch_size: int = 16, threads: int | None = 1, describer: Any = "vlm", domain: str = "auto",
                 photo_model: Any = "photo"):

        if batch_size < 1:
            raise InvalidParameterError(f"batch_size must be at least 1, got {batch_size}")
        self.domain = check_domain(domain)
        if self.domain == "photo" and isinstance(model, str) and model == models.DEFAULT_ALIAS:
            model = photo_model
        if isinstance(model, (str, Path)):
            self.predictor = models.load(model)
        elif callable(getattr(model, "predict", None)):
            self.predictor = model
        else:
            raise InvalidParameterError(f"cannot use a {type(model).__name__} as a quality model",
                                        hint="pass a model name, a checkpoint folder or an object with predict(images)")
        if threads is not None and "torch" in sys.modules:  # a torch model is loaded by now; a baseline needs none
            sys.modules["torch"].set_num_threads(int(threads))
        self.model_name = str(getattr(self.predictor, "name", type(self.predictor).__name__))
        self.model_version = _model_version(self.predictor)
        #: what the predictor's overall scores are on: "0-4" (levels, clipped) or "own" (a baseline's scale)
        self.scale = models.scale_of(self.predictor)
        self.window, self.measures, self.batch_size = window, measures, batch_size
        #: the quality VLM that writes descriptions, compares and answers: a name, a folder, a loaded one, or None
        #: for template descriptions (and no compare / ask)
        self.describer = describer
        self._language: Any = None
        #: what scores photographs: `photo_model`, loaded on the first photo (or `model` itself, when it is one)
        self.photo_model = photo_model
        self._photo: Any = self.predictor if _predictor_domain(self.predictor) == "photo" else None

    @property
    def chunk_size(self) -> int:
        """Slices `assess_slices` handles together: scored in batches of `batch_size`, described by the VLM and
        measured at once (a caller streaming slices gains by handing over this many)."""
        return max(CAPTION_BATCH, self.batch_size)

    @property
    def language(self) -> Any:
        """The quality VLM (loaded on first use)."""
        if self._language is None:
            if self.describer is None:
                raise InvalidParameterError("this Assessor has no language model (describer=None)",
                                            hint="build the Assessor with describer='vlm'")
            if isinstance(self.describer, (str, Path)):
                from vliqa.models.vlm import load_vlm  # lazy: the language model imports transformers

                self._language = load_vlm(self.describer)
            else:
                self._language = self.describer
        return self._language

    # ------------------------------------------------------------ entry points

    def assess(self, path_or_obj: Any, *, reference: Any = None) -> Assessment | VolumeAssessment:
        """Gives the assessment of one file, folder (one series), array, Pillow image, CTImage or CTVolume.

        `reference` (same kinds of input): judge the image against it, full-reference, as a researcher ranks
        denoisers against the full-dose scan; a series needs a reference series of as many slices, or one slice.
        """

        image = load(path_or_obj, window=self.window, domain=self.domain)
        if reference is None:
            return self.assess_loaded(image)
        return self.assess_loaded(image, reference=load(reference, window=self.window, domain=self.domain))

    def describe(self, path_or_obj: Any) -> Assessment | VolumeAssessment:
        """Gives the assessment of an input with its description from the quality VLM (`assess` does the same with
        a describer; this one refuses to fall back to the template bank)."""
        if self.describer is None:
            raise InvalidParameterError("describe needs the quality VLM",
                                        hint="build the Assessor with describer='vlm'")
        return self.assess(path_or_obj)

    def compare(self, a: Any, b: Any, *, reference: Any = None) -> Comparison:
        """Gives which of two inputs (slices or series) is better, how sure, and why; with `reference`, judged
        against it. The answer states the levels an assessment of each gives; an input out of distribution is
        not compared ("Cannot assess")."""
        ia, ib = (load(x, window=self.window, domain=self.domain) for x in (a, b))
        ref = None if reference is None else load(reference, window=self.window, domain=self.domain)
        if (isinstance(ia, PhotoImage) != isinstance(ib, PhotoImage)
                or (ref is not None and isinstance(ref, PhotoImage) != isinstance(ia, PhotoImage))):
            raise InvalidParameterError("one input is a photograph and another is CT",
                                        hint="compare two photographs or two CT images (--domain forces one)")
        names = {"path_a": _name(a, ia), "path_b": _name(b, ib), "reference": None if ref is None else _name(reference,
                                                                                                            ref)}
        for label, image in (("A", ia), ("B", ib)):
            if isinstance(image, PhotoImage):
                continue  # the CT out-of-distribution check does not apply to photographs
            ood = check_image(middle_slice(image))
            if ood.out_of_distribution:
                return Comparison(preferred="tie", probability=0.0, explanation=f"Image {label}: "
                                  + text.cannot_assess(ood.reason), with_reference=ref is not None,
                                  probabilities={"A": 0.0, "B": 0.0, "tie": 0.0}, levels_a={}, levels_b={},
                                  notes=(f"image {label} out of distribution",), assessable=False, **names)
        result = compare_images(self.language, ia, ib, ref, judge=self._judge)
        return dataclasses.replace(result, **names)

    def ask(self, path_or_obj: Any, question: str) -> QuestionAnswer:
        """Gives the answer to a free quality question about an input (a series: its middle slice)."""
        image = load(path_or_obj, window=self.window, domain=self.domain)
        shown = middle_slice(image)
        ood = check_image(shown) if not isinstance(shown, PhotoImage) else None
        if ood is not None and ood.out_of_distribution:
            return QuestionAnswer(question=str(question), answer=text.cannot_assess(ood.reason), answerable=False,
                                  path=_name(path_or_obj, image))
        (levels,) = (j.levels for j in self._judge([shown], []))
        answer = ask_image(self.language, shown, question, levels=levels)
        return dataclasses.replace(answer, path=_name(path_or_obj, image))

    def _judge(self, slices: list[Any], references: list[Any]) -> list[Judged]:
        """Gives how this Assessor scores slices or photographs (against `references` when given): slot levels,
        overall score and its std."""
        photos = bool(slices) and isinstance(slices[0], PhotoImage)
        predictor = self.photo_predictor if photos else self.predictor
        if not photos and self.scale != QUALITY_SCALE:
            return [Judged(None, math.nan, math.nan) for _ in slices]
        if references:
            pair = _predict_pair(predictor)
            pred = pair(slices, references) if pair is not None else predictor.predict(slices)
        else:
            pred = predictor.predict(slices)
        out = []
        for j in range(len(slices)):
            score = float(np.clip(pred.overall[j], 0.0, 4.0))
            std = float(pred.std[j]) if pred.std is not None else math.nan
            levels = score_levels(score, {a: float(pred.aspects[a][j]) for a in ASPECTS}) if pred.aspects else None
            out.append(Judged(levels, score, std))
        return out

    def assess_many(self, paths: Any, *, skip_errors: bool = False,
                    reference: Any = None) -> Iterator[Assessment | VolumeAssessment]:
        """Yields the assessment of every image found under `paths` (each DICOM series once), one at a time.

        Raises the first input's error unless `skip_errors`, which logs it on the 'vliqa.assessment' logger and
        goes on. `reference`: as in `assess`, one reference for every input.
        """
        for item in self.assess_inputs(paths, reference=reference):
            if item.error is not None:
                if not skip_errors:
                    raise item.error
                logger.warning("skipped %s: %s", item.source, item.error)
                continue
            yield item.result

    def assess_inputs(self, paths: Any, *, reference: Any = None, heatmap_dir: str | Path | None = None,
                      plot: str | Path | None = None) -> Iterator[AssessedInput]:
        """Yields every image found under `paths` (files, folders, in-memory images) assessed, with its figures.

        Each input is read once by `vliqa.io.iter_load` (each DICOM series once); one that cannot be read is
        yielded with its `error` (not raised), so a caller over many inputs reports it and goes on.
        `reference` (read once): judge every input against it. `heatmap_dir`: write a heatmap PNG of each
        slice, or of each series' worst slices; `plot`: write each series' per-slice score plot there
        (`quality.png`, then `quality_2.png`, ...). See `write_figures`.
        """

        ref = None if reference is None else load(reference, window=self.window, domain=self.domain)
        taken: set[Path] = set()
        for loaded in iter_load(paths, window=self.window, domain=self.domain):
            if loaded.error is not None:
                yield AssessedInput(loaded.source, error=loaded.error)
                continue
            result = self.assess_loaded(loaded.image, reference=ref)
            files = self.write_figures(result, loaded.image, heatmap_dir=heatmap_dir, plot=plot, taken=taken)
            yield AssessedInput(loaded.source, result=result, files=files)

    def write_figures(self, result: Assessment | VolumeAssessment, image: CTImage | CTVolume, *,
                      heatmap_dir: str | Path | None = None, plot: str | Path | None = None,
                      taken: set[Path] | None = None) -> tuple[Path, ...]:
        """Writes the figures of one assessed image; gives their paths.

        `heatmap_dir`: `<stem>_heatmap.png` for a slice, `<stem>_slice<index>_heatmap.png` for each of a
        series' worst slices (`summary.worst_slices`). `plot`: the per-slice score plot of a series (slices
        have none). A name an earlier image of the same run wrote (`taken`) gets _2, _3, ... before its suffix.
        """
        from vliqa.assessment.heatmap import (  # lazy: import cycle (vliqa.assessment.heatmap imports this module)
            heatmap_for,
            save_heatmap_png,
            save_volume_plot,
        )

        if isinstance(image, PhotoImage):  # heatmaps and plots are of CT slices and series
            return ()
        taken = set() if taken is None else taken
        written: list[Path] = []
        stem = Path(result.path).stem if result.path else "image"
        if heatmap_dir is not None:
            volume = isinstance(result, VolumeAssessment)
            for index in result.summary.worst_slices if volume else (None,):
                one = result.slices[index] if volume else result
                shown = image.slice(index) if volume else image
                name = f"{stem}_slice{index:04d}_heatmap.png" if volume else f"{stem}_heatmap.png"
                written.append(save_heatmap_png(shown, heatmap_for(self.predictor, shown, one.aspects),
                                                _unique(Path(heatmap_dir) / name, taken), window=self.window,
                                                assessment=one))
        if plot is not None and isinstance(result, VolumeAssessment):
            written.append(save_volume_plot(result, _unique(Path(plot), taken)))
        return tuple(written)

    def assess_loaded(self, image: CTImage | CTVolume | PhotoImage, *,
                      reference: CTImage | CTVolume | PhotoImage | None = None) -> Assessment | VolumeAssessment:
        """Gives the assessment of an image already loaded: an Assessment for a slice or a photograph, a
        VolumeAssessment for a series."""
        if isinstance(image, PhotoImage):
            if reference is not None and not isinstance(reference, PhotoImage):
                raise InvalidParameterError("the image is a photograph but the reference is CT",
                                            hint="give the clean photograph as the reference")
            return self.assess_photos([image], references=None if reference is None else [reference])[0]
        if _predictor_domain(self.predictor) == "photo":
            raise InvalidParameterError(f"model '{self.model_name}' scores photographs; {image.source or 'the input'}"
                                        " is CT", hint="assess CT with a CT model (the default), or pass a photograph")
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
        raise InvalidParameterError(f"cannot assess a {type(image).__name__}",
                                    hint="pass a CTImage, a CTVolume or a PhotoImage")

    # ------------------------------------------------------------ photographs

    @property
    def photo_predictor(self) -> Any:
        """The model that scores photographs (`photo_model`, loaded on first use)."""
        if self._photo is None:
            loaded = models.load(self.photo_model) if isinstance(self.photo_model, (str, Path)) else self.photo_model
            if not callable(getattr(loaded, "predict", None)):
                raise InvalidParameterError(f"cannot use a {type(loaded).__name__} as the photo model",
                                            hint="pass a model name, a checkpoint folder or an object with predict")
            self._photo = loaded
        return self._photo

    def assess_photos(self, photos: Sequence[PhotoImage], *,
                      references: Sequence[PhotoImage] | None = None) -> list[Assessment]:
        """Gives one Assessment per photograph, scored by the photo model (against `references`, one per photo,
        full-reference). No CT measures or CT out-of-distribution check; the description is a photo one."""
        predictor = self.photo_predictor
        name = str(getattr(predictor, "name", type(predictor).__name__))
        version = _model_version(predictor)
        if references is not None:
            pair = _predict_pair(predictor)
            if pair is None:
                raise InvalidParameterError(f"photo model '{name}' has no full-reference mode",
                                            hint="drop the reference")
            for photo, ref in zip(photos, references, strict=True):
                if photo.shape != ref.shape:
                    raise InvalidParameterError(f"the reference is {ref.shape[1]}x{ref.shape[0]} px but the photo is "
                                                f"{photo.shape[1]}x{photo.shape[0]}", path=photo.source,
                                                hint="give the clean photograph at the same size")
        out: list[Assessment] = []
        for start in range(0, len(photos), self.batch_size):
            batch = list(photos[start:start + self.batch_size])
            pred = predictor.predict(batch) if references is None else \
                pair(batch, list(references[start:start + self.batch_size]))
            levels = [score_levels(float(np.clip(pred.overall[j], 0.0, 4.0)),
                                   {a: float(pred.aspects[a][j]) for a in ASPECTS}) if pred.aspects else None
                      for j in range(len(batch))]
            captions = vlm_descriptions(self.language, batch, levels) if self.describer is not None \
                else [None] * len(batch)
            for j, photo in enumerate(batch):
                score = float(np.clip(pred.overall[j], 0.0, 4.0))
                aspects = {a: float(pred.aspects[a][j]) for a in ASPECTS} if pred.aspects else {}
                std = float(pred.std[j]) if pred.std is not None else math.nan
                description = text.describe_photo(QualityLabels(overall=score, aspects=aspects, source="model")) \
                    if aspects else text.describe_overall(score)
                source = "template"
                if captions[j] is not None:
                    description, source = captions[j], "vlm"
                out.append(Assessment(
                    path=photo.source, slice_index=None, score=score, level=LEVEL_NAMES[level_of(score)],
                    aspects=aspects, uncertainty=std, model_uncertainty=std,
                    distortions=detect_distortions(aspects, {}), measures={}, description=description,
                    description_source=source, domain="photo", out_of_distribution=False, ood_reason=None,
                    model=name, model_version=version, vliqa_version=__version__, scale=QUALITY_SCALE))
        return out

    def assess_slices(self, slices: Sequence[CTImage], *, indices: Sequence[int | None] | None = None,
                      references: Sequence[CTImage] | None = None) -> list[Assessment]:
        """Gives one Assessment per slice, scoring them through the predictor in batches of `batch_size`.

        `references` (one per slice): score full-reference with the predictor's `predict_pair` (a loaded
        checkpoint's: its module's).
        """
        pair = _predict_pair(self.predictor)
        if references is not None and pair is None:
            raise InvalidParameterError(f"model '{self.model_name}' has no full-reference mode",
                                        hint="use the 'reader' model for --reference, or drop the reference")
        slices = list(slices)
        out: list[Assessment] = []
        # chunks the VLM describes at once (its throughput grows with the batch), scored in predictor batches
        for first in range(0, len(slices), self.chunk_size):
            chunk = slices[first:first + self.chunk_size]
            overall: list[float] = []
            stds: list[float] = []
            aspects: list[dict[str, float]] = []
            unscorable: dict[int, str] = {}
            for start in range(0, len(chunk), self.batch_size):
                batch = chunk[start:start + self.batch_size]
                refs = None if references is None else list(references[first + start:first + start + len(batch)])
                for j, row in enumerate(self._scores(batch, refs, pair)):
                    if isinstance(row, InvalidImageError):
                        if len(slices) == 1:  # one slice asked for: the error itself is the clearest answer
                            raise row
                        unscorable[start + j] = str(row)
                        row = (math.nan, math.nan, dict.fromkeys(ASPECTS, math.nan))
                    overall.append(row[0])
                    stds.append(row[1])
                    aspects.append(row[2])
            oods = [OODResult(True, f"the model cannot read this slice: {unscorable[i]}") if i in unscorable
                    else check_image(image) for i, image in enumerate(chunk)]
            captions = self._captions(chunk, overall, aspects, oods)
            measures = self._measures_of(chunk, oods)
            out += [self._one(image, indices[first + i] if indices is not None else image.slice_index, overall[i],
                              aspects[i], stds[i], oods[i], captions[i], measures[i]) for i, image in enumerate(chunk)]
        return out

    def _scores(self, batch: list[CTImage], refs: list[CTImage] | None,
                pair: Any) -> list[tuple[float, float, dict[str, float]] | InvalidImageError]:
        """Gives (overall, std, aspects) per slice of a batch, or why the model cannot read a slice (an image it
        refuses, e.g. with too little tissue in view, is told apart by scoring the batch's slices one by one, so it
        never sinks the rest of its series)."""
        try:
            pred = self.predictor.predict(batch) if refs is None else pair(batch, refs)
        except InvalidImageError as exc:
            if len(batch) == 1:
                return [exc]
            return [row for j in range(len(batch))
                    for row in self._scores([batch[j]], None if refs is None else [refs[j]], pair)]
        return [(float(pred.overall[j]), float(pred.std[j]) if pred.std is not None else math.nan,
                 {a: float(pred.aspects[a][j]) for a in ASPECTS} if pred.aspects else {})
                for j in range(len(batch))]

    def _measures_of(self, slices: Sequence[CTImage], oods: Sequence[Any]) -> list[dict[str, float]]:
        """Gives the physics measures of each slice (empty when measures are off; NaN for out-of-distribution
        slices: physics on a photo or a blank frame means nothing, and the OOD reason says why)."""
        if not self.measures:
            return [{} for _ in slices]
        from vliqa.ct.measures import measure_series  # lazy: imports skimage

        kept = [image for image, ood in zip(slices, oods, strict=True) if not ood.out_of_distribution]
        try:
            measured = iter(measure_series(kept))  # per-series facts (MTF, NPS) once per series, the rest batched
        except (ValueError, VliqaError) as exc:  # a slice that defeats the measures: measure each alone
            logger.info("measures of %d slices failed together (%s); measuring them one by one", len(kept), exc)
            measured = iter(_measures_alone(image) for image in kept)
        return [_nan_measures() if ood.out_of_distribution else next(measured) for ood in oods]

    def _captions(self, batch: Sequence[CTImage], scores: Sequence[float], aspects: Sequence[dict[str, float]],
                  oods: Sequence[Any]) -> list[str | None]:
        """Gives the VLM's description of each slice with its levels fixed to the scores (None where the template
        or no description is due: no describer, a baseline, no aspects, out of distribution)."""
        if self.describer is None or self.scale != QUALITY_SCALE:
            return [None] * len(batch)
        levels = [None if ood.out_of_distribution else score_levels(float(np.clip(s, 0.0, 4.0)), a)
                  for s, a, ood in zip(scores, aspects, oods, strict=True)]
        return vlm_descriptions(self.language, batch, levels)

    # ------------------------------------------------------------ one slice

    def _one(self, image: CTImage, index: int | None, score: float, aspects: dict[str, float],
             std: float, ood: Any, caption: str | None, measures: dict[str, float]) -> Assessment:
        """Gives the Assessment of one scored slice from its OOD verdict, measures and caption: the level,
        distortions and description added.

        On the 0-4 scale the score is clipped to it and named by its level; on a predictor's own scale (a
        baseline) it is kept as given, with no level and no uncertainty raise (OOD_MIN_UNCERTAINTY is in 0-4 units).
        """

        on_quality_scale = self.scale == QUALITY_SCALE
        uncertainty = std
        if on_quality_scale:
            score = float(np.clip(score, 0.0, 4.0))
            if ood.out_of_distribution:  # the model's own std is not trustworthy far from its training data
                uncertainty = max(std, OOD_MIN_UNCERTAINTY) if math.isfinite(std) else OOD_MIN_UNCERTAINTY
        source = "template"
        if ood.out_of_distribution:  # no quality words the model cannot back
            description = text.cannot_assess(ood.reason)
        elif caption is not None:
            description, source = caption, "vlm"
        elif not on_quality_scale:
            description = text.describe_own_scale(self.model_name, score,
                                                  negated=bool(getattr(self.predictor, "negated", False)))
        elif aspects:
            description = text.describe(QualityLabels(overall=score, aspects=aspects, source="model",
                                                      measures=measures))
        else:  # a 0-4 model without aspects: the verdict alone, no aspect sentence it cannot back
            description = text.describe_overall(score)
        distortions: tuple[DetectedDistortion, ...] = ()
        note = ""
        if not ood.out_of_distribution:  # the evidence once, for both the distortions and the note
            evidence = find_evidence(aspects, measures)
            distortions = detect_distortions(aspects, measures, evidence=evidence)
            note = measure_only_note(aspects, measures, evidence=evidence, distortions=distortions)
        if note:
            description = f"{description} {note}"
        return Assessment(
            path=image.source, slice_index=index, score=score,
            level=LEVEL_NAMES[level_of(score)] if on_quality_scale and math.isfinite(score) else None,
            aspects=aspects,
            uncertainty=uncertainty, model_uncertainty=std,
            distortions=distortions,
            measures=measures, description=description, description_source=source,
            out_of_distribution=ood.out_of_distribution,
            ood_reason=ood.reason, model=self.model_name, model_version=self.model_version,
            vliqa_version=__version__, scale=self.scale,
        )
