"""The API paths in the errors of a job that a Celery worker runs start
with the root path of the API that published the job, which the task's
message carries. A message without it uses the worker's own
``RNN_FORECAST_ROOT_PATH``. Real Redis, real ``celery worker`` processes."""

from __future__ import annotations

import base64
import json
import time
from pathlib import Path

from models.registry import Registry
from service.jobs.celery_app import (
    JOB_QUEUE,
    ROOT_PATH_HEADER,
    RUN_JOB_TASK,
    make_celery,
)
from service.jobs.celery_runner import CeleryRunner
from service.jobs.store import FINISHED, Job, JobStore, sqlite_url
from service.settings import Settings
from tests.conftest import ROOT
from tests.service.jobs_support import finished, tiny_job
from tests.service.test_celery import (
    BROKER_URL,
    CeleryWorker,
    redis_or_skip,
    running_stack,
    wait_with_worker,
)

CSV = {"content-type": "text/csv"}
BUNDLED_CSV = (ROOT / "models" / "data" / "bundled" / "NFLX.csv").read_bytes()
# params of a train job whose series id no longer validates in the worker
INVALID_SERIES_PARAMS = tiny_job(
    name="stale", data={"source": "upload", "series_id": "not-an-id"}
)


def test_worker_error_names_api_root_path(
    trained_registry: Registry, tmp_path: Path
) -> None:
    """Check a job whose upload is missing from the worker's data folder,
    as on a worker host that does not share the API's, and whose worker has
    no root path setting."""
    worker_data = tmp_path / "worker-data"
    worker_data.mkdir()
    worker_env = {
        "RNN_FORECAST_ROOT_PATH": "",
        "RNN_FORECAST_DATA_DIR": str(worker_data),
        "RNN_FORECAST_JOB_STORE": sqlite_url(tmp_path / "data" / "jobs.db"),
    }
    api_env = {"RNN_FORECAST_ROOT_PATH": "/rnn"}

    with running_stack(trained_registry, tmp_path, api_env, worker_env) as stack:
        server, worker, _, _ = stack
        upload = server.client.post("/v1/series", content=BUNDLED_CSV, headers=CSV)
        assert upload.status_code == 201, upload.text
        series_id = upload.json()["id"]
        data = {"source": "upload", "series_id": series_id}
        response = server.client.post(
            "/v1/training-jobs", json=tiny_job(name="rooted", data=data)
        )
        assert response.status_code == 202, response.text
        # the href starts with /rnn, which a proxy in front of the API removes
        href = f"/v1/training-jobs/{response.json()['id']}"
        done = wait_with_worker(worker, server.client, href, finished)

    assert done["status"] == "failed"
    assert done["error"] == (
        f"series {series_id} not found; upload it with POST /rnn/v1/series and "
        "use the id that the upload returns"
    )


def test_message_without_root_path_runs(tmp_path: Path) -> None:
    """Check a message from an API that sends only the job id, beside one
    that sends a root path, on a worker whose root path is ``/worker``."""
    client = redis_or_skip()
    client.flushdb()
    store = JobStore(sqlite_url(tmp_path / "jobs.db"))
    env = {
        "RNN_FORECAST_RUNNER": "celery",
        "RNN_FORECAST_BROKER_URL": BROKER_URL,
        "RNN_FORECAST_JOB_STORE": sqlite_url(tmp_path / "jobs.db"),
        "RNN_FORECAST_REGISTRY": str(tmp_path / "registry"),
        "RNN_FORECAST_DATA_DIR": str(tmp_path / "data"),
        "RNN_FORECAST_ROOT_PATH": "/worker",
    }
    worker = CeleryWorker(env, tmp_path / "worker.log")
    try:
        old_style = store.create("train", INVALID_SERIES_PARAMS)
        rooted = store.create("train", INVALID_SERIES_PARAMS)
        celery = make_celery(BROKER_URL)
        celery.send_task(RUN_JOB_TASK, args=[old_style.id])
        celery.send_task(
            RUN_JOB_TASK, args=[rooted.id], headers={ROOT_PATH_HEADER: "/rnn"}
        )
        old_done = wait_in_store(store, worker, old_style.id)
        rooted_done = wait_in_store(store, worker, rooted.id)
    finally:
        worker.stop()
        store.close()
        client.flushdb()
        client.close()

    assert old_done.status == "failed"
    assert old_done.error == invalid_series_error("/worker")
    assert rooted_done.status == "failed"
    assert rooted_done.error == invalid_series_error("/rnn")


def test_root_path_sent_as_header(tmp_path: Path) -> None:
    """Check that the API's message carries its root path in a header and
    the job id as its only argument, the arguments that workers of every
    release accept."""
    client = redis_or_skip()
    client.flushdb()
    settings = Settings(
        runner="celery",
        broker_url=BROKER_URL,
        root_path="/rnn",
        data_dir=tmp_path / "data",
    )
    store = JobStore(sqlite_url(tmp_path / "jobs.db"))
    runner = CeleryRunner(settings, store)
    try:
        job = store.create("train", INVALID_SERIES_PARAMS)
        runner.submitted(job)
        raw = client.lrange(JOB_QUEUE, 0, -1)
    finally:
        store.close()
        client.flushdb()
        client.close()

    assert len(raw) == 1
    payload = json.loads(raw[0])
    args, kwargs, _ = json.loads(base64.b64decode(payload["body"]))
    assert payload["headers"]["task"] == RUN_JOB_TASK
    assert payload["headers"][ROOT_PATH_HEADER] == "/rnn"
    assert args == [job.id]
    assert kwargs == {}


def invalid_series_error(root_path: str) -> str:
    """Return the error of a job with ``INVALID_SERIES_PARAMS`` whose API
    paths start with ``root_path``."""
    series = f"{root_path}/v1/series"
    return (
        "invalid params: data.upload.series_id: 'not-an-id' is not a series id; "
        "send the id of 32 lowercase hex characters that POST "
        f"{series} returned, as GET {series} lists them; submit the job again "
        "with valid params"
    )


def wait_in_store(
    store: JobStore, worker: CeleryWorker, job_id: str, timeout: float = 120.0
) -> Job:
    """Return the job ``job_id`` from ``store`` once it has finished, and
    fail with the worker's log after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while (job := store.get(job_id)).status not in FINISHED:
        log = worker.log_path.read_text(errors="replace")[-4000:]
        assert time.monotonic() < deadline, f"job {job_id} is {job.status}:\n{log}"
        time.sleep(0.2)
    return job
