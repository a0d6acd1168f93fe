"""Every size a client controls has a limit; above it the answer is 413 or
422 and the message names the limit and the setting that raises it."""

from __future__ import annotations

import datetime as dt

import httpx

from tests.conftest import LiveServer
from tests.service.conftest import MAX_HISTORY_ROWS, MAX_HORIZON

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
