"""Cancels that arrive after a train job's last epoch or a tuning job's
last trial: before the registry write the job ends cancelled with no
version, and during the write the cancel is rejected with 409.

The first tests run a real job in this process on a SQLite store, through
the entry point of each runner, and cancel it at an exact stage. The others
go through a real server with the in-host runner."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from models.errors import ConflictError
from models.registry import Registry
from service.jobs.execution import claim_and_execute, execute_job
from service.jobs.store import (
    CANCELLED,
    SUCCEEDED,
    WRITING_STAGE,
    JobStore,
    Run,
    sqlite_url,
)
from service.settings import Settings
from tests.conftest import LiveServer
from tests.service.jobs_support import (
    LONG,
    cancel_after_last_epoch,
    check_late_cancel,
    finished,
    start_job_server,
    tiny_job,
    training,
    wait_for_job,
    writing_conflict,
)

EPOCHS = 2
TINY_TRAIN = {
    "name": "cr1",
    "epochs": EPOCHS,
    "patience": None,
    "hidden_size": 4,
    "num_layers": 1,
    "lookback": 10,
    "horizon": 3,
    "target": "price",
    "data": {"source": "synthetic", "generator": "noisy_sine", "length": 300},
}
# the entry point of the in-host runner's child process and of the Celery task
RUNNERS = ["inhost", "celery"]
PROBLEM = "application/problem+json"


TRIALS = 2
TINY_TUNING = {
    "base": {**TINY_TRAIN, "name": "tuned"},
    "space": {
        "hidden_size": [4, 8],
        "num_layers": [1, 2],
        "lookback": [8, 16],
        "batch_size": [64, 128],
    },
    "trials": TRIALS,
    "sampler_seed": 4,
    "startup_trials": 2,
    "pruning_warmup_epochs": 1,
}

CancelWhen = Callable[[dict[str, Any]], bool]


def after_last_epoch(progress: dict[str, Any]) -> bool:
    """The report of a train job's last epoch, which a client that polls
    until ``progress.epoch == epochs`` waits for."""
    return progress["stage"] == "training" and progress["epoch"] == EPOCHS


def after_last_trial(progress: dict[str, Any]) -> bool:
    """The report of a tuning job's last trial."""
    return progress["stage"] == "tuning" and progress["trials_done"] == TRIALS


def while_writing(progress: dict[str, Any]) -> bool:
    """The progress that a job stores as it starts to write its version."""
    return progress["stage"] == WRITING_STAGE


class CancellingStore(JobStore):
    """A store that records every reported stage and requests a cancel right
    after it stores the progress that ``cancel_when`` selects."""

    def __init__(self, url: str, cancel_when: CancelWhen) -> None:
        super().__init__(url)
        self.cancel_when = cancel_when
        self.stages: list[str] = []
        self.cancel_errors: list[ConflictError] = []

    def report(
        self,
        job_id: str,
        progress: dict[str, Any],
        history: list[Any] | None = None,
        *,
        run: Run | None = None,
    ) -> bool:
        self.stages.append(progress["stage"])
        stored = super().report(job_id, progress, history, run=run)
        if self.cancel_when(progress):
            self._cancel(job_id)
        return stored

    def begin_write(
        self, job_id: str, progress: dict[str, Any], *, run: Run | None = None
    ) -> bool:
        self.stages.append(progress["stage"])
        started = super().begin_write(job_id, progress, run=run)
        if self.cancel_when(progress):
            self._cancel(job_id)
        return started

    def _cancel(self, job_id: str) -> None:
        try:
            self.request_cancel(job_id)
        except ConflictError as exc:
            self.cancel_errors.append(exc)


def run_tiny_job(
    store: JobStore,
    tmp_path: Path,
    runner: str,
    kind: str = "train",
    params: dict[str, Any] = TINY_TRAIN,
) -> tuple[str, str]:
    """Run a tiny job of ``store`` in this process as ``runner`` runs it;
    return the job id and its final status."""
    settings = Settings(
        registry=tmp_path / "registry",
        data_dir=tmp_path / "data",
        cache_dir=tmp_path / "cache",
    )
    job_id = store.create(kind, params).id
    if runner == "celery":
        status = claim_and_execute(store, job_id, settings)
        assert status is not None
        return job_id, status

    job = store.claim(job_id, "test:1")
    assert job is not None
    return job_id, execute_job(store, job, settings)


@pytest.mark.parametrize("runner", RUNNERS)
def test_cancel_after_last_epoch_writes_nothing(tmp_path: Path, runner: str) -> None:
    store = CancellingStore(sqlite_url(tmp_path / "jobs.db"), after_last_epoch)

    job_id, status = run_tiny_job(store, tmp_path, runner)

    assert status == CANCELLED
    assert store.cancel_errors == []
    stored = store.get(job_id)
    assert stored.status == CANCELLED
    assert stored.cancel_requested
    assert stored.result is None
    assert stored.progress is not None
    assert stored.progress["stage"] in ("training", "evaluating")
    assert Registry(tmp_path / "registry").versions("cr1") == []
    assert list((tmp_path / "registry").glob("cr1/.tmp-*")) == []
    store.close()


