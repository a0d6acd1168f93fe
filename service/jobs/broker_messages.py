"""The job ids that have a message in the Celery broker, read from Redis.

kombu's Redis transport (5.7) keeps a queue as Redis lists, one per priority
step: the queue's name, and the name followed by ``Channel.sep`` and the
step for the steps above 0. A message that a worker has taken but not yet
acknowledged is a value of the hash ``Channel.unacked_key`` until a pool
process of the worker starts the task (see ``celery_app.make_celery``). The
task claims its job first thing, so a queued job whose message is in
neither place has lost it, for example to a Redis restart without
persistence or to a worker killed between the start and the claim.

kombu has no public call that lists a queue's messages, so ``redis_keys``
is the one place that encodes this layout. It reads only the channel's
public attributes, and raises ``BrokerLayoutError`` when they are
missing.
"""

from __future__ import annotations

import base64
import json
import logging
from typing import Any

from celery import Celery

from service.jobs.celery_app import JOB_QUEUE, RUN_JOB_TASK

logger = logging.getLogger(__name__)


class BrokerLayoutError(RuntimeError):
    """The Redis channel of the installed kombu lacks the attributes that
    ``redis_keys`` reads, so the broker's messages cannot be listed."""


def redis_keys(channel: Any, queue: str = JOB_QUEUE) -> tuple[list[str], str]:
    """Return the Redis keys of ``queue``'s lists, one per priority step and
    sorted, and the key of the hash of taken, unacknowledged messages.

    ``channel`` is a kombu Redis ``Channel``. Its ``priority_steps``,
    ``sep`` and ``unacked_key`` are transport options that kombu documents,
    ``priority`` is a public method, and the list names follow kombu 5.7
    (``Channel._q_for_pri``). Raises
    ``BrokerLayoutError`` when an attribute is missing or of another type.
    """
    try:
        steps = {channel.priority(step) for step in channel.priority_steps}
        separator = channel.sep
        unacked = channel.unacked_key
    except (AttributeError, TypeError) as exc:
        raise BrokerLayoutError(
            f"kombu's Redis channel has no usable priority_steps, priority, sep "
            f"or unacked_key ({exc})"
        ) from exc
    names = (separator, unacked, *steps)
    if not all(isinstance(name, str | int) for name in names):
        raise BrokerLayoutError(
            f"kombu's Redis channel has sep {separator!r}, unacked_key "
            f"{unacked!r} and priority steps {sorted(steps)!r}; expected strings "
            "and integers"
        )
    lists = {queue if step == 0 else f"{queue}{separator}{step}" for step in steps}
    return sorted(lists), str(unacked)


def uses_redis(celery: Celery) -> bool:
    """Return whether ``celery``'s broker is a Redis transport, whose
    messages ``held_job_ids`` can read."""
    with celery.connection_for_write() as connection:
        return str(connection.transport.driver_type) == "redis"


def held_job_ids(celery: Celery) -> set[str]:
    """Return the ids of the jobs with a message in the job queue or taken
    by a worker and not yet acknowledged.

    One Redis transaction reads the queue's lists and the unacknowledged
    messages as one snapshot, in one round trip that carries those
    messages. kombu pops a message from its list before it stores it in the
    hash, so a message is in neither for that moment. Callers therefore act
    only on a job that two reads in a row did not find. Raises
    ``BrokerLayoutError`` as ``redis_keys`` does.
    """
    with celery.connection_for_write() as connection:
        channel: Any = connection.default_channel
        lists, unacked_key = redis_keys(channel)
        with channel.conn_or_acquire() as client, client.pipeline() as pipe:
            for key in lists:
                pipe.lrange(key, 0, -1)
            pipe.hvals(unacked_key)
            *queued, unacked = pipe.execute()

    raw_messages = [(raw, False) for batch in queued for raw in batch]
    raw_messages += [(raw, True) for raw in unacked]
    job_ids = (job_id_of(raw, taken) for raw, taken in raw_messages)
    return {job_id for job_id in job_ids if job_id is not None}


def job_id_of(raw: bytes | str, taken: bool = False) -> str | None:
    """Return the job id of a kombu message of the task that runs a job, as
    stored in Redis, or None for any other message.

    A ``taken`` (unacknowledged) message is stored as ``[payload, exchange,
    routing key]``, a queued one as the payload. The payload's body is
    Celery's message protocol 2, ``[args, kwargs, embed]`` in JSON, which
    kombu's Redis transport stores base64-encoded.
    """
    try:
        payload = json.loads(raw)
        if taken:
            payload = payload[0]
        if payload["headers"]["task"] != RUN_JOB_TASK:
            return None
        body = payload["body"]
        if payload["properties"].get("body_encoding") == "base64":
            body = base64.b64decode(body)
        job_id = json.loads(body)[0][0]
    except (KeyError, IndexError, TypeError, ValueError) as exc:
        logger.warning("cannot read the job id of a broker message: %s", exc)
        return None
    return job_id if isinstance(job_id, str) else None
