"""Backtest and tuning jobs over real HTTP with the in-host runner."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import optuna
import pytest
from optuna.trial import TrialState

from models.registry import Registry
from tests.conftest import LiveServer
from tests.models.test_trial_heartbeats import heartbeats
from tests.service.jobs_support import (
    TRAINING,
    finished,
    start_job_server,
    tuning_params,
    wait_for_job,
    worker_pid,
)

BUNDLED = {**TRAINING, "data": {"source": "bundled"}}


@pytest.fixture(scope="module")
def jobs_server(
    trained_registry: Registry, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[LiveServer, Path, Path]]:
    server, registry, data_dir = start_job_server(
        trained_registry.root, tmp_path_factory.mktemp("evaluation-jobs")
    )
    yield server, registry, data_dir
    server.stop()


def submit(client: httpx.Client, kind: str, params: dict[str, Any]) -> httpx.Response:
    return client.post("/v1/jobs", json={"kind": kind, "params": params})


def test_job_kinds_list_backtest_and_tuning(
    jobs_server: tuple[LiveServer, Path, Path],
) -> None:
    kinds = jobs_server[0].client.get("/v1/job-kinds").json()["kinds"]
    names = {kind["name"] for kind in kinds}
    assert {"backtest", "tuning"} <= names


def source_mappings(node: Any) -> list[dict[str, str]]:
    """Return the mapping of every union with a ``source`` discriminator."""
    if isinstance(node, list):
        return [found for item in node for found in source_mappings(item)]
    if not isinstance(node, dict):
        return []
    found = []
    discriminator = node.get("discriminator")
    if isinstance(discriminator, dict) and discriminator["propertyName"] == "source":
        found.append(discriminator["mapping"])
    for value in node.values():
        found.extend(source_mappings(value))
    return found


def test_job_kinds_advertise_http_params(
    jobs_server: tuple[LiveServer, Path, Path],
) -> None:
    kinds = jobs_server[0].client.get("/v1/job-kinds").json()["kinds"]
    schemas = {kind["name"]: kind["params_schema"] for kind in kinds}

    assert "storage" not in schemas["tuning"]["properties"]
    assert "heartbeat_seconds" not in schemas["tuning"]["properties"]
    assert "sampler_seed" in schemas["tuning"]["properties"]
    for name in ("train", "backtest", "tuning"):
        mappings = source_mappings(schemas[name])
        assert mappings, name
        for mapping in mappings:
            assert "csv" not in mapping, name
            assert "upload" in mapping, name
        assert "CsvData" not in schemas[name].get("$defs", {}), name


def test_backtest_job_returns_scores(
    jobs_server: tuple[LiveServer, Path, Path],
) -> None:
    client = jobs_server[0].client
    response = submit(client, "backtest", {"training": TRAINING, "refit_every": 20})
    assert response.status_code == 202, response.text
    job = wait_for_job(client, response.json()["href"], finished)
    assert job["status"] == "succeeded", job
    result = job["result"]
    assert result["origins"]["count"] == sum(f["origins"] for f in result["folds"])
    assert "seasonal_naive" in result["aggregate"]["baselines"]
    assert job["progress"]["fold"] == len(result["folds"])


def test_tuning_job_registers_a_version(
    jobs_server: tuple[LiveServer, Path, Path],
) -> None:
    server, registry, data_dir = jobs_server
    params = {
        "base": TRAINING,
        "space": {"hidden_size": [4, 6], "lookback": [8, 12], "num_layers": [1, 1]},
        "trials": 2,
        "startup_trials": 1,
    }
    response = submit(server.client, "tuning", params)
    assert response.status_code == 202, response.text
    job = wait_for_job(server.client, response.json()["href"], finished)
    assert job["status"] == "succeeded", job
    assert job["result"]["version"] == 1
    assert job["result"]["storage"] == "sqlite:///optuna.db"
    listed = server.client.get("/v1/jobs").text
    assert str(data_dir.resolve()) not in listed
    meta = Registry(registry).metadata("jobbed", 1)
    assert meta["tuning"]["counts"]["total"] == 2
    assert meta["tuning"]["storage"] == "sqlite:///optuna.db"
    storage = f"sqlite:///{(data_dir / 'optuna.db').resolve()}"
    for number in (0, 1):
        assert len(heartbeats(storage, f"job-{job['id']}", number)) == 1, number


def test_tuning_job_names_unusable_study_database(
    trained_registry: Registry, tmp_path: Path
) -> None:
    not_a_database = tmp_path / "notes.db"
    not_a_database.write_text("not a database\n")
    storage = f"sqlite:///{not_a_database}"
    server, _, _ = start_job_server(
        trained_registry.root, tmp_path, env={"RNN_FORECAST_TUNING_STORAGE": storage}
    )
    try:
        response = submit(server.client, "tuning", tuning_params(["rnn"]))
        assert response.status_code == 202, response.text
        job = wait_for_job(server.client, response.json()["href"], finished)
    finally:
        server.stop()

    assert job["status"] == "failed"
    assert job["error"] == (
        # the server shows a SQLite file outside its data folder by name
        "the study database sqlite:///notes.db failed (file is not a database); the "
        "server's RNN_FORECAST_TUNING_STORAGE sets it, so ask its operator to "
        "fix the setting or the database, then submit the job again"
    )
    assert not_a_database.read_text() == "not a database\n"


def run_to_end(client: httpx.Client, kind: str, params: dict[str, Any]) -> Any:
    response = submit(client, kind, params)
    assert response.status_code == 202, response.text
    return wait_for_job(client, response.json()["href"], finished)


def test_tuning_jobs_get_studies_of_their_own(
    jobs_server: tuple[LiveServer, Path, Path],
) -> None:
    client = jobs_server[0].client
    jobs = [run_to_end(client, "tuning", tuning_params(c)) for c in (["rnn"], ["gru"])]

    for job in jobs:
        assert job["status"] == "succeeded", job
        assert job["result"]["study_name"] == f"job-{job['id']}"
        assert job["result"]["counts"]["total"] == 1
    assert jobs[0]["result"]["best"]["params"]["cell"] == "rnn"
    assert jobs[1]["result"]["best"]["params"]["cell"] == "gru"


def test_named_study_resumes_and_keeps_settings(
    jobs_server: tuple[LiveServer, Path, Path],
) -> None:
    client = jobs_server[0].client
    first = run_to_end(client, "tuning", tuning_params(["rnn"], study_name="shared"))
    again = run_to_end(client, "tuning", tuning_params(["rnn"], study_name="shared"))
    other = submit(client, "tuning", tuning_params(["gru"], study_name="shared"))

    assert first["status"] == "succeeded", first
    assert again["status"] == "succeeded", again
    assert again["result"]["study_name"] == "shared"
    assert again["result"]["counts"]["total"] == 2
    assert other.status_code == 422, other.text
    error = other.json()["errors"][0]
    assert error["field"] == "params.study_name"
    assert error["message"].startswith(
        "study shared exists with other settings than this request (space.cells "
        '["gru"] instead of ["rnn"])'
    )


def running_trial(storage: str, study_name: str, timeout: float = 60.0) -> int:
    """Wait until a trial of the study has reported an epoch while still
    running, and return its number."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            study = optuna.load_study(study_name=study_name, storage=storage)
        except KeyError:
            study = None
        trials = [] if study is None else study.get_trials(states=(TrialState.RUNNING,))
        for trial in trials:
            if trial.intermediate_values:
                return trial.number
        time.sleep(0.05)
    raise AssertionError(f"no trial of {study_name} ran an epoch in {timeout} s")


