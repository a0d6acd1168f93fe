"""Queued jobs whose message the broker lost without an outage.

A Redis restarted without persistence between two broker checks, here a
FLUSHDB of the test database, drops the messages of queued jobs while the
API keeps seeing a reachable broker. The API's message check publishes
those jobs again, and a job whose message arrives twice still runs once,
because a worker claims its job with a conditional update.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import pytest
from kombu import Connection
from kombu.transport import redis as kombu_redis

from models.registry import Registry
from service.jobs.broker_messages import (
    BrokerLayoutError,
    held_job_ids,
    redis_keys,
    uses_redis,
)
from service.jobs.celery_app import JOB_QUEUE, RUN_JOB_TASK, make_celery
from service.jobs.celery_runner import CeleryRunner
from service.jobs.runner_state import OK
from service.jobs.store import JobStore, sqlite_url
from service.settings import Settings
from tests.conftest import LiveServer
from tests.service.jobs_support import (
    LONG,
    finished,
    stored_job,
    tiny_job,
    training,
    versions_of,
)
from tests.service.test_celery import (
    BROKER_URL,
    CeleryWorker,
    redis_or_skip,
    running_stack,
    wait_with_worker,
)

# seconds between the API's checks of the broker's messages
MESSAGE_CHECK_SECONDS = 0.5

pytestmark = pytest.mark.redis


@pytest.fixture(scope="module")
def lost_stack(
    trained_registry: Registry, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[LiveServer, CeleryWorker, Path, Path]]:
    """The API, with a short message check, and one worker."""
    tmp = tmp_path_factory.mktemp("celery-lost")
    env = {"RNN_FORECAST_BROKER_MESSAGE_CHECK_SECONDS": str(MESSAGE_CHECK_SECONDS)}
    with running_stack(trained_registry, tmp, env) as stack:
        yield stack


@pytest.fixture
def flushed_redis() -> Iterator[None]:
    """The empty test database of Redis, emptied again afterwards."""
    client = redis_or_skip()
    client.flushdb()
    yield
    client.flushdb()
    client.close()


def test_held_ids_follow_messages(flushed_redis: None) -> None:
    celery = make_celery(BROKER_URL)
    celery.send_task(RUN_JOB_TASK, args=["queued-job"])
    celery.send_task("another.task", args=["other-job"], queue=JOB_QUEUE)

    assert uses_redis(celery)
    assert held_job_ids(celery) == {"queued-job"}

    with Connection(BROKER_URL) as connection:
        channel = connection.channel()
        taken = channel.basic_get(JOB_QUEUE, no_ack=False)
        assert taken is not None
        # a worker has the message and has not acknowledged it yet
        assert held_job_ids(celery) == {"queued-job"}
        assert taken.delivery_tag is not None
        channel.basic_ack(taken.delivery_tag)
        assert held_job_ids(celery) == set()
        channel.close()


def test_held_ids_cover_priority_lists(flushed_redis: None) -> None:
    celery = make_celery(BROKER_URL)
    for priority in range(10):
        celery.send_task(RUN_JOB_TASK, args=[f"job-{priority}"], priority=priority)

    held = held_job_ids(celery)

    # kombu files priorities 0 to 9 under four lists, all of which are read
    assert held == {f"job-{priority}" for priority in range(10)}


def test_redis_keys_missing_attribute_raises() -> None:
    channel = SimpleNamespace(priority_steps=[0, 3], sep="\x06\x16")

    with pytest.raises(BrokerLayoutError, match="unacked_key"):
        redis_keys(channel)


def test_unreadable_layout_turns_check_off(
    flushed_redis: None,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    # a kombu whose separator of priority lists is not a string
    monkeypatch.setattr(kombu_redis.Channel, "sep", None)
    store = JobStore(sqlite_url(tmp_path / "jobs.db"))
    store.create("train", {})
    settings = Settings(broker_url=BROKER_URL, broker_message_check_seconds=0.05)
    runner = CeleryRunner(settings, store)
    caplog.set_level(logging.WARNING, logger="service.jobs.celery_runner")
    off = "the check for lost broker messages is off"
    runner.start()
    try:
        deadline = time.monotonic() + 10
        while not any(off in record.message for record in caplog.records):
            assert time.monotonic() < deadline, caplog.text
            time.sleep(0.05)
        # ten more intervals add no line
        time.sleep(0.5)
        state = runner.state()
    finally:
        runner.stop()
        store.close()

    lines = [record.message for record in caplog.records if off in record.message]
    assert len(lines) == 1
    assert "sep None" in lines[0]
    assert state.status == OK


def test_flushed_queue_holds_nothing(flushed_redis: None) -> None:
    celery = make_celery(BROKER_URL)
    celery.send_task(RUN_JOB_TASK, args=["flushed-job"])
    assert held_job_ids(celery) == {"flushed-job"}

    redis_or_skip().flushdb()

    assert held_job_ids(celery) == set()


def test_lost_message_runs_job_once(
    lost_stack: tuple[LiveServer, CeleryWorker, Path, Path],
) -> None:
    server, worker, registry, data_dir = lost_stack
    client = redis_or_skip()
    busy = server.client.post("/v1/training-jobs", json={**LONG, "name": "lost-busy"})
    wait_with_worker(worker, server.client, busy.json()["href"], training)
    job = server.client.post("/v1/training-jobs", json=tiny_job(name="lost")).json()
    # the worker runs the busy job, so the queued job's message waits in the
    # queue's list
    assert client.llen(JOB_QUEUE) == 1
    assert server.client.get(job["href"]).json()["status"] == "queued"

    client.flushdb()
    assert server.client.delete(busy.json()["href"]).status_code == 202
    done = wait_with_worker(worker, server.client, job["href"], finished)

    assert done["status"] == "succeeded", done
    assert done["result"]["version"] == 1
    assert versions_of(registry, "lost") == ["1"]
    assert "which were published again: ['" + job["id"] in server.output()
    before = stored_job(data_dir, job["id"])

    # a second message of the finished job changes nothing
    make_celery(BROKER_URL).send_task(RUN_JOB_TASK, args=[job["id"]])
    skipped = f"job {job['id']} is no longer queued; skipping it"
    deadline = time.monotonic() + 60
    while skipped not in worker.log_path.read_text(errors="replace"):
        assert time.monotonic() < deadline, "the worker did not take the message"
        time.sleep(0.1)
    assert stored_job(data_dir, job["id"]) == before
    assert versions_of(registry, "lost") == ["1"]
    client.close()
