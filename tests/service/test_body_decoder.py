"""``decode_common``, msgspec's decoder of the commonest forecast bodies,
yields the query that pydantic's validation yields for every body it takes,
and leaves every other body to pydantic."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from models.limits import DEFAULT_LIMITS
from models.version_refs import ALIAS_PATTERN, MAX_VERSION
from service.body_decoder import decode_common
from service.fast_forecast import may_repeat_keys
from service.routes.forecast import ForecastQuery
from tests.service.test_forecast_fields import BODIES, NEAR_VALID_BODIES, queries

ROW = {"date": "2020-01-02", "close": 1.5}
# numbers that JSON writes as integers or floats, from tiny to beyond float64
FINITE_CLOSES = (
    st.integers(-(10**30), 10**30)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.sampled_from([2**53 + 1, -0.0, 1e-320])
)
CLOSES = FINITE_CLOSES | st.just(10**400)
# version references the schema accepts, and values near them that it rejects
VERSIONS = (
    st.integers(-3, 12)
    | st.sampled_from([MAX_VERSION, MAX_VERSION + 1, 2**63, 10**30, -(10**30)])
    | st.sampled_from([10**400, 1.0, -0.0, 1e2, 2.5, True, False, None, [1], {}])
    | st.integers(-(10**10), 10**10).map(str)
    | st.sampled_from(["007", "0", "00", "-0", "-1", "+1", " 1", "1 ", "1.0", "1e3"])
    | st.sampled_from(["0x1", "\u0661", "\u00b2", "\uff11", "0" * 30 + "1", "9" * 10])
    | st.sampled_from(["latest", "production", "prod-1", "a" * 64, "a" * 65, ""])
    | st.sampled_from(["Latest", "1abc", "_a", "-a", "latest\n", "l\u00e4test"])
    | st.from_regex(ALIAS_PATTERN, fullmatch=True)
    | st.text(max_size=8)
)
ROWS = st.lists(
    st.fixed_dictionaries({"date": st.dates().map(str), "close": CLOSES}),
    max_size=5,
)
COMMON_BODIES = st.fixed_dictionaries(
    {},
    optional={
        "version": VERSIONS,
        "horizon": st.integers(-1, 70) | st.none(),
        "history": ROWS | st.none(),
        "level": st.floats(-0.5, 1.5) | st.sampled_from([0, 1, 0.5, None]),
    },
)
# bodies that the schema accepts, with every form of version and null
VALID_VERSIONS = (
    st.integers(1, MAX_VERSION)
    | st.integers(1, MAX_VERSION).map(lambda number: f"{number:012d}")
    | st.from_regex(r"[a-z][a-z0-9_-]{0,63}", fullmatch=True)
)
VALID_BODIES = st.fixed_dictionaries(
    {"version": VALID_VERSIONS},
    optional={
        "horizon": st.integers(1, DEFAULT_LIMITS.max_horizon) | st.none(),
        "history": st.lists(
            st.fixed_dictionaries(
                {"date": st.dates().map(str), "close": FINITE_CLOSES}
            ),
            min_size=1,
            max_size=5,
        )
        | st.none(),
        "level": st.floats(0, 1, exclude_min=True, exclude_max=True) | st.none(),
    },
)


def assert_same_query(body: dict[str, Any]) -> bool:
    """Check the decoder against pydantic on ``body``; return whether the
    decoder took it."""
    text = json.dumps(body).encode()
    decoded = decode_common(text)
    if decoded is None:
        return False

    _, by_fields = queries(text)
    assert by_fields is not None, body
    assert decoded.query == by_fields
    assert [type(value) for value in scalars(decoded.query)] == [
        type(value) for value in scalars(by_fields)
    ]
    assert [type(value) for value in decoded.query.closes or []] == [
        type(value) for value in by_fields.closes or []
    ]
    assert not may_repeat_keys(text, decoded.keys)
    return True


def scalars(query: ForecastQuery) -> tuple[object, ...]:
    """The query's version, horizon and level."""
    return query.version, query.horizon, query.level


@settings(max_examples=400, deadline=None)
@given(COMMON_BODIES)
def test_common_bodies_match_pydantic(body: dict[str, Any]) -> None:
    assert_same_query(body)