def test_killed_trial_fails_when_study_resumes(
    jobs_server: tuple[LiveServer, Path, Path],
) -> None:
    client, data_dir = jobs_server[0].client, jobs_server[2]
    storage = f"sqlite:///{(data_dir / 'optuna.db').resolve()}"
    # many short epochs, so that the kill lands inside the trial
    base = {**TRAINING, "epochs": 200, "patience": None}
    params = tuning_params(["rnn"], base=base, study_name="killed")

    first = submit(client, "tuning", params)
    assert first.status_code == 202, first.text
    killed = running_trial(storage, "killed")
    os.kill(worker_pid(data_dir, first.json()["id"]), signal.SIGKILL)
    failed = wait_for_job(client, first.json()["href"], finished)
    resumed = run_to_end(client, "tuning", params)

    assert failed["status"] == "failed", failed
    assert "SIGKILL" in failed["error"]
    assert resumed["status"] == "succeeded", resumed
    result = resumed["result"]
    states = {trial["number"]: trial["state"] for trial in result["trials"]}
    assert states == {killed: "fail", killed + 1: "complete"}
    assert result["counts"] == {"total": 2, "complete": 1, "pruned": 0, "failed": 1}


def test_tuning_job_rejects_client_storage(
    jobs_server: tuple[LiveServer, Path, Path],
) -> None:
    params = {"base": TRAINING, "storage": "postgresql://elsewhere.example/db"}
    response = submit(jobs_server[0].client, "tuning", params)
    assert response.status_code == 422
    assert "storage is chosen by the server" in response.json()["detail"]


