"""Every size a client controls has a limit; above it the response is 413 or
422 and the message names the limit and the setting that raises it."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import httpx
import pytest

from models.calendar import first_sessions
from models.registry import Registry
from service.middleware import declared_length
from service.routes.series import MULTIPART_OVERHEAD_BYTES
from tests.conftest import TINY, LiveServer
from tests.service.conftest import MAX_HISTORY_ROWS, MAX_HORIZON
from tests.service.jobs_support import finished, start_job_server, wait_for_job

PROBLEM = "application/problem+json"


def assert_limit_problem(
    response: httpx.Response, status: int, limit: int, setting: str
) -> dict[str, object]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM
    body = response.json()
    assert f"limit of {limit}" in body["detail"]
    assert setting in body["detail"]
    return body


def rows(count: int) -> list[dict[str, object]]:
    start = dt.date(2015, 1, 1)
    return [
        {"date": (start + dt.timedelta(days=i)).isoformat(), "close": 100.0 + i}
        for i in range(count)
    ]


def test_history_rows_above_limit(strict_server: LiveServer) -> None:
    response = strict_server.client.post(
        "/v1/models/nflx/forecast", json={"history": rows(MAX_HISTORY_ROWS + 1)}
    )
    body = assert_limit_problem(
        response, 422, MAX_HISTORY_ROWS, "RNN_FORECAST_MAX_HISTORY_ROWS"
    )
    assert body["errors"][0]["field"] == "history"  # type: ignore[index]
    assert body["errors"][0]["type"] == "limit_exceeded"  # type: ignore[index]


def test_history_rows_at_limit(strict_server: LiveServer) -> None:
    response = strict_server.client.post(
        "/v1/models/nflx/forecast",
        json={"history": rows(MAX_HISTORY_ROWS), "horizon": 1},
    )
    assert response.status_code == 200, response.text


def test_forecast_horizon_above_setting(strict_server: LiveServer) -> None:
    response = strict_server.client.post(
        "/v1/models/nflx/forecast", json={"horizon": MAX_HORIZON + 1}
    )
    body = assert_limit_problem(response, 422, MAX_HORIZON, "RNN_FORECAST_MAX_HORIZON")
    assert body["errors"][0]["field"] == "horizon"  # type: ignore[index]


def test_forecast_horizon_above_schema(strict_server: LiveServer) -> None:
    response = strict_server.client.post(
        "/v1/models/nflx/forecast", json={"horizon": 61}
    )
    assert response.status_code == 422
    assert "less than or equal to 60" in response.json()["detail"]


LIMITS_KEY = "limits-key-6a1f"
AUTH = {"X-API-Key": LIMITS_KEY}
SMALL_LIMITS = {
    "RNN_FORECAST_MAX_UPLOAD_BYTES": 2000,
    "RNN_FORECAST_MAX_SERIES_ROWS": 50,
    "RNN_FORECAST_MAX_EPOCHS": 5,
    "RNN_FORECAST_MAX_HIDDEN_SIZE": 16,
    "RNN_FORECAST_MAX_NUM_LAYERS": 2,
    "RNN_FORECAST_MAX_LOOKBACK": 30,
    "RNN_FORECAST_MAX_QUEUED_JOBS": 1,
    "RNN_FORECAST_MAX_SEQ_LEN": 50,
    "RNN_FORECAST_MAX_DIAGNOSTIC_HIDDEN_SIZE": 16,
    "RNN_FORECAST_MAX_DIAGNOSTIC_FEATURES": 3,
    # an RNN of H = 16 over 1 feature: 16 * (1 + 16) + 2 * 16 + 16 + 1
    "RNN_FORECAST_MAX_DIAGNOSTIC_PARAMETERS": 321,
    "RNN_FORECAST_MAX_BACKTEST_FITS": 3,
}


@pytest.fixture(scope="module")
def limits_server(
    trained_registry: Registry, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveServer]:
    env = {name: str(value) for name, value in SMALL_LIMITS.items()}
    server, _, _ = start_job_server(
        trained_registry.root,
        tmp_path_factory.mktemp("limits"),
        env={**env, "RNN_FORECAST_API_KEY": LIMITS_KEY},
    )
    yield server
    server.stop()


def csv_rows(count: int) -> bytes:
    """A ``date,value`` CSV of ``count`` rows on consecutive NYSE sessions."""
    sessions = first_sessions(dt.date(2015, 1, 2), count)
    lines = ["date,value"] + [
        f"{day.date()},{100.0 + i}" for i, day in enumerate(sessions)
    ]
    return ("\n".join(lines) + "\n").encode()


def test_upload_above_limit_is_413(limits_server: LiveServer) -> None:
    body = csv_rows(200)
    assert len(body) > SMALL_LIMITS["RNN_FORECAST_MAX_UPLOAD_BYTES"]
    response = limits_server.client.post(
        "/v1/series", content=body, headers={**AUTH, "content-type": "text/csv"}
    )
    assert_limit_problem(response, 413, 2000, "RNN_FORECAST_MAX_UPLOAD_BYTES")


def test_upload_far_above_limit_is_413(limits_server: LiveServer) -> None:
    body = csv_rows(1200)
    assert len(body) > 2000 + MULTIPART_OVERHEAD_BYTES
    response = limits_server.client.post(
        "/v1/series", content=body, headers={**AUTH, "content-type": "text/csv"}
    )
    body_json = assert_limit_problem(
        response, 413, 2000, "RNN_FORECAST_MAX_UPLOAD_BYTES"
    )
    assert f"plus {MULTIPART_OVERHEAD_BYTES} bytes of framing" in str(
        body_json["detail"]
    )


def test_upload_rows_above_limit_is_422(limits_server: LiveServer) -> None:
    response = limits_server.client.post(
        "/v1/series",
        content=csv_rows(51),
        headers={**AUTH, "content-type": "text/csv"},
    )
    assert_limit_problem(response, 422, 50, "RNN_FORECAST_MAX_SERIES_ROWS")


@pytest.mark.parametrize(
    ("field", "value", "limit", "setting"),
    [
        ("epochs", 6, 5, "RNN_FORECAST_MAX_EPOCHS"),
        ("hidden_size", 17, 16, "RNN_FORECAST_MAX_HIDDEN_SIZE"),
        ("num_layers", 3, 2, "RNN_FORECAST_MAX_NUM_LAYERS"),
        ("lookback", 31, 30, "RNN_FORECAST_MAX_LOOKBACK"),
    ],
)
def test_training_spec_above_limit_is_422(
    limits_server: LiveServer, field: str, value: int, limit: int, setting: str
) -> None:
    spec = {**TINY, "name": "limited", field: value}
    response = limits_server.client.post("/v1/training-jobs", json=spec, headers=AUTH)
    body = assert_limit_problem(response, 422, limit, setting)
    assert body["errors"][0]["field"] == field  # type: ignore[index]


def test_queued_jobs_above_limit_is_429(limits_server: LiveServer) -> None:
    long_run = {**TINY, "name": "queue-limit", "epochs": 5, "patience": None}
    accepted = []
    full = None
    for _ in range(3):
        response = limits_server.client.post(
            "/v1/training-jobs", json=long_run, headers=AUTH
        )
        if response.status_code == 429:
            full = response
            break
        assert response.status_code == 202, response.text
        accepted.append(response.json())

    assert full is not None, "the queue never filled"
    assert full.headers["content-type"] == PROBLEM
    assert "the limit is 1" in full.json()["detail"]
    assert "RNN_FORECAST_MAX_QUEUED_JOBS" in full.json()["detail"]
    for job in accepted:
        limits_server.client.delete(job["href"], headers=AUTH)
        wait_for_job(limits_server.client, job["href"], finished)


@pytest.mark.parametrize(
    ("kind", "params", "field", "limit", "setting"),
    [
        ("train", {**TINY, "epochs": 6}, "params.epochs", 5, "RNN_FORECAST_MAX_EPOCHS"),
        (
            "tuning",
            {"base": {**TINY, "epochs": 6}},
            "params.base.epochs",
            5,
            "RNN_FORECAST_MAX_EPOCHS",
        ),
        (
            "backtest",
            {"training": TINY, "refit_every": 200},
            "params.refit_every",
            3,
            "RNN_FORECAST_MAX_BACKTEST_FITS",
        ),
        (
            "lag_experiment",
            {"hidden_size": 17},
            "params.hidden_size",
            16,
            "RNN_FORECAST_MAX_DIAGNOSTIC_HIDDEN_SIZE",
        ),
    ],
)
def test_job_params_above_limit_is_422(
    limits_server: LiveServer,
    kind: str,
    params: dict[str, object],
    field: str,
    limit: int,
    setting: str,
) -> None:
    response = limits_server.client.post(
        "/v1/jobs", json={"kind": kind, "params": params}, headers=AUTH
    )
    body = assert_limit_problem(response, 422, limit, setting)
    assert body["errors"][0]["field"] == field  # type: ignore[index]


@pytest.mark.parametrize(
    ("field", "value", "limit", "setting"),
    [
        ("seq_len", 51, 50, "RNN_FORECAST_MAX_SEQ_LEN"),
        ("hidden_size", 17, 16, "RNN_FORECAST_MAX_DIAGNOSTIC_HIDDEN_SIZE"),
    ],
)
def test_diagnostics_above_limit_is_422(
    limits_server: LiveServer, field: str, value: int, limit: int, setting: str
) -> None:
    # seq_len defaults to 100, above this server's limit of 50
    spec = {"seq_len": 10, field: value}
    response = limits_server.client.post("/v1/diagnostics/gradient-flow", json=spec)
    body = assert_limit_problem(response, 422, limit, setting)
    assert body["errors"][0]["field"] == field  # type: ignore[index]


@pytest.mark.parametrize(
    ("features", "hidden_size", "field", "limit", "setting"),
    [
        (4, 4, "input.values", 3, "RNN_FORECAST_MAX_DIAGNOSTIC_FEATURES"),
        (2, 16, "hidden_size", 321, "RNN_FORECAST_MAX_DIAGNOSTIC_PARAMETERS"),
    ],
)
def test_diagnostic_size_above_limit_is_422(
    limits_server: LiveServer,
    features: int,
    hidden_size: int,
    field: str,
    limit: int,
    setting: str,
) -> None:
    values = [[0.5] * features] * 10
    spec = {"hidden_size": hidden_size, "input": {"source": "values", "values": values}}
    response = limits_server.client.post("/v1/diagnostics/gradient-flow", json=spec)
    body = assert_limit_problem(response, 422, limit, setting)
    assert body["errors"][0]["field"] == field  # type: ignore[index]


def test_diagnostics_at_limits_is_200(limits_server: LiveServer) -> None:
    response = limits_server.client.post(
        "/v1/diagnostics/gradient-flow", json={"seq_len": 50, "hidden_size": 16}
    )
    assert response.status_code == 200, response.text


@pytest.mark.parametrize("value", ["²", "١٢", "-1", "1e3", ""])
def test_content_length_that_int_cannot_read_is_ignored(value: str) -> None:
    """The limit then falls to counting the body as it streams in."""
    assert declared_length(value) is None


def test_plain_content_length_is_read() -> None:
    assert declared_length("1234") == 1234
