"""An API shut down or killed while an in-host job writes its version: the job
ends ``failed`` with an error that states it was writing, and, when the version
is in place, a result that names it."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path
from typing import Any

from models.registry import Registry
from tests.conftest import TINY, LiveServer
from tests.service.jobs_support import (
    FINISHED,
    pause_after_write_path,
    start_job_server,
    stored_job,
    wait_for_version,
)


def start_paused_job(
    trained_registry: Registry, tmp_path: Path, name: str
) -> tuple[LiveServer, Path, dict[str, Any]]:
    """Start a server whose registry writes pause once a version is in place
    (``pause_after_write_path``), submit a one-epoch job for ``name`` and wait
    until its version is in place. Return the server, its data folder and the
    job."""
    hooks = tmp_path / "hooks"
    hooks.mkdir()
    env = {"PYTHONPATH": pause_after_write_path(hooks)}
    server, registry, data_dir = start_job_server(trained_registry.root, tmp_path, env)
    body = {**TINY, "name": name, "epochs": 1, "patience": None}
    try:
        job = server.client.post("/v1/training-jobs", json=body).json()
        wait_for_version(registry, name)
    except BaseException:
        server.stop()
        raise
    return server, data_dir, job


def test_shutdown_after_write_gets_version(
    trained_registry: Registry, tmp_path: Path
) -> None:
    name = "paused-shutdown"
    server, data_dir, job = start_paused_job(trained_registry, tmp_path, name)

    server.stop()

    stored = stored_job(data_dir, job["id"])
    assert stored.status == "failed"
    assert stored.result == {"name": name, "version": 1}
    assert stored.error == (
        "interrupted: the API shut down while the job was writing its version, "
        "so the version may exist. List the model's versions before you submit "
        f"the job again. Version 1 of {name} was written before the worker "
        "stopped, and result names it; use that version instead of submitting "
        "the job again"
    )


def test_killed_api_after_write_gets_version(
    trained_registry: Registry, tmp_path: Path
) -> None:
    name = "paused-orphan"
    server, data_dir, job = start_paused_job(trained_registry, tmp_path, name)
    api_pid = server.process.pid

    os.kill(api_pid, signal.SIGKILL)
    server.process.wait()
    server.stop()

    # the orphaned worker notices within about a second that the API is gone
    deadline = time.monotonic() + 30
    while stored_job(data_dir, job["id"]).status not in FINISHED:
        assert time.monotonic() < deadline, "the orphaned worker did not end"
        time.sleep(0.2)
    stored = stored_job(data_dir, job["id"])
    assert stored.status == "failed"
    assert stored.result == {"name": name, "version": 1}
    assert stored.error == (
        f"interrupted: the API process (pid {api_pid}) that started this job "
        "exited while it was writing its version, so the version may exist. "
        "List the model's versions before you submit the job again. Version 1 "
        f"of {name} was written before the worker stopped, and result names it; "
        "use that version instead of submitting the job again"
    )
