"""The Celery runner publishes every queued job again when the broker becomes
reachable, so jobs whose messages a restarted broker lost still run even
when the broker was down while the API started. It also publishes again a
queued job whose message two checks in a row did not find in the broker."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from service.jobs import celery_runner
from service.jobs.celery_runner import CeleryRunner
from service.jobs.runner_state import OK, UNAVAILABLE
from service.jobs.store import JobStore, sqlite_url
from service.settings import Settings

# never contacted, because the tests replace the runner's connection and publish
BROKER_URL = "redis://127.0.0.1:9/0"


class FakeBroker:
    """A broker for the runner's connection check and publish, reachable or
    not, that records the published job ids."""

    def __init__(self) -> None:
        self.reachable = False
        self.published: list[str] = []
        # the job ids with a message in the broker, and how often the runner
        # read them
        self.held: set[str] = set()
        self.reads = 0

    def connect_error(self) -> Exception | None:
        return None if self.reachable else ConnectionError("connection refused")

    def publish(self, job_id: str) -> None:
        if not self.reachable:
            raise ConnectionError("connection refused")
        self.published.append(job_id)
        self.held.add(job_id)

    def held_job_ids(self, _celery: Any) -> set[str]:
        self.reads += 1
        return set(self.held)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[JobStore]:
    job_store = JobStore(sqlite_url(tmp_path / "jobs.db"))
    yield job_store
    job_store.close()


def runner_with(store: JobStore, broker: FakeBroker) -> CeleryRunner:
    runner = CeleryRunner(Settings(broker_url=BROKER_URL), store)
    runner._connect_error = broker.connect_error  # type: ignore[method-assign]
    runner._publish = broker.publish  # type: ignore[method-assign]
    return runner


def test_queued_jobs_published_when_broker_returns(store: JobStore) -> None:
    queued = [store.create("train", {}).id for _ in range(2)]
    running = store.create("train", {})
    store.claim(running.id, "elsewhere:1")
    broker = FakeBroker()
    runner = runner_with(store, broker)

    runner.check_broker()
    assert runner.state().status == UNAVAILABLE
    assert broker.published == []

    broker.reachable = True
    runner.check_broker()
    assert runner.state().status == OK
    assert sorted(broker.published) == sorted(queued)

    # a broker that stays reachable gets no second copy
    runner.check_broker()
    assert sorted(broker.published) == sorted(queued)


def test_first_check_publishes_queued_jobs(store: JobStore) -> None:
    job = store.create("train", {})
    broker = FakeBroker()
    broker.reachable = True
    runner = runner_with(store, broker)

    runner.check_broker()

    assert broker.published == [job.id]


@pytest.fixture
def broker(monkeypatch: pytest.MonkeyPatch) -> FakeBroker:
    """A reachable fake broker whose messages the runner's check reads."""
    fake = FakeBroker()
    fake.reachable = True
    monkeypatch.setattr(celery_runner, "held_job_ids", fake.held_job_ids)
    return fake


def test_lost_message_published_at_second_check(
    store: JobStore, broker: FakeBroker
) -> None:
    job = store.create("train", {})
    runner = runner_with(store, broker)
    runner.submitted(job)
    assert runner.check_messages() == []

    broker.held.clear()
    assert runner.check_messages() == []
    assert broker.published == [job.id]

    assert runner.check_messages() == [job.id]
    assert broker.published == [job.id, job.id]
    assert runner.check_messages() == []
    assert broker.published == [job.id, job.id]


def test_claimed_job_is_not_published(store: JobStore, broker: FakeBroker) -> None:
    job = store.create("train", {})
    runner = runner_with(store, broker)
    assert runner.check_messages() == []

    store.claim(job.id, "elsewhere:1")

    assert runner.check_messages() == []
    assert broker.published == []


def test_lost_jobs_published_oldest_first(store: JobStore, broker: FakeBroker) -> None:
    jobs = [store.create("train", {}).id for _ in range(3)]
    runner = runner_with(store, broker)
    broker.held.add(jobs[1])

    runner.check_messages()

    assert runner.check_messages() == [jobs[0], jobs[2]]


def test_failed_publish_retried_next_check(store: JobStore, broker: FakeBroker) -> None:
    job = store.create("train", {})
    runner = runner_with(store, broker)
    runner.check_messages()
    broker.reachable = False

    assert runner.check_messages() == []
    assert broker.published == []

    broker.reachable = True
    assert runner.check_messages() == [job.id]
    assert broker.published == [job.id]


def test_empty_queue_reads_no_messages(store: JobStore, broker: FakeBroker) -> None:
    job = store.create("train", {})
    store.request_cancel(job.id)
    runner = runner_with(store, broker)

    assert runner.check_messages() == []

    assert broker.reads == 0
