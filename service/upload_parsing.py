"""Admission control and cancellation for the parsing of series uploads.

Parsing a CSV near the 10 MB default limit takes seconds and about eleven
times the file's size in memory (a 7.6 MB upload peaked near 85 MB).
``UploadParsing`` runs parses on ``RNN_FORECAST_UPLOAD_WORKERS`` threads of
its own and admits no more than that many at once. An upload beyond them
gets 503 with ``Retry-After`` at once instead of waiting, so concurrent
uploads cannot take the memory of an unbounded queue.
"""

from __future__ import annotations

import asyncio
import functools
import math
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, TypeVar

from models.plurals import plural
from service.errors import RetryLaterError

T = TypeVar("T")

# Retry-After bounds in seconds. The default applies until a parse ends.
DEFAULT_RETRY_SECONDS = 2
MAX_RETRY_SECONDS = 60
# weight of the latest duration in the moving average of parse times
SMOOTHING = 0.3
SHUTDOWN_RETRY_SECONDS = 5


class UploadParsing:
    """Runs at most ``workers`` upload parses at once, each on a thread of
    a pool of its own."""

    def __init__(self, workers: int) -> None:
        self.workers = workers
        self.executor = ThreadPoolExecutor(
            max_workers=workers, thread_name_prefix="upload"
        )
        self._running: set[threading.Event] = set()
        self._stopping = False
        self._mean_seconds: float | None = None
        self._lock = threading.Lock()

    async def run(self, function: Callable[[], T]) -> T:
        """Run ``function()`` on the pool and return its result.

        Raises ``RetryLaterError`` (503) when ``workers`` parses are
        running already, or when the pool has shut down.
        """
        stop = threading.Event()
        future = self._submit(function, stop)
        return await asyncio.wrap_future(future)

    def close(self) -> None:
        """Refuse new parses and shut the pool down without waiting for the
        running ones."""
        with self._lock:
            self._stopping = True
        self.executor.shutdown(wait=False, cancel_futures=True)

    def retry_after(self) -> int:
        """Estimate the seconds until a parse ends: the moving average of
        recent parse times, rounded up."""
        with self._lock:
            mean = self._mean_seconds
        if mean is None:
            return DEFAULT_RETRY_SECONDS
        return min(max(math.ceil(mean), 1), MAX_RETRY_SECONDS)

    def _submit(self, function: Callable[[], T], stop: threading.Event) -> Future[T]:
        with self._lock:
            stopping = self._stopping
            full = len(self._running) >= self.workers
            if not (stopping or full):
                self._running.add(stop)
        if stopping:
            raise self._stopping_error()
        if full:
            raise self._full_error()

        try:
            future = self.executor.submit(self._timed, function)
        except RuntimeError as exc:
            # the pool has shut down because the server is stopping
            self._release(stop)
            raise self._stopping_error() from exc
        future.add_done_callback(functools.partial(self._release, stop))
        return future

    def _timed(self, function: Callable[[], T]) -> T:
        started = time.perf_counter()
        result = function()
        # a failed or cancelled parse may end early, so only a complete one
        # shows how long a parse takes
        self._record(time.perf_counter() - started)
        return result

    def _record(self, seconds: float) -> None:
        with self._lock:
            mean = self._mean_seconds
            self._mean_seconds = (
                seconds if mean is None else mean + SMOOTHING * (seconds - mean)
            )

    def _release(self, stop: threading.Event, _: Future[Any] | None = None) -> None:
        with self._lock:
            self._running.discard(stop)

    def _full_error(self) -> RetryLaterError:
        seconds = self.retry_after()
        return RetryLaterError(
            f"the server is parsing {plural(self.workers, 'series upload')}, the "
            "most that RNN_FORECAST_UPLOAD_WORKERS allows at once; retry after "
            f"{seconds} s",
            retry_after=seconds,
        )

    def _stopping_error(self) -> RetryLaterError:
        return RetryLaterError(
            "the server is shutting down, so the upload was not parsed and "
            f"nothing was stored; retry after {SHUTDOWN_RETRY_SECONDS} s",
            retry_after=SHUTDOWN_RETRY_SECONDS,
        )
