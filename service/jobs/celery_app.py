"""The Celery app of the scale-out runner: ``celery -A service.jobs.celery_app
worker``.

A worker reads the same ``RNN_FORECAST_*`` settings as the API and must see
the same registry folder, job store (``RNN_FORECAST_JOB_STORE``) and upload
folder (``<RNN_FORECAST_DATA_DIR>/series``). The API publishes a job id and
its own root path, which the job's errors use. The task claims the job in
the store with a conditional update, so a message delivered twice runs the
job once.
"""

from __future__ import annotations

import logging
from functools import cache
from typing import Any

from celery import Celery, Task
from celery.signals import worker_init, worker_ready
from kombu import Connection
from kombu.utils.url import maybe_sanitize_url

from models.registry import Registry
from service.jobs.execution import claim_and_execute, configure_worker_process
from service.jobs.kinds import load_kind_modules
from service.jobs.recovery import fail_dead_local_jobs
from service.jobs.store import JobStore, open_store
from service.settings import Settings

logger = logging.getLogger(__name__)

RUN_JOB_TASK = "rnn_forecast.run_job"
# The message header with the root path of the API that published a job. A
# header, unlike a keyword argument, is ignored by workers of releases that
# do not read it, so the API can be upgraded before its workers.
ROOT_PATH_HEADER = "rnn_forecast_root_path"
JOB_QUEUE = "rnn-forecast-jobs"


# seconds that a taken message may stay unacknowledged before Redis hands it
# to a worker again (RNN_FORECAST_BROKER_VISIBILITY_TIMEOUT_SECONDS)
DEFAULT_VISIBILITY_TIMEOUT_SECONDS: float = Settings.model_fields[
    "broker_visibility_timeout_seconds"
].default
# the maximum pause, in seconds, between a worker's scans for such messages
MAX_RESTORE_INTERVAL_SECONDS = 10.0


def make_celery(
    broker_url: str,
    visibility_timeout: float = DEFAULT_VISIBILITY_TIMEOUT_SECONDS,
) -> Celery:
    """Create a Celery app on ``broker_url`` with JSON messages and no
    result backend, because results live in the job store.

    A message that a worker took and did not acknowledge within
    ``visibility_timeout`` seconds goes back to the queue, at most
    ``restore_interval(visibility_timeout)`` seconds later.
    """
    celery = Celery("rnn_forecast", broker=broker_url, set_as_current=False)
    celery.conf.update(
        task_serializer="json",
        accept_content=["json"],
        task_ignore_result=True,
        task_default_queue=JOB_QUEUE,
        # A worker acknowledges a message when a pool process starts its task,
        # and on a Redis broker takes no message while every pool process is
        # busy. A message is therefore unacknowledged only from the moment a
        # worker takes it until its task starts, so the visibility timeout
        # never delivers a running job again. A worker killed in that moment
        # leaves the message to the visibility timeout. A worker killed after
        # it and before the claim leaves a queued job without a message,
        # which the API's message check publishes again. Celery ignores
        # worker_disable_prefetch on other brokers, so it is set for Redis
        # only, and a worker on another broker logs ``prefetch_note`` at start.
        task_acks_late=False,
        worker_disable_prefetch=is_redis_broker(broker_url),
        worker_prefetch_multiplier=1,
        broker_connection_retry_on_startup=True,
        broker_transport_options={
            "socket_connect_timeout": 5,
            "visibility_timeout": visibility_timeout,
            # every scan of the unacknowledged messages runs, at this interval
            "unacked_restore_interval": restore_interval(visibility_timeout),
            "unacked_restore_throttle": 1,
        },
    )
    return celery


def is_redis_broker(broker_url: str) -> bool:
    """Return whether kombu reaches ``broker_url`` through its Redis
    transport (``redis://``, ``rediss://`` or ``sentinel://``), without
    connecting. A URL whose transport kombu cannot load gives False; the
    worker and the API report that error when they connect."""
    try:
        with Connection(broker_url) as connection:
            return str(connection.transport.driver_type) == "redis"
    except (KeyError, ImportError):
        return False


def prefetch_note(broker_url: str) -> str | None:
    """Return what a worker on ``broker_url`` does differently because the
    broker is not Redis, or None for a Redis broker."""
    if is_redis_broker(broker_url):
        return None
    return (
        f"the broker {maybe_sanitize_url(broker_url)} is not Redis, so this "
        "worker takes a message while all its pool processes are busy: up to "
        "one per pool process waits in this worker, even while other workers "
        "are idle. Set RNN_FORECAST_BROKER_URL to a redis:// URL for workers "
        "that take a job only when a pool process is free"
    )


def restore_interval(visibility_timeout: float) -> float:
    """Return the seconds between a worker's scans for messages past
    ``visibility_timeout`` seconds: a quarter of it, from 0.5 s up to
    ``MAX_RESTORE_INTERVAL_SECONDS``."""
    return max(0.5, min(MAX_RESTORE_INTERVAL_SECONDS, visibility_timeout / 4))


@cache
def worker_settings() -> Settings:
    return Settings()


@cache
def worker_store() -> JobStore:
    return open_store(worker_settings())


app = make_celery(
    worker_settings().broker_url,
    worker_settings().broker_visibility_timeout_seconds,
)


@app.task(name=RUN_JOB_TASK, bind=True)
def run_job(self: Task, job_id: str) -> str | None:
    """Claim and run one job; returns its final status, or None when it was
    no longer queued.

    The message's ``ROOT_PATH_HEADER`` is the root path of the API that
    published the job, which goes before the API paths in the job's errors.
    A message without it, from an API that did not send it, uses this
    worker's ``RNN_FORECAST_ROOT_PATH``.
    """
    root_path = getattr(self.request, ROOT_PATH_HEADER, None)
    settings = job_settings(root_path if isinstance(root_path, str) else None)
    configure_worker_process(settings)
    return claim_and_execute(worker_store(), job_id, settings)


def job_settings(root_path: str | None) -> Settings:
    """Return the worker's settings with ``root_path`` in place of its own
    root path, or as they are when ``root_path`` is None."""
    settings = worker_settings()
    if root_path is None:
        return settings
    return settings.model_copy(update={"root_path": root_path})


@worker_init.connect
def _log_prefetch(sender: Any = None, **_kwargs: Any) -> None:
    note = prefetch_note(str(sender.app.conf.broker_url))
    if note is not None:
        logger.warning(note)


@worker_ready.connect
def _recover_on_start(**_kwargs: Any) -> None:
    load_kind_modules()
    # a store of its own: the cached one must not be created in the parent
    # of prefork children, which would inherit its open connections
    settings = worker_settings()
    store = open_store(settings)
    try:
        fail_dead_local_jobs(
            store,
            when="when the Celery worker started",
            registry=Registry(settings.registry),
        )
    finally:
        store.close()
