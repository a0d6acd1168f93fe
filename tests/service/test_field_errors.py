"""Field paths and messages of validation errors, without a server."""

from __future__ import annotations

import json

import pytest

from service.field_errors import field_message, field_path, json_limit_message
from service.missing_fields import type_phrase

VALUES_BODY = {"input": {"source": "values", "values": [1.0, "x"]}}


@pytest.mark.parametrize(
    ("loc", "body", "error_type", "path"),
    [
        (
            ("body", "history", 0, "close"),
            {"history": [{"close": "x"}]},
            "float_parsing",
            "history[0].close",
        ),
        (
            ("body", "input", "values", "values", "list[float]", 1),
            VALUES_BODY,
            "float_parsing",
            "input.values[1]",
        ),
        (
            ("body", "input", "values", "values", "list[list[float]]", 0),
            VALUES_BODY,
            "list_type",
            "input.values[0]",
        ),
        (
            ("body", "input", "values", "values"),
            {"input": {"source": "values"}},
            "missing",
            "input.values",
        ),
        (
            ("body", "data", "synthetic", "length"),
            {"data": {"source": "synthetic", "length": 10}},
            "greater_than_equal",
            "data.length",
        ),
        (
            ("body", "data", "yfinance"),
            {"data": {"source": "yfinance", "ticker": "X", "start": "2020-01-02"}},
            "value_error",
            "data",
        ),
        (
            ("body", "version", "function-before[_check(), int]"),
            {"version": True},
            "int_type",
            "version",
        ),
        (("body", "colour"), {"colour": "red"}, "extra_forbidden", "colour"),
        (("body",), {"horizon": 1}, "model_type", "body"),
        (("query", "limit"), None, "greater_than_equal", "query.limit"),
        (("query", "status", 1), None, "literal_error", "query.status[1]"),
        (("body", "params", "levels", 0), None, "value_error", "params.levels[0]"),
    ],
)
def test_field_path_cases(
    loc: tuple[str | int, ...], body: object, error_type: str, path: str
) -> None:
    assert field_path(loc, body, error_type) == path


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        ("Value error, version 0 is invalid", "version 0 is invalid"),
        ("Assertion failed, rows must be sorted", "rows must be sorted"),
        ("Field required", "Field required"),
        ("level Value error, kept inside", "level Value error, kept inside"),
    ],
)
def test_field_message_drops_prefix(message: str, expected: str) -> None:
    assert field_message({"type": "value_error", "msg": message}) == expected


def test_field_message_names_non_finite_value() -> None:
    error = {
        "type": "finite_number",
        "msg": "Input should be a finite number",
        "input": float("-inf"),
    }

    assert field_message(error) == (
        "Input should be a finite number, but the value sent is -Infinity, which "
        "is not finite (JSON has no -Infinity, and a number beyond about "
        "-1.8e308 reads as -Infinity); send a finite number"
    )


def test_json_limit_message_for_digits() -> None:
    with pytest.raises(ValueError) as caught:
        json.loads("9" * 5000)

    message = json_limit_message(caught.value)

    assert message is not None
    assert "an integer has 5000 digits, above the limit of 4300" in message


def test_json_limit_message_for_depth() -> None:
    with pytest.raises(RecursionError) as caught:
        json.loads("[" * 100_000)

    message = json_limit_message(caught.value)

    assert message is not None
    assert "nested too deeply" in message


def test_json_limit_message_other_errors() -> None:
    assert json_limit_message(ValueError("something else")) is None
    assert json_limit_message(OSError("disconnected")) is None


def test_field_message_extra_field_gives_fix() -> None:
    error = {
        "type": "extra_forbidden",
        "loc": ("body", "colour"),
        "msg": "Extra inputs are not permitted",
        "input": "red",
    }

    assert field_message(error) == (
        "Extra inputs are not permitted; remove the field or correct its spelling"
    )


@pytest.mark.parametrize(
    ("schema", "phrase"),
    [
        ({"type": "integer", "minimum": 1.0, "maximum": 60}, "an integer from 1 to 60"),
        ({"type": "number", "exclusiveMinimum": 0}, "a number above 0"),
        ({"type": "number", "maximum": 0.5}, "a number of at most 0.5"),
        (
            {"type": "number", "exclusiveMinimum": 0, "exclusiveMaximum": 1},
            "a number above 0 and below 1",
        ),
        ({"type": "string", "minLength": 1}, "a string of at least 1 character"),
        ({"type": "string", "format": "date"}, "a date written as YYYY-MM-DD"),
        ({"enum": ["rnn", "gru"]}, 'one of "rnn", "gru"'),
        ({"anyOf": [{"type": "boolean"}, {"type": "null"}]}, "true or false"),
        (
            {"type": "array", "items": {"type": "number"}, "minItems": 2},
            "an array of at least 2 items",
        ),
    ],
)
def test_type_phrase_cases(schema: dict[str, object], phrase: str) -> None:
    assert type_phrase({}, schema) == phrase


@pytest.mark.parametrize(
    ("error_type", "ctx", "msg", "fix"),
    [
        ("less_than_equal", {"le": 60}, "less than or equal to 60", "of at most 60"),
        (
            "greater_than_equal",
            {"ge": 2},
            "greater than or equal to 2",
            "of at least 2",
        ),
        ("greater_than", {"gt": 0.0}, "greater than 0", "above 0"),
        ("less_than", {"lt": 0.5}, "less than 0.5", "below 0.5"),
    ],
)
def test_field_message_range_gives_fix(
    error_type: str, ctx: dict[str, float], msg: str, fix: str
) -> None:
    error = {"type": error_type, "msg": f"Input should be {msg}", "ctx": ctx}

    assert field_message(error) == f"Input should be {msg}; send a value {fix}"


def test_field_message_range_keeps_given_fix() -> None:
    message = "Input should be greater than 0; send null to turn clipping off"
    error = {"type": "greater_than", "msg": message, "ctx": {"gt": 0.0}}

    assert field_message(error) == message


def test_field_message_too_short_keeps_given_fix() -> None:
    message = "List should have at least 1 item; leave history out instead"
    error = {"type": "too_short", "msg": message, "ctx": {"min_length": 1}}

    assert field_message(error) == message


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (
            {"type": "list_type", "msg": "Input should be a valid list", "input": "x"},
            "Input should be a valid list; send a JSON array",
        ),
        (
            {
                "type": "dict_type",
                "msg": "Input should be a valid dictionary",
                "input": [],
            },
            "Input should be a valid dictionary; send a JSON object",
        ),
        (
            {
                "type": "model_attributes_type",
                "msg": "Input should be a valid dictionary or object to extract "
                "fields from",
                "input": [],
            },
            "Input should be a valid dictionary or object to extract fields from; "
            "send a JSON object",
        ),
        (
            {
                "type": "float_type",
                "msg": "Input should be a valid number",
                "input": [1],
            },
            "Input should be a valid number; send a number such as 1.5",
        ),
        (
            {
                "type": "string_type",
                "msg": "Input should be a valid string",
                "input": 3,
            },
            "Input should be a valid string; send a JSON string in double quotes",
        ),
    ],
)
def test_field_message_wrong_type_gives_fix(
    error: dict[str, object], expected: str
) -> None:
    assert field_message(error) == expected


def test_field_message_null_left_to_null_hints() -> None:
    error = {
        "type": "int_type",
        "msg": "Input should be a valid integer",
        "input": None,
    }

    assert field_message(error) == "Input should be a valid integer"
