"""Celery workers that stop replying to ``inspect conf`` while a solo pool
runs a job stay in ``GET /v1/health`` for the configured time, and are not
warned about again when they come back."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from models.registry import Registry
from service.jobs import worker_listing
from service.jobs.celery_runner import BROKER_CHECK_SECONDS, CeleryRunner
from service.jobs.store import JobStore, sqlite_url
from service.jobs.worker_listing import WorkerTimeouts
from service.jobs.worker_settings import INSPECT_TIMEOUT_SECONDS
from tests.conftest import LiveServer
from tests.service.jobs_support import LONG, finished, training
from tests.service.test_celery import (
    VISIBILITY_VARIABLE,
    CeleryWorker,
    listed_health,
    mismatch_lines,
    replied_runner,
    running_stack,
    wait_with_worker,
)

Stack = tuple[LiveServer, CeleryWorker, Path, Path]
# seconds; the API keeps the default of 300 s
WORKER_TIMEOUT = 60.0
# A training job of about a second per epoch on one core (an estimate), so
# its 500 epochs outlast every wait of the test. The test cancels it.
BUSY = {**LONG, "hidden_size": 64, "num_layers": 2, "lookback": 60, "epochs": 500}


@pytest.fixture
def store(tmp_path: Path) -> Iterator[JobStore]:
    job_store = JobStore(sqlite_url(tmp_path / "jobs.db"))
    yield job_store
    job_store.close()


@pytest.fixture
def solo_stack(trained_registry: Registry, tmp_path: Path) -> Iterator[Stack]:
    """The API and one solo-pool worker with ``WORKER_TIMEOUT``."""
    with running_stack(
        trained_registry,
        tmp_path,
        worker_env={VISIBILITY_VARIABLE: str(WORKER_TIMEOUT)},
        pool="solo",
    ) as stack:
        yield stack


def replied_at(client: httpx.Client, worker: CeleryWorker) -> str:
    """Return the health response's last reply time of ``worker``."""
    runner = client.get("/v1/health").json()["runner"]
    assert runner["mismatched_visibility_timeouts"][worker.name] == WORKER_TIMEOUT
    return str(runner["worker_replied_at"][worker.name])


def check_until_replied(runner: CeleryRunner, worker: CeleryWorker) -> None:
    """Check the workers until ``worker`` replies again."""
    deadline = time.monotonic() + 60
    while worker.name not in runner.check_workers():
        assert time.monotonic() < deadline, f"{worker.name} never replied again"


def test_busy_solo_worker_stays_listed(
    solo_stack: Stack, store: JobStore, caplog: pytest.LogCaptureFixture
) -> None:
    server, worker, _, _ = solo_stack
    caplog.set_level(logging.WARNING, logger="service.jobs.worker_listing")
    listed_health(server, worker, "mismatched_visibility_timeouts")
    # one runner that lists silent workers for an hour, as the API does, and
    # one that drops them after 3 s
    keeping, _ = replied_runner(store, worker)
    forgetting, _ = replied_runner(store, worker, forget_seconds=3.0)
    last_reply = keeping.state().worker_replied_at[worker.name]

    # a solo pool replies to no broadcast while its job runs
    job = server.client.post("/v1/training-jobs", json={**BUSY, "name": "busy"})
    assert job.status_code == 202, job.text
    href = job.json()["href"]
    wait_with_worker(worker, server.client, href, training)
    time.sleep(3.5 + INSPECT_TIMEOUT_SECONDS)
    busy_replies = keeping.check_workers()
    forgetting.check_workers()
    before_api_check = replied_at(server.client, worker)
    time.sleep(BROKER_CHECK_SECONDS + INSPECT_TIMEOUT_SECONDS + 1)
    after_api_check = replied_at(server.client, worker)
    still = server.client.get(href).json()

    assert still["status"] == "running"
    assert worker.name not in busy_replies
    listing, dropping = keeping.state(), forgetting.state()
    assert listing.mismatched_visibility_timeouts[worker.name] == WORKER_TIMEOUT
    assert listing.worker_replied_at[worker.name] == last_reply
    assert worker.name not in dropping.mismatched_visibility_timeouts
    assert worker.name not in dropping.worker_replied_at
    assert after_api_check == before_api_check

    # once the job ends, the worker replies again with the value it had
    assert server.client.delete(href).status_code == 202
    done = wait_with_worker(worker, server.client, href, finished)
    check_until_replied(forgetting, worker)
    back = forgetting.state()

    assert done["status"] == "cancelled"
    assert back.mismatched_visibility_timeouts[worker.name] == WORKER_TIMEOUT
    assert back.worker_replied_at[worker.name] > last_reply
    # one warning from each runner, none when the worker came back
    assert len(worker_lines(caplog.text, worker)) == 2
    assert len(worker_lines(server.output(), worker)) == 1


def worker_lines(text: str, worker: CeleryWorker) -> list[str]:
    """The lines of ``text`` that name the visibility timeout variable and
    ``worker``."""
    return [line for line in mismatch_lines(text) if worker.name in line]


def test_listing_warns_once_per_value(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="service.jobs.worker_listing")
    workers = WorkerTimeouts(own_seconds=300.0, forget_seconds=0.5)

    workers.record({"a@host": 60.0, "b@host": "no timeout"})
    warned_at_first = len(mismatch_lines(caplog.text))
    time.sleep(0.6)
    workers.record({})
    forgotten = workers.listing()
    workers.record({"a@host": 60.0, "b@host": "no timeout"})
    back = workers.listing()
    warned_when_back = len(mismatch_lines(caplog.text))
    workers.record({"a@host": 300.0, "b@host": 30.0})
    workers.record({"a@host": 60.0})

    assert warned_at_first == 2
    assert forgotten.mismatched == forgotten.unknown == forgotten.replied_at == {}
    assert "GET /v1/health no longer lists it" in caplog.text
    assert back.mismatched == {"a@host": 60.0}
    assert back.unknown == {"b@host": "no timeout"}
    assert list(back.replied_at) == ["a@host", "b@host"]
    assert warned_when_back == 2
    # b's new value, and a's value again after it matched the API's
    assert len(mismatch_lines(caplog.text)) == 4
    assert workers.listing().mismatched == {"a@host": 60.0, "b@host": 30.0}


def test_listing_remembers_bounded_workers(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(worker_listing, "MAX_REMEMBERED_WORKERS", 2)
    caplog.set_level(logging.WARNING, logger="service.jobs.worker_listing")
    workers = WorkerTimeouts(own_seconds=300.0, forget_seconds=3600.0)

    for name in ("a@host", "b@host", "c@host"):
        workers.record({name: 60.0})
    workers.record({"c@host": 60.0, "b@host": 60.0})
    kept = len(mismatch_lines(caplog.text))
    workers.record({"a@host": 60.0})

    assert kept == 3
    assert len(mismatch_lines(caplog.text)) == 4
