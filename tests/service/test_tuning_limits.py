"""The size limits of a tuning job apply to the ranges that its trials
sample, not to the base spec's fields that every trial replaces."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import LiveServer
from tests.service.jobs_support import (
    TRAINING,
    finished,
    start_job_server,
    wait_for_job,
)

# below the base spec's defaults: hidden_size 64, num_layers 2, lookback 60
LIMITS = {
    "RNN_FORECAST_MAX_HIDDEN_SIZE": "16",
    "RNN_FORECAST_MAX_NUM_LAYERS": "1",
    "RNN_FORECAST_MAX_LOOKBACK": "30",
}
# a base spec that leaves the searched fields at their defaults
BASE = {
    key: value
    for key, value in TRAINING.items()
    if key not in ("hidden_size", "num_layers", "lookback")
}
SPACE = {"hidden_size": [4, 8], "num_layers": [1, 1], "lookback": [8, 12]}


@pytest.fixture()
def limited_server(tmp_path: Path) -> Iterator[LiveServer]:
    empty = tmp_path / "empty-registry"
    empty.mkdir()
    server = start_job_server(empty, tmp_path, env=LIMITS)[0]
    yield server
    server.stop()


def submit(server: LiveServer, params: dict[str, Any]) -> Any:
    return server.client.post("/v1/jobs", json={"kind": "tuning", "params": params})


def test_searched_base_fields_skip_limits(limited_server: LiveServer) -> None:
    params = {
        "base": BASE,
        "space": {**SPACE, "cells": ["rnn"]},
        "trials": 1,
        "startup_trials": 1,
        "register_version": False,
    }

    response = submit(limited_server, params)

    assert response.status_code == 202, response.text
    job = wait_for_job(limited_server.client, response.json()["href"], finished)
    assert job["status"] == "succeeded", job
    assert job["result"]["best"]["params"]["hidden_size"] <= 8


@pytest.mark.parametrize(
    ("space", "field", "variable"),
    [
        ({"hidden_size": [4, 32]}, "params.space.hidden_size", "HIDDEN_SIZE"),
        ({"num_layers": [1, 2]}, "params.space.num_layers", "NUM_LAYERS"),
        ({"lookback": [8, 40]}, "params.space.lookback", "LOOKBACK"),
    ],
)
def test_space_above_limit_rejected(
    limited_server: LiveServer, space: dict[str, list[int]], field: str, variable: str
) -> None:
    response = submit(limited_server, {"base": BASE, "space": {**SPACE, **space}})

    assert response.status_code == 422, response.text
    error = response.json()["errors"][0]
    assert error["field"] == field
    assert error["type"] == "limit_exceeded"
    assert f"RNN_FORECAST_MAX_{variable}" in error["message"]


def test_unsearched_base_field_keeps_limit(tmp_path: Path) -> None:
    empty = tmp_path / "empty-registry"
    empty.mkdir()
    env = {"RNN_FORECAST_MAX_EPOCHS": "2"}
    server = start_job_server(empty, tmp_path, env=env)[0]
    try:
        params = {"base": {**BASE, "epochs": 3}, "space": SPACE}
        response = submit(server, params)
    finally:
        server.stop()

    assert response.status_code == 422, response.text
    error = response.json()["errors"][0]
    assert error["field"] == "params.base.epochs"
    assert "RNN_FORECAST_MAX_EPOCHS" in error["message"]
