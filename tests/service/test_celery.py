"""The Celery runner end to end: a real ``celery worker`` process, a real
Redis on 127.0.0.1 and the API with ``RNN_FORECAST_RUNNER=celery``.

Without a Redis server these tests skip on a laptop and fail under CI
(``CI=true``), where Redis must run.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis

from models.registry import Registry
from service.jobs.celery_runner import BROKER_CHECK_SECONDS, CeleryRunner
from service.jobs.store import JobStore, sqlite_url
from service.jobs.worker_settings import INSPECT_TIMEOUT_SECONDS
from service.settings import Settings
from tests.conftest import ROOT, LiveServer, free_port
from tests.service.jobs_support import (
    LONG,
    cancel_after_last_epoch,
    check_late_cancel,
    finished,
    start_job_server,
    stored_job,
    tiny_job,
    training,
    versions_of,
    wait_for_job,
)

REDIS_PORT = 6379
# A database of its own, so flushing it never touches other users of Redis.
# RNN_FORECAST_TEST_REDIS_DB picks another where several users share a server.
REDIS_DB = int(os.environ.get("RNN_FORECAST_TEST_REDIS_DB", "13"))
BROKER_URL = f"redis://127.0.0.1:{REDIS_PORT}/{REDIS_DB}"
HEARTBEAT_TIMEOUT = 8.0
VISIBILITY_VARIABLE = "RNN_FORECAST_BROKER_VISIBILITY_TIMEOUT_SECONDS"

pytestmark = pytest.mark.redis


def redis_or_skip() -> redis.Redis:
    """A client of the test database; skip (or fail under CI) without Redis."""
    client = redis.Redis(
        host="127.0.0.1", port=REDIS_PORT, db=REDIS_DB, socket_connect_timeout=2
    )
    try:
        client.ping()
    except redis.exceptions.ConnectionError as exc:
        client.close()
        reason = f"no Redis on 127.0.0.1:{REDIS_PORT} ({exc})"
        if os.environ.get("CI") == "true":
            pytest.fail(f"{reason}; CI must start redis-server before the tests")
        pytest.skip(f"{reason}; start redis-server to run the Celery tests")
    return client


class CeleryWorker:
    """A ``celery worker`` subprocess of the Celery app in ``app_module``,
    with one child of ``pool`` (prefork, as in docker-compose.yml, or solo,
    which runs tasks in the worker's own process), and its log in a file."""

    def __init__(
        self,
        env: dict[str, str],
        log_path: Path,
        pool: str = "prefork",
        app_module: str = "service.jobs.celery_app",
    ) -> None:
        self.log_path = log_path
        # the name under which the worker replies to inspect broadcasts
        self.name = f"test-{uuid.uuid4().hex[:8]}@{socket.gethostname()}"
        command = [
            sys.executable,
            "-m",
            "celery",
            "-A",
            app_module,
            "worker",
            f"--pool={pool}",
            "--concurrency=1",
            "--loglevel=INFO",
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
            "--hostname",
            self.name,
        ]
        with open(log_path, "wb") as log:
            self.process = subprocess.Popen(
                command,
                cwd=ROOT,
                env={**os.environ, **env},
                stdout=log,
                stderr=subprocess.STDOUT,
            )

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


@contextlib.contextmanager
def running_stack(
    trained_registry: Registry,
    tmp: Path,
    extra_env: dict[str, str] | None = None,
    worker_env: dict[str, str] | None = None,
    pool: str = "prefork",
    app_module: str = "service.jobs.celery_app",
) -> Iterator[tuple[LiveServer, CeleryWorker, Path, Path]]:
    """Start the API and one worker of ``app_module`` with a ``pool`` pool,
    which share a registry, a job store and Redis. Both get the settings of
    ``extra_env`` besides the runner's, and the worker those of
    ``worker_env`` too. Yields the server, the worker, the registry and the
    data folder."""
    client = redis_or_skip()
    client.flushdb()
    env = {
        "RNN_FORECAST_RUNNER": "celery",
        "RNN_FORECAST_BROKER_URL": BROKER_URL,
        "RNN_FORECAST_JOB_HEARTBEAT_SECONDS": "0.5",
        "RNN_FORECAST_JOB_HEARTBEAT_TIMEOUT": str(HEARTBEAT_TIMEOUT),
        **(extra_env or {}),
    }

    server, registry, data_dir = start_job_server(trained_registry.root, tmp, env)
    worker_env = {
        **env,
        "RNN_FORECAST_REGISTRY": str(registry),
        "RNN_FORECAST_DATA_DIR": str(data_dir),
        **(worker_env or {}),
    }
    worker = CeleryWorker(
        worker_env, tmp / "worker.log", pool=pool, app_module=app_module
    )
    try:
        yield server, worker, registry, data_dir
    finally:
        server.stop()
        worker.stop()
        client.flushdb()
        client.close()


@pytest.fixture(scope="module")
def celery_stack(
    trained_registry: Registry, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[LiveServer, CeleryWorker, Path, Path]]:
    """The API and one worker sharing a registry, a job store and Redis."""
    with running_stack(trained_registry, tmp_path_factory.mktemp("celery")) as stack:
        yield stack


def replied_runner(
    store: JobStore,
    worker: CeleryWorker,
    timeout: float = 60.0,
    forget_seconds: float = 3600.0,
) -> tuple[CeleryRunner, dict[str, float | str]]:
    """A runner with the API's default settings besides
    ``RNN_FORECAST_WORKER_FORGET_SECONDS``, not started, and the replies of
    its first ``check_workers`` that includes ``worker``."""
    settings = Settings(broker_url=BROKER_URL, worker_forget_seconds=forget_seconds)
    runner = CeleryRunner(settings, store)
    deadline = time.monotonic() + timeout
    while worker.name not in (replies := runner.check_workers()):
        log = worker.log_path.read_text(errors="replace")[-4000:]
        assert time.monotonic() < deadline, f"no reply from the worker:\n{log}"
    return runner, replies


def listed_health(
    server: LiveServer, worker: CeleryWorker, field: str
) -> dict[str, object]:
    """Return the health response once ``runner[field]`` names ``worker``."""
    # the worker starts within seconds, and the API requests the workers'
    # settings after each broker check
    deadline = time.monotonic() + 30 + 2 * BROKER_CHECK_SECONDS
    while (
        worker.name
        not in (health := server.client.get("/v1/health").json())["runner"][field]
    ):
        log = worker.log_path.read_text(errors="replace")[-4000:]
        assert time.monotonic() < deadline, f"{worker.name} not in {field}:\n{log}"
        time.sleep(0.2)
    return health


def mismatch_lines(text: str) -> list[str]:
    """The lines of ``text`` that name the visibility timeout variable."""
    return [line for line in text.splitlines() if VISIBILITY_VARIABLE in line]


def parent_pid(pid: int) -> int:
    """The parent of a live process, from /proc."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("PPid:"):
            return int(line.split()[1])
    raise AssertionError(f"/proc/{pid}/status has no PPid line")


def wait_with_worker(
    worker: CeleryWorker,
    client: httpx.Client,
    href: str,
    until: Callable[[dict[str, Any]], bool],
) -> dict[str, Any]:
    """``wait_for_job`` that shows the worker's log when it fails."""
    try:
        return wait_for_job(client, href, until, timeout=120)
    except AssertionError as exc:
        log = worker.log_path.read_text(errors="replace")[-4000:]
        raise AssertionError(f"{exc}\nworker log:\n{log}") from exc


def test_celery_worker_trains_job(
    celery_stack: tuple[LiveServer, CeleryWorker, Path, Path],
) -> None:
    server, worker, _, data_dir = celery_stack
    response = server.client.post("/v1/training-jobs", json=tiny_job(name="remote"))
    assert response.status_code == 202, response.text
    job = response.json()

    done = wait_with_worker(worker, server.client, job["href"], finished)
    health = server.client.get("/v1/health").json()

    assert health["status"] == "ok"
    assert health["runner"]["status"] == "ok"
    assert health["runner"]["mismatched_visibility_timeouts"] == {}
    assert done["status"] == "succeeded", done
    assert done["result"]["name"] == "remote"
    assert done["result"]["version"] == 1
    ran_in = stored_job(data_dir, job["id"]).worker
    assert ran_in is not None
    assert parent_pid(int(ran_in.rpartition(":")[2])) == worker.process.pid
    forecast = server.client.post("/v1/models/remote/forecast", json={"horizon": 2})
    assert forecast.status_code == 200, forecast.text
    assert forecast.json()["version"] == 1


def test_celery_job_cancels(
    celery_stack: tuple[LiveServer, CeleryWorker, Path, Path],
) -> None:
    server, worker, registry, _ = celery_stack
    job = server.client.post(
        "/v1/training-jobs", json={**LONG, "name": "remote-cancel"}
    ).json()
    wait_with_worker(worker, server.client, job["href"], training)

    assert server.client.delete(job["href"]).status_code == 202
    done = wait_with_worker(worker, server.client, job["href"], finished)

    assert done["status"] == "cancelled"
    assert versions_of(registry, "remote-cancel") == []


def test_celery_cancel_after_last_epoch(
    celery_stack: tuple[LiveServer, CeleryWorker, Path, Path],
) -> None:
    server, worker, registry, _ = celery_stack
    body = tiny_job(name="remote-late-cancel", epochs=3, patience=None)
    job = server.client.post("/v1/training-jobs", json=body).json()

    cancel = cancel_after_last_epoch(server.client, job["href"])
    done = wait_with_worker(worker, server.client, job["href"], finished)

    check_late_cancel(cancel, done, registry)


def test_killed_celery_child_fails_job(
    celery_stack: tuple[LiveServer, CeleryWorker, Path, Path],
) -> None:
    server, worker, _, data_dir = celery_stack
    job = server.client.post(
        "/v1/training-jobs", json={**LONG, "name": "remote-killed"}
    ).json()
    wait_with_worker(worker, server.client, job["href"], training)
    label = stored_job(data_dir, job["id"]).worker
    assert label is not None

    os.kill(int(label.rpartition(":")[2]), signal.SIGKILL)
    killed_at = time.monotonic()
    done = wait_with_worker(worker, server.client, job["href"], finished)

    assert done["status"] == "failed"
    assert done["error"].startswith("interrupted: no heartbeat")
    assert time.monotonic() - killed_at < HEARTBEAT_TIMEOUT + 10


def wait_for_runner_check(client: httpx.Client, timeout: float = 10.0) -> Any:
    """Return the health response once the runner's state is known."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        health = client.get("/v1/health").json()
        if health["runner"]["status"] != "unknown":
            return health
        time.sleep(0.05)
    raise AssertionError(f"the runner was not checked within {timeout} s")


def test_unreachable_broker_answers_503(
    trained_registry: Registry, tmp_path: Path
) -> None:
    closed = f"redis://127.0.0.1:{free_port()}/0"
    env = {"RNN_FORECAST_RUNNER": "celery", "RNN_FORECAST_BROKER_URL": closed}
    server, _, data_dir = start_job_server(trained_registry.root, tmp_path, env)
    try:
        # the broker check runs on a thread from start-up, before any job
        checked = wait_for_runner_check(server.client)
        started = time.monotonic()
        response = server.client.post("/v1/training-jobs", json=tiny_job())
        seconds = time.monotonic() - started
        jobs = server.client.get("/v1/training-jobs").json()["jobs"]
        health = server.client.get("/v1/health")
    finally:
        server.stop()

    assert checked["status"] == "degraded"
    assert checked["runner"]["status"] == "unavailable"
    assert response.status_code == 503
    assert response.headers["content-type"] == "application/problem+json"
    assert response.headers["retry-after"] == "10"
    assert "unreachable" in response.json()["detail"]
    assert response.json()["detail"].endswith("retry in 10 s")
    assert seconds < 20
    assert health.status_code == 200
    assert health.json()["status"] == "degraded"
    assert health.json()["runner"]["name"] == "celery"
    assert health.json()["runner"]["status"] == "unavailable"
    assert "is unreachable" in health.json()["runner"]["detail"]
    assert health.json()["runner"]["checked_at"] is not None
    assert [job["status"] for job in jobs] == ["failed"]
    assert stored_job(data_dir, jobs[0]["id"]).error is not None


def test_matching_worker_not_reported(
    celery_stack: tuple[LiveServer, CeleryWorker, Path, Path],
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    server, worker, _, _ = celery_stack
    caplog.set_level(logging.WARNING, logger="service.jobs.celery_runner")
    store = JobStore(sqlite_url(tmp_path / "jobs.db"))

    try:
        runner, replies = replied_runner(store, worker)
    finally:
        store.close()
    # the API's next check of the workers, which this worker replies to
    time.sleep(BROKER_CHECK_SECONDS + INSPECT_TIMEOUT_SECONDS + 1)
    health = server.client.get("/v1/health").json()

    assert replies == {worker.name: 300.0}
    assert runner.state().mismatched_visibility_timeouts == {}
    assert mismatch_lines(caplog.text) == []
    assert health["runner"]["mismatched_visibility_timeouts"] == {}
    assert mismatch_lines(server.output()) == []
