"""The job ids that have a message in the Celery broker, read from Redis.

kombu's Redis transport (5.7) keeps a queue as Redis lists, one per priority
step: the queue's name, and the name followed by ``Channel.sep`` and the
step for the steps above 0. A message that a worker has taken but not yet
acknowledged is a value of the hash ``Channel.unacked_key`` until the task
ends (``task_acks_late``). A worker claims its job at the start of the task,
so a queued job whose message is in neither place has lost it, for example
to a Redis restart without persistence.
"""

from __future__ import annotations

import base64
import json
import logging
from typing import Any

from celery import Celery

from service.jobs.celery_app import JOB_QUEUE, RUN_JOB_TASK

logger = logging.getLogger(__name__)


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
    only on a job that two reads in a row did not find.
    """
    with celery.connection_for_write() as connection:
        channel: Any = connection.default_channel
        # NOTE: _q_for_pri is kombu's private naming of a priority's list
        keys = {channel._q_for_pri(JOB_QUEUE, step) for step in channel.priority_steps}
        with channel.conn_or_acquire() as client, client.pipeline() as pipe:
            for key in sorted(keys):
                pipe.lrange(key, 0, -1)
            pipe.hvals(channel.unacked_key)
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
