"""Training jobs over real HTTP with the in-host runner: lifecycle, progress,
cancel, queue limit, validation, API key, ETags and recovery."""

from __future__ import annotations

import math
import os
import signal
import statistics
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from models.registry import Registry
from service.cursors import encode_cursor
from tests.conftest import LiveServer
from tests.models.data.test_data_yahoo import XETRA_CACHE_MESSAGE, write_xetra_cache
from tests.service.jobs_support import (
    LONG,
    finished,
    start_job_server,
    stored_job,
    tiny_job,
    training,
    versions_of,
    wait_for_job,
    worker_pid,
)

API_KEY = "jobs-test-key-5b2e"
AUTH = {"X-API-Key": API_KEY}
PROBLEM = "application/problem+json"
MAX_EPOCHS = 400
MAX_QUEUED = 2
MAX_CONCURRENT = 2


@pytest.fixture(scope="module")
def jobs_server(
    trained_registry: Registry, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[LiveServer, Path, Path]]:
    env = {
        "RNN_FORECAST_API_KEY": API_KEY,
        "RNN_FORECAST_MAX_EPOCHS": str(MAX_EPOCHS),
        "RNN_FORECAST_MAX_QUEUED_JOBS": str(MAX_QUEUED),
        "RNN_FORECAST_MAX_CONCURRENT_JOBS": str(MAX_CONCURRENT),
        "RNN_FORECAST_JOB_CANCEL_GRACE_SECONDS": "3",
    }
    folder = tmp_path_factory.mktemp("jobs")
    env["RNN_FORECAST_CACHE_DIR"] = str(cache_dir(folder / "data"))
    server, registry, data_dir = start_job_server(trained_registry.root, folder, env)
    yield server, registry, data_dir
    server.stop()


def cache_dir(data_dir: Path) -> Path:
    """The download cache folder of the server whose data folder is
    ``data_dir``."""
    return data_dir.parent / "cache"


@pytest.fixture
def client(jobs_server: tuple[LiveServer, Path, Path]) -> httpx.Client:
    return jobs_server[0].client


def submit(client: httpx.Client, body: dict[str, Any]) -> dict[str, Any]:
    response = client.post("/v1/training-jobs", json=body, headers=AUTH)
    assert response.status_code == 202, response.text
    return response.json()


def cancel_and_wait(client: httpx.Client, job: dict[str, Any]) -> dict[str, Any]:
    response = client.delete(job["href"], headers=AUTH)
    assert response.status_code in (200, 202), response.text
    return wait_for_job(client, job["href"], finished)


def test_job_runs_to_success_with_progress(client: httpx.Client) -> None:
    response = client.post(
        "/v1/training-jobs",
        json=tiny_job(name="life", epochs=6, patience=None),
        headers=AUTH,
    )
    assert response.status_code == 202
    created = response.json()
    assert created["status"] == "queued"
    assert response.headers["location"] == f"/v1/training-jobs/{created['id']}"
    assert created["params"]["hidden_size"] == 8
    assert created["params"]["cell"] == "lstm"

    running = wait_for_job(client, created["href"], training)
    progress = running["progress"]
    assert progress["epochs"] == 6
    assert 1 <= progress["epoch"] < 6
    assert progress["train_loss"] > 0
    assert progress["val_loss"] > 0
    assert progress["elapsed_seconds"] > 0
    assert progress["eta_seconds"] > 0
    assert len(running["history"]) == progress["epoch"]
    assert running["started_at"] is not None

    done = wait_for_job(client, created["href"], finished)
    assert done["status"] == "succeeded", done
    assert done["result"]["name"] == "life"
    assert done["result"]["version"] == 1
    assert [row["epoch"] for row in done["history"]] == [1, 2, 3, 4, 5, 6]
    assert done["error"] is None
    assert done["progress"]["stage"] == "finished"
    assert done["progress"]["eta_seconds"] == 0
    assert done["progress"]["epoch"] == 6

    forecast = client.post("/v1/models/life/forecast", json={"horizon": 3})
    assert forecast.status_code == 200, forecast.text
    assert forecast.json()["version"] == 1