def test_tuning_job_rejects_client_heartbeat(
    jobs_server: tuple[LiveServer, Path, Path],
) -> None:
    params = {"base": TRAINING, "heartbeat_seconds": 1}
    response = submit(jobs_server[0].client, "tuning", params)
    assert response.status_code == 422
    error = response.json()["errors"][0]
    assert error["field"] == "params.heartbeat_seconds"
    assert error["message"].startswith("heartbeat_seconds is chosen by the server")


@pytest.mark.parametrize(
    ("kind", "params", "field", "error_type", "message"),
    [
        (
            "backtest",
            {"training": TRAINING, "window": "sliding"},
            "params.window_size",
            "missing",
            "window_size is missing, but window 'sliding' needs it (training "
            "rows); set window_size to a whole number from 50 to 200000, or set "
            "window to 'expanding'",
        ),
        (
            "backtest",
            {"training": TRAINING, "window_size": 60},
            "params.window_size",
            "value_error",
            "window_size applies to window 'sliding' only; remove window_size or "
            "set window to 'sliding'",
        ),
        (
            "backtest",
            {"training": TRAINING, "start": "2000-06-01", "end": "2000-03-01"},
            "params.end",
            "value_error",
            "end 2000-03-01 is before start 2000-06-01; set end on or after start",
        ),
        (
            "backtest",
            {"training": {**TRAINING, "dropout": 0.2}},
            "params.training.dropout",
            "value_error",
            "dropout=0.2 has no effect with num_layers=1 because dropout is "
            "applied between recurrent layers; set num_layers=2 or more, or "
            "dropout=0",
        ),
        (
            "tuning",
            {"base": {**TRAINING, "dropout": 0.2}},
            "params.base.dropout",
            "value_error",
            "dropout=0.2 has no effect with num_layers=1 because dropout is "
            "applied between recurrent layers; set num_layers=2 or more, or "
            "dropout=0",
        ),
        (
            "tuning",
            {"base": TRAINING, "space": {"num_layers": [1, 1], "dropout": [0.2, 0.6]}},
            "params.space.dropout",
            "value_error",
            "dropout range (0.2, 0.6) has no effect with num_layers range (1, 1), "
            "because only trials of 2 or more layers sample dropout; raise the "
            "upper end of num_layers to 2 or more, or leave dropout out",
        ),
        (
            "train",
            {
                **TRAINING,
                "data": {
                    "source": "yfinance",
                    "ticker": "NFLX",
                    "start": "2020-01-01",
                    "end": "2019-01-01",
                },
            },
            "params.data.end",
            "value_error",
            "data.end 2019-01-01 must be after data.start 2020-01-01; set data.end "
            "to a later date than data.start",
        ),
    ],
)
def test_cross_field_errors_name_field(
    jobs_server: tuple[LiveServer, Path, Path],
    kind: str,
    params: dict[str, Any],
    field: str,
    error_type: str,
    message: str,
) -> None:
    response = submit(jobs_server[0].client, kind, params)

    assert response.status_code == 422, response.text
    body = response.json()
    assert body["errors"] == [{"field": field, "message": message, "type": error_type}]
    assert body["detail"] == f"{field}: {message}"


def test_backtest_job_rejects_unserved_level(
    jobs_server: tuple[LiveServer, Path, Path],
) -> None:
    response = submit(
        jobs_server[0].client, "backtest", {"training": TRAINING, "levels": [0.999]}
    )

    assert response.status_code == 422, response.text
    error = response.json()["errors"][0]
    assert error["field"] == "params.levels[0]"
    assert "level 0.999 is not available" in error["message"]
    assert "levels 0.01 to 0.99 in steps of 0.01" in error["message"]


def test_backtest_job_rejects_repeated_level(
    jobs_server: tuple[LiveServer, Path, Path],
) -> None:
    client = jobs_server[0].client
    before = client.get("/v1/jobs", params={"limit": 200}).json()["jobs"]

    response = submit(client, "backtest", {"training": TRAINING, "levels": [0.9, 0.9]})

    assert response.status_code == 422, response.text
    error = response.json()["errors"][0]
    assert error["field"] == "params.levels"
    assert error["message"] == (
        "level 0.9 is given more than once; send each level once"
    )
    assert client.get("/v1/jobs", params={"limit": 200}).json()["jobs"] == before


