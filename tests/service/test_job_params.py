"""A stored job whose params no longer validate when a worker runs it."""

from __future__ import annotations

from pathlib import Path

from service.jobs.execution import execute_job
from service.jobs.store import FAILED, JobStore, sqlite_url
from tests.service.jobs_support import folder_settings


def test_invalid_stored_params_fail_in_one_line(tmp_path: Path) -> None:
    store = JobStore(sqlite_url(tmp_path / "jobs.db"))
    settings = folder_settings(tmp_path)
    params = {"trials": 1, "space": {"learning_rate": [0.1, 5.0]}}
    job = store.create("tuning", params)
    claimed = store.claim(job.id, "test:1")
    assert claimed is not None

    status = execute_job(store, claimed, settings)

    stored = store.get(job.id)
    store.close()
    assert status == FAILED
    assert stored.error is not None
    assert "\n" not in stored.error
    assert stored.error == (
        "invalid params: space.learning_rate: learning_rate range (0.1, 5.0) "
        "must end at or below 1, the training spec's limit; lower the upper "
        "bound; submit the job again with valid params"
    )
    assert not (tmp_path / "registry").exists()


def test_invalid_stored_series_id_names_root_path(tmp_path: Path) -> None:
    store = JobStore(sqlite_url(tmp_path / "jobs.db"))
    settings = folder_settings(tmp_path).model_copy(update={"root_path": "/rnn"})
    job = store.create("train", {"data": {"source": "upload", "series_id": "x"}})
    claimed = store.claim(job.id, "test:1")
    assert claimed is not None

    execute_job(store, claimed, settings)

    stored = store.get(job.id)
    store.close()
    assert stored.error is not None
    assert stored.error.endswith(
        "'x' is not a series id; send the id of 32 lowercase hex characters "
        "that POST /rnn/v1/series returned, as GET /rnn/v1/series lists them; "
        "submit the job again with valid params"
    )