def test_yfinance_bars_off_sessions_fail_job(
    jobs_server: tuple[LiveServer, Path, Path],
) -> None:
    server, registry, data_dir = jobs_server
    write_xetra_cache(cache_dir(data_dir))
    data = {
        "source": "yfinance",
        "ticker": "SAP.DE",
        "start": "2020-01-16",
        "end": "2020-02-19",
    }

    created = submit(server.client, tiny_job(name="sap", data=data))
    done = wait_for_job(server.client, created["href"], finished)

    assert done["status"] == "failed", done
    assert done["error"] == XETRA_CACHE_MESSAGE
    assert versions_of(registry, "sap") == []


def test_cancel_running_job_leaves_no_checkpoint(
    jobs_server: tuple[LiveServer, Path, Path],
) -> None:
    server, registry, _ = jobs_server
    client = server.client
    job = submit(client, {**LONG, "name": "cancelled-run"})
    wait_for_job(client, job["href"], training)

    response = client.delete(job["href"], headers=AUTH)
    assert response.status_code == 202
    assert response.json()["cancel_requested"] is True

    done = wait_for_job(client, job["href"], finished, timeout=30)
    assert done["status"] == "cancelled"
    assert versions_of(registry, "cancelled-run") == []
    assert list((registry / "cancelled-run").glob(".tmp-*")) == []

    again = client.delete(job["href"], headers=AUTH)
    assert again.status_code == 409
    assert again.headers["content-type"] == PROBLEM
    assert "has already finished with status cancelled" in again.json()["detail"]


def test_queue_limit_cancel_and_listing(client: httpx.Client) -> None:
    running = [submit(client, {**LONG, "name": f"queue-{i}"}) for i in range(2)]
    for job in running:
        wait_for_job(client, job["href"], lambda job: job["status"] == "running")
    first = submit(client, {**LONG, "name": "queue-b"})
    second = submit(client, {**LONG, "name": "queue-c"})

    full = client.post("/v1/training-jobs", json=tiny_job(), headers=AUTH)
    assert full.status_code == 429
    assert full.headers["content-type"] == PROBLEM
    assert full.headers["retry-after"] == "10"
    assert f"the limit is {MAX_QUEUED}" in full.json()["detail"]
    assert "RNN_FORECAST_MAX_QUEUED_JOBS" in full.json()["detail"]

    queued = client.get("/v1/training-jobs", params={"status": "queued"}).json()
    assert [job["id"] for job in queued["jobs"]] == [second["id"], first["id"]]
    assert all(job["history"] is None for job in queued["jobs"])
    assert [job["progress"] for job in queued["jobs"]] == [{"stage": "queued"}] * 2
    page = client.get("/v1/training-jobs", params={"status": "queued", "limit": 1})
    assert [job["id"] for job in page.json()["jobs"]] == [second["id"]]
    cursor = page.json()["next_cursor"]
    assert cursor is not None
    rest = client.get(
        "/v1/training-jobs", params={"status": "queued", "limit": 1, "cursor": cursor}
    )
    assert [job["id"] for job in rest.json()["jobs"]] == [first["id"]]
    assert rest.json()["next_cursor"] is None
    whole = client.get("/v1/training-jobs", params={"status": "queued", "limit": 2})
    assert len(whole.json()["jobs"]) == 2
    assert whole.json()["next_cursor"] is None
    moved = encode_cursor("1.0", first["id"])
    assert client.get("/v1/jobs", params={"cursor": moved}).status_code == 422

    etag = client.get(first["href"]).headers["etag"]
    response = client.delete(first["href"], headers={**AUTH, "If-Match": etag})
    assert response.status_code == 200
    assert response.json()["status"] == "cancelled"
    assert response.json()["progress"] == {"stage": "finished", "eta_seconds": 0.0}
    assert cancel_and_wait(client, second)["status"] == "cancelled"
    for job in running:
        assert cancel_and_wait(client, job)["status"] == "cancelled"


