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
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
from collections.abc import Sequence
from concurrent.futures import Executor
from dataclasses import dataclass, field

from models.forecasting import Forecast, ForecastInput, run_batch
from models.registry import LoadedModel
from service.logging_config import REQUEST_ID, in_request_context

logger = logging.getLogger(__name__)

# name, version and checkpoint id of a LoadedModel
BatchKey = tuple[str, int, str]
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


class MicroBatcher:
    """Gathers concurrent forecasts per version into ``run_batch`` calls.

    All state lives on the event loop that calls ``forecast``; only
    ``run_batch`` runs on ``executor``.
    """

    def __init__(
        self, executor: Executor, *, window_seconds: float, max_batch_size: int
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
        self.executor = executor
        self.window_seconds = window_seconds
        self.max_batch_size = max_batch_size
        self.stats = BatchStats()
        self.enabled = window_seconds > 0 and max_batch_size > 1
        self._queues: dict[BatchKey, _Queue] = {}
        self._in_flight: dict[BatchKey, int] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    async def forecast(self, loaded: LoadedModel, item: ForecastInput) -> Forecast:
        """Forecast one validated input, batched with concurrent ones."""
        key = (loaded.name, loaded.version, loaded.checkpoint)
        idle = self._in_flight.get(key, 0) == 0 and key not in self._queues
        if not self.enabled or idle:
            return await self._run_alone(key, loaded, item)

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

    async def _run_alone(
        self, key: BatchKey, loaded: LoadedModel, item: ForecastInput
    ) -> Forecast:
        """Run one request as a batch of one, without a queue, a task or a
        future of its own: every request when batching is off, and a request
        that finds its version idle when it is on.

        Requests that arrive meanwhile queue up as usual and go to the pool
        when this one finishes.
        """
        loop = asyncio.get_running_loop()
        self._in_flight[key] = self._in_flight.get(key, 0) + 1
        try:
            outcomes = await loop.run_in_executor(
                self.executor, in_request_context(run_isolated, loaded, [item])
            )
        finally:
            self._finish(key)
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
        self._in_flight[key] -= 1
        if self._in_flight[key] == 0:
            del self._in_flight[key]
        if key in self._queues:
            self._flush(key)

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


def _joined(request_ids: Sequence[str | None]) -> str:
    return ", ".join(str(request_id) for request_id in request_ids) or "unknown"


def _unwrap(outcome: Outcome) -> Forecast:
    if isinstance(outcome, Exception):
        raise outcome
    return outcome
