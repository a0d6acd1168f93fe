"""``decode_common``, msgspec's decoder of the commonest forecast bodies,
yields the query that pydantic's validation yields for every body it takes,
and leaves every other body to pydantic."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from service.body_decoder import decode_common
from service.fast_forecast import may_repeat_keys
from tests.service.test_forecast_fields import BODIES, NEAR_VALID_BODIES, queries

ROW = {"date": "2020-01-02", "close": 1.5}
# numbers that JSON writes as integers or floats, from tiny to beyond float64
CLOSES = (
    st.integers(-(10**30), 10**30)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.sampled_from([10**400, 2**53 + 1, -0.0, 1e-320])
)
COMMON_BODIES = st.fixed_dictionaries(
    {},
    optional={
        "horizon": st.integers(-1, 70),
        "history": st.lists(
            st.fixed_dictionaries({"date": st.dates().map(str), "close": CLOSES}),
            max_size=5,
        ),
        "level": st.floats(-0.5, 1.5) | st.sampled_from([0, 1, 0.5]),
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
    assert [type(value) for value in decoded.query.closes or []] == [
        type(value) for value in by_fields.closes or []
    ]
    assert not may_repeat_keys(text, decoded.keys)
    return True


@settings(max_examples=400, deadline=None)
@given(COMMON_BODIES)
def test_common_bodies_match_pydantic(body: dict[str, Any]) -> None:
    assert_same_query(body)


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


@pytest.mark.parametrize(
    "body",
    [
        {"version": "latest"},
        {"version": 2},
        {"horizon": None},
        {"history": None},
        {"level": None},
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


def test_repeated_key_is_counted() -> None:
    text = b'{"horizon": 3, "horizon": 4}'
    decoded = decode_common(text)

    assert decoded is not None
    assert may_repeat_keys(text, decoded.keys)