def test_running_job_cancel_preconditions(client: httpx.Client) -> None:
    job = submit(client, {**LONG, "name": "conditional"})
    wait_for_job(client, job["href"], training)

    star = client.delete(job["href"], headers={**AUTH, "If-None-Match": "*"})
    bogus = client.delete(
        f"/v1/jobs/{job['id']}", headers={**AUTH, "If-Match": '"bogus"'}
    )
    after = client.get(job["href"]).json()

    assert star.status_code == 412
    assert star.headers["content-type"] == PROBLEM
    assert star.headers["etag"].startswith(f'"{job["id"]}.')
    assert bogus.status_code == 412
    assert bogus.headers["etag"].startswith(f'"{job["id"]}.')
    assert after["status"] == "running"
    assert after["cancel_requested"] is False
    assert cancel_and_wait(client, job)["status"] == "cancelled"


def test_finished_job_cancel_preconditions(client: httpx.Client) -> None:
    job = submit(client, tiny_job(name="conditional-done"))
    wait_for_job(client, job["href"], finished)
    etag = client.get(job["href"]).headers["etag"]

    stale = client.delete(job["href"], headers={**AUTH, "If-Match": '"other"'})
    weak = client.delete(job["href"], headers={**AUTH, "If-Match": f"W/{etag}"})
    listed = client.delete(
        f"/v1/jobs/{job['id']}", headers={**AUTH, "If-None-Match": f'"x", {etag}'}
    )
    matched = client.delete(job["href"], headers={**AUTH, "If-Match": etag})

    assert stale.status_code == 412
    assert stale.headers["etag"] == etag
    assert weak.status_code == 412
    assert listed.status_code == 412
    assert "If-None-Match" in listed.json()["detail"]
    # the precondition holds, so the cancel fails only because the job finished
    assert matched.status_code == 409


def test_forecast_fast_during_training(client: httpx.Client) -> None:
    job = submit(client, {**LONG, "name": "busy"})
    wait_for_job(client, job["href"], training)

    seconds = []
    for _ in range(50):
        started = time.perf_counter()
        response = client.post("/v1/models/nflx/forecast", json={"horizon": 5})
        seconds.append(time.perf_counter() - started)
        assert response.status_code == 200

    still = client.get(job["href"]).json()
    assert still["status"] == "running"
    assert statistics.median(seconds) < 0.1
    assert cancel_and_wait(client, job)["status"] == "cancelled"


def test_killed_worker_fails_job_at_once(
    jobs_server: tuple[LiveServer, Path, Path],
) -> None:
    server, _, data_dir = jobs_server
    job = submit(server.client, {**LONG, "name": "killed"})
    wait_for_job(server.client, job["href"], training)

    os.kill(worker_pid(data_dir, job["id"]), signal.SIGKILL)
    killed_at = time.monotonic()
    done = wait_for_job(server.client, job["href"], finished, timeout=30)

    assert done["status"] == "failed"
    assert done["error"].startswith("interrupted: worker process")
    assert "SIGKILL" in done["error"]
    assert time.monotonic() - killed_at < 5


def test_generic_jobs_endpoint_runs_train(client: httpx.Client) -> None:
    kinds = client.get("/v1/job-kinds").json()["kinds"]
    assert "train" in [kind["name"] for kind in kinds]

    response = client.post(
        "/v1/jobs",
        json={"kind": "train", "params": tiny_job(name="generic")},
        headers=AUTH,
    )
    assert response.status_code == 202, response.text
    job = response.json()
    assert response.headers["location"] == f"/v1/jobs/{job['id']}"

    done = wait_for_job(client, job["href"], finished)
    assert done["status"] == "succeeded", done
    same = client.get(f"/v1/training-jobs/{job['id']}").json()
    assert same["result"] == done["result"]


