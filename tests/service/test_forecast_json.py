"""The forecast route writes its own JSON. These tests check it against the
``ForecastResponse`` schema that OpenAPI publishes."""

from __future__ import annotations

import datetime as dt
import json
import math
import random
import struct

import pytest

from models.forecasting import Forecast
from models.history_range import ForecastWarning
from models.registry import Registry
from service.routes.forecast import float_reprs, response_json
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


# two warnings whose texts JSON must escape: quotes, a backslash, a control
# character and characters beyond ASCII
WARNINGS = (
    ForecastWarning("history", "outside_training_range", 'a "quoted" \\ path\n'),
    ForecastWarning("hïstory", "type\t2", "range −1 to 1 ✓"),
)


@pytest.mark.parametrize(
    ("values", "bounds", "level"),
    [
        ([503.95, 504.8200000000001], None, None),
        (
            [1e-7, 1e22, -0.0],
            ([0.0, 5e-324, -1.5], [2.0, 1.7976931348623157e308, 3]),
            0.9,
        ),
        ([0.1 + 0.2], ([0.3], [1 / 3]), 0.01),
    ],
)
@pytest.mark.parametrize("warnings", [(), WARNINGS])
def test_response_json_equals_json_dumps(
    values: list[float],
    bounds: tuple[list[float], list[float]] | None,
    level: float | None,
    warnings: tuple[ForecastWarning, ...],
) -> None:
    dates = [f"2021-01-{day:02d}" for day in range(4, 4 + len(values))]
    lower, upper = bounds if bounds is not None else (None, None)
    result = Forecast(dates, values, lower=lower, upper=upper, warnings=warnings)
    written = response_json('na"me', 7, dt.date(2020, 12, 31), "request", result, level)
    steps = len(values)
    expected = {
        "model": 'na"me',
        "version": 7,
        "horizon": steps,
        "last_history_date": "2020-12-31",
        "history_source": "request",
        "forecast": [
            {
                "date": dates[i],
                "value": values[i],
                "lower": None if lower is None else lower[i],
                "upper": None if upper is None else upper[i],
            }
            for i in range(steps)
        ],
        "level": level,
        "warnings": [
            {"field": item.field, "type": item.type, "message": item.message}
            for item in warnings
        ],
    }
    assert written == json.dumps(expected, separators=(",", ":")).encode()


# values where msgspec's notation differs from repr, and their neighbours
NOTATION_EDGES = [
    0.0,
    -0.0,
    5.0,
    1e-4,
    math.nextafter(1e-4, 0),
    9.999e-05,
    1e-05,
    -1e-07,
    5e-324,
    1e15,
    math.nextafter(1e16, 0),
    1e16,
    -1.5e16,
    1e22,
    1.7976931348623157e308,
    10.00001,
    504.43497063123124,
]


@pytest.mark.parametrize("value", NOTATION_EDGES)
def test_float_reprs_notation_edges(value: float) -> None:
    assert float_reprs([value]) == [repr(value)]
    assert float_reprs([1.5, value, 2.25]) == ["1.5", repr(value), "2.25"]


def test_float_reprs_random_doubles() -> None:
    generator = random.Random(7)
    values = []
    while len(values) < 20_000:
        bits = struct.pack("<Q", generator.getrandbits(64))
        value = struct.unpack("<d", bits)[0]
        if math.isfinite(value):
            values.append(value)
    values += [
        generator.uniform(-1, 1) * 10.0 ** generator.randint(-6, 18)
        for _ in range(20_000)
    ]

    for value in values:
        assert float_reprs([value]) == [repr(value)], value


def test_response_json_rejects_non_finite() -> None:
    result = Forecast(dates=["2021-01-04"], values=[math.inf], lower=None, upper=None)
    with pytest.raises(ValueError, match="inf"):
        response_json("nflx", 1, dt.date(2020, 12, 31), "model", result, None)


@pytest.mark.parametrize("values", [[1.5, 2], [1.5, True], [1.5, math.nan]])
def test_response_json_writes_other_values_like_json_dumps(
    values: list[float],
) -> None:
    dates = ["2021-01-04", "2021-01-05"]
    result = Forecast(dates=dates, values=values, lower=None, upper=None)

    if not all(map(math.isfinite, values)):
        with pytest.raises(ValueError, match="nan"):
            response_json("nflx", 1, dt.date(2020, 12, 31), "model", result, None)
        return
    written = json.loads(
        response_json("nflx", 1, dt.date(2020, 12, 31), "model", result, None)
    )
    assert [point["value"] for point in written["forecast"]] == values
