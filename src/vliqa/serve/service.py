"""The service behind the HTTP routes: the models (loaded once), the store, the worker pool, and the jobs they run.

    service = Service(settings); service.load_models()      # once, at start-up (`app` does it in the background)
    job_id = service.submit("assess", [("image", stored)], {"measures": True})
    service.store.get(job_id)                               # queued / running n of N / done + result / failed + error

Jobs run `vliqa.assessment.Assessor`, the one every entry point calls. A series is scored a batch at a time so its
progress can be polled; a job a stopped server left unfinished is queued again at the next start.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import uuid
from collections import OrderedDict
from concurrent.futures import Future
from pathlib import Path
from typing import Any

from vliqa.assessment import Assessment, Assessor, Comparison, QuestionAnswer, VolumeAssessment
from vliqa.assessment.schema import summarise
from vliqa.core import CTImage, CTVolume, __version__
from vliqa.errors import VliqaError
from vliqa.io import load
from vliqa.serve.errors import FeatureUnavailableError, NotFoundError, NotReadyError, ServeError
from vliqa.serve.pool import WorkerPool
from vliqa.serve.settings import ServeSettings
from vliqa.serve.storage import Store
from vliqa.serve.uploads import StoredUpload

logger = logging.getLogger("vliqa.serve")

#: What each operation needs: the quality VLM or not.
OPERATIONS = {"assess": False, "describe": True, "compare": True}
#: Loaded images kept for the slice viewer (a few series; each is at most max_slices x side² float32).
IMAGE_CACHE_ITEMS = 4
#: Slices scored between two progress records of a series (batching more gains little on a CPU).
PROGRESS_STEP = 4


class JobInterrupted(Exception):
    """The server is stopping: the job is left for the next start to run again."""


def error_body(exc: BaseException, *, scrub: tuple[str, ...] = ()) -> dict[str, Any]:
    """Gives the JSON error of a VliqaError ({"error", "message", "hint"}, and "limit" for a limit); server paths
    in `scrub` are replaced by "<upload>"."""
    hint = getattr(exc, "hint", None)
    message = getattr(exc, "message", None) or str(exc)
    if hint and message.endswith(f" — {hint}"):
        message = message[: -len(f" — {hint}")]
    for text in scrub:
        message = message.replace(text, "<upload>")
    body: dict[str, Any] = {"error": type(exc).__name__, "message": message, "hint": hint}
    if getattr(exc, "limit", None):
        body["limit"] = exc.limit
    return body


def relabel(result: Any, labels: dict[str, str]) -> Any:
    """Gives a result with the server's file paths replaced by the client's labels (no server path leaves it)."""
    if isinstance(result, VolumeAssessment):
        name = labels["image"]
        return dataclasses.replace(result, path=name,
                                   slices=tuple(dataclasses.replace(s, path=name) for s in result.slices))
    if isinstance(result, (Assessment, QuestionAnswer)):
        return dataclasses.replace(result, path=labels.get("image"))
    if isinstance(result, Comparison):
        return dataclasses.replace(result, path_a=labels.get("a"), path_b=labels.get("b"),
                                   reference=labels.get("reference"))
    return result


class Service:
    """The models, store and worker pool of one server; every route goes through it."""

    def __init__(self, settings: ServeSettings):
        self.settings = settings
        self.data_dir = settings.resolved_data_dir()
        self.data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        self.store = Store(settings.db_url, self.data_dir)
        self.pool = WorkerPool(settings.workers, settings.queue_size)
        self.assessors: dict[tuple[bool, bool], Assessor] = {}
        self.vlm_error: str | None = None
        self.load_error: str | None = None
        self.loaded = threading.Event()
        self.stopping = threading.Event()
        self._images: OrderedDict[tuple[str, str], CTImage | CTVolume] = OrderedDict()
        self._images_lock = threading.Lock()

    # ------------------------------------------------------------ start and stop

    def load_models(self) -> None:
        """Loads the quality model and the VLM once (shared by every worker), then runs the jobs a stopped server
        left unfinished."""
        try:
            base = Assessor(self.settings.model, measures=self.settings.measures, describer=None)
            vlm = None
            if self.settings.vlm is not None:
                try:
                    vlm = Assessor(base.predictor, describer=self.settings.vlm).language
                except Exception as exc:  # noqa: BLE001 - the server still assesses; describe / compare / ask say
                    # why they cannot (a missing checkpoint is a VliqaError, a damaged one may be anything)
                    self.vlm_error = error_body(exc)["message"] if isinstance(exc, VliqaError) else (
                        f"{type(exc).__name__} while loading it (the server log has the details)")
                    logger.warning("quality VLM not loaded: %s", exc, exc_info=not isinstance(exc, VliqaError))
            for measures in (False, True):
                self.assessors[(measures, False)] = Assessor(base.predictor, measures=measures, describer=None)
                if vlm is not None:
                    self.assessors[(measures, True)] = Assessor(base.predictor, measures=measures, describer=vlm)
        except Exception as exc:  # noqa: BLE001 - reported by /readyz; the process stays up to say so
            self.load_error = error_body(exc)["message"]
            logger.exception("model loading failed")
            return
        finally:
            self.loaded.set()
        for job_id in self.store.requeue_interrupted():
            logger.info("running job %s again (interrupted by a stop)", job_id)
            self.pool.submit(self.run_job, job_id, force=True)

    def close(self) -> None:
        self.stopping.set()
        self.pool.shutdown()
        self.store.close()

    @property
    def ready(self) -> bool:
        return self.loaded.is_set() and self.load_error is None and bool(self.assessors)

    def assessor(self, *, vlm: bool, measures: bool | None = None) -> Assessor:
        """Gives the shared Assessor for a request (one model, loaded once; the VLM when asked for)."""
        if not self.ready:
            raise FeatureUnavailableError("the models are still loading" if self.load_error is None else
                                          f"the models failed to load: {self.load_error}",
                                          hint="GET /readyz answers 200 once they are loaded")
        key = (self.settings.measures if measures is None else bool(measures), vlm)
        if key not in self.assessors:
            raise FeatureUnavailableError(f"this server has no quality VLM ({self.vlm_error or 'not configured'})",
                                          hint="install the VLM checkpoint or start the server with --vlm PATH")
        return self.assessors[key]

    def features(self) -> dict[str, Any]:
        return {"vlm": any(vlm for _, vlm in self.assessors), "vlm_error": self.vlm_error,
                "model": self.settings.model, "measures": self.settings.measures, "version": __version__}

    # ------------------------------------------------------------ jobs

    def submit(self, operation: str, inputs: list[tuple[str, StoredUpload]], params: dict[str, Any]) -> tuple[
            str, Future]:
        """Records a job and queues it; gives its id and future (QueueFullError when the pool is full)."""
        self.assessor(vlm=OPERATIONS[operation], measures=params.get("measures"))  # refuse early what cannot run
        self.pool.check_room()
        total = max(u.n_slices for role, u in inputs if role != "reference")
        job_id = self.store.create(operation, inputs, params, total)
        try:
            return job_id, self.pool.submit(self.run_job, job_id)
        except ServeError as exc:
            self.store.fail(job_id, error_body(exc))
            raise

    def run_job(self, job_id: str) -> None:
        """Runs one job to its end, recording progress and the result or the error (never raises)."""
        try:
            operation, params = self.store.operation(job_id)
            self.store.start(job_id)
            result, kind, score, level = self._run(job_id, operation, params)
            self.store.finish(job_id, result.to_dict(), kind=kind, score=score, level=level)
        except JobInterrupted:
            logger.info("job %s interrupted by a stop; it runs again at the next start", job_id)
        except VliqaError as exc:
            self.store.fail(job_id, error_body(exc, scrub=(str(self.data_dir),)))
        except Exception:  # noqa: BLE001 - a bug: logged with an id, never shown as a traceback
            error_id = uuid.uuid4().hex[:12]
            logger.exception("job %s failed (error id %s)", job_id, error_id)
            self.store.fail(job_id, {"error": "InternalError", "message": f"internal error (id {error_id})",
                                     "hint": "the server log has the details under this id"})

    def _run(self, job_id: str, operation: str, params: dict[str, Any]) -> tuple[Any, str, float | None, str | None]:
        record = self.store.get(job_id)
        labels = {i["role"]: i["label"] for i in record["inputs"]}
        assessor = self.assessor(vlm=OPERATIONS[operation], measures=params.get("measures"))
        if operation == "compare":
            ref = self.image(job_id, "reference") if "reference" in labels else None
            result = assessor.compare(self.image(job_id, "a"), self.image(job_id, "b"), reference=ref)
            return relabel(result, labels), "comparison", float(result.probability), result.preferred
        image = self.image(job_id, "image")
        reference = self.image(job_id, "reference") if "reference" in labels else None
        if isinstance(image, CTVolume) and reference is None:
            result = self._assess_volume(job_id, assessor, image)
        else:
            result = assessor.assess_loaded(image, reference=reference)
        result = relabel(result, labels)
        if isinstance(result, VolumeAssessment):
            return result, "volume", result.summary.mean, None
        return result, "slice", result.score, result.level

    def _assess_volume(self, job_id: str, assessor: Assessor, volume: CTVolume) -> VolumeAssessment:
        """Gives `assessor.assess_loaded(volume)`, scored a batch at a time with the progress recorded after each."""
        slices = [volume.slice(i) for i in range(len(volume))]
        done: list[Assessment] = []
        step = min(assessor.batch_size, PROGRESS_STEP)
        for start in range(0, len(slices), step):
            if self.stopping.is_set():
                raise JobInterrupted(job_id)
            stop = min(start + step, len(slices))
            done += assessor.assess_slices(slices[start:stop], indices=list(range(start, stop)))
            self.store.progress(job_id, len(done), len(slices))
        return VolumeAssessment(path=volume.source, slices=tuple(done), summary=summarise(done),
                                model=assessor.model_name, model_version=assessor.model_version,
                                vliqa_version=__version__, notes=tuple(volume.warnings))

    # ------------------------------------------------------------ stored inputs

    def image(self, job_id: str, role: str = "image") -> CTImage | CTVolume:
        """Gives a job's stored input, loaded (a few kept in memory for the slice viewer)."""
        key = (job_id, role)
        with self._images_lock:
            if key in self._images:
                self._images.move_to_end(key)
                return self._images[key]
        paths = self.store.input_paths(job_id)
        if role not in paths:
            raise NotFoundError(f"result '{job_id}' has no input '{role}'",
                                hint=f"its inputs are: {', '.join(sorted(paths)) or 'none'}")
        path: Path = paths[role]
        if not path.exists():
            raise NotFoundError("the stored upload of this result is gone from the server's data folder",
                                hint="upload the image again")
        image = load(path)
        with self._images_lock:
            self._images[key] = image
            while len(self._images) > IMAGE_CACHE_ITEMS:
                self._images.popitem(last=False)
        return image

    def done_record(self, job_id: str) -> dict[str, Any]:
        """Gives a job's record, once it is done (NotReadyError while it runs, its error when it failed)."""
        record = self.store.get(job_id)
        if record["status"] == "failed":
            err = record["error"] or {}
            raise ServeError(f"result '{job_id}' failed: {err.get('message')}", hint=err.get("hint"))
        if record["status"] != "done":
            raise NotReadyError(f"result '{job_id}' is {record['status']}",
                                hint=f"poll GET /v1/jobs/{job_id} until it is done")
        return record
