"""kill -9 of a training worker at 20 random moments of its run: the registry
never contains a partial version and no job stays ``running``.

An unkilled run first measures how long a job's worker lives; each kill then
comes after a delay drawn from a seeded generator over 0 to 1.1 times that
span, so the kills land in data loading, in the epochs, while the version is
written, and now and then after the worker has already finished. A kill that
finds the worker gone shortens the span to its delay.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from models.registry import METADATA_FILE, WEIGHTS_FILE, Registry
from tests.conftest import TINY, LiveServer
from tests.service.jobs_support import (
    finished,
    start_job_server,
    wait_for_job,
    worker_pid,
)

API_KEY = "kill-test-key-71c4"
AUTH = {"X-API-Key": API_KEY}
MODEL = "killed-run"
KILLS = 20
SEED = 20_2612
JOB = {
    **TINY,
    "name": MODEL,
    "epochs": 3,
    "patience": None,
    "target": "price",
    "data": {"source": "synthetic", "generator": "noisy_sine", "length": 400},
}


@pytest.fixture(scope="module")
def kill_server(
    trained_registry: Registry, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[LiveServer, Path, Path]]:
    server, registry, data_dir = start_job_server(
        trained_registry.root,
        tmp_path_factory.mktemp("kills"),
        env={"RNN_FORECAST_API_KEY": API_KEY, "RNN_FORECAST_LOG_LEVEL": "warning"},
    )
    yield server, registry, data_dir
    server.stop()


def submit(server: LiveServer) -> dict[str, Any]:
    response = server.client.post("/v1/training-jobs", json=JOB, headers=AUTH)
    assert response.status_code == 202, response.text
    return response.json()


def assert_versions_complete(registry: Path) -> list[int]:
    """Check every folder under ``versions/``: metadata, weights whose sha256
    matches the metadata, and a version that loads. Returns the numbers."""
    folder = registry / MODEL / "versions"
    if not folder.is_dir():
        return []
    numbers = []
    for path in folder.iterdir():
        assert path.name.isdigit(), f"stray entry {path.name} in versions/"
        meta = json.loads((path / METADATA_FILE).read_text())
        weights = (path / WEIGHTS_FILE).read_bytes()
        assert hashlib.sha256(weights).hexdigest() == meta["weights"]["sha256"]
        numbers.append(int(path.name))

    store = Registry(registry)
    assert store.versions(MODEL) == sorted(numbers)
    for number in numbers:
        assert store.load(MODEL, number).version == number
    return sorted(numbers)


def test_worker_kills_leave_no_partial_version(
    kill_server: tuple[LiveServer, Path, Path],
) -> None:
    server, registry, data_dir = kill_server

    # two unkilled runs: the first also starts the fork server that imports
    # torch, the second measures the span of a worker's life
    for expected in ([1], [1, 2]):
        job = submit(server)
        worker_pid(data_dir, job["id"])
        started = time.monotonic()
        done = wait_for_job(server.client, job["href"], finished)
        span = time.monotonic() - started
        assert done["status"] == "succeeded", done["error"]
        assert assert_versions_complete(registry) == expected

    rng = random.Random(SEED)
    outcomes: dict[str, int] = {}
    hits = 0
    hrefs = {}
    for _ in range(KILLS):
        job = submit(server)
        hrefs[job["id"]] = job["href"]
        pid = worker_pid(data_dir, job["id"])
        delay = rng.uniform(0.0, 1.1 * span)
        time.sleep(delay)
        try:
            os.kill(pid, signal.SIGKILL)
            hits += 1
        except ProcessLookupError:
            # The worker lived less than the delay. A span measured while
            # other processes loaded the machine shrinks, so the later kills
            # still land in the worker's life.
            span = min(span, delay)

        done = wait_for_job(server.client, job["href"], finished, timeout=30)
        outcomes[done["status"]] = outcomes.get(done["status"], 0) + 1
        if done["status"] == "failed":
            assert "SIGKILL" in done["error"], done["error"]
        else:
            assert done["status"] == "succeeded", done["error"]
        assert_versions_complete(registry)

    running = server.client.get("/v1/training-jobs", params={"status": "running"})
    assert running.json()["jobs"] == []
    # each version of a killed run names its job, whose result names the
    # version, even when the kill came after the version was in place
    for number in assert_versions_complete(registry)[2:]:
        detail = server.client.get(f"/v1/models/{MODEL}/versions/{number}")
        writer = server.client.get(hrefs[detail.json()["job_id"]]).json()
        assert writer["result"]["version"] == number, writer
    assert hits >= KILLS // 2, f"only {hits} kills hit a live worker"
    assert outcomes.get("failed", 0) >= KILLS // 2, outcomes

    # the API still trains and serves after the kills
    job = submit(server)
    done = wait_for_job(server.client, job["href"], finished)
    assert done["status"] == "succeeded", done["error"]
    version = done["result"]["version"]
    assert assert_versions_complete(registry)[-1] == version
    detail = server.client.get(f"/v1/models/{MODEL}/versions/{version}")
    assert detail.json()["job_id"] == job["id"]
    forecast = server.client.post(f"/v1/models/{MODEL}/forecast", json={})
    assert forecast.status_code == 200
    assert forecast.json()["version"] == version
