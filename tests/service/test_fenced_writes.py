"""Writes of a worker whose run of a job has ended.

A worker paused (SIGSTOP, a long garbage collection, a frozen VM) past the
heartbeat timeout loses its job to the stale heartbeat sweep, which may
requeue it for another claim. When the paused worker resumes, each of its
writes must find that its run no longer owns the job and change nothing.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import signal
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import make_url, update

from models.registry import Registry
from models.sql_urls import sqlite_file
from service.jobs.execution import claim_and_execute
from service.jobs.inhost import run_child
from service.jobs.recovery import fail_interrupted, fail_stale_jobs
from service.jobs.store import (
    FAILED,
    QUEUED,
    RUNNING,
    SUCCEEDED,
    WRITING_STAGE,
    Job,
    JobStore,
    Run,
    jobs_table,
)
from service.settings import Settings
from tests.service.jobs_support import LONG, folder_settings, open_job_store
from tests.service.recovery_support import age_heartbeat

# seconds that a resumed worker gets to notice that it lost its job and exit
RESUME_EXIT_SECONDS = 60.0
# seconds that a paused test job gets to reach its first training epoch
FIRST_EPOCH_SECONDS = 120.0
FENCED_LINE = "no longer owns the job"
# pauses tried before a worker is found outside a write
PAUSE_TRIES = 200


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[JobStore]:
    with open_job_store(request.param, tmp_path) as job_store:
        yield job_store


def claim_again(store: JobStore, job_id: str, worker: str) -> Job:
    """Put a running job back in the queue, as a requeue does, and claim it
    for ``worker``; return the new run's job. The first run's worker, paused
    meanwhile, still has the job as it read it."""
    with store.engine.begin() as conn:
        conn.execute(
            update(jobs_table)
            .where(jobs_table.c.id == job_id)
            .values(
                status=QUEUED,
                worker=None,
                started_at=None,
                heartbeat_at=None,
                progress=None,
                history=[],
                revision=jobs_table.c.revision + 1,
            )
        )
    job = store.claim(job_id, worker)
    assert job is not None
    return job


def own_run(job: Job) -> Run:
    run = job.run
    assert run is not None, f"job {job.id} has no begun run"
    return run


def test_job_run_names_worker_and_start(store: JobStore) -> None:
    job_id = store.create("train", {}).id
    unbegun = store.claim(job_id, "api:1", started=False)
    assert unbegun is not None and unbegun.run is None

    assert store.begin_work(job_id, "api:1", "child:2", unbegun.heartbeat_at)
    begun = store.get(job_id)
    assert begun.started_at is not None
    assert begun.run == Run(job_id, "child:2", begun.started_at)


def test_stale_run_writes_nothing_into_next_run(
    store: JobStore, tmp_path: Path
) -> None:
    job_id = store.create("train", {}).id
    first = own_run(store.claim(job_id, "host:1") or pytest.fail("no claim"))
    # the same worker label claims the job again, so only the start time
    # distinguishes the two runs
    second = claim_again(store, job_id, "host:1")
    assert own_run(second) != first
    assert store.report(job_id, {"stage": "training"}, [1.0], run=own_run(second))
    before = store.get(job_id)

    assert not store.report(job_id, {"stage": "stale"}, [9.0], run=first)
    assert not store.heartbeat(job_id, run=first)
    assert not store.begin_write(job_id, {"stage": WRITING_STAGE}, run=first)
    assert not store.finish(job_id, SUCCEEDED, result={"version": 1}, run=first)
    registry = Registry(tmp_path / "registry")
    error_of = lambda _job: "interrupted: test"  # noqa: E731
    assert fail_interrupted(store, job_id, error_of, registry, run=first) is None

    assert store.get(job_id) == before
    assert store.run_state(first).owned is False
    assert store.run_state(own_run(second)).owned is True


def test_owning_run_writes(store: JobStore) -> None:
    job_id = store.create("train", {}).id
    run = own_run(store.claim(job_id, "host:1") or pytest.fail("no claim"))

    assert store.report(job_id, {"stage": "training"}, run=run)
    assert store.heartbeat(job_id, run=run)
    assert store.begin_write(job_id, {"stage": WRITING_STAGE}, run=run)
    assert store.finish(job_id, SUCCEEDED, result={"version": 1}, run=run)
    assert store.get(job_id).status == SUCCEEDED


def test_late_result_of_stale_run_is_not_recorded(store: JobStore) -> None:
    job_id = store.create("train", {"name": "fenced"}).id
    first = own_run(store.claim(job_id, "host:1") or pytest.fail("no claim"))
    second = claim_again(store, job_id, "host:2")
    assert store.begin_write(job_id, {"stage": WRITING_STAGE}, run=own_run(second))
    age_heartbeat(store, job_id)
    assert fail_stale_jobs(store, 50.0) == [job_id]
    failed = store.get(job_id)
    assert failed.status == FAILED

    assert not store.record_late_result(job_id, {"version": 7}, run=first)
    assert store.get(job_id) == failed
    assert store.record_late_result(job_id, {"version": 7}, run=own_run(second))


def test_old_child_skips_reclaimed_job(store: JobStore) -> None:
    job_id = store.create("train", {}).id
    claim = store.claim(job_id, "api:1", started=False)
    assert claim is not None and claim.heartbeat_at is not None
    # the first child stalls before it begins the job, and the sweep
    # requeues it; the same API process claims it again for a new child
    age_heartbeat(store, job_id)
    assert fail_stale_jobs(store, 50.0) == []
    assert store.get(job_id).status == QUEUED
    again = store.claim(job_id, "api:1", started=False)
    assert again is not None and again.heartbeat_at != claim.heartbeat_at

    assert not store.begin_work(job_id, "api:1", "host:10", claim.heartbeat_at)
    assert store.get(job_id) == again
    assert store.begin_work(job_id, "api:1", "host:11", again.heartbeat_at)
    assert store.get(job_id).worker == "host:11"


def test_paused_child_exits_without_beginning(store: JobStore, tmp_path: Path) -> None:
    """A real in-host child started for a claim that was requeued and
    claimed again leaves the new claim as it is."""
    settings = _worker_settings(store, tmp_path)
    job_id = store.create("train", {**LONG, "name": "fenced-child"}).id
    claim = store.claim(job_id, "api:1", started=False)
    assert claim is not None
    age_heartbeat(store, job_id)
    fail_stale_jobs(store, 50.0)
    again = store.claim(job_id, "api:1", started=False)
    assert again is not None

    child = multiprocessing.get_context("spawn").Process(
        target=run_child,
        args=(job_id, settings, os.getpid(), "api:1", claim.heartbeat_at),
    )
    child.start()
    try:
        child.join(RESUME_EXIT_SECONDS)
        assert child.exitcode == 0, "the child ran the job of the new claim"
    finally:
        if child.is_alive():
            child.kill()
            child.join()
    assert store.get(job_id) == again


def test_resumed_worker_leaves_next_run_untouched(
    store: JobStore, tmp_path: Path
) -> None:
    """Pause a real training worker with SIGSTOP, hand its job to another
    run, resume it: it stops, writes no version and no job state, and logs
    one line that states why."""
    settings = _worker_settings(store, tmp_path)
    name = "fenced-training"
    job_id = store.create("train", {**LONG, "name": name}).id
    log = tmp_path / "worker.log"
    worker = multiprocessing.get_context("spawn").Process(
        target=_claim_and_execute_logged, args=(job_id, settings, str(log))
    )
    worker.start()
    try:
        _wait_for_epoch(store, job_id)
        assert worker.pid is not None
        pause_outside_write(worker.pid, store)
        second = claim_again(store, job_id, "elsewhere:2")
        assert store.report(job_id, {"stage": "loading data"}, run=own_run(second))
        before = store.get(job_id)
        os.kill(worker.pid, signal.SIGCONT)

        worker.join(RESUME_EXIT_SECONDS)
        assert worker.exitcode == 0, "the resumed worker kept running"
    finally:
        if worker.is_alive():
            os.kill(worker.pid or 0, signal.SIGCONT)
            worker.kill()
            worker.join()

    after = store.get(job_id)
    assert after == before
    assert after.status == RUNNING
    assert Registry(settings.registry).version_of_job(name, job_id) is None
    fenced = [line for line in log.read_text().splitlines() if FENCED_LINE in line]
    assert len(fenced) == 1, log.read_text()
    assert job_id in fenced[0]


def pause_outside_write(pid: int, store: JobStore) -> None:
    """Stop process ``pid`` with SIGSTOP at a moment when it holds no write
    lock on a SQLite job store. A SQLite writer stopped inside its
    transaction keeps the whole database locked, so no other run could take
    the job. On a loaded machine a heartbeat's write is often under way."""
    path = sqlite_file(make_url(store.url))
    for _ in range(PAUSE_TRIES):
        os.kill(pid, signal.SIGSTOP)
        if path is None or not _write_locked(path):
            return
        os.kill(pid, signal.SIGCONT)
        time.sleep(0.01)
    raise AssertionError(f"process {pid} held the write lock at every pause")


