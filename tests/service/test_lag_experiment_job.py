"""The ``lag_experiment`` job kind over real HTTP with the in-host runner."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from models.registry import Registry
from tests.conftest import LiveServer
from tests.service.jobs_support import finished, start_job_server, wait_for_job

TINY = {
    "cells": ["rnn", "lstm"],
    "lags": [2],
    "padding": 2,
    "hidden_size": 4,
    "steps": 20,
    "test_size": 32,
}


@pytest.fixture(scope="module")
def lag_server(
    trained_registry: Registry, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveServer]:
    server, _, _ = start_job_server(
        trained_registry.root,
        tmp_path_factory.mktemp("lag-jobs"),
        env={
            "RNN_FORECAST_MAX_DIAGNOSTIC_HIDDEN_SIZE": "16",
            # the training batch of TINY: 64 sequences of 4 steps, H = 4
            "RNN_FORECAST_MAX_LAG_BATCH_ELEMENTS": "1024",
        },
    )
    yield server
    server.stop()


def test_lag_experiment_job_succeeds(lag_server: LiveServer) -> None:
    kinds = lag_server.client.get("/v1/job-kinds").json()["kinds"]
    assert "lag_experiment" in {kind["name"] for kind in kinds}

    response = lag_server.client.post(
        "/v1/jobs", json={"kind": "lag_experiment", "params": TINY}
    )
    assert response.status_code == 202, response.text
    job = wait_for_job(lag_server.client, response.json()["href"], finished)

    assert job["status"] == "succeeded", job
    result = job["result"]
    assert result["seq_len"] == 4
    assert [(run["cell"], run["lag"]) for run in result["runs"]] == [
        ("rnn", 2),
        ("lstm", 2),
    ]
    assert len(result["curves"]["lstm"]["2"]) == 4
    assert job["progress"]["stage"] == "finished"
    assert job["progress"]["done"] == 2


def test_lag_experiment_job_checks_limits(lag_server: LiveServer) -> None:
    response = lag_server.client.post(
        "/v1/jobs",
        json={"kind": "lag_experiment", "params": {**TINY, "hidden_size": 32}},
    )

    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    assert "RNN_FORECAST_MAX_DIAGNOSTIC_HIDDEN_SIZE" in response.json()["detail"]


def test_lag_experiment_job_checks_batch(lag_server: LiveServer) -> None:
    response = lag_server.client.post(
        "/v1/jobs",
        json={"kind": "lag_experiment", "params": {**TINY, "batch_size": 65}},
    )

    assert response.status_code == 422, response.text
    problem = response.json()
    assert problem["errors"][0]["field"] == "params.batch_size"
    assert "65 x 4 x 4 = 1040 is above the limit of 1024;" in problem["detail"]
    assert "RNN_FORECAST_MAX_LAG_BATCH_ELEMENTS" in problem["detail"]


@pytest.mark.parametrize(
    ("params", "field", "message"),
    [
        (
            {"lags": [0, 2]},
            "params.lags",
            "every lag must be in 1..500, got [0, 2]; send lags from 1 to 500",
        ),
        (
            {"lags": [2, 3, 2]},
            "params.lags",
            "lags [2] appear more than once; list each lag once",
        ),
        (
            {"cells": ["gru", "rnn", "gru"]},
            "params.cells",
            "cells ['gru'] appear more than once; list each cell once",
        ),
    ],
)
def test_lag_experiment_job_rejects_lists(
    lag_server: LiveServer, params: dict[str, object], field: str, message: str
) -> None:
    response = lag_server.client.post(
        "/v1/jobs", json={"kind": "lag_experiment", "params": {**TINY, **params}}
    )

    assert response.status_code == 422, response.text
    assert response.json()["errors"] == [
        {"field": field, "message": message, "type": "value_error"}
    ]
