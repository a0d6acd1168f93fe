"""Recovery of running jobs that an older release's in-host dispatcher
claimed: that claim set ``started_at`` at once, so a job whose API process
died before its child ran it has a start time but was never begun."""

from __future__ import annotations

import multiprocessing
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import update

from service.jobs.recovery import fail_dead_local_jobs, fail_stale_jobs
from service.jobs.store import FAILED, QUEUED, RUNNING, JobStore, jobs_table
from tests.service.jobs_support import open_job_store


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[JobStore]:
    with open_job_store(request.param, tmp_path) as job_store:
        yield job_store


def legacy_claim(store: JobStore, worker: str, claimed_at: float) -> str:
    """Create a job and claim it with the UPDATE of the older release's
    ``JobStore.claim``: status, worker, ``started_at`` and ``heartbeat_at``
    from one clock reading, and the revision plus one. Returns its id."""
    job = store.create("train", {})
    with store.engine.begin() as conn:
        conn.execute(
            update(jobs_table)
            .where(jobs_table.c.id == job.id, jobs_table.c.status == QUEUED)
            .values(
                status=RUNNING,
                worker=worker,
                started_at=claimed_at,
                heartbeat_at=claimed_at,
                revision=jobs_table.c.revision + 1,
            )
        )
    return job.id


def set_heartbeat(store: JobStore, job_id: str, at: float) -> None:
    with store.engine.begin() as conn:
        conn.execute(
            update(jobs_table).where(jobs_table.c.id == job_id).values(heartbeat_at=at)
        )


def exited_label() -> str:
    """Return the worker label of a real process on this host that has
    exited."""
    process = multiprocessing.get_context("spawn").Process(target=time.sleep, args=(0,))
    process.start()
    process.join()
    return f"{socket.gethostname()}:{process.pid}"


def assert_requeued(store: JobStore, job_id: str) -> None:
    job = store.get(job_id)
    assert job.status == QUEUED
    assert job.worker is None
    assert job.started_at is None
    assert job.heartbeat_at is None
    assert job.error is None
    assert job.finished_at is None


def test_start_up_requeues_legacy_claim_of_dead_api(store: JobStore) -> None:
    label = exited_label()
    unbegun = legacy_claim(store, label, time.time() - 5)
    heartbeat_sent = legacy_claim(store, label, time.time() - 5)
    set_heartbeat(store, heartbeat_sent, time.time() - 1)

    ended = fail_dead_local_jobs(store, when="at start-up")

    assert ended == [heartbeat_sent]
    assert_requeued(store, unbegun)
    assert store.get(heartbeat_sent).status == FAILED


def test_start_up_fails_reported_legacy_claim(store: JobStore) -> None:
    label = exited_label()
    reported = legacy_claim(store, label, time.time() - 5)
    # a report with the claim's time as its heartbeat, so that only the
    # revision shows the report
    claimed = store.get(reported)
    assert store.report(reported, {"stage": "loading data"})
    set_heartbeat(store, reported, claimed.started_at or 0.0)
    assert store.get(reported).heartbeat_at == claimed.started_at

    ended = fail_dead_local_jobs(store, when="at start-up")

    assert ended == [reported]
    failed = store.get(reported)
    assert failed.status == FAILED
    assert failed.error is not None
    assert failed.error.startswith("interrupted: worker process")


def test_start_up_fails_begun_claim(store: JobStore) -> None:
    job = store.create("train", {})
    claimed = store.claim(job.id, exited_label())
    assert claimed is not None
    assert not claimed.unbegun

    ended = fail_dead_local_jobs(store, when="at start-up")

    assert ended == [job.id]
    assert store.get(job.id).status == FAILED


def test_stale_sweep_requeues_legacy_claim(store: JobStore) -> None:
    unbegun = legacy_claim(store, "elsewhere:1", time.time() - 100)
    ran = legacy_claim(store, "elsewhere:2", time.time() - 200)
    set_heartbeat(store, ran, time.time() - 100)
    fresh = legacy_claim(store, "elsewhere:3", time.time())

    ended = fail_stale_jobs(store, timeout=50)

    assert ended == [ran]
    assert_requeued(store, unbegun)
    failed = store.get(ran)
    assert failed.status == FAILED
    assert failed.error is not None
    assert failed.error.startswith("interrupted: no heartbeat")
    assert store.get(fresh).status == RUNNING


def test_stale_sweep_cancels_legacy_claim(store: JobStore) -> None:
    job_id = legacy_claim(store, "elsewhere:1", time.time() - 100)
    store.request_cancel(job_id)

    ended = fail_stale_jobs(store, timeout=50)

    assert ended == [job_id]
    assert store.get(job_id).status == "cancelled"


class HeartbeatDuringSweep(JobStore):
    """A store whose legacy claim gets its child's first heartbeat between
    the sweep's read of the stale jobs and its requeue."""

    def requeue_unstarted(
        self, job_id: str, claimed_by: str, heartbeat_before: float | None = None
    ) -> bool:
        # the heartbeat of a child that was slow for longer than the timeout
        set_heartbeat(self, job_id, (heartbeat_before or 0.0) - 1)
        return super().requeue_unstarted(job_id, claimed_by, heartbeat_before)


def test_stale_sweep_fails_woken_legacy_claim(store: JobStore) -> None:
    job_id = legacy_claim(store, "elsewhere:1", time.time() - 100)
    racing = HeartbeatDuringSweep(store.url)

    try:
        ended = fail_stale_jobs(racing, timeout=50)
    finally:
        racing.close()

    # The heartbeat came after the claim, so the job ran and is not requeued.
    # It fails because that heartbeat is still older than the timeout.
    assert ended == [job_id]
    assert store.get(job_id).status == FAILED