@settings(max_examples=200, deadline=None)
@given(VALID_BODIES)
def test_versions_and_nulls_are_taken(body: dict[str, Any]) -> None:
    assert assert_same_query(body)


@settings(max_examples=300, deadline=None)
@given(BODIES | NEAR_VALID_BODIES)
def test_other_bodies_match_pydantic_or_pass(body: dict[str, Any]) -> None:
    assert_same_query(body)


def test_common_body_is_taken() -> None:
    body = {"horizon": 3, "history": [ROW, {"date": "2020-01-03", "close": 2}]}

    assert assert_same_query(body)
    decoded = decode_common(json.dumps(body).encode())
    assert decoded is not None
    assert decoded.keys == 6
    assert decoded.query.version == "latest"
    assert decoded.query.closes == [1.5, 2.0]


def without_history(
    version: int | str, horizon: int | None = None, level: float | None = None
) -> ForecastQuery:
    """The query of a body without history rows."""
    return ForecastQuery(version, horizon, None, None, level)


@pytest.mark.parametrize(
    ("body", "query"),
    [
        ({"version": 2}, without_history(2)),
        ({"version": "007"}, without_history("007")),
        ({"version": "prod-1"}, without_history("prod-1")),
        ({"version": MAX_VERSION}, without_history(MAX_VERSION)),
        ({"horizon": None, "level": None}, without_history("latest")),
        (
            {"version": "latest", "history": None, "horizon": 4, "level": 0.8},
            without_history("latest", 4, 0.8),
        ),
    ],
)
def test_versions_and_nulls_give_their_query(
    body: dict[str, Any], query: ForecastQuery
) -> None:
    decoded = decode_common(json.dumps(body).encode())

    assert decoded is not None
    assert decoded.query == query
    assert type(decoded.query.version) is type(query.version)
    assert decoded.keys == len(body)
    assert assert_same_query(body)


@pytest.mark.parametrize(
    "body",
    [
        {"version": None},
        {"version": 0},
        {"version": -1},
        {"version": MAX_VERSION + 1},
        {"version": 10**30},
        {"version": 1.0},
        {"version": True},
        {"version": "0"},
        {"version": "-1"},
        {"version": "1.0"},
        {"version": "1" * 10},
        {"version": "Prod"},
        {"version": "\u0661"},
        {"version": ""},
        {"version": "a" * 65},
        {"version": [1]},
        {"horizon": 3.0},
        {"horizon": True},
        {"horizon": 0},
        {"horizon": 61},
        {"level": 1},
        {"level": 0},
        {"level": True},
        {"history": []},
        {"history": [{**ROW, "open": 1.0}]},
        {"history": [{"date": "2020-01-02"}]},
        {"history": [{"date": "2020-1-2", "close": 1.0}]},
        {"history": [{"date": "2020-02-30", "close": 1.0}]},
        {"history": [{"date": 20200102, "close": 1.0}]},
        {"history": [{**ROW, "close": "1.5"}]},
        {"history": [{**ROW, "close": True}]},
        {"other": 1},
    ],
)
def test_other_bodies_go_to_pydantic(body: dict[str, Any]) -> None:
    assert decode_common(json.dumps(body).encode()) is None


@pytest.mark.parametrize(
    "text",
    [
        b'{"history": [{"date": "2020-01-02", "close": Infinity}]}',
        b'{"history": [{"date": "2020-01-02", "close": 1e400}]}',
        b'{"history": [{"date": "2020-01-02", "close": NaN}]}',
        b'{"horizon": 3} trailing',
        b'{"horizon": 3',
        b"[]",
        b"",
    ],
)
def test_invalid_json_goes_to_pydantic(text: bytes) -> None:
    assert decode_common(text) is None


@pytest.mark.parametrize(
    "text", [b'{"horizon": 3, "horizon": 4}', b'{"version": 1, "version": "a"}']
)
def test_repeated_key_is_counted(text: bytes) -> None:
    decoded = decode_common(text)

    assert decoded is not None
    assert may_repeat_keys(text, decoded.keys)
