"""The forecast route writes its own JSON. These tests check it against the
``ForecastResponse`` schema that OpenAPI publishes."""

from __future__ import annotations

import json

import pytest

from models.registry import Registry
from service.schemas import ForecastPoint, ForecastResponse
from tests.conftest import LiveServer


def _history(registry: Registry, rows: int) -> list[dict[str, object]]:
    loaded = registry.load("nflx", 1)
    dates = list(loaded.tail_dates)[-rows:]
    closes = [float(c) for c in loaded.tail_close[-rows:]]
    return [{"date": d, "close": c} for d, c in zip(dates, closes, strict=True)]


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"horizon": 3, "version": 1},
        {"horizon": 2, "level": 0.9},
    ],
)
def test_model_history_answer_validates(
    live_server: LiveServer, body: dict[str, object]
) -> None:
    response = live_server.client.post("/v1/models/nflx/forecast", json=body)

    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/json"
    parsed = ForecastResponse.model_validate_json(response.content)
    assert parsed.history_source == "model"
    assert len(parsed.forecast) == parsed.horizon
    assert parsed.level == body.get("level")
    for point in parsed.forecast:
        assert (point.lower is not None) == ("level" in body)
        assert (point.upper is not None) == ("level" in body)


def test_request_history_answer_validates(
    live_server: LiveServer, trained_registry: Registry
) -> None:
    history = _history(trained_registry, 40)
    response = live_server.client.post(
        "/v1/models/nflx/forecast", json={"horizon": 4, "history": history}
    )

    assert response.status_code == 200, response.text
    parsed = ForecastResponse.model_validate_json(response.content)
    assert parsed.history_source == "request"
    assert parsed.last_history_date.isoformat() == history[-1]["date"]
    dates = [point.date for point in parsed.forecast]
    assert dates == sorted(set(dates))
    assert dates[0] > parsed.last_history_date


def test_answer_has_every_schema_field(live_server: LiveServer) -> None:
    response = live_server.client.post("/v1/models/nflx/forecast", json={})
    raw = json.loads(response.content)

    assert set(raw) == set(ForecastResponse.model_fields)
    for point in raw["forecast"]:
        assert set(point) == set(ForecastPoint.model_fields)
