"""The stale heartbeat sweep and a job that is writing its version.

A worker whose heartbeats stop while it writes a registry version (a slow
disk, a stalled process) is failed by the sweep, but may still finish the
write. The job then stays ``failed`` and records the version in ``result``
and ``error``, so the job and the registry agree.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from models.registry import Registry
from models.stored_metadata import metadata_problem
from service.jobs.execution import execute_job
from service.jobs.recovery import (
    fail_dead_local_jobs,
    fail_stale_jobs,
    interrupted_error,
    written_version,
)
from service.jobs.store import (
    CANCELLED,
    FAILED,
    RUNNING,
    SUCCEEDED,
    WRITING_STAGE,
    JobStore,
    Run,
    sqlite_url,
)
from tests.service.jobs_support import folder_settings, open_job_store
from tests.service.recovery_support import (
    TINY_TRAIN,
    age_heartbeat,
    exited_pid,
    stopped_after_write,
    writing_job,
)

TIMEOUT = 50.0
WRITING_ERROR = (
    "interrupted: no heartbeat from the worker for more than 50 s while it was "
    "writing its version, so the version may exist. List the model's versions "
    "before you submit the job again. A worker that still finishes records the "
    "version in this job's result"
)


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[JobStore]:
    with open_job_store(request.param, tmp_path) as job_store:
        yield job_store


def test_sweep_names_writing_stage(store: JobStore) -> None:
    job_id = writing_job(store)
    training = store.create("train", {}).id
    store.claim(training, "elsewhere:2")
    store.report(training, {"stage": "training"})
    age_heartbeat(store, job_id)
    age_heartbeat(store, training)

    failed = fail_stale_jobs(store, TIMEOUT)

    assert sorted(failed) == sorted([job_id, training])
    assert store.get(job_id).error == WRITING_ERROR
    other_error = store.get(training).error
    assert other_error == (
        "interrupted: no heartbeat from the worker for more than 50 s; "
        "submit the job again"
    )


def test_late_result_recorded_on_swept_job(store: JobStore) -> None:
    job_id = writing_job(store)
    age_heartbeat(store, job_id)
    fail_stale_jobs(store, TIMEOUT)
    revision = store.get(job_id).revision
    result = {"name": "nflx", "version": 3, "epochs_run": 1}

    assert store.record_late_result(job_id, result)

    job = store.get(job_id)
    assert job.status == FAILED
    assert job.result == result
    assert job.error == (
        f"{WRITING_ERROR}. The worker kept running and then wrote version 3 of "
        "nflx, which result names; use that version instead of submitting the "
        "job again"
    )
    assert job.revision == revision + 1
    assert not store.record_late_result(job_id, {"name": "nflx", "version": 4})
    assert store.get(job_id).result == result


@pytest.mark.parametrize(
    ("result", "note"),
    [
        ({"version": 2, "trials": []}, "then wrote version 2, which result names"),
        ({"folds": 3}, "then finished; result contains its output"),
    ],
)
def test_late_result_note_by_kind(
    store: JobStore, result: dict[str, Any], note: str
) -> None:
    job_id = writing_job(store)
    age_heartbeat(store, job_id)
    fail_stale_jobs(store, TIMEOUT)

    assert store.record_late_result(job_id, result)

    error = store.get(job_id).error
    assert error is not None
    assert error.startswith(f"{WRITING_ERROR}. The worker kept running and ")
    assert note in error


def test_late_result_needs_interrupted_failure(store: JobStore) -> None:
    running = writing_job(store)
    cancelled = store.create("train", {}).id
    store.request_cancel(cancelled)
    failed = store.create("train", {}).id
    store.claim(failed, "elsewhere:3")
    store.finish(failed, FAILED, error="training diverged at epoch 2")
    result = {"name": "nflx", "version": 1}

    assert not store.record_late_result(running, result)
    assert not store.record_late_result(cancelled, result)
    assert not store.record_late_result(failed, result)
    assert store.get(running).status == RUNNING
    assert store.get(cancelled).status == CANCELLED
    assert store.get(failed).result is None


class SweptStore(JobStore):
    """A store whose stale sweep fails the job right after its worker
    entered the stage ``WRITING_STAGE``, as a sweep during a stalled write
    would."""

    def begin_write(
        self, job_id: str, progress: dict[str, Any], *, run: Run | None = None
    ) -> bool:
        started = super().begin_write(job_id, progress, run=run)
        age_heartbeat(self, job_id)
        self.swept = fail_stale_jobs(self, TIMEOUT)
        return started


def test_swept_worker_records_written_version(tmp_path: Path) -> None:
    store = SweptStore(sqlite_url(tmp_path / "jobs.db"))
    settings = folder_settings(tmp_path)
    job = store.create("train", TINY_TRAIN)
    claimed = store.claim(job.id, "test:1")
    assert claimed is not None

    status = execute_job(store, claimed, settings)

    assert store.swept == [job.id]
    assert status == FAILED
    assert Registry(tmp_path / "registry").versions("swept") == [1]
    stored = store.get(job.id)
    assert stored.status == FAILED
    assert stored.result is not None
    assert stored.result["version"] == 1
    assert stored.result["name"] == "swept"
    assert stored.error is not None
    assert stored.error.startswith(WRITING_ERROR)
    assert stored.error.endswith(
        "wrote version 1 of swept, which result names; "
        "use that version instead of submitting the job again"
    )
    store.close()


def test_dead_writer_gets_written_version(store: JobStore, tmp_path: Path) -> None:
    settings = folder_settings(tmp_path)
    host = socket.gethostname()
    pid = exited_pid()
    job_id = stopped_after_write(store, settings, f"{host}:{pid}")
    registry = Registry(settings.registry)

    failed = fail_dead_local_jobs(store, when="at start-up", registry=registry)

    assert failed == [job_id]
    job = store.get(job_id)
    assert job.status == FAILED
    assert job.result == {"name": "swept", "version": 1}
    assert job.error == (
        f"interrupted: worker process {pid} on {host} was gone at start-up "
        "while it was writing its version, so the version may exist. List the "
        "model's versions before you submit the job again. Version 1 of swept "
        "was written before the worker stopped, and result names it; use that "
        "version instead of submitting the job again"
    )


def test_swept_writer_gets_written_version(store: JobStore, tmp_path: Path) -> None:
    settings = folder_settings(tmp_path)
    job_id = stopped_after_write(store, settings, "elsewhere:9")
    age_heartbeat(store, job_id)

    failed = fail_stale_jobs(store, TIMEOUT, Registry(settings.registry))

    assert failed == [job_id]
    job = store.get(job_id)
    assert job.result == {"name": "swept", "version": 1}
    assert job.error is not None
    assert job.error.startswith(WRITING_ERROR)
    assert job.error.endswith(
        "Version 1 of swept was written before the worker stopped, and result "
        "names it; use that version instead of submitting the job again"
    )


def test_writer_without_version_keeps_error(store: JobStore, tmp_path: Path) -> None:
    settings = folder_settings(tmp_path)
    registry = Registry(settings.registry)
    other = stopped_after_write(store, settings, "elsewhere:10")
    store.finish(other, SUCCEEDED, result={"name": "swept", "version": 1})
    job_id = store.create("train", TINY_TRAIN).id
    store.claim(job_id, "elsewhere:11")
    assert store.begin_write(job_id, {"stage": WRITING_STAGE})
    age_heartbeat(store, job_id)

    assert fail_stale_jobs(store, TIMEOUT, registry) == [job_id]

    job = store.get(job_id)
    assert job.result is None
    assert job.error == WRITING_ERROR


@pytest.mark.parametrize(
    ("params", "written_name"),
    [
        ({"base": {"name": "tuned"}}, "tuned"),
        ({"name": None, "base": {"name": "tuned"}}, "tuned"),
        ({"name": "renamed", "base": {"name": "tuned"}}, "renamed"),
    ],
)
def test_tuning_job_version_found(
    store: JobStore, tmp_path: Path, params: dict[str, Any], written_name: str
) -> None:
    settings = folder_settings(tmp_path)
    trained = stopped_after_write(store, settings, "elsewhere:12")
    store.finish(trained, SUCCEEDED, result={"name": "swept", "version": 1})
    source = Registry(settings.registry)
    job_id = store.create("tuning", params).id
    store.claim(job_id, "elsewhere:13")
    assert store.begin_write(job_id, {"stage": WRITING_STAGE})
    state = source.load("swept", 1).model.state_dict()
    written = Registry(settings.registry, job_id=job_id)
    written.write(written_name, state, source.metadata("swept", 1))
    age_heartbeat(store, job_id)

    fail_stale_jobs(store, TIMEOUT, source)

    assert store.get(job_id).result == {"name": written_name, "version": 1}


def test_job_id_is_stored_in_metadata(store: JobStore, tmp_path: Path) -> None:
    settings = folder_settings(tmp_path)
    job_id = stopped_after_write(store, settings, "elsewhere:14")
    registry = Registry(settings.registry)

    metadata = registry.metadata("swept", 1)

    assert metadata["job_id"] == job_id
    assert metadata_problem(metadata) is None
    assert registry.version_of_job("swept", job_id) == 1
    assert registry.version_of_job("swept", "another-job") is None
    assert written_version(registry, store.get(job_id)) == (
        {"name": "swept", "version": 1},
        "Version 1 of swept was written before the worker stopped, and result "
        "names it; use that version instead of submitting the job again",
    )


def test_stop_signal_after_write_gets_version(
    store: JobStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = folder_settings(tmp_path)
    job = store.create("train", TINY_TRAIN)
    claimed = store.claim(job.id, "elsewhere:17")
    assert claimed is not None
    write = Registry.write

    def write_then_stop(self: Registry, *args: Any, **kwargs: Any) -> int:
        write(self, *args, **kwargs)
        raise SystemExit(1)

    monkeypatch.setattr(Registry, "write", write_then_stop)

    with pytest.raises(SystemExit):
        execute_job(store, claimed, settings)

    stopped = store.get(job.id)
    assert stopped.status == FAILED
    assert stopped.result == {"name": "swept", "version": 1}
    assert stopped.error == (
        "interrupted: the worker process received a stop signal while it was "
        "writing its version, so the version may exist. List the model's "
        "versions before you submit the job again. Version 1 of swept was "
        "written before the worker stopped, and result names it; use that "
        "version instead of submitting the job again"
    )


def test_dead_writer_error_names_version(store: JobStore) -> None:
    pid = exited_pid()
    host = socket.gethostname()
    job_id = store.create("train", {}).id
    store.claim(job_id, f"{host}:{pid}")
    assert store.begin_write(job_id, {"stage": WRITING_STAGE})

    assert fail_dead_local_jobs(store, when="at start-up") == [job_id]

    assert store.get(job_id).error == (
        f"interrupted: worker process {pid} on {host} was gone at "
        "start-up while it was writing its version, so the version may exist. "
        "List the model's versions before you submit the job again"
    )


def test_interrupted_error_by_stage(store: JobStore) -> None:
    job_id = writing_job(store)
    other = store.create("train", {})

    writing = interrupted_error(
        "worker process 7 was killed by SIGKILL", store.get(job_id)
    )
    queued = interrupted_error("worker process 8 exited with code 1", other)

    assert writing == (
        "interrupted: worker process 7 was killed by SIGKILL while it was "
        "writing its version, so the version may exist. List the model's "
        "versions before you submit the job again"
    )
    assert queued == (
        "interrupted: worker process 8 exited with code 1; submit the job again"
    )
