"""The Celery workers whose broker visibility timeout differs from the API's
or is unknown, as ``GET /v1/health`` lists them, and the warnings about them.

A worker that misses replies to ``inspect conf`` stays listed, with the time
of its last reply, for ``RNN_FORECAST_WORKER_FORGET_SECONDS``. A worker
with a solo pool replies only between two tasks, so it misses every reply
while it runs a job. A stopped worker leaves the list after that time. The
API warns once for each worker and value: a worker that comes back with the
value it had when it left the list is not warned about again.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

logger = logging.getLogger(__name__)

# workers whose last warned value is kept, so that a worker which comes back
# after it left the list is not warned about again. The oldest go first.
MAX_REMEMBERED_WORKERS = 1024
VISIBILITY_VARIABLE = "RNN_FORECAST_BROKER_VISIBILITY_TIMEOUT_SECONDS"


@dataclass(frozen=True)
class WorkerReply:
    """A worker's last reply: its visibility timeout in seconds or the
    reason why it is unknown, with the ``time.monotonic()`` and the
    ``time.time()`` of the check that received it."""

    timeout: float | str
    monotonic: float
    wall: float


@dataclass(frozen=True)
class WorkerListing:
    """The listed workers by name: ``mismatched`` with their timeouts in
    seconds, ``unknown`` with the reason, and ``replied_at`` with the
    ``time.time()`` of the last reply of each worker in either map."""

    mismatched: dict[str, float]
    unknown: dict[str, str]
    replied_at: dict[str, float]


class WorkerTimeouts:
    """The workers' last replies and the listing that follows from them.

    ``record`` runs on one thread. ``listing`` may run on any thread,
    because ``record`` replaces the listing in one assignment.
    """

    def __init__(self, own_seconds: float, forget_seconds: float) -> None:
        self.own_seconds = own_seconds
        self.forget_seconds = forget_seconds
        self._replies: dict[str, WorkerReply] = {}
        # the last value of each worker that was warned about or matched
        self._warned: dict[str, float | str] = {}
        self._listing = WorkerListing({}, {}, {})

    def listing(self) -> WorkerListing:
        return self._listing

    def record(self, replies: dict[str, float | str]) -> None:
        """Store the replies of one check, warn about each new value that
        differs from the API's, and drop the workers whose last reply is
        more than ``forget_seconds`` old."""
        now, wall = time.monotonic(), time.time()
        recent = {}
        for worker, reply in self._replies.items():
            if now - reply.monotonic <= self.forget_seconds:
                recent[worker] = reply
            elif reply.timeout != self.own_seconds:
                logger.info(
                    "the Celery worker %s has not replied to inspect conf for "
                    "%.0f s, so GET /v1/health no longer lists it",
                    worker,
                    now - reply.monotonic,
                )
        for worker, timeout in sorted(replies.items()):
            self._warn_once(worker, timeout)
            recent[worker] = WorkerReply(timeout, now, wall)
        self._replies = recent
        self._listing = self._listed()

    def _warn_once(self, worker: str, timeout: float | str) -> None:
        """Warn about ``timeout`` unless it is the API's or the value that
        was last warned about for ``worker``."""
        if self._warned.get(worker) == timeout:
            return
        self._warned.pop(worker, None)
        self._warned[worker] = timeout
        if len(self._warned) > MAX_REMEMBERED_WORKERS:
            del self._warned[next(iter(self._warned))]
        if timeout == self.own_seconds:
            return
        if isinstance(timeout, str):
            logger.warning(
                "the Celery worker %s has no valid broker visibility timeout: "
                "%s. Start it with this project's Celery app and %s=%g, the "
                "API's value",
                worker,
                timeout,
                VISIBILITY_VARIABLE,
                self.own_seconds,
            )
            return
        logger.warning(
            "the Celery worker %s uses a broker visibility timeout of %g s and "
            "the API %g s. Set %s to one value for the API and every worker, "
            "and restart the ones that differ",
            worker,
            timeout,
            self.own_seconds,
            VISIBILITY_VARIABLE,
        )

    def _listed(self) -> WorkerListing:
        mismatched, unknown, replied_at = {}, {}, {}
        for worker, reply in sorted(self._replies.items()):
            if isinstance(reply.timeout, str):
                unknown[worker] = reply.timeout
            elif reply.timeout != self.own_seconds:
                mismatched[worker] = reply.timeout
            else:
                continue
            replied_at[worker] = reply.wall
        return WorkerListing(mismatched, unknown, replied_at)
