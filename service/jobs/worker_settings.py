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

from typing import Any

from celery import Celery
from kombu.transport import redis as kombu_redis

from service.jobs.celery_app import JOB_QUEUE

# seconds that an inspect waits for the workers' replies, as Celery's default
INSPECT_TIMEOUT_SECONDS = 1.0


def worker_visibility_timeouts(
    celery: Celery, timeout: float = INSPECT_TIMEOUT_SECONDS
) -> dict[str, float]:
    """Return the visibility timeout in seconds of every job worker that
    replied within ``timeout`` seconds, by worker name (such as
    ``celery@host``). Waits ``timeout`` seconds; raises kombu's connection
    errors when the broker is unreachable."""
    replies: dict[str, Any] = celery.control.inspect(timeout=timeout).conf() or {}
    timeouts = {}
    for worker, conf in replies.items():
        seconds = visibility_timeout_of(conf)
        if seconds is not None:
            timeouts[worker] = seconds
    return timeouts


def visibility_timeout_of(conf: object) -> float | None:
    """Return the visibility timeout in seconds of one worker's ``inspect
    conf`` reply, or None for a worker that does not consume the job queue.

    A job worker without the transport option, from a release before the
    setting existed, uses kombu's Redis default (3600 s). An option that is
    not a number gives None too.
    """
    if not isinstance(conf, dict) or conf.get("task_default_queue") != JOB_QUEUE:
        return None
    options = conf.get("broker_transport_options")
    if not isinstance(options, dict) or "visibility_timeout" not in options:
        return float(kombu_redis.Channel.visibility_timeout)
    seconds = options["visibility_timeout"]
    if isinstance(seconds, bool) or not isinstance(seconds, int | float):
        return None
    return float(seconds)
