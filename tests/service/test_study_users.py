"""A tuning job's ``study_name`` checked against the queued and running
tuning jobs, on SQLite and PostgreSQL job stores and over HTTP."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.engine import Connection

from models.errors import ConflictError, InvalidInputError
from models.tuning import TuningSpec, create_study
from service.jobs.manager import CHECK_ATTEMPTS, JobManager
from service.jobs.runner_state import RunnerState
from service.jobs.store import QUEUED, SUCCEEDED, Job, JobStore
from service.jobs.tuning_kind import finished_study_users, server_storage
from tests.conftest import LiveServer
from tests.service.jobs_support import (
    LONG,
    finished,
    folder_settings,
    open_job_store,
    start_job_server,
    training,
    tuning_params,
    wait_for_job,
)


class QueueOnlyRunner:
    """A runner that starts no job, so every submitted job stays queued."""

    def start(self) -> None:
        pass

    def state(self) -> RunnerState:
        raise NotImplementedError

    def stop(self) -> None:
        pass

    def submitted(self, job: Job) -> None:
        pass

    def cancel_requested(self, job: Job) -> None:
        pass


def make_manager(store: JobStore, tmp_path: Path) -> JobManager:
    return JobManager(folder_settings(tmp_path), store, QueueOnlyRunner())


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[JobStore]:
    with open_job_store(request.param, tmp_path) as job_store:
        yield job_store


def test_same_settings_share_queued_study(store: JobStore, tmp_path: Path) -> None:
    manager = make_manager(store, tmp_path)
    first = manager.submit("tuning", tuning_params(["rnn"], study_name="shared"))

    # another budget and seed keep the study's settings
    second = manager.submit(
        "tuning", tuning_params(["rnn"], study_name="shared", trials=3, sampler_seed=7)
    )

    assert first.status == QUEUED
    assert second.status == QUEUED
    assert store.count(QUEUED) == 2


def test_other_settings_rejected_while_queued(store: JobStore, tmp_path: Path) -> None:
    manager = make_manager(store, tmp_path)
    user = manager.submit("tuning", tuning_params(["rnn"], study_name="shared"))

    with pytest.raises(InvalidInputError) as caught:
        manager.submit("tuning", tuning_params(["gru"], study_name="shared"))

    assert caught.value.field == "study_name"
    assert caught.value.message == (
        f"study shared is used by tuning job {user.id}, which is queued, with "
        'other settings than this request (space.cells ["gru"] instead of '
        '["rnn"]). Jobs that share a study must share its search space and base '
        "spec, so that its trials stay comparable. Send the settings of job "
        f"{user.id} to add trials to its study, or use another study name: "
        "give another study_name, or leave study_name out so that this job "
        "gets a study of its own"
    )
    assert store.count(QUEUED) == 1


def test_running_user_named_running(store: JobStore, tmp_path: Path) -> None:
    manager = make_manager(store, tmp_path)
    user = manager.submit("tuning", tuning_params(["rnn"], study_name="shared"))
    assert store.claim(user.id, "host:1") is not None

    with pytest.raises(InvalidInputError) as caught:
        manager.submit("tuning", tuning_params(["gru"], study_name="shared"))

    assert f"tuning job {user.id}, which is running," in caught.value.message


def test_finished_job_frees_study_name(store: JobStore, tmp_path: Path) -> None:
    manager = make_manager(store, tmp_path)
    user = manager.submit("tuning", tuning_params(["rnn"], study_name="shared"))
    store.claim(user.id, "host:1")
    store.finish(user.id, SUCCEEDED, result={})

    # the finished job created no study in this test's storage, so no
    # other job uses the name
    job = manager.submit("tuning", tuning_params(["gru"], study_name="shared"))

    assert job.status == QUEUED


def test_unnamed_job_study_in_use(store: JobStore, tmp_path: Path) -> None:
    manager = make_manager(store, tmp_path)
    user = manager.submit("tuning", tuning_params(["rnn"]))
    own_study = f"job-{user.id}"

    with pytest.raises(InvalidInputError) as caught:
        manager.submit("tuning", tuning_params(["gru"], study_name=own_study))
    same = manager.submit("tuning", tuning_params(["rnn"], study_name=own_study))

    assert caught.value.message.startswith(
        f"study {own_study} is used by tuning job {user.id}, which is queued,"
    )
    assert same.status == QUEUED


def test_jobs_without_study_name_never_conflict(
    store: JobStore, tmp_path: Path
) -> None:
    manager = make_manager(store, tmp_path)
    manager.submit("tuning", tuning_params(["rnn"]))

    job = manager.submit("tuning", tuning_params(["gru"]))

    assert job.status == QUEUED


class SignallingStore(JobStore):
    """A job store that sets ``arrived`` when a submission requests the
    submission lock, after the checks that run outside it."""

    def __init__(self, url: str) -> None:
        super().__init__(url)
        self.arrived = threading.Event()

    def submission_lock(self) -> contextlib.AbstractContextManager[Connection]:
        self.arrived.set()
        return super().submission_lock()


def test_racing_submissions_take_turns(store: JobStore, tmp_path: Path) -> None:
    # two managers on engines of their own, as two API processes have
    stores = [SignallingStore(store.url), SignallingStore(store.url)]
    outcomes: list[str] = []

    def submit(manager: JobManager, cells: list[str]) -> None:
        try:
            manager.submit("tuning", tuning_params(cells, study_name="raced"))
            outcomes.append("queued")
        except InvalidInputError:
            outcomes.append("rejected")

    threads = [
        threading.Thread(target=submit, args=(make_manager(racer, tmp_path), cells))
        for racer, cells in zip(stores, (["rnn"], ["gru"]), strict=True)
    ]
    # both submissions finish the checks outside the lock while it is held,
    # so neither has seen the other's job when they compete for it
    with store.submission_lock():
        for thread in threads:
            thread.start()
        for racer in stores:
            assert racer.arrived.wait(timeout=60)
    for thread in threads:
        thread.join(timeout=60)
    for racer in stores:
        racer.close()

    assert sorted(outcomes) == ["queued", "rejected"]
    assert store.count(QUEUED) == 1


class PausingStore(JobStore):
    """A job store whose first submission sets ``arrived`` when it requests
    the submission lock, after the checks that run outside it, and then
    waits until ``resume`` is set."""

    def __init__(self, url: str) -> None:
        super().__init__(url)
        self.arrived = threading.Event()
        self.resume = threading.Event()

    def submission_lock(self) -> contextlib.AbstractContextManager[Connection]:
        if not self.arrived.is_set():
            self.arrived.set()
            self.resume.wait(timeout=60)
        return super().submission_lock()


def test_study_created_during_checks_rejected(store: JobStore, tmp_path: Path) -> None:
    manager = make_manager(store, tmp_path)
    user = manager.submit("tuning", tuning_params(["rnn"], study_name="raced"))
    assert store.claim(user.id, "host:1") is not None
    racer = PausingStore(store.url)
    errors: list[InvalidInputError] = []

    def submit_other_settings() -> None:
        try:
            make_manager(racer, tmp_path).submit(
                "tuning", tuning_params(["gru"], study_name="raced")
            )
        except InvalidInputError as exc:
            errors.append(exc)

    thread = threading.Thread(target=submit_other_settings)
    thread.start()
    try:
        # the running job creates its study and finishes after the other
        # submission read the study database and before it takes the lock
        assert racer.arrived.wait(timeout=60)
        spec = TuningSpec.model_validate(tuning_params(["rnn"], study_name="raced"))
        storage = server_storage(folder_settings(tmp_path))
        create_study(spec, storage, heartbeat_seconds=0)
        assert store.finish(user.id, SUCCEEDED, result={})
    finally:
        racer.resume.set()
        thread.join(timeout=60)
        racer.close()

    assert len(errors) == 1
    assert errors[0].field == "study_name"
    assert errors[0].message.startswith(
        "study raced exists with other settings than this request "
        '(space.cells ["gru"] instead of ["rnn"])'
    )
    assert store.count(QUEUED) == 0


class FinishingStore(JobStore):
    """A job store that ends one of ``pending``, running tuning jobs, each
    time a submission requests the submission lock, so the count of finished
    jobs on their study changes after every check."""

    def __init__(self, url: str, pending: list[str]) -> None:
        super().__init__(url)
        self.pending = pending
        self.lock_requests = 0

    def submission_lock(self) -> contextlib.AbstractContextManager[Connection]:
        self.lock_requests += 1
        if self.pending:
            assert self.finish(self.pending.pop(), SUCCEEDED, result={})
        return super().submission_lock()


def test_study_users_churn_conflict(store: JobStore, tmp_path: Path) -> None:
    manager = make_manager(store, tmp_path)
    pending = []
    for _ in range(CHECK_ATTEMPTS):
        job = manager.submit("tuning", tuning_params(["rnn"], study_name="churn"))
        assert store.claim(job.id, "host:1") is not None
        pending.append(job.id)
    churning = FinishingStore(store.url, pending)

    try:
        with pytest.raises(ConflictError) as raised:
            make_manager(churning, tmp_path).submit(
                "tuning", tuning_params(["rnn"], study_name="churn")
            )
    finally:
        churning.close()

    assert raised.value.field == "params"
    assert f"changed {CHECK_ATTEMPTS} times" in raised.value.message
    assert raised.value.message.endswith("retry the request")
    assert churning.lock_requests == CHECK_ATTEMPTS
    assert store.count(QUEUED) == 0
    assert store.count(SUCCEEDED) == CHECK_ATTEMPTS


def test_finished_study_users_counted(store: JobStore, tmp_path: Path) -> None:
    manager = make_manager(store, tmp_path)
    named = manager.submit("tuning", tuning_params(["rnn"], study_name="counted"))
    unnamed = manager.submit("tuning", tuning_params(["rnn"]))
    manager.submit("tuning", tuning_params(["rnn"], study_name="counted"))
    for job in (named, unnamed):
        store.claim(job.id, "host:1")
        store.finish(job.id, SUCCEEDED, result={})

    def count(study_name: str) -> int:
        spec = TuningSpec.model_validate(tuning_params(["rnn"], study_name=study_name))
        with store.engine.connect() as conn:
            return finished_study_users(spec, conn)

    assert count("counted") == 1
    assert count(f"job-{unnamed.id}") == 1
    assert count(f"job-{named.id}") == 0
    assert count("other") == 0


@pytest.fixture()
def busy_server(tmp_path: Path) -> Iterator[LiveServer]:
    """A job server whose only job slot runs a long training job, so every
    job submitted afterwards stays queued."""
    empty = tmp_path / "empty-registry"
    empty.mkdir()
    server = start_job_server(empty, tmp_path)[0]
    response = server.client.post("/v1/training-jobs", json={**LONG, "name": "busy"})
    assert response.status_code == 202, response.text
    href = response.json()["href"]
    wait_for_job(server.client, href, training)
    yield server
    server.client.delete(href)
    wait_for_job(server.client, href, finished)
    server.stop()


def submit(server: LiveServer, params: dict[str, Any]) -> Any:
    return server.client.post("/v1/jobs", json={"kind": "tuning", "params": params})


def test_queued_study_conflict_over_http(busy_server: LiveServer) -> None:
    user = submit(busy_server, tuning_params(["rnn"], study_name="queued"))
    resumed = submit(busy_server, tuning_params(["rnn"], study_name="queued", trials=2))
    other = submit(busy_server, tuning_params(["gru"], study_name="queued"))

    assert user.status_code == 202, user.text
    assert resumed.status_code == 202, resumed.text
    assert other.status_code == 422, other.text
    user_id = user.json()["id"]
    body = other.json()
    assert body["errors"][0]["field"] == "params.study_name"
    assert body["detail"].startswith(
        f"study queued is used by tuning job {user_id}, which is queued, "
        'with other settings than this request (space.cells ["gru"] instead '
        'of ["rnn"])'
    )
    assert body["detail"].endswith(
        f"Send the settings of job {user_id} to add trials to its study, or "
        "use another study name: give another study_name, or leave study_name "
        "out so that this job gets a study of its own"
    )
    listed = busy_server.client.get("/v1/jobs", params={"kind": "tuning"}).json()
    assert len(listed["jobs"]) == 2
