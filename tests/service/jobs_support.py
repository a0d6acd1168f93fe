"""Helpers for the job tests: tiny specs, polling and job servers."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.exc import OperationalError

from service.jobs.store import Job, JobStore, sqlite_url
from service.settings import Settings
from tests.conftest import ROOT, TINY, LiveServer

FINISHED = ("succeeded", "failed", "cancelled")

POSTGRES_URL = os.environ.get(
    "RNN_FORECAST_TEST_POSTGRES", "postgresql+psycopg://root@127.0.0.1:5432/test"
)
# the start of each test schema's name, so that users who share a database
# can keep their schemas apart
POSTGRES_SCHEMA_PREFIX = os.environ.get(
    "RNN_FORECAST_TEST_POSTGRES_SCHEMA_PREFIX", "jobs_test"
)

# a run long enough to watch and cancel: about 0.5 s per epoch on 2 cores
LONG = {**TINY, "epochs": 300, "patience": None}
# a spec of jobs that train a few seconds on a synthetic series with a price
# target, for backtest and tuning jobs
TRAINING = {
    "name": "jobbed",
    "hidden_size": 4,
    "num_layers": 1,
    "lookback": 10,
    "horizon": 3,
    "epochs": 1,
    "batch_size": 128,
    "target": "price",
    "data": {"source": "synthetic", "generator": "noisy_sine", "length": 300},
}

# models whose registry writes sleep once the version is in place, in a process
# started with ``pause_after_write_path``
PAUSED_PREFIX = "paused-"
PAUSE_HOOK = f"""\
import time

from models import registry

_write = registry.Registry.write


def _write_then_pause(self, name, *args, **kwargs):
    version = _write(self, name, *args, **kwargs)
    if name.startswith({PAUSED_PREFIX!r}):
        time.sleep(600)
    return version


registry.Registry.write = _write_then_pause
"""


def pause_after_write_path(folder: Path) -> str:
    """Write a ``sitecustomize`` module into ``folder`` and return a
    PYTHONPATH under which every process imports it. In such a process a
    registry write of a model whose name starts with ``PAUSED_PREFIX`` sleeps
    600 s once the version is in place, so a test can kill its worker
    between the write and the job's end."""
    (folder / "sitecustomize.py").write_text(PAUSE_HOOK)
    return os.pathsep.join([str(folder), str(ROOT)])


def wait_for_version(registry: Path, name: str, timeout: float = 120.0) -> None:
    """Wait until version 1 of ``name`` is in place in ``registry``."""
    metadata = registry / name / "versions" / "1" / "metadata.json"
    deadline = time.monotonic() + timeout
    while not metadata.is_file():
        assert time.monotonic() < deadline, f"no version of {name} in {timeout} s"
        time.sleep(0.1)


def folder_settings(tmp_path: Path) -> Settings:
    """Return settings whose registry, data and cache folders lie in
    ``tmp_path``."""
    return Settings(
        registry=tmp_path / "registry",
        data_dir=tmp_path / "data",
        cache_dir=tmp_path / "cache",
    )


def tiny_job(**overrides: Any) -> dict[str, Any]:
    """A training-job body that trains in about a second."""
    return {**TINY, **overrides}


def tuning_params(cells: list[str], **overrides: object) -> dict[str, Any]:
    """Return the params of a tuning job of one tiny trial that searches
    ``cells`` and registers no version."""
    return {
        "base": TRAINING,
        "space": {"cells": cells, "hidden_size": [4, 4], "num_layers": [1, 1]},
        "trials": 1,
        "startup_trials": 1,
        "register_version": False,
        **overrides,
    }


def wait_for_job(
    client: httpx.Client,
    href: str,
    until: Callable[[dict[str, Any]], bool],
    timeout: float = 90.0,
    pause: float = 0.05,
) -> dict[str, Any]:
    """Poll ``href`` every ``pause`` seconds until ``until(job)``; fail after
    ``timeout``."""
    deadline = time.monotonic() + timeout
    job: dict[str, Any] = {}
    while time.monotonic() < deadline:
        response = client.get(href)
        assert response.status_code == 200, response.text
        job = response.json()
        if until(job):
            return job
        time.sleep(pause)
    raise AssertionError(f"job at {href} did not reach the state in {timeout} s: {job}")


def finished(job: dict[str, Any]) -> bool:
    return job["status"] in FINISHED


def cancel_after_last_epoch(
    client: httpx.Client,
    href: str,
    headers: dict[str, str] | None = None,
    timeout: float = 90.0,
) -> httpx.Response:
    """Poll ``href`` without pause until the job has reported its last epoch
    or has finished, then send DELETE; return the cancel response."""
    wait_for_job(client, href, after_last_epoch, timeout=timeout, pause=0)
    return client.delete(href, headers=headers)


def after_last_epoch(job: dict[str, Any]) -> bool:
    """Return True once ``job`` has finished or reported its last epoch."""
    progress = job.get("progress") or {}
    epoch = progress.get("epoch", 0)
    return finished(job) or (epoch >= 1 and epoch == progress.get("epochs"))


