"""Uploads that jobs name: the fields that name them, and a series delete
that races a job submission naming the series, over real HTTP with a SQLite
and a PostgreSQL job store, where never both succeed."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from models.registry import Registry
from service.jobs.uploads import SeriesDeletedError, require_uploads, uploads_in
from service.settings import Settings
from tests.conftest import ROOT, LiveServer
from tests.service.jobs_support import postgres_schema, start_job_server, tiny_job

CSV = {"content-type": "text/csv"}
# the whole bundled file: parsing it at submission took about 25 ms on a
# 2-core machine, the window in which a delete can overtake the submission
BUNDLED_CSV = (ROOT / "models" / "data" / "bundled" / "NFLX.csv").read_bytes()
# races, with delays of the delete spread from 0 to 1.3 times the time that
# an unraced submission takes
RACES = 16


def test_uploads_in_names_each_field() -> None:
    upload = {"source": "upload", "series_id": "a" * 32}
    params = {
        "training": {"data": upload},
        "base": {"data": {"source": "bundled"}},
        "runs": [{"data": {**upload, "series_id": "b" * 32}}],
    }

    assert list(uploads_in(params)) == [
        ("training.data.series_id", "a" * 32),
        ("runs[0].data.series_id", "b" * 32),
    ]


def test_deleted_upload_error_names_root_path(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, root_path="/rnn")
    params = {"training": {"data": {"source": "upload", "series_id": "a" * 32}}}

    with pytest.raises(SeriesDeletedError) as caught:
        require_uploads(settings, params)

    assert caught.value.field == "training.data.series_id"
    assert caught.value.message == (
        f"the series {'a' * 32} in training.data.series_id was deleted while "
        "this job was being submitted; upload the series again with POST "
        "/rnn/v1/series and submit the job with the id that the upload returns"
    )


@pytest.fixture(params=["sqlite", "postgresql"])
def race_server(
    request: pytest.FixtureRequest, trained_registry: Registry, tmp_path: Path
) -> Iterator[LiveServer]:
    with contextlib.ExitStack() as stack:
        env = {}
        if request.param == "postgresql":
            env["RNN_FORECAST_JOB_STORE"] = stack.enter_context(postgres_schema())
        server, _, _ = start_job_server(trained_registry.root, tmp_path, env)
        stack.callback(server.stop)
        yield server


def race(url: str, series_id: str, delay: float) -> tuple[httpx.Response, ...]:
    """Send a job submission that names ``series_id`` and, ``delay`` seconds
    later, the delete of the series; return (submission, delete)."""
    spec = tiny_job(
        name="race", epochs=1, data={"source": "upload", "series_id": series_id}
    )
    answers: dict[str, httpx.Response] = {}
    barrier = threading.Barrier(2)

    def send(key: str, method: str, path: str, **kwargs: Any) -> None:
        with httpx.Client(base_url=url, timeout=60) as client:
            barrier.wait()
            if key == "delete":
                time.sleep(delay)
            answers[key] = client.request(method, path, **kwargs)

    threads = [
        threading.Thread(
            target=send,
            args=("submit", "POST", "/v1/training-jobs"),
            kwargs={"json": spec},
        ),
        threading.Thread(
            target=send, args=("delete", "DELETE", f"/v1/series/{series_id}")
        ),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return answers["submit"], answers["delete"]


def upload(client: httpx.Client) -> str:
    response = client.post("/v1/series", content=BUNDLED_CSV, headers=CSV)
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def submission_seconds(client: httpx.Client) -> float:
    """Time one unraced submission that names an upload, then cancel it."""
    data = {"source": "upload", "series_id": upload(client)}
    started = time.perf_counter()
    response = client.post("/v1/training-jobs", json=tiny_job(name="race", data=data))
    seconds = time.perf_counter() - started
    assert response.status_code == 202, response.text
    client.delete(response.headers["location"])
    return seconds


def test_delete_and_submission_never_both_succeed(race_server: LiveServer) -> None:
    client = race_server.client
    span = submission_seconds(client)
    winners = []
    for step in range(RACES):
        delay = 1.3 * span * step / (RACES - 1)
        series_id = upload(client)

        submitted, deleted = race(race_server.url, series_id, delay)

        if submitted.status_code == 202:
            winners.append("submission")
            job_id = submitted.json()["id"]
            client.delete(f"/v1/jobs/{job_id}")
            assert deleted.status_code == 409, deleted.text
            assert job_id in deleted.json()["detail"]
            continue
        winners.append("delete")
        assert deleted.status_code == 200, deleted.text
        assert submitted.status_code in (404, 409, 422), submitted.text
        detail = submitted.json()["detail"]
        assert series_id in detail
        assert "POST /v1/series" in detail
        if submitted.status_code == 409:
            assert "in data.series_id was deleted while this job was" in detail

    # the delays cover the submission, so each side won at least once
    assert set(winners) == {"submission", "delete"}, winners
