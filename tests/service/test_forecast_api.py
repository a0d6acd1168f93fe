"""Forecast and model endpoints over real HTTP against a uvicorn subprocess."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest

from models.registry import Registry
from tests.conftest import LiveServer

PROBLEM = "application/problem+json"


def history_rows(registry: Registry, name: str = "nflx") -> list[dict[str, object]]:
    meta = registry.metadata(name, 1)
    return [
        {"date": d, "close": c}
        for d, c in zip(meta["tail"]["dates"], meta["tail"]["close"], strict=True)
    ]


def test_health(live_server: LiveServer) -> None:
    response = live_server.client.get("/v1/health")
    assert response.status_code == 200
    assert response.json()["status"] == "ok"
    assert response.json()["models"] == 2
    assert response.json()["runner"] == {
        "name": "inhost",
        "status": "ok",
        "detail": None,
        "checked_at": None,
        "mismatched_visibility_timeouts": {},
        "unknown_visibility_timeouts": {},
        "worker_replied_at": {},
    }


def test_health_answers_head(live_server: LiveServer) -> None:
    response = live_server.client.head("/v1/health")
    assert response.status_code == 200
    assert response.content == b""


@pytest.mark.parametrize(
    "path",
    [
        "/v1/models",
        "/v1/models/nflx",
        "/v1/models/nflx/versions/1",
        "/metrics",
        "/openapi.json",
        "/v1/models/unknown",
    ],
)
def test_head_mirrors_get_without_body(live_server: LiveServer, path: str) -> None:
    got = live_server.client.get(path)
    head = live_server.client.head(path)

    assert head.status_code == got.status_code
    assert head.content == b""
    assert head.headers.get("content-type") == got.headers.get("content-type")
    if path != "/metrics":  # the metrics text changes between the two calls
        assert head.headers.get("content-length") == got.headers.get("content-length")
        assert head.headers.get("etag") == got.headers.get("etag")


def test_head_on_a_post_route_is_405(live_server: LiveServer) -> None:
    response = live_server.client.head("/v1/models/nflx/forecast")

    assert response.status_code == 405
    assert response.content == b""
    assert "POST" in response.headers["allow"]


def test_forecast_from_model_tail_starts_after_last_date(
    live_server: LiveServer,
) -> None:
    response = live_server.client.post("/v1/models/nflx/forecast", json={"horizon": 5})
    assert response.status_code == 200
    body = response.json()
    assert body["model"] == "nflx"
    assert body["version"] == 1
    assert body["history_source"] == "model"
    assert body["last_history_date"] == "2020-12-11"
    dates = [point["date"] for point in body["forecast"]]
    assert dates == [
        "2020-12-14",
        "2020-12-15",
        "2020-12-16",
        "2020-12-17",
        "2020-12-18",
    ]
    assert all(point["value"] > 0 for point in body["forecast"])


def test_forecast_skips_weekends_and_holidays(
    live_server: LiveServer, trained_registry: Registry
) -> None:
    rows = history_rows(trained_registry)
    # history ends on Monday 2019-12-23; dates need only be sorted and unique
    last = dt.date(2019, 12, 23)
    for back, row in enumerate(reversed(rows)):
        row["date"] = (last - dt.timedelta(days=back)).isoformat()
    response = live_server.client.post(
        "/v1/models/nflx/forecast", json={"horizon": 5, "history": rows}
    )
    assert response.status_code == 200, response.text
    dates = [point["date"] for point in response.json()["forecast"]]
    # Christmas (Wednesday 25th) and the weekend of the 28th/29th are skipped
    assert dates == [
        "2019-12-24",
        "2019-12-26",
        "2019-12-27",
        "2019-12-30",
        "2019-12-31",
    ]


def test_forecast_with_history_equals_model_tail(
    live_server: LiveServer, trained_registry: Registry
) -> None:
    by_tail = live_server.client.post("/v1/models/nflx/forecast", json={})
    by_history = live_server.client.post(
        "/v1/models/nflx/forecast",
        json={"history": history_rows(trained_registry)},
    )
    assert by_history.status_code == 200
    assert by_history.json()["history_source"] == "request"
    assert by_history.json()["forecast"] == by_tail.json()["forecast"]


def test_forecast_by_number_and_alias(live_server: LiveServer) -> None:
    for version in (1, "1", "latest"):
        response = live_server.client.post(
            "/v1/models/sine/forecast", json={"version": version, "horizon": 2}
        )
        assert response.status_code == 200, response.text
        assert response.json()["version"] == 1


def test_list_models(live_server: LiveServer) -> None:
    response = live_server.client.get("/v1/models")
    assert response.status_code == 200
    models = {m["name"]: m for m in response.json()["models"]}
    assert set(models) == {"nflx", "sine"}
    assert models["nflx"]["aliases"] == {"latest": 1}
    test_metrics = models["nflx"]["latest"]["metrics"]["test"]
    assert test_metrics["naive"]["rmse"] > 0
    assert "mase" in test_metrics["model"]


def test_version_detail_lists_interval_levels(live_server: LiveServer) -> None:
    body = live_server.client.get("/v1/models/nflx/versions/latest").json()
    listing = live_server.client.get("/v1/models").json()["models"]

    intervals = body["metrics"]["test"]["intervals"]
    assert list(intervals) == ["0.8", "0.9", "0.95"]
    for row in intervals.values():
        assert row["served"] is True
        assert 0 <= row["coverage"] <= 1
    latest = next(m["latest"] for m in listing if m["name"] == "nflx")
    assert latest["metrics"]["test"]["intervals"] == intervals


def test_version_detail(live_server: LiveServer) -> None:
    response = live_server.client.get("/v1/models/nflx/versions/latest")
    assert response.status_code == 200
    body = response.json()
    assert body["version"] == 1
    assert body["aliases"] == ["latest"]
    assert body["spec"]["cell"] == "lstm"
    assert body["data"]["sha256"]
    assert len(body["history"]) == 2


@pytest.mark.parametrize(
    ("path", "detail"),
    [
        ("/v1/models/nope/versions/1", "model 'nope' not found"),
        ("/v1/models/nflx/versions/9", "model 'nflx' has no version 9"),
        ("/v1/models/nflx/versions/gold", "model 'nflx' has no alias 'gold'"),
    ],
)
def test_unknown_version_is_404(
    live_server: LiveServer, path: str, detail: str
) -> None:
    response = live_server.client.get(path)
    assert response.status_code == 404
    assert response.headers["content-type"] == PROBLEM
    assert detail in response.json()["detail"]


def test_unknown_model_forecast_is_404(live_server: LiveServer) -> None:
    response = live_server.client.post("/v1/models/nope/forecast", json={})
    assert response.status_code == 404
    assert response.json()["detail"] == "model 'nope' not found"


def post_raw(live_server: LiveServer, content: str):  # noqa: ANN201
    return live_server.client.post(
        "/v1/models/nflx/forecast",
        content=content,
        headers={"content-type": "application/json"},
    )


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity"])
def test_non_finite_close_is_422(live_server: LiveServer, literal: str) -> None:
    response = post_raw(
        live_server, f'{{"history": [{{"date": "2020-01-02", "close": {literal}}}]}}'
    )
    assert response.status_code == 422
    body = response.json()
    assert body["errors"][0]["field"] == "history[0].close"
    assert "send a finite number" in body["errors"][0]["message"]


def test_horizon_out_of_range_is_422(live_server: LiveServer) -> None:
    response = live_server.client.post("/v1/models/nflx/forecast", json={"horizon": 6})
    assert response.status_code == 422
    assert response.json()["detail"] == (
        "horizon=6 is out of range for nflx:1, which forecasts 1 to 5 steps; "
        "request a horizon between 1 and 5"
    )
    zero = live_server.client.post("/v1/models/nflx/forecast", json={"horizon": 0})
    assert zero.status_code == 422
    assert zero.json()["errors"][0]["field"] == "horizon"


def test_short_history_is_422(
    live_server: LiveServer, trained_registry: Registry
) -> None:
    rows = history_rows(trained_registry)[-5:]
    response = live_server.client.post(
        "/v1/models/nflx/forecast", json={"history": rows}
    )
    assert response.status_code == 422
    assert response.json()["detail"] == (
        "history has 5 rows but nflx:1 needs at least 21 (lookback 20 plus one "
        "for log returns); send at least 21 rows"
    )


def test_unsorted_history_is_422(
    live_server: LiveServer, trained_registry: Registry
) -> None:
    rows = history_rows(trained_registry)
    rows[3], rows[4] = rows[4], rows[3]
    response = live_server.client.post(
        "/v1/models/nflx/forecast", json={"history": rows}
    )
    assert response.status_code == 422
    body = response.json()
    assert body["errors"][0]["field"] == "history[4].date"
    assert "is out of order; send dates sorted ascending" in body["detail"]


def test_duplicate_dates_are_422(
    live_server: LiveServer, trained_registry: Registry
) -> None:
    rows = history_rows(trained_registry)
    rows[5]["date"] = rows[4]["date"]
    response = live_server.client.post(
        "/v1/models/nflx/forecast", json={"history": rows}
    )
    assert response.status_code == 422
    assert "history[5].date" in response.json()["detail"]
    assert "is duplicated" in response.json()["detail"]


PRICES_FIX = (
    "send a low at or below the high and an open and close between them, or "
    "leave open, high and low out, because the forecast reads only the close"
)


@pytest.mark.parametrize(
    ("prices", "field", "problem"),
    [
        ({"low": 10.5, "high": 9}, "low", "10.5 is above history[3].high 9.0"),
        ({"close": 12.5, "high": 12}, "close", "12.5 is above history[3].high 12.0"),
        ({"close": 9, "low": 10}, "close", "9.0 is below history[3].low 10.0"),
        (
            {"close": 10.5, "open": 9.5, "low": 10, "high": 11},
            "open",
            "9.5 is below history[3].low 10.0",
        ),
        (
            {"close": 10.5, "open": 11.5, "high": 11, "volume": 5},
            "open",
            "11.5 is above history[3].high 11.0",
        ),
    ],
)
def test_disagreeing_row_prices_are_422(
    live_server: LiveServer,
    trained_registry: Registry,
    prices: dict[str, float],
    field: str,
    problem: str,
) -> None:
    rows = history_rows(trained_registry)
    rows[3].update(prices)

    response = live_server.client.post(
        "/v1/models/nflx/forecast", json={"history": rows}
    )

    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == PROBLEM
    errors = response.json()["errors"]
    assert [error["field"] for error in errors] == [f"history[3].{field}"]
    assert errors[0]["message"] == f"history[3].{field} {problem}; {PRICES_FIX}"


def test_agreeing_row_prices_are_served(
    live_server: LiveServer, trained_registry: Registry
) -> None:
    plain = history_rows(trained_registry)
    full = []
    for row in history_rows(trained_registry):
        close = float(row["close"])  # type: ignore[arg-type]
        full.append(
            {**row, "open": close, "high": close + 1, "low": close - 1, "volume": 10}
        )
    # a day on which every price was the same
    close = float(full[0]["close"])
    full[0].update({"open": close, "high": close, "low": close})

    by_close = live_server.client.post(
        "/v1/models/nflx/forecast", json={"history": plain}
    )
    by_bars = live_server.client.post(
        "/v1/models/nflx/forecast", json={"history": full}
    )

    assert by_bars.status_code == 200, by_bars.text
    assert by_bars.json() == by_close.json()


def test_non_positive_close_is_422_for_returns_model(
    live_server: LiveServer, trained_registry: Registry
) -> None:
    rows = history_rows(trained_registry)
    rows[-1]["close"] = 0.0
    response = live_server.client.post(
        "/v1/models/nflx/forecast", json={"history": rows}
    )
    assert response.status_code == 422
    assert "closes must be positive" in response.json()["detail"]


@pytest.mark.parametrize(
    "body",
    [
        "{",
        "[]",
        '{"horizon": "ten"}',
        '{"history": "x"}',
        '{"history": [{"date": "2020-13-45", "close": 1}]}',
        '{"history": [{"close": 1}]}',
        '{"version": "../../etc"}',
        '{"version": -1}',
        '{"version": 0}',
        '{"unknown": 1}',
        '{"horizon": 100000000000000000000000}',
    ],
)
def test_malformed_bodies_are_4xx(live_server: LiveServer, body: str) -> None:
    response = post_raw(live_server, body)
    assert 400 <= response.status_code < 500, response.text
    assert response.headers["content-type"] == PROBLEM


@pytest.mark.parametrize("name", ["..", "UPPER", "a.b", "x" * 65])
def test_invalid_model_name_is_422(live_server: LiveServer, name: str) -> None:
    response = live_server.client.post(f"/v1/models/{name}/forecast", json={})
    assert response.status_code in (404, 422)
    assert response.headers["content-type"] == PROBLEM


def test_history_past_calendar_end_is_422(
    live_server: LiveServer, trained_registry: Registry
) -> None:
    rows = history_rows(trained_registry)
    last = dt.date(9999, 12, 31)
    for back, row in enumerate(reversed(rows)):
        row["date"] = (last - dt.timedelta(days=back)).isoformat()
    response = live_server.client.post(
        "/v1/models/nflx/forecast", json={"horizon": 2, "history": rows}
    )
    assert response.status_code == 422
    body = response.json()
    assert body["errors"][0]["field"] == f"history[{len(rows) - 1}].date"
    assert "calendar ends on" in body["detail"]
    assert "send a history that ends earlier" in body["detail"]


def test_history_before_calendar_start_is_422(live_server: LiveServer) -> None:
    # 61 weekdays of 1950, 40 years before the session file's first date
    last = np.datetime64("1950-03-24")
    dates = np.busday_offset(last, np.arange(-60, 1), roll="backward")
    rows = [{"date": str(day), "close": 100.0 + 0.1 * i} for i, day in enumerate(dates)]
    response = live_server.client.post(
        "/v1/models/nflx/forecast", json={"horizon": 2, "history": rows}
    )

    assert response.status_code == 422, response.text
    body = response.json()
    assert body["errors"][0]["field"] == "history[60].date"
    assert body["detail"] == (
        "history[60].date 1950-03-24 is too early: the XNYS calendar starts on "
        "1990-01-02, so it does not list the sessions that follow 1950-03-24; "
        "send a history that ends on or after 1990-01-02"
    )


@pytest.mark.parametrize(
    ("version", "message"),
    [
        (True, "version true is a boolean, not a version number; send"),
        (1.0, "version 1.0 has a decimal point or an exponent"),
        (1e3, "so it is a float (write 1000); send a version number"),
        (-1, "version -1 is invalid because versions start at 1; send"),
        ("-1", "version '-1' is invalid because versions start at 1; send"),
        ("0", "version '0' is invalid because versions start at 1; send"),
        ("1.5", "version '1.5' is invalid; send a version number"),
    ],
)
def test_version_ref_types_are_strict(
    live_server: LiveServer, version: object, message: str
) -> None:
    response = live_server.client.post(
        "/v1/models/nflx/forecast", json={"version": version}
    )
    assert response.status_code == 422
    error = response.json()["errors"][0]
    assert error["field"] == "version"
    assert message in error["message"]


def test_empty_forecast_body_shows_smallest(live_server: LiveServer) -> None:
    response = live_server.client.post(
        "/v1/models/nflx/forecast", headers={"content-type": "application/json"}
    )

    assert response.status_code == 422, response.text
    error = response.json()["errors"][0]
    assert error["field"] == "body"
    assert error["message"] == (
        "the request needs a JSON object body with Content-Type: "
        "application/json; send at least {}"
    )


def test_empty_alias_body_shows_smallest(live_server: LiveServer) -> None:
    response = live_server.client.put(
        "/v1/models/nflx/aliases/staging", headers={"content-type": "application/json"}
    )

    assert response.status_code == 422, response.text
    message = response.json()["errors"][0]["message"]
    assert message.startswith("the request needs a JSON object body")
    assert message.endswith('send at least {"version": 3}')