def check_late_cancel(
    cancel: httpx.Response, done: dict[str, Any], registry: Path
) -> None:
    """Check the end of a train job whose cancel request came after its last
    epoch. A 202 must end ``cancelled`` with no version, and a 409 (the job
    was writing its version or had finished) must end ``succeeded`` with
    version 1. Neither leaves a temporary folder in the registry."""
    name = done["params"]["name"]
    if cancel.status_code == 202:
        assert done["status"] == "cancelled", done
        assert done["result"] is None
        assert versions_of(registry, name) == []
    else:
        assert cancel.status_code == 409, cancel.text
        assert cancel.json()["detail"] in (
            writing_conflict(done["id"]),
            f"job {done['id']} has already finished with status succeeded; "
            "only queued or running jobs can be cancelled",
        )
        assert done["status"] == "succeeded", done
        assert done["result"]["version"] == 1
        assert versions_of(registry, name) == ["1"]
    assert list((registry / name).glob(".tmp-*")) == []


def writing_conflict(job_id: str) -> str:
    """The detail of a 409 to a cancel of a job that is writing its version."""
    return (
        f"job {job_id} has finished training and is writing its version to "
        "the registry, so it can no longer be cancelled; wait for it to "
        "finish with the new version"
    )


def training(job: dict[str, Any]) -> bool:
    """Running with at least one epoch done."""
    progress = job.get("progress") or {}
    return job["status"] == "running" and progress.get("epoch", 0) >= 1


def stored_job(data_dir: Path, job_id: str) -> Job:
    """The job as the store has it, including its worker label."""
    store = JobStore(sqlite_url(data_dir / "jobs.db"))
    try:
        return store.get(job_id)
    finally:
        store.close()


def worker_pid(data_dir: Path, job_id: str, timeout: float = 30.0) -> int:
    """The pid of the child process that runs ``job_id``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = stored_job(data_dir, job_id)
        if job.worker is not None:
            pid = int(job.worker.rpartition(":")[2])
            if pid != job_server_pid(data_dir):
                return pid
        time.sleep(0.05)
    raise AssertionError(f"job {job_id} got no worker process in {timeout} s")


def job_server_pid(data_dir: Path) -> int:
    return int((data_dir / "server.pid").read_text())


def start_job_server(
    registry_source: Path, tmp_path: Path, env: dict[str, str] | None = None
) -> tuple[LiveServer, Path, Path]:
    """A server on a copy of ``registry_source`` with its own data folder;
    returns (server, registry, data_dir)."""
    registry = tmp_path / "registry"
    if not registry.exists():
        shutil.copytree(registry_source, registry)
    data_dir = tmp_path / "data"
    data_dir.mkdir(exist_ok=True)
    server = LiveServer(
        registry, env={"RNN_FORECAST_DATA_DIR": str(data_dir), **(env or {})}
    )
    (data_dir / "server.pid").write_text(str(server.process.pid))
    return server, registry, data_dir


def versions_of(registry: Path, name: str) -> list[str]:
    folder = registry / name / "versions"
    return sorted(p.name for p in folder.iterdir()) if folder.is_dir() else []


@contextlib.contextmanager
def postgres_schema() -> Iterator[str]:
    """Yield the URL of a new, empty PostgreSQL schema of its own, dropped
    afterwards. Skips the test when there is no server, except in CI."""
    if not re.fullmatch(r"[a-z_][a-z0-9_]{0,40}", POSTGRES_SCHEMA_PREFIX):
        raise ValueError(
            "RNN_FORECAST_TEST_POSTGRES_SCHEMA_PREFIX must be 1 to 41 lowercase "
            "letters, digits or underscores, not starting with a digit; got "
            f"{POSTGRES_SCHEMA_PREFIX!r}"
        )
    schema = f"{POSTGRES_SCHEMA_PREFIX}_{uuid.uuid4().hex[:12]}"
    admin = create_engine(POSTGRES_URL)
    try:
        with admin.begin() as conn:
            conn.execute(text(f"CREATE SCHEMA {schema}"))
    except OperationalError as exc:
        admin.dispose()
        if os.environ.get("CI") == "true":
            raise
        pytest.skip(f"no PostgreSQL at {POSTGRES_URL} ({exc.orig}); CI runs these")

    try:
        yield f"{POSTGRES_URL}?options=-csearch_path%3D{schema}"
    finally:
        with admin.begin() as conn:
            conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
        admin.dispose()


@contextlib.contextmanager
def open_job_store(backend: str, tmp_path: Path) -> Iterator[JobStore]:
    """Yield a job store on ``backend`` (``sqlite`` in ``tmp_path``, or
    ``postgresql`` in a schema of its own) and close it afterwards."""
    if backend == "sqlite":
        job_store = JobStore(sqlite_url(tmp_path / "jobs.db"))
        yield job_store
        job_store.close()
        return

    with postgres_schema() as url:
        job_store = JobStore(url)
        yield job_store
        job_store.close()
