"""A message taken by a worker that was killed before it started the task
goes back to the queue after the broker's visibility timeout, while the
message of a running job, acknowledged when its task started, is never
delivered again."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from models.registry import Registry
from service.jobs.broker_messages import held_job_ids
from service.jobs.celery_app import JOB_QUEUE, make_celery, restore_interval
from tests.conftest import ROOT, LiveServer
from tests.service.jobs_support import LONG, finished, tiny_job, training, versions_of
from tests.service.test_celery import (
    BROKER_URL,
    CeleryWorker,
    redis_or_skip,
    running_stack,
    wait_with_worker,
)

# seconds; short so that the test waits for it a few times
VISIBILITY_TIMEOUT = 2.0

# takes one message of the job queue without acknowledging it, as a worker
# does, and dies by SIGKILL, so nothing restores the message at exit
TAKE_AND_DIE = f"""
import os
import signal

from kombu import Connection

with Connection({BROKER_URL!r}) as connection:
    message = connection.channel().basic_get({JOB_QUEUE!r}, no_ack=False)
    assert message is not None, "the job queue is empty"
    os.kill(os.getpid(), signal.SIGKILL)
"""

pytestmark = pytest.mark.redis


@pytest.fixture(scope="module")
def visibility_stack(
    trained_registry: Registry, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[LiveServer, CeleryWorker, Path, Path]]:
    """The API, without the lost-message check, and one worker, with a
    short visibility timeout."""
    tmp = tmp_path_factory.mktemp("celery-visibility")
    env = {
        "RNN_FORECAST_BROKER_VISIBILITY_TIMEOUT_SECONDS": str(VISIBILITY_TIMEOUT),
        "RNN_FORECAST_BROKER_MESSAGE_CHECK_SECONDS": "0",
    }
    with running_stack(trained_registry, tmp, env) as stack:
        yield stack


def test_restore_interval_bounds() -> None:
    assert restore_interval(300.0) == 10.0
    assert restore_interval(2.0) == 0.5
    assert restore_interval(1.0) == 0.5


def test_message_of_killed_taker_redelivered(
    visibility_stack: tuple[LiveServer, CeleryWorker, Path, Path],
) -> None:
    server, worker, registry, _ = visibility_stack
    client = redis_or_skip()
    celery = make_celery(BROKER_URL)
    busy = server.client.post("/v1/training-jobs", json={**LONG, "name": "vis-busy"})
    busy_id = busy.json()["id"]
    wait_with_worker(worker, server.client, busy.json()["href"], training)

    # the running job's message was acknowledged when its task started, so
    # several visibility timeouts later it is in neither the queue nor the
    # hash of taken messages
    time.sleep(2 * VISIBILITY_TIMEOUT + restore_interval(VISIBILITY_TIMEOUT) + 1)
    assert busy_id not in held_job_ids(celery)
    assert "no longer queued" not in worker.log_path.read_text(errors="replace")

    job = server.client.post("/v1/training-jobs", json=tiny_job(name="vis")).json()
    # the busy worker takes no message
    assert client.llen(JOB_QUEUE) == 1
    taker = subprocess.run(
        [sys.executable, "-c", TAKE_AND_DIE],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    taken_at = time.monotonic()
    assert taker.returncode == -signal.SIGKILL, taker.stderr
    assert client.llen(JOB_QUEUE) == 0
    assert job["id"] in held_job_ids(celery)

    assert server.client.delete(busy.json()["href"]).status_code == 202
    done = wait_with_worker(worker, server.client, job["href"], finished)
    waited = time.monotonic() - taken_at

    assert done["status"] == "succeeded", done
    assert versions_of(registry, "vis") == ["1"]
    assert waited >= VISIBILITY_TIMEOUT
    assert held_job_ids(celery) == set()
    client.close()
