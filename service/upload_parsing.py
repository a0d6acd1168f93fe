"""Admission control and cancellation for the parsing of series uploads.

Parsing a CSV near the 10 MB default limit takes seconds, and a parse of a
9.9 MB upload raised the peak resident memory by 79 MB
(``scripts/upload_parse_cost.py --memory``).
``UploadParsing`` runs parses on ``RNN_FORECAST_UPLOAD_WORKERS`` threads of
its own and admits no more than that many uploads at once. An upload takes
its place (``admitted``) before its body is read and keeps it until its
parse ends. An upload beyond them gets 503 with ``Retry-After`` before any
of its body is read, instead of waiting, so concurrent uploads cannot take
the memory of an unbounded queue, and a rejected one takes none for its
body.

An upload that an earlier release stored is checked again when a request
first describes it (``service.series_store``), which parses its whole CSV
as an upload does. Such a check takes a place too (``checking``), so that
parses and checks together never exceed the workers. A check waits for
its place on the thread of its request instead of failing, because a
request that reads uploads has no body to turn away.

A parse gets a stop check. ``cancel_running`` turns it True for every
running parse, which then ends at its next check with
``ComputationCancelled`` before anything is stored. The server calls it when
its shutdown begins, so the shutdown does not wait for whole parses. The
check also turns True when the client of the upload disconnects, so that a
client that never gets the new id leaves no stored series behind.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import math
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, TypeVar

from fastapi import HTTPException, Request

from models.cancellation import ComputationCancelled, StopCheck
from models.plurals import plural
from service.diagnostics_queue import ClientDisconnectedError, wait_for_disconnect

logger = logging.getLogger(__name__)

T = TypeVar("T")

# Retry-After bounds in seconds. The default applies until a parse ends.
DEFAULT_RETRY_SECONDS = 2
MAX_RETRY_SECONDS = 60
# weight of the latest duration in the moving average of parse times
SMOOTHING = 0.3
# Retry-After of an upload that arrives or is parsed while the server stops
SHUTDOWN_RETRY_SECONDS = 5


class UploadPlace:
    """One admitted upload's place among the ``workers`` of
    ``UploadParsing``. ``stop`` is the stop check of its parse, and
    ``parsing`` turns True once the parse is on the pool, which then frees
    the place when the parse ends."""

    def __init__(self) -> None:
        self.stop = threading.Event()
        self.parsing = False


class UploadParsing:
    """Runs at most ``workers`` upload parses and checks of stored uploads
    at once, each parse on a thread of a pool of its own."""

    def __init__(self, workers: int) -> None:
        self.workers = workers
        self.executor = ThreadPoolExecutor(
            max_workers=workers, thread_name_prefix="upload"
        )
        self._running: set[threading.Event] = set()
        # the places in _running that checks of stored uploads hold
        self._checks = 0
        self._stopping = False
        self._mean_seconds: float | None = None
        self._lock = threading.Lock()
        self._freed = threading.Condition(self._lock)

    @contextlib.contextmanager
    def admitted(self) -> Iterator[UploadPlace]:
        """Take a place for one upload and give it back on exit, unless its
        parse started, which gives it back when it ends.

        Raises ``HTTPException`` (503) when ``workers`` uploads hold a place
        already, and when the server is stopping. An upload takes its place
        before its body is read, so a rejected upload reads none of it.
        """
        place = self._admit()
        try:
            yield place
        finally:
            if not place.parsing:
                self._release(place.stop)

    @contextlib.contextmanager
    def checking(self) -> Iterator[None]:
        """Hold a place while the calling thread checks an upload that an
        earlier release stored, and wait until a place is free first.

        The wait blocks the calling thread, and it goes on while the server
        stops, because the uploads that hold places then end soon.

        NOTE: a waiting request keeps its thread of the route thread pool
        (anyio's, 40 threads by default). Many concurrent first reads of
        such uploads can thus still take every thread of that pool while
        they wait, although no more than ``workers`` of them parse.
        """
        place = threading.Event()
        with self._freed:
            self._freed.wait_for(lambda: len(self._running) < self.workers)
            self._running.add(place)
            self._checks += 1
        try:
            yield
        finally:
            with self._lock:
                self._checks -= 1
            self._release(place)

    async def run(
        self,
        function: Callable[[StopCheck], T],
        request: Request | None = None,
        place: UploadPlace | None = None,
    ) -> T:
        """Run ``function(should_stop)`` on the pool and return its result.

        ``place`` comes from ``admitted``; without one, the parse takes a
        place of its own. Raises ``HTTPException`` (503) when ``workers``
        uploads hold a place already, when the server is stopping, and when
        ``cancel_running`` stopped the parse. When the client of
        ``request`` disconnects after sending its body, the parse stops at
        its next check and this raises ``ClientDisconnectedError``. A parse
        that ends before that check returns as usual.
        """
        place = place or self._admit()
        stop = place.stop
        future = self._submit(functools.partial(function, stop.is_set), place)
        result = asyncio.wrap_future(future)
        try:
            if request is not None and await _client_left(request, result):
                stop.set()
            return await result
        except ComputationCancelled as exc:
            if self._stopping:
                raise self._stopping_error() from exc
            logger.info("upload parse stopped: its client disconnected")
            raise ClientDisconnectedError from exc

    def cancel_running(self) -> None:
        """Make every running parse stop at its next check, and refuse new
        parses."""
        with self._lock:
            self._stopping = True
            stops = list(self._running)
        for stop in stops:
            stop.set()

    def close(self) -> None:
        """Cancel the running parses and shut the pool down without waiting
        for them."""
        self.cancel_running()
        self.executor.shutdown(wait=False, cancel_futures=True)

    def retry_after(self) -> int:
        """Estimate the seconds until a parse ends: the moving average of
        recent parse times, rounded up."""
        with self._lock:
            mean = self._mean_seconds
        if mean is None:
            return DEFAULT_RETRY_SECONDS
        return min(max(math.ceil(mean), 1), MAX_RETRY_SECONDS)

    def _admit(self) -> UploadPlace:
        """Take a place, or raise the 503 of a full pool or of a stopping
        server."""
        place = UploadPlace()
        with self._lock:
            stopping = self._stopping
            full = len(self._running) >= self.workers
            checks = self._checks
            if not (stopping or full):
                self._running.add(place.stop)
        if stopping:
            raise self._stopping_error()
        if full:
            raise self._full_error(checks)
        return place

    def _submit(self, function: Callable[[], T], place: UploadPlace) -> Future[T]:
        """Start ``function`` on the pool in ``place``, which the parse frees
        when it ends. Free it at once when the server began to stop while
        the body was read, or the pool has shut down."""
        with self._lock:
            stopping = self._stopping
        if stopping:
            self._release(place.stop)
            raise self._stopping_error()
        try:
            future = self.executor.submit(self._timed, function)
        except RuntimeError as exc:
            # the pool has shut down because the server is stopping
            self._release(place.stop)
            raise self._stopping_error() from exc
        place.parsing = True
        future.add_done_callback(functools.partial(self._release, place.stop))
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
            self._freed.notify()

    def _full_error(self, checks: int) -> HTTPException:
        """Return the 503 of a full pool, ``checks`` of whose places are
        held by checks of stored uploads."""
        seconds = self.retry_after()
        work = []
        if checks < self.workers:
            work.append(f"parsing {plural(self.workers - checks, 'series upload')}")
        if checks:
            work.append(
                f"checking {plural(checks, 'upload')} that an earlier release stored"
            )
        detail = (
            f"the server is {' and '.join(work)}, the most that "
            "RNN_FORECAST_UPLOAD_WORKERS allows at once; retry after "
            f"{seconds} s"
        )
        return HTTPException(503, detail=detail, headers={"Retry-After": str(seconds)})

    def _stopping_error(self) -> HTTPException:
        detail = (
            "the server is shutting down, so the upload was not parsed and "
            f"nothing was stored; retry after {SHUTDOWN_RETRY_SECONDS} s"
        )
        return HTTPException(
            503, detail=detail, headers={"Retry-After": str(SHUTDOWN_RETRY_SECONDS)}
        )


async def _client_left(request: Request, result: asyncio.Future[Any]) -> bool:
    """Wait until ``result`` is done or the client of ``request`` closes the
    connection, and return True in the second case."""
    disconnect = asyncio.ensure_future(wait_for_disconnect(request))
    try:
        await asyncio.wait({result, disconnect}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        disconnect.cancel()
    return (
        not result.done()
        and disconnect.done()
        and not disconnect.cancelled()
        and disconnect.exception() is None
    )
