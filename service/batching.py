"""Micro-batching: concurrent forecasts of one version share one forward pass.

Requests for the same checkpoint (name, version and ``LoadedModel.checkpoint``)
are queued on the event loop, so requests for two checkpoints stored under one
version number never share a pass. A queue
is sent to the thread pool as one ``run_batch`` call when the first of these
happens:

- no batch of that version is running, so waiting would only add latency
  (a lone request never waits, and goes to the pool by the same call as
  with batching off, so batching costs it nothing);
- a batch of that version finishes, so the pool has a free thread;
- the queue reaches ``max_batch_size``;
- the oldest queued request has waited ``window_seconds``.

``run_batch`` computes each item from its own row of the batch, so every
caller gets the forecast of its own input. When a batched call raises (one history that
overflows to a non-finite price, say), each item is run alone, so each caller
gets its own result or its own error. A window of 0 turns batching off: each
request then runs alone on the pool.

A lone request of a version whose last lone forward pass took less than
``inline_seconds`` runs on the event loop instead of the pool. Handing a
forward pass to a pool thread and back costs two thread wake-ups, about
0.1 ms on 2 cores, a third of a 0.3 ms forecast of the default LSTM. Before
it runs, the request yields the loop once, so requests that have already
arrived reach the batcher. If any of them queued behind it, all go to the
pool as one batch. The first lone request of a version runs on the pool,
where its time is measured, so a model whose forward pass is slower than
``inline_seconds`` stays on the pool.
An ``inline_seconds`` of 0, the default here, or batching off, keeps every
forward pass on the pool.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import time
from collections.abc import Sequence
from concurrent.futures import Executor
from dataclasses import dataclass, field

from models.forecasting import Forecast, ForecastInput, run_batch
from models.registry import LoadedModel
from service.logging_config import REQUEST_ID, in_request_context

logger = logging.getLogger(__name__)

# name, version and checkpoint id of a LoadedModel
BatchKey = tuple[str, int, str]
# versions whose lone forward time is kept; the times are dropped beyond it
MAX_TIMED_VERSIONS = 1024
Outcome = Forecast | Exception


@dataclass
class _Queue:
    """Requests of one version waiting for the next batch."""

    loaded: LoadedModel
    items: list[ForecastInput] = field(default_factory=list)
    futures: list[asyncio.Future[Forecast]] = field(default_factory=list)
    # the ids of the requests of ``items``, for the batch's log lines
    request_ids: list[str | None] = field(default_factory=list)
    timer: asyncio.TimerHandle | None = None


@dataclass
class BatchStats:
    """Counters since start: batches run, items in them, largest batch."""

    batches: int = 0
    items: int = 0
    largest: int = 0
    # lone requests that ran on the event loop
    on_loop: int = 0


class MicroBatcher:
    """Gathers concurrent forecasts per version into ``run_batch`` calls.

    All state lives on the event loop that calls ``forecast``; only
    ``run_batch`` runs on ``executor``.
    """

    def __init__(
        self,
        executor: Executor,
        *,
        window_seconds: float,
        max_batch_size: int,
        inline_seconds: float = 0.0,
    ) -> None:
        if window_seconds < 0:
            raise ValueError(
                f"window_seconds={window_seconds} is negative; use 0 to turn "
                "batching off or a small positive wait such as 0.002"
            )
        if max_batch_size < 1:
            raise ValueError(
                f"max_batch_size={max_batch_size} must be at least 1; use 1 to "
                "turn batching off"
            )
        if inline_seconds < 0:
            raise ValueError(
                f"inline_seconds={inline_seconds} is negative; use 0 to run "
                "every forward pass on the pool"
            )
        self.executor = executor
        self.window_seconds = window_seconds
        self.max_batch_size = max_batch_size
        self.inline_seconds = inline_seconds
        self.stats = BatchStats()
        self.enabled = window_seconds > 0 and max_batch_size > 1
        self._queues: dict[BatchKey, _Queue] = {}
        self._in_flight: dict[BatchKey, int] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        # seconds of the last lone run_batch call per version
        self._lone_seconds: dict[BatchKey, float] = {}

    async def forecast(self, loaded: LoadedModel, item: ForecastInput) -> Forecast:
        """Forecast one validated input, batched with concurrent ones."""
        key = (loaded.name, loaded.version, loaded.checkpoint)
        idle = self._in_flight.get(key, 0) == 0 and key not in self._queues
        if self.enabled and idle and self._cheap(key):
            return await self._run_on_loop(key, loaded, item)
        if not self.enabled or idle:
            return await self._run_alone(key, loaded, item)
        return await self._join(key, loaded, item)

    async def _join(
        self, key: BatchKey, loaded: LoadedModel, item: ForecastInput
    ) -> Forecast:
        """Queue ``item`` for the next batch of ``key`` and wait for it."""
        loop = asyncio.get_running_loop()
        queue = self._queues.get(key)
        if queue is None:
            queue = self._queues[key] = _Queue(loaded)
        future: asyncio.Future[Forecast] = loop.create_future()
        queue.items.append(item)
        queue.futures.append(future)
        queue.request_ids.append(REQUEST_ID.get())

        running = self._in_flight.get(key, 0) > 0
        if not running or len(queue.items) >= self.max_batch_size:
            self._flush(key)
        elif queue.timer is None:
            queue.timer = loop.call_later(self.window_seconds, self._flush, key)
        return await future

    def _cheap(self, key: BatchKey) -> bool:
        """True when the last lone forward pass of ``key`` took less than
        ``inline_seconds``."""
        seconds = self._lone_seconds.get(key)
        return seconds is not None and seconds < self.inline_seconds

    async def _run_on_loop(
        self, key: BatchKey, loaded: LoadedModel, item: ForecastInput
    ) -> Forecast:
        """Run a lone request on the event loop after one turn of the loop.
        Requests that queue behind it during that turn go with it to the
        pool as one batch instead."""
        self._in_flight[key] = self._in_flight.get(key, 0) + 1
        try:
            await asyncio.sleep(0)
        except BaseException:
            self._finish(key)
            raise
        if key in self._queues:
            self._release(key)
            return await self._join(key, loaded, item)

        try:
            outcomes, seconds = _timed_run(loaded, [item])
        finally:
            self._finish(key)
        self._lone_seconds[key] = seconds
        self._count(1)
        self.stats.on_loop += 1
        return _unwrap(outcomes[0])

    async def _run_alone(
        self, key: BatchKey, loaded: LoadedModel, item: ForecastInput
    ) -> Forecast:
        """Run one request as a batch of one on the pool, without a queue, a
        task or a future of its own: every request when batching is off, and
        a request that finds its version idle when it is on.

        Requests that arrive meanwhile queue up as usual and go to the pool
        when this one finishes.
        """
        loop = asyncio.get_running_loop()
        self._in_flight[key] = self._in_flight.get(key, 0) + 1
        try:
            outcomes, seconds = await loop.run_in_executor(
                self.executor, in_request_context(_timed_run, loaded, [item])
            )
        finally:
            self._finish(key)
        if len(self._lone_seconds) >= MAX_TIMED_VERSIONS:
            self._lone_seconds.clear()
        self._lone_seconds[key] = seconds
        self._count(1)
        return _unwrap(outcomes[0])

    def close(self) -> None:
        """Cancel the timers and fail the requests still queued."""
        for queue in self._queues.values():
            if queue.timer is not None:
                queue.timer.cancel()
            for future in queue.futures:
                if not future.done():
                    future.set_exception(RuntimeError("the server is shutting down"))
        self._queues.clear()

    def _flush(self, key: BatchKey) -> None:
        queue = self._queues.pop(key, None)
        if queue is None:
            return
        if queue.timer is not None:
            queue.timer.cancel()
        self._in_flight[key] = self._in_flight.get(key, 0) + 1
        # a context of its own, so the batch's lines do not carry the id of
        # whichever request happened to send it
        task = asyncio.get_running_loop().create_task(
            self._run(key, queue), context=contextvars.Context()
        )
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _run(self, key: BatchKey, queue: _Queue) -> None:
        loop = asyncio.get_running_loop()
        try:
            outcomes: list[Outcome] = await loop.run_in_executor(
                self.executor,
                run_isolated,
                queue.loaded,
                queue.items,
                queue.request_ids,
            )
        except Exception as exc:  # the pool is shut down or rejected the job
            logger.error(
                "batch of %d for %s:%d (requests %s) failed: %s",
                len(queue.items),
                *key[:2],
                _joined(queue.request_ids),
                exc,
            )
            outcomes = [exc] * len(queue.items)
        finally:
            self._finish(key)

        self._count(len(queue.items))
        for future, outcome in zip(queue.futures, outcomes, strict=True):
            if future.done():  # the caller went away
                continue
            if isinstance(outcome, Exception):
                future.set_exception(outcome)
            else:
                future.set_result(outcome)

    def _finish(self, key: BatchKey) -> None:
        """Count a finished batch of ``key`` and, because a pool thread is
        free again, send the requests queued meanwhile."""
        self._release(key)
        if key in self._queues:
            self._flush(key)

    def _release(self, key: BatchKey) -> None:
        """Count one batch of ``key`` fewer in flight."""
        self._in_flight[key] -= 1
        if self._in_flight[key] == 0:
            del self._in_flight[key]

    def _count(self, size: int) -> None:
        self.stats.batches += 1
        self.stats.items += size
        self.stats.largest = max(self.stats.largest, size)


def run_isolated(
    loaded: LoadedModel,
    items: Sequence[ForecastInput],
    request_ids: Sequence[str | None] = (),
) -> list[Outcome]:
    """Run ``items`` as one batch, or each alone if the batch raises.

    Returns one forecast or exception per item, in order, so one bad item
    cannot fail the others. ``request_ids`` label the log line of a batch
    that raised.
    """
    try:
        return list(run_batch(loaded, items))
    except Exception as exc:
        if len(items) == 1:
            return [exc]
        logger.debug(
            "batch of %d for %s:%d (requests %s) raised %r; running its items "
            "one by one",
            len(items),
            loaded.name,
            loaded.version,
            _joined(request_ids),
            exc,
        )

    outcomes: list[Outcome] = []
    for item in items:
        try:
            outcomes.append(run_batch(loaded, [item])[0])
        except Exception as exc:
            outcomes.append(exc)
    return outcomes


def _timed_run(
    loaded: LoadedModel, items: Sequence[ForecastInput]
) -> tuple[list[Outcome], float]:
    """``run_isolated`` and the seconds it took."""
    started = time.perf_counter()
    outcomes = run_isolated(loaded, items)
    return outcomes, time.perf_counter() - started


def _joined(request_ids: Sequence[str | None]) -> str:
    return ", ".join(str(request_id) for request_id in request_ids) or "unknown"


def _unwrap(outcome: Outcome) -> Forecast:
    if isinstance(outcome, Exception):
        raise outcome
    return outcome
