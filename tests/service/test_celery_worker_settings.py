"""The API finds Celery workers whose broker visibility timeout differs from
its own through Celery's ``inspect conf``, and reports them in its log and in
``GET /v1/health``. ``worker_disable_prefetch`` is set for Redis brokers
only."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from models.registry import Registry
from service.jobs import celery_app
from service.jobs.celery_app import (
    JOB_QUEUE,
    is_redis_broker,
    make_celery,
    prefetch_note,
)
from service.jobs.celery_runner import BROKER_CHECK_SECONDS
from service.jobs.store import JobStore, sqlite_url
from service.jobs.worker_settings import visibility_timeout_of
from tests.conftest import LiveServer
from tests.service.test_celery import (
    BROKER_URL,
    VISIBILITY_VARIABLE,
    CeleryWorker,
    mismatch_lines,
    replied_runner,
    running_stack,
)

# seconds; the API keeps the default of 300 s
WORKER_TIMEOUT = 60.0
AMQP_URL = "amqp://guest:secret@127.0.0.1:1//"


@pytest.fixture(scope="module")
def mismatch_stack(
    trained_registry: Registry, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[LiveServer, CeleryWorker, Path, Path]]:
    """The API with the default visibility timeout and one worker with
    ``WORKER_TIMEOUT``."""
    tmp = tmp_path_factory.mktemp("celery-mismatch")
    worker_env = {VISIBILITY_VARIABLE: str(WORKER_TIMEOUT)}
    with running_stack(trained_registry, tmp, worker_env=worker_env) as stack:
        yield stack


@pytest.fixture
def store(tmp_path: Path) -> Iterator[JobStore]:
    job_store = JobStore(sqlite_url(tmp_path / "jobs.db"))
    yield job_store
    job_store.close()


def test_mismatched_worker_in_health_and_log(
    mismatch_stack: tuple[LiveServer, CeleryWorker, Path, Path],
) -> None:
    server, worker, _, _ = mismatch_stack

    # the worker starts within seconds, and the API requests the workers'
    # settings after each broker check
    deadline = time.monotonic() + 30 + 2 * BROKER_CHECK_SECONDS
    while not (health := server.client.get("/v1/health").json())["runner"][
        "mismatched_visibility_timeouts"
    ]:
        log = worker.log_path.read_text(errors="replace")[-4000:]
        assert time.monotonic() < deadline, f"no mismatch reported:\n{log}"
        time.sleep(0.2)

    assert health["runner"]["mismatched_visibility_timeouts"] == {
        worker.name: WORKER_TIMEOUT
    }
    assert health["status"] == "ok"
    assert health["runner"]["status"] == "ok"
    [line] = mismatch_lines(server.output())
    assert f"the Celery worker {worker.name} uses" in line
    assert "timeout of 60 s and the API 300 s" in line


def test_check_warns_once_per_worker(
    mismatch_stack: tuple[LiveServer, CeleryWorker, Path, Path],
    store: JobStore,
    caplog: pytest.LogCaptureFixture,
) -> None:
    _, worker, _, _ = mismatch_stack
    caplog.set_level(logging.WARNING, logger="service.jobs.celery_runner")

    runner, replies = replied_runner(store, worker)
    again = runner.check_workers()

    assert replies == again == {worker.name: WORKER_TIMEOUT}
    assert runner.state().mismatched_visibility_timeouts == {
        worker.name: WORKER_TIMEOUT
    }
    [line] = mismatch_lines(caplog.text)
    assert worker.name in line


def test_stopped_worker_forgotten(
    mismatch_stack: tuple[LiveServer, CeleryWorker, Path, Path],
    store: JobStore,
    tmp_path: Path,
) -> None:
    _, worker, registry, data_dir = mismatch_stack
    env = {
        "RNN_FORECAST_RUNNER": "celery",
        "RNN_FORECAST_BROKER_URL": BROKER_URL,
        "RNN_FORECAST_REGISTRY": str(registry),
        "RNN_FORECAST_DATA_DIR": str(data_dir),
        VISIBILITY_VARIABLE: "30",
    }
    other = CeleryWorker(env, tmp_path / "other-worker.log")
    try:
        runner, _ = replied_runner(store, other, forget_seconds=8.0)
        seen = runner.state().mismatched_visibility_timeouts
    finally:
        other.stop()

    # a worker that has not replied for less than the forget time stays
    runner.check_workers()
    still_listed = runner.state().mismatched_visibility_timeouts
    time.sleep(8.5)
    runner.check_workers()

    assert seen[other.name] == still_listed[other.name] == 30.0
    assert runner.state().mismatched_visibility_timeouts == {
        worker.name: WORKER_TIMEOUT
    }


@pytest.mark.parametrize(
    ("conf", "seconds"),
    [
        (
            {
                "task_default_queue": JOB_QUEUE,
                "broker_transport_options": {"visibility_timeout": 60},
            },
            60.0,
        ),
        # a worker of a release before the setting uses kombu's default
        (
            {"task_default_queue": JOB_QUEUE},
            "the visibility_timeout broker transport option is missing, so "
            "the worker uses kombu's default of 3600 s on Redis",
        ),
        (
            {"task_default_queue": JOB_QUEUE, "broker_transport_options": {}},
            "the visibility_timeout broker transport option is missing, so "
            "the worker uses kombu's default of 3600 s on Redis",
        ),
        (
            {
                "task_default_queue": JOB_QUEUE,
                "broker_transport_options": {"visibility_timeout": "60"},
            },
            "the visibility_timeout broker transport option is '60', which is "
            "not a number of seconds",
        ),
        (
            {
                "task_default_queue": JOB_QUEUE,
                "broker_transport_options": {"visibility_timeout": True},
            },
            "the visibility_timeout broker transport option is True, which is "
            "not a number of seconds",
        ),
        (
            {
                "task_default_queue": JOB_QUEUE,
                "broker_transport_options": {"visibility_timeout": float("nan")},
            },
            "the visibility_timeout broker transport option is nan, which is "
            "not a number of seconds",
        ),
        # a worker of another app on the same broker
        ({"broker_transport_options": {"visibility_timeout": 60}}, None),
        ("not a table", None),
    ],
)
def test_visibility_timeout_of_reply(conf: Any, seconds: float | str | None) -> None:
    assert visibility_timeout_of(conf) == seconds


@pytest.mark.parametrize(
    ("url", "redis"),
    [
        ("redis://127.0.0.1:6379/0", True),
        ("rediss://127.0.0.1:6380/0", True),
        ("sentinel://127.0.0.1:26379", True),
        (AMQP_URL, False),
        ("nosuch://127.0.0.1", False),
    ],
)
def test_prefetch_disabled_on_redis_only(url: str, redis: bool) -> None:
    assert is_redis_broker(url) is redis
    assert make_celery(url).conf.worker_disable_prefetch is redis
    assert (prefetch_note(url) is None) is redis


def test_worker_on_other_broker_logs_prefetch(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, logger="service.jobs.celery_app")

    celery_app._log_prefetch(sender=SimpleNamespace(app=make_celery(BROKER_URL)))
    assert caplog.records == []
    celery_app._log_prefetch(sender=SimpleNamespace(app=make_celery(AMQP_URL)))

    [record] = caplog.records
    assert "amqp://guest:**@127.0.0.1:1//" in record.message
    assert "secret" not in record.message
    assert "RNN_FORECAST_BROKER_URL" in record.message


def test_visibility_timeout_beyond_float_range() -> None:
    conf = {
        "task_default_queue": JOB_QUEUE,
        "broker_transport_options": {"visibility_timeout": 10**400},
    }

    reason = visibility_timeout_of(conf)

    assert isinstance(reason, str)
    assert reason.startswith("the visibility_timeout broker transport option is 1000")
    assert reason.endswith(", which is not a number of seconds")
    # the 401 digits are cut short
    assert len(reason) < 200
