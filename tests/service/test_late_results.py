"""A worker that finishes after the stale heartbeat sweep failed its job.

When the sweep found the version that the job wrote, it stored ``name`` and
``version`` as the job's result. The worker's full result, which it stores
when it finishes, is merged into that one, and the job stays ``failed``.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from models.registry import Registry
from service.jobs.execution import execute_job
from service.jobs.recovery import fail_stale_jobs
from service.jobs.store import FAILED, SUCCEEDED, WRITING_STAGE, JobStore
from tests.service.jobs_support import folder_settings, open_job_store
from tests.service.recovery_support import (
    TINY_TRAIN,
    age_heartbeat,
    stopped_after_write,
)

TIMEOUT = 50.0
VERSION_NOTE = (
    "Version 1 of swept was written before the worker stopped, and result "
    "names it; use that version instead of submitting the job again"
)
FINISHED_NOTE = (
    "The worker kept running and then finished, so result contains its full output"
)


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[JobStore]:
    with open_job_store(request.param, tmp_path) as job_store:
        yield job_store


def swept_writer(store: JobStore, tmp_path: Path) -> str:
    """A job that wrote version 1 of ``swept`` and was then failed by the
    sweep, which recorded that version as its result."""
    settings = folder_settings(tmp_path)
    job_id = stopped_after_write(store, settings, "elsewhere:1")
    age_heartbeat(store, job_id)
    assert fail_stale_jobs(store, TIMEOUT, Registry(settings.registry)) == [job_id]
    assert store.get(job_id).result == {"name": "swept", "version": 1}
    return job_id


def test_full_result_merged_after_sweep(store: JobStore, tmp_path: Path) -> None:
    job_id = swept_writer(store, tmp_path)
    swept = store.get(job_id)
    full = {
        "name": "swept",
        "version": 1,
        "epochs_run": 1,
        "best_epoch": 1,
        "stopped_early": False,
    }

    assert store.record_late_result(job_id, full)

    job = store.get(job_id)
    assert job.status == FAILED
    assert job.result == full
    assert job.error == f"{swept.error}. {FINISHED_NOTE}"
    assert job.error is not None
    assert VERSION_NOTE in job.error
    assert job.revision == swept.revision + 1
    # a second copy of the same result changes nothing
    assert not store.record_late_result(job_id, full)
    assert store.get(job_id).revision == swept.revision + 1


def test_result_without_name_keeps_it(store: JobStore, tmp_path: Path) -> None:
    job_id = swept_writer(store, tmp_path)

    assert store.record_late_result(job_id, {"version": 1, "n_trials": 4})

    assert store.get(job_id).result == {"name": "swept", "version": 1, "n_trials": 4}


@pytest.mark.parametrize(
    "result",
    [
        {"name": "swept", "version": 2, "epochs_run": 1},
        {"name": "other", "version": 1, "epochs_run": 1},
        {"name": "swept", "version": 1},
    ],
)
def test_conflicting_result_is_rejected(
    store: JobStore, tmp_path: Path, result: dict[str, Any]
) -> None:
    job_id = swept_writer(store, tmp_path)
    swept = store.get(job_id)

    assert not store.record_late_result(job_id, result)

    job = store.get(job_id)
    assert job.result == {"name": "swept", "version": 1}
    assert job.error == swept.error
    assert job.revision == swept.revision


class SweptBeforeEndStore(JobStore):
    """A store whose stale sweep fails a job just before its worker stores
    the job's success, after the worker wrote its version, as a sweep during
    a stall between the write and the end would."""

    registry: Registry

    def finish(self, job_id: str, status: str, **kwargs: Any) -> bool:
        if status == SUCCEEDED:
            age_heartbeat(self, job_id)
            assert fail_stale_jobs(self, TIMEOUT, self.registry) == [job_id]
        return super().finish(job_id, status, **kwargs)


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_stalled_worker_adds_full_result(tmp_path: Path, backend: str) -> None:
    settings = folder_settings(tmp_path)
    with open_job_store(backend, tmp_path) as plain:
        store = SweptBeforeEndStore(plain.url)
        store.registry = Registry(settings.registry)
        job = store.create("train", TINY_TRAIN)
        claimed = store.claim(job.id, "test:1")
        assert claimed is not None

        status = execute_job(store, claimed, settings)

        stored = store.get(job.id)
        store.close()
    assert status == FAILED
    assert stored.status == FAILED
    assert stored.result is not None
    assert stored.result["name"] == "swept"
    assert stored.result["version"] == 1
    assert stored.result["epochs_run"] == 1
    assert stored.result["best_epoch"] == 1
    assert stored.result["stopped_early"] is False
    assert stored.progress is not None
    assert stored.progress["stage"] == WRITING_STAGE
    assert stored.error is not None
    assert stored.error.endswith(f"{VERSION_NOTE}. {FINISHED_NOTE}")
