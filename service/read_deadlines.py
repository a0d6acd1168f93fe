"""Request body reads that end when the client pauses too long, or when the
server shuts down.

uvicorn's graceful shutdown stops accepting connections and then waits for
every request in progress to send its response. The app's lifespan shutdown
runs only after that wait, so a request whose client stalled in the middle
of its body would hold the shutdown until the body timeout. The server
(``service.server``) calls ``ReadDeadlines.close`` when its shutdown begins,
which ends the reads in progress at once, so those requests get their error
response with ``Connection: close`` and the shutdown goes on.
"""

from __future__ import annotations

import asyncio
import weakref
from typing import Any

from starlette.types import Message, Receive


class ServerStoppingError(Exception):
    """Raised in a body read that waits for the client while the server
    shuts down."""


class _LoopReads:
    """The body reads in progress on one event loop, with their deadlines
    (``loop.time()``), the reads cancelled by a time-out or a shutdown with
    the exception that each raises, and the check timer."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.deadlines: dict[asyncio.Task[Any], float] = {}
        self.ended: dict[asyncio.Task[Any], type[Exception]] = {}
        self.timer: asyncio.TimerHandle | None = None


class ReadDeadlines:
    """Times out body reads that wait longer than ``timeout`` seconds for a
    part, with one timer per event loop instead of one per read, and ends
    them all when ``close`` is called.

    ``asyncio.timeout`` costs the loop a timer handle per read, about 5 us
    of CPU per request measured in isolation. Here a read costs a dict
    entry. A timer checks the
    reads in progress every ``min(timeout / 10, 0.1)`` seconds while there
    are any, so a stalled read ends between ``timeout`` and that much later.
    Each event loop has its own reads and timer.
    """

    def __init__(self, timeout: float) -> None:
        self.timeout = timeout
        self.interval = min(timeout / 10, 0.1)
        self.closed = False
        self._loops: weakref.WeakKeyDictionary[
            asyncio.AbstractEventLoop, _LoopReads
        ] = weakref.WeakKeyDictionary()

    async def receive(self, receive: Receive) -> Message:
        """Await ``receive()``; raise ``TimeoutError`` when it takes longer
        than the timeout, and ``ServerStoppingError`` when it waits after
        ``close`` was called."""
        loop = asyncio.get_running_loop()
        task = asyncio.current_task()
        assert task is not None
        reads = self._loops.get(loop)
        if reads is None:
            reads = self._loops[loop] = _LoopReads(loop)

        reads.deadlines[task] = loop.time() + self.timeout
        if reads.timer is None:
            reads.timer = loop.call_later(self.interval, self._check, reads)
        # after close, a read that has to wait for the client ends at once,
        # and one that returns without waiting cancels this first
        end = loop.call_soon(self._end, reads, task) if self.closed else None

        cancelling = task.cancelling()
        try:
            return await receive()
        except asyncio.CancelledError:
            error = reads.ended.pop(task, None)
            # another cancel of the same task in the same step stays a cancel
            if error is None or task.uncancel() > cancelling:
                raise
            raise error() from None
        finally:
            reads.deadlines.pop(task, None)
            if end is not None:
                end.cancel()

    def close(self) -> None:
        """End every read in progress with ``ServerStoppingError``, and every
        later read at its first wait for the client.

        May be called from any thread; the reads of each event loop end in
        that loop's next iteration.
        """
        self.closed = True
        for reads in list(self._loops.values()):
            try:
                reads.loop.call_soon_threadsafe(self._end_all, reads)
            except RuntimeError:
                continue  # the loop is closed, so it has no reads left

    def _end_all(self, reads: _LoopReads) -> None:
        for task in list(reads.deadlines):
            self._end(reads, task)

    def _end(
        self,
        reads: _LoopReads,
        task: asyncio.Task[Any],
        error: type[Exception] = ServerStoppingError,
    ) -> None:
        """Cancel the read of ``task``, if it is in progress, so that it
        raises ``error``."""
        if reads.deadlines.pop(task, None) is not None:
            reads.ended[task] = error
            task.cancel()

    def _check(self, reads: _LoopReads) -> None:
        now = reads.loop.time()
        for task, deadline in list(reads.deadlines.items()):
            if deadline <= now:
                self._end(reads, task, TimeoutError)
        reads.timer = None
        if reads.deadlines:
            reads.timer = reads.loop.call_later(self.interval, self._check, reads)