@pytest.mark.parametrize("runner", RUNNERS)
def test_cancel_while_writing_is_rejected(tmp_path: Path, runner: str) -> None:
    store = CancellingStore(sqlite_url(tmp_path / "jobs.db"), while_writing)

    job_id, status = run_tiny_job(store, tmp_path, runner)

    assert status == SUCCEEDED
    assert store.stages == [
        "loading data",
        "training",
        "training",
        "evaluating",
        WRITING_STAGE,
    ]
    assert [str(error) for error in store.cancel_errors] == [writing_conflict(job_id)]
    stored = store.get(job_id)
    assert not stored.cancel_requested
    assert stored.result is not None
    assert stored.result["version"] == 1
    assert Registry(tmp_path / "registry").versions("cr1") == [1]
    store.close()


@pytest.mark.parametrize("runner", RUNNERS)
def test_cancel_after_last_trial_writes_nothing(tmp_path: Path, runner: str) -> None:
    store = CancellingStore(sqlite_url(tmp_path / "jobs.db"), after_last_trial)

    job_id, status = run_tiny_job(store, tmp_path, runner, "tuning", TINY_TUNING)

    assert status == CANCELLED
    assert store.cancel_errors == []
    assert store.stages[-1] == WRITING_STAGE
    stored = store.get(job_id)
    assert stored.status == CANCELLED
    assert stored.result is None
    assert stored.progress is not None
    assert stored.progress["stage"] == "tuning"
    assert Registry(tmp_path / "registry").versions("tuned") == []
    assert list((tmp_path / "registry").glob("tuned/.tmp-*")) == []
    store.close()


def test_tuning_cancel_while_writing_is_rejected(tmp_path: Path) -> None:
    store = CancellingStore(sqlite_url(tmp_path / "jobs.db"), while_writing)

    job_id, status = run_tiny_job(store, tmp_path, "celery", "tuning", TINY_TUNING)

    assert status == SUCCEEDED
    assert store.stages == ["loading data", "tuning", "tuning", WRITING_STAGE]
    assert [str(error) for error in store.cancel_errors] == [writing_conflict(job_id)]
    stored = store.get(job_id)
    assert not stored.cancel_requested
    assert stored.result is not None
    assert stored.result["version"] == 1
    assert Registry(tmp_path / "registry").versions("tuned") == [1]
    store.close()


@pytest.fixture(scope="module")
def jobs_server(
    trained_registry: Registry, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[LiveServer, Path, Path]]:
    """A server that runs one job at a time, so a running job holds back the
    jobs queued after it."""
    env = {"RNN_FORECAST_MAX_CONCURRENT_JOBS": "1"}
    folder = tmp_path_factory.mktemp("cancel-window")
    server, registry, data_dir = start_job_server(trained_registry.root, folder, env)
    yield server, registry, data_dir
    server.stop()


def test_cancel_after_last_epoch_over_http(
    jobs_server: tuple[LiveServer, Path, Path],
) -> None:
    server, registry, _ = jobs_server
    body = tiny_job(name="late-cancel", epochs=3, patience=None)
    job = server.client.post("/v1/training-jobs", json=body).json()

    cancel = cancel_after_last_epoch(server.client, job["href"])
    done = wait_for_job(server.client, job["href"], finished)

    check_late_cancel(cancel, done, registry)


def test_cancel_while_writing_over_http(
    jobs_server: tuple[LiveServer, Path, Path],
) -> None:
    server, _, data_dir = jobs_server
    client = server.client
    blocker = client.post("/v1/training-jobs", json={**LONG, "name": "blocker"})
    wait_for_job(client, blocker.json()["href"], training)

    # the blocker holds the server's only worker slot, so the server leaves
    # this job to the test, which plays its worker up to the write
    store = JobStore(sqlite_url(data_dir / "jobs.db"))
    try:
        job = store.create("train", tiny_job(name="writer"))
        assert store.claim(job.id, "test:1") is not None
        progress = {"stage": WRITING_STAGE, "epoch": 2, "epochs": 2}
        assert store.begin_write(job.id, progress)
        href = f"/v1/training-jobs/{job.id}"
        cancel = client.delete(href)
        generic_cancel = client.delete(f"/v1/jobs/{job.id}")
        running_job = client.get(href).json()
        store.finish(job.id, SUCCEEDED, result={"name": "writer", "version": 1})
    finally:
        store.close()
    blocker_cancel = client.delete(blocker.json()["href"])

    assert cancel.status_code == 409
    assert cancel.headers["content-type"] == PROBLEM
    assert cancel.json()["detail"] == writing_conflict(job.id)
    assert generic_cancel.status_code == 409
    assert generic_cancel.json()["detail"] == writing_conflict(job.id)
    assert running_job["status"] == "running"
    assert running_job["cancel_requested"] is False
    assert running_job["progress"]["stage"] == WRITING_STAGE
    assert blocker_cancel.status_code == 202
    ended = wait_for_job(client, blocker.json()["href"], finished)
    assert ended["status"] == "cancelled"