@pytest.mark.parametrize(
    ("body", "field", "text"),
    [
        ({"bogus": 1}, "bogus", "Extra inputs are not permitted"),
        ({"epochs": 450}, "epochs", "RNN_FORECAST_MAX_EPOCHS"),
        ({"hidden_size": 5000}, "hidden_size", "less than or equal to 512"),
        (
            {"dropout": 0.2, "num_layers": 1},
            "dropout",
            "has no effect with num_layers=1",
        ),
        (
            {
                "name": "ranged",
                "data": {
                    "source": "yfinance",
                    "ticker": "NFLX",
                    "start": "2020-01-01",
                    "end": "2019-01-01",
                },
            },
            "data.end",
            "data.end 2019-01-01 must be after data.start 2020-01-01",
        ),
        (
            {
                "name": "ranged",
                "data": {"source": "yfinance", "ticker": "IBM", "end": "1989-06-01"},
            },
            "data.end",
            "data.end 1989-06-01 leaves no NYSE session to download",
        ),
        (
            {
                "name": "ranged",
                "data": {"source": "yfinance", "ticker": "IBM", "start": "2201-01-02"},
            },
            "data.start",
            "data.start 2201-01-02 is after 2200-12-31",
        ),
        ({"data": {"source": "csv", "path": "/etc/passwd"}}, "data.source", "upload"),
        (
            {"data": {"source": "upload", "series_id": "a" * 32}},
            "data.series_id",
            "not found",
        ),
        (
            {"data": {"source": "upload", "series_id": "../x"}},
            "data.series_id",
            "'../x' is not a series id; send the id of 32 lowercase hex "
            "characters that POST /v1/series returned",
        ),
        ({"data": {"source": "synthetic", "length": 10}}, "data.length", ""),
        (
            {"name": "sine", "data": {"source": "synthetic", "generator": "sine"}},
            "target",
            "use target price or raise data.level",
        ),
        (
            {
                "name": "short",
                "target": "price",
                "lookback": 512,
                "data": {"source": "synthetic", "length": 50},
            },
            "data",
            "series of 50 rows is too short for lookback=512, horizon=10",
        ),
        ({"name": "Bad Name"}, "name", "A name may contain only lowercase letters"),
        (
            {"target": "price", "data": {"source": "synthetic", "length": 60}},
            "name",
            "name is missing: the default name nflx is only for the bundled",
        ),
    ],
)
def test_invalid_training_job_rejected(
    client: httpx.Client, body: dict[str, Any], field: str, text: str
) -> None:
    response = client.post("/v1/training-jobs", json=body, headers=AUTH)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == PROBLEM
    problem = response.json()
    assert field in [error["field"] for error in problem["errors"]]
    assert text in problem["detail"]


def test_generic_job_params_rejected(client: httpx.Client) -> None:
    unknown = client.post("/v1/jobs", json={"kind": "nope"}, headers=AUTH)
    assert unknown.status_code == 422
    assert "known kinds are" in unknown.json()["detail"]
    assert "'train'" in unknown.json()["detail"]

    bad = client.post(
        "/v1/jobs", json={"kind": "train", "params": {"epochs": 0}}, headers=AUTH
    )
    assert bad.status_code == 422
    assert bad.json()["errors"][0]["field"] == "params.epochs"


def test_malformed_json_rejected(client: httpx.Client) -> None:
    response = client.post(
        "/v1/training-jobs",
        content=b'{"epochs": ',
        headers={**AUTH, "content-type": "application/json"},
    )
    assert response.status_code == 422
    assert response.headers["content-type"] == PROBLEM


def test_unknown_job_not_found(client: httpx.Client) -> None:
    response = client.get(f"/v1/training-jobs/{'0' * 32}")
    assert response.status_code == 404
    assert response.headers["content-type"] == PROBLEM
    assert client.get("/v1/training-jobs", params={"cursor": "%%%"}).status_code == 422


def test_api_key_guards_mutations(client: httpx.Client) -> None:
    missing = client.post("/v1/training-jobs", json=tiny_job())
    assert missing.status_code == 401
    assert missing.headers["content-type"] == PROBLEM
    assert "X-API-Key" in missing.json()["detail"]

    wrong = client.post(
        "/v1/training-jobs", json=tiny_job(), headers={"X-API-Key": "wrong"}
    )
    assert wrong.status_code == 403
    assert API_KEY not in wrong.text

    assert client.delete(f"/v1/training-jobs/{'0' * 32}").status_code == 401
    assert client.post("/v1/jobs", json={"kind": "train"}).status_code == 401
    assert client.get("/v1/training-jobs").status_code == 200
    assert client.get("/v1/models").status_code == 200


def test_job_etag_answers_304(client: httpx.Client) -> None:
    response = client.post("/v1/training-jobs", json=LONG, headers=AUTH)
    job = response.json()
    queued_etag = response.headers["etag"]
    cancel_and_wait(client, job)
    etag = client.get(job["href"]).headers["etag"]

    same = client.get(job["href"], headers={"If-None-Match": etag})
    weak = client.get(job["href"], headers={"If-None-Match": f'"x", W/{etag}'})
    old = client.get(job["href"], headers={"If-None-Match": queued_etag})

    assert same.status_code == 304
    assert same.content == b""
    assert same.headers["etag"] == etag
    assert weak.status_code == 304
    assert old.status_code == 200
    assert old.json()["status"] == "cancelled"
    assert etag != queued_etag


