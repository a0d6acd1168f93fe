"""A Celery worker killed with ``kill -9`` right after it moved a job's version
into place: the job ends ``failed`` and its result names that version, whether
the API's heartbeat sweep or the next worker's start-up check fails it.

The worker runs with ``pause_after_write_path``, so a model whose name starts
with ``paused-`` stays in the registry write once its version is in place, and
each kill lands between the write and the job's ``succeeded``.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from models.registry import Registry
from tests.conftest import TINY
from tests.service.jobs_support import (
    finished,
    pause_after_write_path,
    start_job_server,
    stored_job,
    wait_for_version,
)
from tests.service.test_celery import (
    BROKER_URL,
    CeleryWorker,
    parent_pid,
    redis_or_skip,
    wait_with_worker,
)

# longer than a worker's start-up of a few seconds, so that the start-up check
# and not the sweep fails the job of a killed worker
HEARTBEAT_TIMEOUT = 20.0

pytestmark = pytest.mark.redis


class Stack:
    """The API and the Celery workers started for it, sharing a registry."""

    def __init__(self, tmp: Path, trained: Registry) -> None:
        self.tmp = tmp
        env = {
            "RNN_FORECAST_RUNNER": "celery",
            "RNN_FORECAST_BROKER_URL": BROKER_URL,
            "RNN_FORECAST_JOB_HEARTBEAT_SECONDS": "0.5",
            "RNN_FORECAST_JOB_HEARTBEAT_TIMEOUT": str(HEARTBEAT_TIMEOUT),
        }
        self.server, self.registry, self.data_dir = start_job_server(
            trained.root, tmp, env
        )
        hooks = tmp / "hooks"
        hooks.mkdir()
        self.worker_env = {
            **env,
            "RNN_FORECAST_REGISTRY": str(self.registry),
            "RNN_FORECAST_DATA_DIR": str(self.data_dir),
            "PYTHONPATH": pause_after_write_path(hooks),
        }
        self.workers: list[CeleryWorker] = []
        self.start_worker()

    def start_worker(self) -> CeleryWorker:
        log = self.tmp / f"worker-{len(self.workers)}.log"
        worker = CeleryWorker(self.worker_env, log)
        self.workers.append(worker)
        return worker

    def stop(self) -> None:
        self.server.stop()
        for worker in self.workers:
            worker.stop()


@pytest.fixture(scope="module")
def stack(
    trained_registry: Registry, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stack]:
    client = redis_or_skip()
    client.flushdb()
    started = Stack(tmp_path_factory.mktemp("celery-recovery"), trained_registry)
    yield started
    started.stop()
    client.flushdb()
    client.close()


def submit_until_written(stack: Stack, name: str) -> tuple[str, str, int]:
    """Submit a one-epoch job for ``name`` and wait until its version is in
    place. Return the job's id and href and the pid of its prefork child."""
    body = {**TINY, "name": name, "epochs": 1, "patience": None}
    job = stack.server.client.post("/v1/training-jobs", json=body).json()
    try:
        wait_for_version(stack.registry, name)
    except AssertionError as exc:
        now = stack.server.client.get(job["href"]).json()
        log = stack.workers[-1].log_path.read_text(errors="replace")[-4000:]
        raise AssertionError(f"{exc}\njob: {now}\nworker log:\n{log}") from exc

    label = stored_job(stack.data_dir, job["id"]).worker
    assert label is not None
    assert stack.server.client.get(job["href"]).json()["status"] == "running"
    return job["id"], job["href"], int(label.rpartition(":")[2])


def check_recovered(stack: Stack, job_id: str, href: str, name: str) -> str:
    """Wait for the job to end, check that it names its version, and return
    its error."""
    done = wait_with_worker(stack.workers[-1], stack.server.client, href, finished)
    assert done["status"] == "failed"
    assert done["result"] == {"name": name, "version": 1}, (
        f"error {done['error']!r}, progress {done['progress']!r}, API log:\n"
        f"{stack.server.output()[-3000:]}"
    )
    assert done["error"].endswith(
        f"Version 1 of {name} was written before the worker stopped, and result "
        "names it; use that version instead of submitting the job again"
    )

    detail = stack.server.client.get(f"/v1/models/{name}/versions/1").json()
    assert detail["job_id"] == job_id
    return str(done["error"])


def test_killed_child_after_write_gets_version(stack: Stack) -> None:
    name = "paused-child"
    job_id, href, child = submit_until_written(stack, name)

    os.kill(child, signal.SIGKILL)

    error = check_recovered(stack, job_id, href, name)
    assert error.startswith("interrupted: no heartbeat")


def test_killed_worker_after_write_gets_version(stack: Stack) -> None:
    name = "paused-worker"
    job_id, href, child = submit_until_written(stack, name)
    main = parent_pid(child)

    os.kill(main, signal.SIGKILL)
    os.kill(child, signal.SIGKILL)
    stack.workers[-1].process.wait()
    stack.start_worker()

    error = check_recovered(stack, job_id, href, name)
    assert error.startswith(f"interrupted: worker process {child} on ")
    assert "was gone when the Celery worker started" in error
