"""``ForecastRequestFields``, the dict form of ``ForecastRequest`` that the
forecast fast path validates against, accepts exactly the bodies the model
accepts and yields the same query."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from service.routes.forecast import ForecastQuery
from service.schemas import FORECAST_REQUEST_FIELDS, ForecastRequest

# schema keys that document a field without checking it
DOCUMENTATION_KEYS = {"title", "description", "examples", "default"}


def checks_only(schema: Any) -> Any:
    """The JSON schema without its documentation keys."""
    if isinstance(schema, dict):
        return {
            key: checks_only(value)
            for key, value in schema.items()
            if key not in DOCUMENTATION_KEYS
        }
    if isinstance(schema, list):
        return [checks_only(value) for value in schema]
    return schema


def test_fields_schema_matches_model_schema() -> None:
    model = checks_only(ForecastRequest.model_json_schema())
    fields_text = json.dumps(checks_only(FORECAST_REQUEST_FIELDS.json_schema()))
    fields = json.loads(fields_text.replace("HistoryRowFields", "HistoryRow"))
    assert fields == model


def queries(body: bytes) -> tuple[ForecastQuery | None, ForecastQuery | None]:
    """The query from the route's way (``json.loads``, then the model) and
    from the fast path's way, each None when that way rejects the body."""
    try:
        by_model: ForecastQuery | None = ForecastQuery.from_model(
            ForecastRequest.model_validate(json.loads(body))
        )
    except (ValueError, ValidationError):
        by_model = None
    try:
        by_fields: ForecastQuery | None = ForecastQuery.from_fields(
            FORECAST_REQUEST_FIELDS.validate_json(body)
        )
    except ValidationError:
        by_fields = None
    return by_model, by_fields


JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(10**20), 10**20)
    | st.floats(allow_nan=False)
    | st.sampled_from(["latest", "1", "2020-01-02", "2020-01-02T00:00:00", "", "x"]),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(), inner),
    max_leaves=6,
)
ROWS = st.fixed_dictionaries(
    {"date": st.dates().map(str) | JSON_VALUES, "close": JSON_VALUES},
    optional={
        "open": JSON_VALUES,
        "high": JSON_VALUES,
        "low": JSON_VALUES,
        "volume": JSON_VALUES,
        "extra": JSON_VALUES,
    },
)
BODIES = st.fixed_dictionaries(
    {},
    optional={
        "version": st.integers(-2, 10**10) | st.text(max_size=6) | JSON_VALUES,
        "horizon": st.integers(-2, 100) | JSON_VALUES,
        "history": st.lists(ROWS, max_size=4) | JSON_VALUES,
        "level": st.floats(0, 1) | JSON_VALUES,
        "other": JSON_VALUES,
    },
)


@settings(max_examples=400, deadline=None)
@given(BODIES)
def test_fields_accept_what_model_accepts(body: dict[str, Any]) -> None:
    by_model, by_fields = queries(json.dumps(body).encode())
    assert by_fields == by_model


def test_fields_keep_model_number_checks() -> None:
    rows = [{"date": "2020-01-02", "close": 1.5}]
    for body in [
        {"horizon": True},
        {"horizon": "3"},
        {"level": True},
        {"level": "0.9"},
        {"history": [{"date": "2020-01-02", "close": True}]},
        {"history": [{"date": "2020-01-02", "close": "1.5"}]},
        {"history": [{**rows[0], "volume": -1}]},
        {"version": True},
        {"version": 1.5},
    ]:
        by_model, by_fields = queries(json.dumps(body).encode())
        assert by_model is None, body
        assert by_fields is None, body


NUMBERS = st.integers(-(10**6), 10**6) | st.floats(allow_nan=False)
NEAR_VALID_BODIES = st.fixed_dictionaries(
    {},
    optional={
        "version": st.integers(1, 5) | st.sampled_from(["latest", "prod-1"]),
        "horizon": st.integers(0, 61) | st.sampled_from([1.0, 2.5, 1e2]),
        "history": st.lists(
            st.fixed_dictionaries(
                {"date": st.dates().map(str), "close": NUMBERS},
                optional={"open": NUMBERS | st.none(), "volume": NUMBERS},
            ),
            min_size=1,
            max_size=4,
        ),
        "level": st.floats(0, 1) | st.sampled_from([0.9, 1, 0]),
    },
)


@settings(max_examples=300, deadline=None)
@given(NEAR_VALID_BODIES)
def test_fields_match_model_on_near_valid_bodies(body: dict[str, Any]) -> None:
    by_model, by_fields = queries(json.dumps(body).encode())
    assert by_fields == by_model
