"""A JSON null sent to a field that has a default gets a 422 with the hint to
leave the field out, in every request body. A null sent to a required field
gets no hint but the value to send instead."""

from __future__ import annotations

import pytest
from pydantic import TypeAdapter

from models.tuning import TuningSpec
from service.null_fields import has_default
from tests.conftest import LiveServer

HINT = "to use its default"


@pytest.mark.parametrize(
    ("path", "body", "field", "message"),
    [
        (
            "/v1/models/nflx/forecast",
            {"version": None},
            "version",
            "version null is JSON null, not a number; send a version number from "
            "1 to 999999999 or an alias of 1-64 characters of a-z, 0-9, '_' and "
            "'-' that starts with a letter, such as 'latest'; leave version out "
            "to use its default",
        ),
        (
            "/v1/diagnostics/gradient-flow",
            {"input": {"source": "noise", "seed": None}},
            "input.seed",
            "Input should be a valid integer, not null; leave input.seed out to "
            "use its default",
        ),
        (
            "/v1/training-jobs",
            {"data": {"source": "synthetic", "length": None}},
            "data.length",
            "Input should be a valid integer, not null; leave data.length out to "
            "use its default",
        ),
        (
            "/v1/jobs",
            {"kind": "tuning", "params": {"trials": None}},
            "params.trials",
            "Input should be a valid integer, not null; leave params.trials out "
            "to use its default",
        ),
        (
            "/v1/jobs",
            {"kind": "backtest", "params": {"step": None}},
            "params.step",
            "Input should be a valid integer, not null; leave params.step out to "
            "use its default",
        ),
        (
            "/v1/models/nflx/forecast",
            {"history": [{"date": "2020-12-11", "close": None}]},
            "history[0].close",
            "Input should be a valid number, not null; send a number such as 1.5",
        ),
        (
            "/v1/models/nflx/forecast",
            {"history": [None]},
            "history[0]",
            "Input should be a valid dictionary or object to extract fields from, "
            "not null; send a JSON object",
        ),
    ],
)
def test_null_field_message(
    live_server: LiveServer, path: str, body: object, field: str, message: str
) -> None:
    response = live_server.client.post(path, json=body)

    assert response.status_code == 422, response.text
    [error] = response.json()["errors"]
    assert error["field"] == field
    assert error["message"] == message


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        (
            "/v1/models/nflx/forecast",
            {"history": [{"date": "2020-12-11", "close": None}]},
            "history[0].close",
        ),
        ("/v1/jobs", {"kind": "backtest", "params": {"model": None}}, "params.model"),
        ("/v1/jobs", {"kind": None}, "kind"),
    ],
)
def test_null_required_field_not_hinted(
    live_server: LiveServer, path: str, body: object, field: str
) -> None:
    response = live_server.client.post(path, json=body)

    assert response.status_code == 422, response.text
    errors = {error["field"]: error for error in response.json()["errors"]}
    assert HINT not in errors[field]["message"]


def test_training_spec_hint_given_once(live_server: LiveServer) -> None:
    body = {"kind": "train", "params": {"seed": None}}
    response = live_server.client.post("/v1/jobs", json=body)

    assert response.status_code == 422, response.text
    [error] = response.json()["errors"]
    assert error["message"].count(HINT) == 1


def test_null_under_key_equal_to_value(live_server: LiveServer) -> None:
    # "data" is both a key of params and the value of its name, which the
    # error path must not read as the tag of the data source union
    body = {
        "kind": "train",
        "params": {"name": "data", "data": {"source": "synthetic", "length": None}},
    }
    response = live_server.client.post("/v1/jobs", json=body)

    assert response.status_code == 422, response.text
    [error] = response.json()["errors"]
    assert error["field"] == "params.data.length"
    assert error["message"] == (
        "Input should be a valid integer, not null; leave params.data.length "
        "out to use its default"
    )


def test_has_default_of_validated_part_itself() -> None:
    # ["params"] is the part that its own validator checks, so it is no
    # field of that part and has no default
    validators = {("params",): TypeAdapter(TuningSpec).validate_python}
    body = {"kind": "tuning", "params": {}}

    assert has_default(validators, body, ["params"]) is False
