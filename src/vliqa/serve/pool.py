"""A bounded worker pool: CPU work off the event loop, at most `workers` at once and `queue_size` more waiting.

When both are full, `submit` refuses at once with `QueueFullError` (HTTP 429) and an estimate of when a slot frees
up (Retry-After), rather than letting requests pile up in memory.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from vliqa.serve.errors import QueueFullError

#: Starting guess of one task's duration (s) for Retry-After, before any has finished.
FIRST_GUESS_S = 5.0
MAX_RETRY_AFTER_S = 600


class WorkerPool:
    """Runs tasks on `workers` threads, with room for `queue_size` more waiting; refuses the rest."""

    def __init__(self, workers: int, queue_size: int):
        self.workers, self.queue_size = workers, queue_size
        self._executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="vliqa-worker")
        self._lock = threading.Lock()
        self._in_flight = 0
        self._mean_s = FIRST_GUESS_S

    @property
    def capacity(self) -> int:
        return self.workers + self.queue_size

    @property
    def in_flight(self) -> int:
        return self._in_flight

    def retry_after_s(self) -> int:
        """Gives the seconds until a queue slot is likely free: the tasks ahead divided among the workers."""
        waiting = max(1, self._in_flight - self.workers + 1)
        return int(min(MAX_RETRY_AFTER_S, max(1, math.ceil(self._mean_s * waiting / self.workers))))

    def _full(self) -> QueueFullError:
        return QueueFullError(
            f"the server is busy: {self.workers} worker(s) running and {self.queue_size} request(s) queued",
            retry_after_s=self.retry_after_s(), hint="retry after the time in the Retry-After header",
            limit={"name": "queue_size", "value": self.queue_size, "unit": "requests"})

    def check_room(self) -> None:
        """Raises QueueFullError when a task submitted now would be refused (checked before storing an upload)."""
        if self._in_flight >= self.capacity:
            raise self._full()

    def submit(self, fn: Callable[..., Any], *args: Any, force: bool = False) -> Future:
        """Gives the future of `fn(*args)` run on a worker; raises QueueFullError when the pool is full
        (`force`: queue it anyway, for jobs a restart takes over)."""
        with self._lock:
            if self._in_flight >= self.capacity and not force:
                raise self._full()
            self._in_flight += 1
        started = time.perf_counter()

        def run() -> Any:
            t0 = time.perf_counter()
            try:
                return fn(*args)
            finally:
                with self._lock:
                    self._in_flight -= 1
                    self._mean_s = 0.8 * self._mean_s + 0.2 * (time.perf_counter() - t0)

        try:
            return self._executor.submit(run)
        except RuntimeError:  # shut down meanwhile
            with self._lock:
                self._in_flight -= 1
            raise QueueFullError("the server is shutting down", retry_after_s=int(time.perf_counter() - started) + 5,
                                 hint="retry in a few seconds") from None

    def shutdown(self) -> None:
        """Stops taking tasks; tasks not started are dropped (their jobs stay queued in the database)."""
        self._executor.shutdown(wait=False, cancel_futures=True)
