"""The Celery app of the scale-out runner: ``celery -A service.jobs.celery_app
worker``.

A worker reads the same ``RNN_FORECAST_*`` settings as the API and must see
the same registry folder, job store (``RNN_FORECAST_JOB_STORE``) and upload
folder (``<RNN_FORECAST_DATA_DIR>/series``). The API only publishes a job id;
the task claims the job in the store, so a message delivered twice runs the
job once.
"""

from __future__ import annotations

import logging
from functools import cache
from typing import Any

from celery import Celery
from celery.signals import worker_ready

from models.registry import Registry
from service.jobs.execution import claim_and_execute, configure_worker_process
from service.jobs.kinds import load_kind_modules
from service.jobs.recovery import fail_dead_local_jobs
from service.jobs.store import JobStore, open_store
from service.settings import Settings

logger = logging.getLogger(__name__)

RUN_JOB_TASK = "rnn_forecast.run_job"
JOB_QUEUE = "rnn-forecast-jobs"


def make_celery(broker_url: str) -> Celery:
    """Create a Celery app on ``broker_url`` with JSON messages and no
    result backend, because results live in the job store."""
    celery = Celery("rnn_forecast", broker=broker_url, set_as_current=False)
    celery.conf.update(
        task_serializer="json",
        accept_content=["json"],
        task_ignore_result=True,
        task_default_queue=JOB_QUEUE,
        # a message is acknowledged after the job ends, and one job at a time
        # is reserved per worker process, so a worker that dies before
        # claiming its job leaves the message for another worker. Redis
        # delivers a message again when a job outlasts the broker's
        # visibility timeout (3600 s in kombu 5.7); the second delivery finds
        # the job claimed and does nothing.
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        broker_connection_retry_on_startup=True,
        broker_transport_options={"socket_connect_timeout": 5},
    )
    return celery


@cache
def worker_settings() -> Settings:
    return Settings()


@cache
def worker_store() -> JobStore:
    return open_store(worker_settings())


app = make_celery(worker_settings().broker_url)


@app.task(name=RUN_JOB_TASK)
def run_job(job_id: str) -> str | None:
    """Claim and run one job; returns its final status, or None when it was
    no longer queued."""
    settings = worker_settings()
    configure_worker_process(settings)
    return claim_and_execute(worker_store(), job_id, settings)


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
