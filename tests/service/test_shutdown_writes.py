"""An API shut down while an in-host job writes its version: the job ends
``failed`` with an error that states it was writing, and, when the version is in
place, a result that names it."""

from __future__ import annotations

from pathlib import Path

from models.registry import Registry
from tests.conftest import TINY
from tests.service.jobs_support import (
    pause_after_write_path,
    start_job_server,
    stored_job,
    wait_for_version,
)


def test_shutdown_after_write_gets_version(
    trained_registry: Registry, tmp_path: Path
) -> None:
    hooks = tmp_path / "hooks"
    hooks.mkdir()
    env = {"PYTHONPATH": pause_after_write_path(hooks)}
    server, registry, data_dir = start_job_server(trained_registry.root, tmp_path, env)
    name = "paused-shutdown"
    body = {**TINY, "name": name, "epochs": 1, "patience": None}
    try:
        job = server.client.post("/v1/training-jobs", json=body).json()
        wait_for_version(registry, name)
    finally:
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
