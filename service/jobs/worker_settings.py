"""The broker visibility timeout of each running Celery worker, read with
Celery's ``inspect conf`` broadcast.

A worker replies to ``inspect conf`` with the settings that its app changed from
Celery's defaults, among them the ``broker_transport_options`` that
``celery_app.make_celery`` passes to kombu. The API thus reads the timeout
that each worker uses, from workers of every release, with no code in the
worker. Replies of workers of other Celery apps on the same broker are left
out: their ``task_default_queue`` is not the job queue.
"""

from __future__ import annotations

import math
import reprlib
from typing import Any

from celery import Celery
from kombu.transport import redis as kombu_redis

from service.jobs.celery_app import JOB_QUEUE

# seconds that an inspect waits for the workers' replies, as Celery's default
INSPECT_TIMEOUT_SECONDS = 1.0


def worker_visibility_timeouts(
    celery: Celery, timeout: float = INSPECT_TIMEOUT_SECONDS
) -> dict[str, float | str]:
    """Return the visibility timeout of every job worker that replied within
    ``timeout`` seconds, by worker name (such as ``celery@host``): seconds,
    or the reason why the reply has none (see ``visibility_timeout_of``).
    Waits ``timeout`` seconds; raises kombu's connection errors when the
    broker is unreachable."""
    replies: dict[str, Any] = celery.control.inspect(timeout=timeout).conf() or {}
    timeouts = {}
    for worker, conf in replies.items():
        timeout_or_reason = visibility_timeout_of(conf)
        if timeout_or_reason is not None:
            timeouts[worker] = timeout_or_reason
    return timeouts


def visibility_timeout_of(conf: object) -> float | str | None:
    """Return the visibility timeout in seconds of one worker's ``inspect
    conf`` reply, or None for a worker that does not consume the job queue.

    A job worker whose reply has no usable option gets a sentence instead,
    which names the missing or invalid option and the timeout that the
    worker uses. That is a worker of a release before the setting existed,
    which uses kombu's Redis default, or one whose option is not a finite
    number of seconds.
    """
    if not isinstance(conf, dict) or conf.get("task_default_queue") != JOB_QUEUE:
        return None
    options = conf.get("broker_transport_options")
    if not isinstance(options, dict) or "visibility_timeout" not in options:
        return (
            "the visibility_timeout broker transport option is missing, so "
            "the worker uses kombu's default of "
            f"{kombu_redis.Channel.visibility_timeout:g} s on Redis"
        )
    seconds = options["visibility_timeout"]
    if not _finite_number(seconds):
        return (
            "the visibility_timeout broker transport option is "
            f"{reprlib.repr(seconds)}, which is not a number of seconds"
        )
    return float(seconds)


def _finite_number(value: object) -> bool:
    """Return whether ``value`` is an int or float that converts to a finite
    float. A bool is not a number here, and neither is an int beyond the
    float range, such as 10**400, on which ``math.isfinite`` raises
    ``OverflowError``."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    try:
        return math.isfinite(value)
    except OverflowError:
        return False