def _write_locked(path: Path) -> bool:
    """Whether another connection holds the write lock of the SQLite
    database ``path``."""
    conn = sqlite3.connect(path, timeout=0, isolation_level=None)
    try:
        conn.execute("BEGIN IMMEDIATE")
    except sqlite3.OperationalError:
        return True
    else:
        conn.execute("ROLLBACK")
        return False
    finally:
        conn.close()


def _worker_settings(store: JobStore, tmp_path: Path) -> Settings:
    return folder_settings(tmp_path).model_copy(
        update={"job_store": store.url, "job_heartbeat_seconds": 0.2}
    )


def _wait_for_epoch(store: JobStore, job_id: str) -> None:
    """Wait until the job has reported a training epoch."""
    deadline = time.monotonic() + FIRST_EPOCH_SECONDS
    while True:
        job = store.get(job_id)
        assert job.status == RUNNING or job.status == QUEUED, job
        if job.progress is not None and job.progress.get("stage") == "training":
            return
        assert time.monotonic() < deadline, f"no training epoch: {job}"
        time.sleep(0.05)


def _claim_and_execute_logged(job_id: str, settings: Settings, log: str) -> None:
    """Run one job in this process as a Celery task does, logging to
    ``log``."""
    logging.basicConfig(filename=log, level=logging.INFO)
    store = JobStore(settings.job_store or "")
    try:
        claim_and_execute(store, job_id, settings)
    finally:
        store.close()