def test_restart_marks_interrupted_job(
    trained_registry: Registry, tmp_path: Path
) -> None:
    first, _, data_dir = start_job_server(trained_registry.root, tmp_path)
    job = submit(first.client, {**LONG, "name": "restart"})
    wait_for_job(first.client, job["href"], training)
    child = worker_pid(data_dir, job["id"])

    # kill -9 the API and its worker: nothing gets to record the end
    first.process.kill()
    os.kill(child, signal.SIGKILL)
    first.stop()

    second, _, _ = start_job_server(trained_registry.root, tmp_path)
    try:
        done = wait_for_job(second.client, job["href"], finished, timeout=30)
    finally:
        second.stop()
    assert done["status"] == "failed"
    assert done["error"].startswith("interrupted:")
    assert stored_job(data_dir, job["id"]).finished_at is not None


def test_concurrent_jobs_get_distinct_versions(
    jobs_server: tuple[LiveServer, Path, Path],
) -> None:
    server, registry, _ = jobs_server
    twins = [
        tiny_job(name="twin", seed=seed, epochs=20, patience=None) for seed in (1, 2)
    ]
    jobs = [submit(server.client, body) for body in twins]
    done = [wait_for_job(server.client, job["href"], finished) for job in jobs]

    assert [job["status"] for job in done] == ["succeeded", "succeeded"]
    # the two runs overlapped in time: each started before the other finished
    first, second = done
    assert first["started_at"] < second["finished_at"]
    assert second["started_at"] < first["finished_at"]
    assert sorted(job["result"]["version"] for job in done) == [1, 2]
    store = Registry(registry)
    for job in done:
        loaded = store.load("twin", job["result"]["version"])
        assert loaded.metadata["spec"]["seed"] == job["params"]["seed"]


def test_other_kind_under_training_jobs(client: httpx.Client) -> None:
    """Check that a job of another kind under /v1/training-jobs is a 404
    that names the path serving it."""
    body = {"kind": "backtest", "params": {"training": {**LONG, "name": "bt"}}}
    submitted = client.post("/v1/jobs", json=body, headers=AUTH)
    assert submitted.status_code == 202, submitted.text
    job_id = submitted.json()["id"]

    read = client.get(f"/v1/training-jobs/{job_id}")
    cancel = client.delete(f"/v1/training-jobs/{job_id}", headers=AUTH)
    cancel_and_wait(client, submitted.json())

    expected = (
        f"train job {job_id!r} not found; it is a backtest job, which "
        f"/v1/jobs/{job_id} serves"
    )
    assert read.status_code == 404
    assert read.json()["detail"] == expected
    assert cancel.status_code == 404
    assert cancel.json()["detail"] == expected


def test_negative_zero_dropout_stored_as_zero(client: httpx.Client) -> None:
    """Check that a dropout of -0.0 becomes 0.0 in the job's params, the
    version's spec and a tuning job's search space."""
    body = tiny_job(name="unsigned-zero", num_layers=2, dropout=-0.0)
    job = submit(client, body)
    done = wait_for_job(client, job["href"], finished)
    version = client.get("/v1/models/unsigned-zero/versions/1").json()
    tuning = client.post(
        "/v1/jobs",
        json={"kind": "tuning", "params": {"space": {"dropout": [-0.0, 0.3]}}},
        headers=AUTH,
    )
    assert tuning.status_code == 202, tuning.text
    cancel_and_wait(client, tuning.json())

    assert done["status"] == "succeeded", done
    assert math.copysign(1.0, job["params"]["dropout"]) == 1.0
    assert math.copysign(1.0, done["params"]["dropout"]) == 1.0
    assert math.copysign(1.0, version["spec"]["dropout"]) == 1.0
    low, high = tuning.json()["params"]["space"]["dropout"]
    assert math.copysign(1.0, low) == 1.0
    assert high == 0.3