def test_backtest_job_rejects_empty_levels(
    jobs_server: tuple[LiveServer, Path, Path],
) -> None:
    client = jobs_server[0].client
    before = client.get("/v1/jobs", params={"limit": 200}).json()["jobs"]

    response = submit(client, "backtest", {"training": TRAINING, "levels": []})

    assert response.status_code == 422, response.text
    errors = response.json()["errors"]
    assert [error["field"] for error in errors] == ["params.levels"]
    assert errors[0]["message"] == (
        "levels is empty; send at least one level, such as [0.9], or leave "
        "levels out for the default levels 0.8, 0.9 and 0.95"
    )
    assert client.get("/v1/jobs", params={"limit": 200}).json()["jobs"] == before


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"start": "2262-05-01", "end": "2300-01-01"}, "params.start"),
        ({"end": "2300-01-01"}, "params.end"),
        ({"start": "1500-01-01"}, "params.start"),
    ],
)
def test_backtest_job_rejects_dates_pandas_cannot_store(
    jobs_server: tuple[LiveServer, Path, Path], params: dict[str, str], field: str
) -> None:
    response = submit(
        jobs_server[0].client, "backtest", {"training": TRAINING, **params}
    )

    assert response.status_code == 422, response.text
    error = response.json()["errors"][0]
    assert error["field"] == field
    assert "lies outside 1677-09-22..2262-04-11" in error["message"]
    assert "choose a date inside that range" in error["message"]


@pytest.mark.parametrize(
    ("params", "field", "message"),
    [
        (
            {"training": BUNDLED, "start": "2030-01-01"},
            "params.start",
            "start 2030-01-01 is after the series ends on 2020-12-11; choose a "
            "start between 2002-05-23 and 2020-12-11",
        ),
        (
            {"training": BUNDLED, "refit_every": 1},
            "params.refit_every",
            "the backtest needs 699 fits for 699 origins, above the limit of 100; "
            "raise refit_every or step, shorten the date range, or raise "
            "RNN_FORECAST_MAX_BACKTEST_FITS",
        ),
        (
            {"training": {**TRAINING, "target": "log_return"}},
            "params.training.target",
            "target log_return needs positive values, but the series has 146 "
            "values <= 0; use target price",
        ),
        (
            {"training": {**TRAINING, "lookback": 250}},
            "params.start",
            "fold 1 (training rows 0..254): series of 255 rows is too short",
        ),
        (
            {"start": "2030-01-01"},
            "params.start",
            "start 2030-01-01 is after the series ends on 2001-03-12; choose a "
            "start between 2000-01-03 and 2001-03-12",
        ),
        (
            {"start": "2001-03-09"},
            "params.start",
            "no forecast origin between 2001-03-09 and 2001-03-07: the series "
            "covers 2000-01-03..2001-03-12 and each origin needs 10 prices up to "
            "it and 3 after it; choose start and end between 2000-01-14 and "
            "2001-03-07",
        ),
        (
            {"start": "2000-01-03", "end": "2000-01-10"},
            "params.end",
            "no forecast origin between 2000-01-03 and 2000-01-10: the series "
            "covers 2000-01-03..2001-03-12 and each origin needs 10 prices up to "
            "it and 3 after it; choose start and end between 2000-01-14 and "
            "2001-03-07",
        ),
        (
            {"end": "1999-12-31"},
            "params.end",
            "end 1999-12-31 is before the series starts on 2000-01-03; choose an "
            "end between 2000-01-03 and 2001-03-12",
        ),
    ],
)
def test_backtest_job_checked_against_series(
    jobs_server: tuple[LiveServer, Path, Path],
    params: dict[str, str],
    field: str,
    message: str,
) -> None:
    response = submit(
        jobs_server[0].client, "backtest", {"training": TRAINING, **params}
    )

    assert response.status_code == 422, response.text
    body = response.json()
    assert body["errors"][0]["field"] == field
    assert body["detail"].startswith(message)


def test_tuning_job_rejects_lookbacks_too_long(
    jobs_server: tuple[LiveServer, Path, Path],
) -> None:
    params = {"base": TRAINING, "space": {"lookback": [8, 260]}}

    response = submit(jobs_server[0].client, "tuning", params)

    assert response.status_code == 422, response.text
    body = response.json()
    assert body["errors"][0]["field"] == "params.space.lookback"
    assert body["detail"].startswith("series of 300 rows is too short for lookback=260")
    assert body["detail"].endswith(
        "(lookback=260 is the upper end of space.lookback, which a trial can "
        "sample; lower it)"
    )
