"""Admission control for the gradient diagnostics pool.

A diagnostic can run for seconds on one of ``RNN_FORECAST_DIAGNOSTICS_WORKERS``
threads. ``DiagnosticsQueue`` admits at most that many running computations
plus ``RNN_FORECAST_MAX_QUEUED_DIAGNOSTICS`` waiting ones. A request beyond
them gets 503 with ``Retry-After``. A waiting computation whose client
disconnects is removed from the queue before it starts. A started one gets a
stop check that turns True when its client disconnects, stops at its next
time step or Jacobian step, and then frees its place.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import math
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, TypeVar

from fastapi import HTTPException, Request

from models.cancellation import ComputationCancelled, StopCheck

logger = logging.getLogger(__name__)

T = TypeVar("T")

# Retry-After bounds in seconds. The default applies until a computation ends.
DEFAULT_RETRY_SECONDS = 5
MAX_RETRY_SECONDS = 60
# weight of the latest duration in the moving average of computation times
SMOOTHING = 0.3


class ClientDisconnectedError(Exception):
    """The client closed the connection before its computation ended."""


class DiagnosticsQueue:
    """Runs diagnostics on ``executor`` and bounds how many wait for it."""

    def __init__(
        self, executor: ThreadPoolExecutor, workers: int, max_queued: int
    ) -> None:
        self.executor = executor
        self.workers = workers
        self.max_queued = max_queued
        self._admitted = 0
        self._mean_seconds: float | None = None
        self._lock = threading.Lock()

    async def run(self, request: Request, function: Callable[[StopCheck], T]) -> T:
        """Run ``function(should_stop)`` on the pool and return its result.

        Raises ``HTTPException`` (503) when the queue is full, and
        ``ClientDisconnectedError`` when the client of ``request``
        disconnects before ``function`` ends. A ``function`` that has not
        started then never runs; a running one gets True from
        ``should_stop()`` and is awaited until it returns or raises.
        """
        stop = threading.Event()
        future = self._submit(functools.partial(function, stop.is_set))
        result = asyncio.wrap_future(future)
        disconnect = asyncio.ensure_future(wait_for_disconnect(request))
        try:
            await asyncio.wait(
                {result, disconnect}, return_when=asyncio.FIRST_COMPLETED
            )
        finally:
            disconnect.cancel()

        client_gone = (
            disconnect.done()
            and not disconnect.cancelled()
            and disconnect.exception() is None
        )
        if not client_gone:
            return await result
        if future.cancel():
            logger.info("diagnostic skipped: its client disconnected while it waited")
            raise ClientDisconnectedError
        await self._cancel(stop, result)
        raise ClientDisconnectedError

    def retry_after(self) -> int:
        """Estimate the seconds until a place in the queue frees up: the
        moving average of recent computation times, rounded up."""
        with self._lock:
            mean = self._mean_seconds
        if mean is None:
            return DEFAULT_RETRY_SECONDS
        return min(max(math.ceil(mean), 1), MAX_RETRY_SECONDS)

    async def _cancel(self, stop: threading.Event, result: asyncio.Future[T]) -> None:
        """Set ``stop`` for a running computation and wait until it ends."""
        stop.set()
        started = time.perf_counter()
        try:
            await result
        except ComputationCancelled:
            logger.info(
                "diagnostic cancelled: its client disconnected while it ran; it "
                "stopped %.3f s later",
                time.perf_counter() - started,
            )
        else:
            logger.info(
                "diagnostic finished after its client disconnected, before it "
                "reached a stop check"
            )

    def _submit(self, function: Callable[[], T]) -> Future[T]:
        with self._lock:
            full = self._admitted >= self.workers + self.max_queued
            if not full:
                self._admitted += 1
        if full:
            raise self._full_error()

        try:
            future = self.executor.submit(self._timed, function)
        except RuntimeError:
            # the executor has shut down because the server is stopping
            self._release()
            raise
        future.add_done_callback(self._release)
        return future

    def _timed(self, function: Callable[[], T]) -> T:
        started = time.perf_counter()
        cancelled = False
        try:
            return function()
        except ComputationCancelled:
            # the duration of a cancelled run does not show how long a whole
            # one takes
            cancelled = True
            raise
        finally:
            if not cancelled:
                self._record(time.perf_counter() - started)

    def _record(self, seconds: float) -> None:
        """Add the duration of a computation to the moving average."""
        with self._lock:
            mean = self._mean_seconds
            self._mean_seconds = (
                seconds if mean is None else mean + SMOOTHING * (seconds - mean)
            )

    def _release(self, _: Future[Any] | None = None) -> None:
        with self._lock:
            self._admitted -= 1

    def _full_error(self) -> HTTPException:
        seconds = self.retry_after()
        detail = (
            f"the diagnostics queue is full: {self.workers} running and "
            f"{self.max_queued} waiting, the maximum that "
            f"RNN_FORECAST_MAX_QUEUED_DIAGNOSTICS sets; retry after {seconds} s"
        )
        return HTTPException(503, detail=detail, headers={"Retry-After": str(seconds)})


async def wait_for_disconnect(request: Request) -> None:
    """Return when the client of ``request``, whose body has been read,
    closes the connection."""
    while True:
        message = await request.receive()
        if message["type"] == "http.disconnect":
            return
