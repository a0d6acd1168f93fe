"""Ending an interrupted job is one write of the store.

A job whose worker stopped after it wrote its version fails with that
version as its result. The status, the error and the result go into one
conditional UPDATE, so a store that fails on a write leaves the job either
running (for the next check) or failed with its version, never failed
without it.
"""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event

from models.registry import Registry
from service.jobs.recovery import (
    fail_dead_local_jobs,
    fail_interrupted,
    fail_stale_jobs,
    interrupted_error_of,
)
from service.jobs.store import (
    CANCELLED,
    FAILED,
    RUNNING,
    WRITING_STAGE,
    JobStore,
)
from tests.service.jobs_support import folder_settings, open_job_store
from tests.service.recovery_support import (
    age_heartbeat,
    exited_pid,
    stopped_after_write,
)

TIMEOUT = 50.0
VERSION_NOTE = (
    "Version 1 of swept was written before the worker stopped, and result "
    "names it; use that version instead of submitting the job again"
)


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[JobStore]:
    with open_job_store(request.param, tmp_path) as job_store:
        yield job_store


class FailingUpdates:
    """Count the UPDATEs of the jobs table on ``store``'s engine and make
    the ``fail_from``-th one and every later one raise before it runs."""

    def __init__(self, store: JobStore, fail_from: int) -> None:
        self.engine = store.engine
        self.fail_from = fail_from
        self.count = 0
        event.listen(self.engine, "before_cursor_execute", self._check)

    def _check(self, *args: Any) -> None:
        statement = str(args[2])
        if not statement.lstrip().upper().startswith("UPDATE RNN_FORECAST_JOBS "):
            return
        self.count += 1
        if self.count >= self.fail_from:
            raise RuntimeError("the job store failed on this write")

    def remove(self) -> None:
        event.remove(self.engine, "before_cursor_execute", self._check)


Recover = Callable[[JobStore, str, Registry], object]


def dead_worker(store: JobStore, job_id: str, registry: Registry) -> object:
    return fail_dead_local_jobs(store, when="at start-up", registry=registry)


def stale_heartbeat(store: JobStore, job_id: str, registry: Registry) -> object:
    return fail_stale_jobs(store, TIMEOUT, registry)


def exited_child(store: JobStore, job_id: str, registry: Registry) -> object:
    error_of = interrupted_error_of("worker process 7 was killed by SIGKILL")
    return fail_interrupted(store, job_id, error_of, registry)


RECOVERIES = [dead_worker, stale_heartbeat, exited_child]


def dead_writer(store: JobStore, tmp_path: Path) -> tuple[str, Registry]:
    """A running job whose worker process has exited after it wrote
    version 1 of ``swept``, and whose last heartbeat is 100 s old."""
    settings = folder_settings(tmp_path)
    worker = f"{socket.gethostname()}:{exited_pid()}"
    job_id = stopped_after_write(store, settings, worker)
    age_heartbeat(store, job_id)
    return job_id, Registry(settings.registry)


@pytest.mark.parametrize("recover", RECOVERIES)
def test_failure_and_version_are_one_update(
    store: JobStore, tmp_path: Path, recover: Recover
) -> None:
    job_id, registry = dead_writer(store, tmp_path)
    # a second UPDATE of the job, such as a separate write of its result,
    # would fail
    updates = FailingUpdates(store, fail_from=2)

    recover(store, job_id, registry)

    updates.remove()
    job = store.get(job_id)
    assert job.status == FAILED
    assert job.result == {"name": "swept", "version": 1}
    assert job.error is not None
    assert job.error.endswith(VERSION_NOTE)
    assert updates.count == 1


@pytest.mark.parametrize("recover", RECOVERIES)
def test_failed_write_leaves_job_running(
    store: JobStore, tmp_path: Path, recover: Recover
) -> None:
    job_id, registry = dead_writer(store, tmp_path)
    before = store.get(job_id)
    updates = FailingUpdates(store, fail_from=1)

    with pytest.raises(RuntimeError, match="the job store failed on this write"):
        recover(store, job_id, registry)

    updates.remove()
    after = store.get(job_id)
    assert after.status == RUNNING
    assert after.error is None
    assert after.result is None
    assert after.revision == before.revision

    # the next check ends it completely
    recover(store, job_id, registry)
    assert store.get(job_id).result == {"name": "swept", "version": 1}


def test_stage_change_rebuilds_error(store: JobStore, tmp_path: Path) -> None:
    registry = Registry(folder_settings(tmp_path).registry)
    job_id = store.create("train", {}).id
    store.claim(job_id, "elsewhere:1")
    read = store.get(job_id)
    assert store.begin_write(job_id, {"stage": WRITING_STAGE})

    assert store.end_interrupted(read, "interrupted: stale read") is None
    assert store.get(job_id).status == RUNNING

    error_of = interrupted_error_of("worker process 8 was killed by SIGKILL")
    assert fail_interrupted(store, job_id, error_of, registry) == FAILED
    assert store.get(job_id).error == (
        "interrupted: worker process 8 was killed by SIGKILL while it was "
        "writing its version, so the version may exist. List the model's "
        "versions before you submit the job again"
    )


def test_cancel_after_read_ends_cancelled(store: JobStore, tmp_path: Path) -> None:
    registry = Registry(folder_settings(tmp_path).registry)
    job_id = store.create("train", {}).id
    store.claim(job_id, "elsewhere:2")
    read = store.get(job_id)
    store.request_cancel(job_id)

    assert store.end_interrupted(read, "interrupted: stale read") is None
    assert store.get(job_id).status == RUNNING

    error_of = interrupted_error_of("worker process 9 exited with code 1")
    assert fail_interrupted(store, job_id, error_of, registry) == CANCELLED
    job = store.get(job_id)
    assert job.status == CANCELLED
    assert job.error is None


def test_fresh_heartbeat_keeps_job(store: JobStore) -> None:
    job_id = store.create("train", {}).id
    store.claim(job_id, "elsewhere:3")
    age_heartbeat(store, job_id)
    read = store.get(job_id)
    assert store.heartbeat(job_id)

    assert read.heartbeat_at is not None
    cutoff = read.heartbeat_at + 1
    assert store.end_interrupted(read, "stale", heartbeat_before=cutoff) is None
    assert store.get(job_id).status == RUNNING
