"""Where units are scored: in this process, in a pool of spawned processes, or on Ray actors.

Every engine loads the model once per worker (`UnitScorer` holds one `Assessor`) and hands finished tables back
to the driver, which alone writes shards and the ledger; so the engines differ only in where `score_unit` runs.
At most `IN_FLIGHT_PER_WORKER` units per worker are submitted ahead, so the walk streams instead of queueing the
whole archive.
"""

from __future__ import annotations

import concurrent.futures as futures
import multiprocessing
import os
import time
from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pyarrow as pa

from vliqa.batch.rows import score_unit
from vliqa.batch.walk import WorkUnit
from vliqa.errors import DependencyUnavailableError, InvalidParameterError

ENGINES = ("local", "ray")
IN_FLIGHT_PER_WORKER = 2
RAY_HINT = 'install the Ray extra: pip install "vliqa[ray]" (or pip install "ray[data]")'


@dataclass(frozen=True)
class ScorerSettings:
    """How each worker builds its Assessor."""

    model: str = "default"
    measures: bool = True
    describe: bool = False
    batch_size: int = 16

    def assessor(self) -> Any:
        from vliqa.assessment import Assessor  # lazy: the model stack (torch) loads in the worker, not the driver

        return Assessor(self.model, measures=self.measures, batch_size=self.batch_size, threads=1,
                        describer="vlm" if self.describe else None, domain="ct")


@dataclass(frozen=True)
class UnitResult:
    """A scored unit: the unit, its rows and the seconds its worker spent on it."""

    unit: WorkUnit
    table: pa.Table
    seconds: float


class UnitScorer:
    """One worker's scorer: the Assessor is built once, then every unit it is given is scored with it."""

    def __init__(self, settings: ScorerSettings):
        self.assessor = settings.assessor()

    def score(self, unit: WorkUnit) -> UnitResult:
        start = time.perf_counter()
        table = score_unit(self.assessor, unit)
        return UnitResult(unit, table, time.perf_counter() - start)


class Engine(ABC):
    """Scores submitted units; `submit` gives back the units finished meanwhile, `drain` the rest."""

    workers = 1

    def __enter__(self) -> Engine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @abstractmethod
    def submit(self, unit: WorkUnit) -> list[UnitResult]:
        """Queues `unit`; gives the units that finished meanwhile (the unit itself when scored in place)."""

    @abstractmethod
    def drain(self) -> Iterator[UnitResult]:
        """Yields every unit still in flight as it finishes."""

    def close(self) -> None:  # noqa: B027 - an engine without workers (inline) has nothing to release
        """Releases the workers."""


class InlineEngine(Engine):
    """Scores each unit at once, in this process (the model is loaded on the first unit: none when all are done)."""

    def __init__(self, settings: ScorerSettings):
        self.settings = settings
        self.scorer: UnitScorer | None = None

    def submit(self, unit: WorkUnit) -> list[UnitResult]:
        if self.scorer is None:
            self.scorer = UnitScorer(self.settings)
        return [self.scorer.score(unit)]

    def drain(self) -> Iterator[UnitResult]:
        return iter(())


_WORKER: dict[str, UnitScorer] = {}


def _init_worker(settings: ScorerSettings) -> None:
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    _WORKER["scorer"] = UnitScorer(settings)


def _score_in_worker(unit: WorkUnit) -> UnitResult:
    return _WORKER["scorer"].score(unit)


class ProcessEngine(Engine):
    """Scores units in `workers` spawned processes (spawned, not forked: a forked child can deadlock in torch)."""

    def __init__(self, settings: ScorerSettings, workers: int):
        self.workers = workers
        self.pool = futures.ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"),
                                                initializer=_init_worker, initargs=(settings,))
        self.pending: set[futures.Future] = set()

    def submit(self, unit: WorkUnit) -> list[UnitResult]:
        self.pending.add(self.pool.submit(_score_in_worker, unit))
        if len(self.pending) < IN_FLIGHT_PER_WORKER * self.workers:
            return []
        done, self.pending = futures.wait(self.pending, return_when=futures.FIRST_COMPLETED)
        return [f.result() for f in done]

    def drain(self) -> Iterator[UnitResult]:
        while self.pending:
            done, self.pending = futures.wait(self.pending, return_when=futures.FIRST_COMPLETED)
            yield from (f.result() for f in done)

    def close(self) -> None:
        self.pool.shutdown(cancel_futures=True)


def import_ray() -> Any:
    """Gives the ray module, or raises DependencyUnavailableError with the install line."""
    try:
        import ray  # lazy: an optional extra, `vliqa[ray]`
    except ImportError as exc:
        raise DependencyUnavailableError("--engine ray needs the ray package, which is not installed",
                                         hint=RAY_HINT) from exc
    return ray


class RayEngine(Engine):
    """Scores units on `workers` Ray actors, on a local Ray started here or on the cluster at `address`."""

    def __init__(self, settings: ScorerSettings, workers: int, address: str | None = None):
        self.ray = import_ray()
        self.settings, self.workers, self.address = settings, workers, address
        self.started = False
        self.actors: list[Any] = []
        self.load = [0] * workers  # units submitted to each actor and not yet collected
        self.pending: dict[Any, int] = {}  # object ref -> actor number

    def _start(self) -> None:
        """Joins or starts Ray and creates the actors (on the first unit: none when every unit is done)."""
        ray = self.ray
        if not ray.is_initialized():
            options: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False}
            if self.address:
                ray.init(address=self.address, **options)
            else:
                ray.init(num_cpus=self.workers, **options)
            self.started = True
        actor = ray.remote(num_cpus=1)(UnitScorer)
        self.actors = [actor.remote(self.settings) for _ in range(self.workers)]

    def _collect(self, block: bool) -> list[UnitResult]:
        refs = list(self.pending)
        ready, _ = self.ray.wait(refs, num_returns=1 if block else len(refs), timeout=None if block else 0)
        out = []
        for ref in ready:
            self.load[self.pending.pop(ref)] -= 1
            out.append(self.ray.get(ref))
        return out

    def submit(self, unit: WorkUnit) -> list[UnitResult]:
        if not self.actors:
            self._start()
        out: list[UnitResult] = []
        while len(self.pending) >= IN_FLIGHT_PER_WORKER * self.workers:
            out += self._collect(block=True)
        actor = min(range(self.workers), key=self.load.__getitem__)
        self.pending[self.actors[actor].score.remote(unit)] = actor
        self.load[actor] += 1
        return out + self._collect(block=False)

    def drain(self) -> Iterator[UnitResult]:
        while self.pending:
            yield from self._collect(block=True)

    def close(self) -> None:
        for actor in self.actors:
            self.ray.kill(actor)
        if self.started:
            self.ray.shutdown()


def make_engine(engine: str, settings: ScorerSettings, *, workers: int = 1, address: str | None = None) -> Engine:
    """Gives the engine by name: "local" (this process, or a process pool for workers > 1) or "ray"."""
    if workers < 1:
        raise InvalidParameterError(f"--workers must be at least 1, got {workers}")
    if engine == "local":
        if address:
            raise InvalidParameterError("--address is for --engine ray", hint="add --engine ray, or drop --address")
        return InlineEngine(settings) if workers == 1 else ProcessEngine(settings, workers)
    if engine == "ray":
        return RayEngine(settings, workers, address)
    raise InvalidParameterError(f"unknown engine '{engine}'", hint=f"choose one of {', '.join(ENGINES)}")
