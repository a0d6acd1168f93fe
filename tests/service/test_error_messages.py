"""Validation errors over real HTTP name the client's field path and the fix."""

from __future__ import annotations

import httpx
import pytest

from service.cursors import encode_cursor
from tests.conftest import LiveServer

PROBLEM = "application/problem+json"
FORECAST = "/v1/models/nflx/forecast"
TRAINING_JOBS = "/v1/training-jobs"
JOBS = "/v1/jobs"
FLOW = "/v1/diagnostics/gradient-flow"
RANGE_TYPES = ("greater_than", "greater_than_equal", "less_than", "less_than_equal")
JSON_FIX = "send a JSON object as the examples in the API reference at /docs show"


def post_json_text(server: LiveServer, path: str, text: str) -> httpx.Response:
    """POST ``text`` as a JSON body; it may hold NaN and Infinity, which
    httpx's own JSON encoder rejects."""
    return server.client.post(
        path, content=text.encode(), headers={"content-type": "application/json"}
    )


def field_errors(response: httpx.Response) -> dict[str, dict[str, str]]:
    """The 422 problem's field errors by field, after checking the status."""
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == PROBLEM
    return {error["field"]: error for error in response.json()["errors"]}


def test_integer_above_digit_limit(live_server: LiveServer) -> None:
    response = post_json_text(live_server, FORECAST, '{"horizon": ' + "9" * 5000 + "}")

    errors = field_errors(response)
    message = (
        "the body is not valid JSON for this API (an integer has 5000 digits, "
        f"above the limit of 4300); {JSON_FIX}"
    )
    assert errors == {
        "body": {"field": "body", "message": message, "type": "json_invalid"}
    }
    assert response.json()["detail"] == message


def test_body_nested_too_deep(live_server: LiveServer) -> None:
    response = post_json_text(live_server, FORECAST, "[" * 100_000)

    errors = field_errors(response)
    assert list(errors) == ["body"]
    message = errors["body"]["message"]
    assert message.startswith("the body is not valid JSON for this API")
    assert "nested too deeply" in message
    assert message.endswith(JSON_FIX)


# the reason that an error message gives for each non-finite value of
# Python's JSON parser, keyed by the value as the message writes it
NON_FINITE_REASONS = {
    "NaN": "the value sent is NaN, which is not a number that JSON allows",
    "Infinity": (
        "the value sent is Infinity, which is not finite (JSON has no Infinity, "
        "and a number beyond about 1.8e308 reads as Infinity)"
    ),
    "-Infinity": (
        "the value sent is -Infinity, which is not finite (JSON has no "
        "-Infinity, and a number beyond about -1.8e308 reads as -Infinity)"
    ),
}


@pytest.mark.parametrize(
    ("path", "text", "field", "read_as"),
    [
        (TRAINING_JOBS, '{"learning_rate": NaN}', "learning_rate", "NaN"),
        (TRAINING_JOBS, '{"learning_rate": Infinity}', "learning_rate", "Infinity"),
        (TRAINING_JOBS, '{"dropout": NaN}', "dropout", "NaN"),
        (TRAINING_JOBS, '{"val_fraction": -Infinity}', "val_fraction", "-Infinity"),
        (TRAINING_JOBS, '{"clip_norm": Infinity}', "clip_norm", "Infinity"),
        (TRAINING_JOBS, '{"clip_norm": 1e400}', "clip_norm", "Infinity"),
        (
            TRAINING_JOBS,
            '{"data": {"source": "synthetic", "period": NaN}}',
            "data.period",
            "NaN",
        ),
        (FORECAST, '{"level": NaN}', "level", "NaN"),
        (FLOW, '{"spectral_radius": -1e999}', "spectral_radius", "-Infinity"),
        (FLOW, '{"cell": "lstm", "forget_bias": Infinity}', "forget_bias", "Infinity"),
        (
            JOBS,
            '{"kind": "backtest", "params": {"levels": [0.9, NaN]}}',
            "params.levels[1]",
            "NaN",
        ),
        (
            JOBS,
            '{"kind": "tuning", "params": {"space": {"learning_rate": [NaN, 0.1]}}}',
            "params.space.learning_rate[0]",
            "NaN",
        ),
        (
            JOBS,
            '{"kind": "tuning", "params": {"timeout_seconds": Infinity}}',
            "params.timeout_seconds",
            "Infinity",
        ),
        (
            JOBS,
            '{"kind": "lag_experiment", "params": {"learning_rate": NaN}}',
            "params.learning_rate",
            "NaN",
        ),
    ],
)
def test_non_finite_float_named(
    live_server: LiveServer, path: str, text: str, field: str, read_as: str
) -> None:
    errors = field_errors(post_json_text(live_server, path, text))

    assert errors[field]["type"] == "finite_number"
    assert errors[field]["message"] == (
        f"Input should be a finite number, but {NON_FINITE_REASONS[read_as]}; "
        "send a finite number"
    )


@pytest.mark.parametrize(
    ("path", "body", "field", "message"),
    [
        (
            TRAINING_JOBS,
            {"patience": 0},
            "patience",
            "Input should be greater than or equal to 1; send null to turn early "
            "stopping off",
        ),
        (
            TRAINING_JOBS,
            {"clip_norm": 0},
            "clip_norm",
            "Input should be greater than 0; send null to turn gradient clipping off",
        ),
        (
            JOBS,
            {"kind": "backtest", "params": {"training": {"patience": 0}}},
            "params.training.patience",
            "Input should be greater than or equal to 1; send null to turn early "
            "stopping off",
        ),
        (
            JOBS,
            {"kind": "lag_experiment", "params": {"clip_norm": 0}},
            "params.clip_norm",
            "Input should be greater than 0; send null to turn gradient clipping off",
        ),
        (
            FLOW,
            {"clip_norm": 0},
            "clip_norm",
            "Input should be greater than 0; send null to turn clipping off",
        ),
        (
            FORECAST,
            {"horizon": 61},
            "horizon",
            "Input should be less than or equal to 60; send a value of at most 60",
        ),
        (
            FLOW,
            {"cell": "gru", "update_bias": 21},
            "update_bias",
            "Input should be less than or equal to 20; send a value of at most 20",
        ),
        (
            TRAINING_JOBS,
            {"epochs": 0},
            "epochs",
            "Input should be greater than or equal to 1; send a value of at least 1",
        ),
        (
            FORECAST,
            {"level": 1},
            "level",
            "Input should be less than 1; send a value below 1",
        ),
    ],
)
def test_out_of_range_names_fix(
    live_server: LiveServer,
    path: str,
    body: dict[str, object],
    field: str,
    message: str,
) -> None:
    response = live_server.client.post(path, json=body)

    errors = field_errors(response)
    assert errors[field]["message"] == message
    assert errors[field]["type"] in RANGE_TYPES
    assert f"{field}: {message}" in response.json()["detail"]


@pytest.mark.parametrize(
    ("path", "body", "field", "message"),
    [
        (
            FORECAST,
            {"history": []},
            "history",
            "List should have at least 1 item after validation, not 0; send at "
            "least 1 item",
        ),
        (
            FLOW,
            {"input": {"source": "values", "values": [0.5]}},
            "input.values",
            "Value should have at least 2 items after validation, not 1; send at "
            "least 2 items",
        ),
        (
            JOBS,
            {"kind": "lag_experiment", "params": {"lags": []}},
            "params.lags",
            "List should have at least 1 item after validation, not 0; send at "
            "least 1 item",
        ),
    ],
)
def test_short_list_names_fix(
    live_server: LiveServer,
    path: str,
    body: dict[str, object],
    field: str,
    message: str,
) -> None:
    response = live_server.client.post(path, json=body)

    errors = field_errors(response)
    assert errors[field]["message"] == message
    assert errors[field]["type"] == "too_short"
    assert f"{field}: {message}" in response.json()["detail"]


def test_schema_describes_null_switches(live_server: LiveServer) -> None:
    schemas = live_server.client.get("/openapi.json").json()["components"]["schemas"]
    spec = schemas["TrainingSpec"]["properties"]

    assert "null turns early stopping off" in spec["patience"]["description"]
    assert "null turns gradient clipping off" in spec["clip_norm"]["description"]


@pytest.mark.parametrize(
    ("path", "body", "field", "message"),
    [
        (
            FORECAST,
            {"version": 0},
            "version",
            "version 0 is invalid because versions start at 1; send a version "
            "number from 1 to 999999999 or an alias of 1-64 characters of a-z, "
            "0-9, '_' and '-' that starts with a letter, such as 'latest'",
        ),
        (
            TRAINING_JOBS,
            {"dropout": 0.2, "num_layers": 1},
            "dropout",
            "dropout=0.2 has no effect with num_layers=1 because dropout is "
            "applied between recurrent layers; set num_layers=2 or more, or "
            "dropout=0",
        ),
        (
            JOBS,
            {"kind": "backtest", "params": {"window_size": 60}},
            "params.window_size",
            "window_size applies to window 'sliding' only; remove window_size or "
            "set window to 'sliding'",
        ),
    ],
)
def test_value_error_prefix_removed(
    live_server: LiveServer,
    path: str,
    body: dict[str, object],
    field: str,
    message: str,
) -> None:
    response = live_server.client.post(path, json=body)

    errors = field_errors(response)
    assert errors[field]["message"] == message
    assert errors[field]["type"] == "value_error"
    assert "Value error" not in response.json()["detail"]


def test_union_members_left_out_of_path(live_server: LiveServer) -> None:
    body = {"input": {"source": "values", "values": [1.0, "x"]}}

    response = live_server.client.post(FLOW, json=body)

    assert response.status_code == 422, response.text
    # only the member of list[float] | list[list[float]] that fits the shape
    errors = [(error["field"], error["type"]) for error in response.json()["errors"]]
    assert errors == [("input.values[1]", "float_type")]


@pytest.mark.parametrize(
    ("path", "body", "field", "error_type"),
    [
        (FLOW, {"input": {"source": "values"}}, "input.values", "missing"),
        (
            FLOW,
            {"input": {"source": "noise", "seed": -1}},
            "input.seed",
            "greater_than_equal",
        ),
        (
            TRAINING_JOBS,
            {"data": {"source": "synthetic", "length": 10}},
            "data.length",
            "greater_than_equal",
        ),
        (
            TRAINING_JOBS,
            {"data": {"source": "upload", "series_id": "../x"}},
            "data.series_id",
            "string_pattern_mismatch",
        ),
        (
            JOBS,
            {
                "kind": "backtest",
                "params": {"training": {"data": {"source": "yfinance"}}},
            },
            "params.training.data.ticker",
            "missing",
        ),
        (
            FORECAST,
            {"history": [{"date": "2020-01-02", "close": 1.0}, {"close": 2.0}]},
            "history[1].date",
            "missing",
        ),
    ],
)
def test_tagged_union_path(
    live_server: LiveServer,
    path: str,
    body: dict[str, object],
    field: str,
    error_type: str,
) -> None:
    errors = field_errors(live_server.client.post(path, json=body))

    assert field in errors, errors
    assert errors[field]["type"] == error_type


def test_backtest_level_names_index(live_server: LiveServer) -> None:
    body = {"kind": "backtest", "params": {"levels": [0.5, 1.5]}}

    errors = field_errors(live_server.client.post(JOBS, json=body))

    assert errors == {
        "params.levels[1]": {
            "field": "params.levels[1]",
            "message": (
                "level 1.5 is not available: intervals are calibrated at "
                "levels 0.01 to 0.99 in steps of 0.01; request one of those levels"
            ),
            "type": "value_error",
        }
    }


@pytest.mark.parametrize(
    ("kind", "params", "field", "message"),
    [
        ("tuning", {"storage": "sqlite:///x.db"}, "params.storage", "storage is"),
        (
            "tuning",
            {"base": {"data": {"source": "csv", "path": "/etc/passwd"}}},
            "params.base.data.source",
            "data.source 'csv' reads a file on the server",
        ),
        (
            "train",
            {"data": {"source": "upload", "series_id": "a" * 32}},
            "params.data.series_id",
            "not found",
        ),
        (
            "train",
            {"target": "price", "data": {"source": "synthetic", "length": 60}},
            "params.name",
            "name is missing",
        ),
        (
            "tuning",
            {"base": {"target": "price", "data": {"source": "synthetic"}}},
            "params.name",
            "name is missing",
        ),
        (
            "tuning",
            {"space": {"hidden_size": [128, 8]}},
            "params.space.hidden_size",
            "hidden_size range (128, 8) has low above high; give the lower",
        ),
        (
            "tuning",
            {"space": {"learning_rate": [0, 0.1]}},
            "params.space.learning_rate",
            "must start above 0, because it is searched on a log scale",
        ),
        (
            "tuning",
            {"space": {"batch_size": [32, 0]}},
            "params.space.batch_size",
            "batch_size choices [32, 0] must lie within [1, 4096]",
        ),
    ],
)
def test_job_check_names_params_path(
    live_server: LiveServer,
    kind: str,
    params: dict[str, object],
    field: str,
    message: str,
) -> None:
    response = live_server.client.post(JOBS, json={"kind": kind, "params": params})

    errors = field_errors(response)
    assert list(errors) == [field]
    assert message in errors[field]["message"]


# a training spec on other data than the bundled series, without a name
UNNAMED = {"target": "price", "data": {"source": "synthetic"}}
MISSING_NAME = (
    "name is missing: the default name nflx is only for the bundled NFLX data, "
    "so a model trained on {source} 'synthetic' needs a name of its own; set name"
)


@pytest.mark.parametrize(
    ("path", "body", "field", "source"),
    [
        (TRAINING_JOBS, UNNAMED, "name", "data.source"),
        (JOBS, {"kind": "train", "params": UNNAMED}, "params.name", "data.source"),
        (
            JOBS,
            {"kind": "tuning", "params": {"base": UNNAMED}},
            "params.name",
            "base.data.source",
        ),
    ],
)
def test_missing_name_names_json_fields(
    live_server: LiveServer,
    path: str,
    body: dict[str, object],
    field: str,
    source: str,
) -> None:
    """Check that the missing model name of a job names the JSON fields,
    not the command-line options."""
    response = live_server.client.post(path, json=body)

    errors = field_errors(response)
    assert list(errors) == [field]
    assert errors[field]["message"] == MISSING_NAME.format(source=source)


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        (FORECAST, {"horizon": True}, "horizon"),
        (TRAINING_JOBS, {"epochs": True}, "epochs"),
        (TRAINING_JOBS, {"patience": False}, "patience"),
        (TRAINING_JOBS, {"seed": False}, "seed"),
        (
            TRAINING_JOBS,
            {"data": {"source": "synthetic", "length": True}},
            "data.length",
        ),
        (JOBS, {"kind": "backtest", "params": {"step": True}}, "params.step"),
        (
            JOBS,
            {"kind": "lag_experiment", "params": {"lags": [5, True]}},
            "params.lags[1]",
        ),
        (FLOW, {"seq_len": True}, "seq_len"),
    ],
)
def test_boolean_rejected_for_integer(
    live_server: LiveServer, path: str, body: dict[str, object], field: str
) -> None:
    errors = field_errors(live_server.client.post(path, json=body))

    assert errors[field]["type"] == "int_type"
    assert errors[field]["message"].startswith(
        "Input should be an integer, not the boolean "
    )


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        (FORECAST, {"level": True}, "level"),
        (
            FORECAST,
            {"history": [{"date": "2020-12-10", "close": False}]},
            "history[0].close",
        ),
        (TRAINING_JOBS, {"learning_rate": True}, "learning_rate"),
        (TRAINING_JOBS, {"clip_norm": True}, "clip_norm"),
        (TRAINING_JOBS, {"dropout": False}, "dropout"),
        (
            TRAINING_JOBS,
            {"data": {"source": "synthetic", "noise": True}},
            "data.noise",
        ),
        (FLOW, {"forget_bias": True}, "forget_bias"),
        (
            FLOW,
            {"input": {"source": "values", "values": [1.0, True]}},
            "input.values[1]",
        ),
    ],
)
def test_boolean_rejected_for_number(
    live_server: LiveServer, path: str, body: dict[str, object], field: str
) -> None:
    response = live_server.client.post(path, json=body)

    assert response.status_code == 422, response.text
    # a union field gets one error per member; the number member's is checked
    errors = [
        error
        for error in response.json()["errors"]
        if error["field"] == field and error["type"] == "float_type"
    ]
    assert len(errors) == 1, response.text
    assert errors[0]["message"].startswith("Input should be a number, not the boolean ")


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        (FORECAST, {"level": "0.9"}, "level"),
        (
            JOBS,
            {"kind": "backtest", "params": {"levels": ["0.9"]}},
            "params.levels[0]",
        ),
        (
            JOBS,
            {"kind": "lag_experiment", "params": {"learning_rate": "0.01"}},
            "params.learning_rate",
        ),
        (
            JOBS,
            {"kind": "lag_experiment", "params": {"clip_norm": "1"}},
            "params.clip_norm",
        ),
        (
            JOBS,
            {"kind": "lag_experiment", "params": {"gate_bias": "1"}},
            "params.gate_bias",
        ),
        (
            JOBS,
            {"kind": "lag_experiment", "params": {"learned_r2": "0.5"}},
            "params.learned_r2",
        ),
        (
            JOBS,
            {"kind": "tuning", "params": {"timeout_seconds": "5"}},
            "params.timeout_seconds",
        ),
        (
            JOBS,
            {"kind": "tuning", "params": {"space": {"dropout": [0, "0.2"]}}},
            "params.space.dropout[1]",
        ),
    ],
)
def test_string_rejected_for_number(
    live_server: LiveServer, path: str, body: dict[str, object], field: str
) -> None:
    response = live_server.client.post(path, json=body)

    errors = field_errors(response)
    assert field in errors, response.text
    assert errors[field]["type"] == "float_type"
    assert errors[field]["message"].startswith(
        "Input should be a number, not a string; send a JSON number"
    )
    assert live_server.client.get(JOBS).json()["jobs"] == []


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        (FORECAST, {"horizon": "2"}, "horizon"),
        (TRAINING_JOBS, {"epochs": "2"}, "epochs"),
        (FLOW, {"hidden_size": "8"}, "hidden_size"),
    ],
)
def test_string_rejected_for_integer(
    live_server: LiveServer, path: str, body: dict[str, object], field: str
) -> None:
    errors = field_errors(live_server.client.post(path, json=body))

    assert errors[field]["type"] == "int_type"
    assert errors[field]["message"].startswith(
        "Input should be an integer, not a string; send a JSON number"
    )


def test_integer_beyond_float_range_is_named(live_server: LiveServer) -> None:
    content = '{"history": [{"date": "2020-12-10", "close": 1' + "0" * 400 + "}]}"
    response = live_server.client.post(
        FORECAST, content=content, headers={"content-type": "application/json"}
    )

    errors = field_errors(response)
    assert (
        "401-digit integer is beyond the float range"
        in (errors["history[0].close"]["message"])
    )


def test_integer_accepted_for_number(live_server: LiveServer) -> None:
    """A JSON integer is a number: ``"learning_rate": 2`` reaches the bound
    check as 2.0 instead of failing as a wrong type."""
    response = live_server.client.post(TRAINING_JOBS, json={"learning_rate": 2})

    errors = field_errors(response)
    assert errors["learning_rate"]["type"] == "less_than_equal"


def test_null_horizon_means_default(live_server: LiveServer) -> None:
    response = live_server.client.post(FORECAST, json={"horizon": None})

    assert response.status_code == 200, response.text
    assert response.json()["horizon"] == 5


@pytest.mark.parametrize("version", ["-1", "0", "-latest", "1.5"])
def test_version_path_names_first_version(
    live_server: LiveServer, version: str
) -> None:
    response = live_server.client.get(f"/v1/models/nflx/versions/{version}")

    errors = field_errors(response)
    assert "send a version number from 1 to" in errors["version"]["message"]
    assert "send a version number from 1 to" in response.json()["detail"]


@pytest.mark.parametrize("version", ["01", "007", "000000001"])
def test_leading_zeros_accepted_in_path_and_body(
    live_server: LiveServer, version: str
) -> None:
    path = live_server.client.get(f"/v1/models/nflx/versions/{version}")
    body = live_server.client.post(FORECAST, json={"version": version, "horizon": 1})
    number = int(version)

    assert path.status_code == body.status_code, (path.text, body.text)
    if number == 1:
        assert path.json()["version"] == body.json()["version"] == 1
    else:
        assert path.status_code == 404
        assert path.json()["detail"] == body.json()["detail"]
        assert f"has no version {number};" in path.json()["detail"]


HUNDRED_NINES = "9" * 100
CUT = "(200 characters, the first 128 shown)"


def version_forms(server: LiveServer, digits: str) -> dict[str, httpx.Response]:
    """The responses to one version number sent in a path, as a JSON string
    and as a JSON number."""
    return {
        "path": server.client.get(f"/v1/models/nflx/versions/{digits}"),
        "string": server.client.post(FORECAST, json={"version": digits}),
        "number": post_json_text(server, FORECAST, f'{{"version": {digits}}}'),
    }


@pytest.mark.parametrize("digits", ["1000000000", HUNDRED_NINES])
def test_version_above_largest_rejected_in_every_form(
    live_server: LiveServer, digits: str
) -> None:
    responses = version_forms(live_server, digits)

    for form, response in responses.items():
        message = field_errors(response)["version"]["message"]
        assert (
            "is above the largest version number, 999999999; send a version "
            "number from 1 to 999999999 or an alias" in message
        ), form
        assert digits in message, form


def test_largest_version_is_not_found(live_server: LiveServer) -> None:
    responses = version_forms(live_server, "999999999")

    for form, response in responses.items():
        assert response.status_code == 404, (form, response.text)
        assert "has no version 999999999;" in response.json()["detail"]


def test_long_version_number_cut_in_every_form(live_server: LiveServer) -> None:
    digits = "9" * 200
    alias = live_server.client.put(
        "/v1/models/nflx/aliases/prod", json={"version": int(digits)}
    )
    responses = {**version_forms(live_server, digits), "alias": alias}

    for form, response in responses.items():
        assert response.status_code == 422, (form, response.text)
        assert digits not in response.text, form
    for form in ("path", "string"):
        assert CUT in responses[form].json()["errors"][0]["message"], form
    number = responses["number"].json()["errors"][0]["message"]
    assert "(200 digits, the first 128 shown)" in number
    assert field_errors(alias)["version"]["message"].endswith("999999999")


def test_long_alias_cut_and_named(live_server: LiveServer) -> None:
    alias = "a" * 200
    flow = live_server.client.post(
        FLOW, json={"model": {"name": "nflx", "version": alias}, "seq_len": 5}
    )
    put = live_server.client.put(
        f"/v1/models/nflx/aliases/{alias}", json={"version": 1}
    )

    assert list(field_errors(flow)) == ["model.version"]
    assert list(field_errors(put)) == ["alias"]
    for response in (flow, put):
        assert alias not in response.text
        assert CUT in response.json()["errors"][0]["message"]


@pytest.mark.parametrize("suffix", ["gradients", "gradients.png"])
def test_gradients_path_names_first_version(
    live_server: LiveServer, suffix: str
) -> None:
    response = live_server.client.get(f"/v1/models/nflx/versions/-1/{suffix}")

    errors = field_errors(response)
    assert (
        "version '-1' is invalid because versions start at 1"
        in (errors["version"]["message"])
    )


# "²" is SUPERSCRIPT TWO and "١" ARABIC-INDIC DIGIT ONE, digits to str.isdigit
@pytest.mark.parametrize("digit", ["²", "١"])
@pytest.mark.parametrize(
    "path", ["/v1/models/nflx/versions/{}", "/v1/models/nflx/versions/{}/gradients"]
)
def test_non_ascii_digit_version_rejected(
    live_server: LiveServer, path: str, digit: str
) -> None:
    response = live_server.client.get(path.format(digit))

    message = field_errors(response)["version"]["message"]
    assert message.startswith(f"version {digit!r} is invalid; send a version number")


@pytest.mark.parametrize("digit", ["²", "١"])
def test_non_ascii_digit_version_in_body(live_server: LiveServer, digit: str) -> None:
    response = live_server.client.post(FORECAST, json={"version": digit})

    message = field_errors(response)["version"]["message"]
    assert message.startswith(f"version {digit!r} is invalid; send a version number")


@pytest.mark.parametrize(
    ("version", "shown"), [(True, "true"), (1.5, "1.5"), (None, "null"), ([1], "[1]")]
)
def test_gradient_flow_version_has_one_error(
    live_server: LiveServer, version: object, shown: str
) -> None:
    """A stored model's version that is neither a whole number nor a string
    gets one message, not one per member of the union."""
    body = {"model": {"name": "nflx", "version": version}, "seq_len": 10}
    response = live_server.client.post("/v1/diagnostics/gradient-flow", json=body)
    errors = response.json()["errors"]

    assert response.status_code == 422
    assert len(errors) == 1
    assert errors[0]["field"] == "model.version"
    assert errors[0]["message"].startswith(f"version {shown} is ")


def test_long_job_kind_cut(live_server: LiveServer) -> None:
    kind = "k" * 200
    response = live_server.client.post(JOBS, json={"kind": kind, "params": {}})

    message = field_errors(response)["kind"]["message"]
    assert kind not in response.text
    assert message.startswith(f"job kind {kind[:128]!r}... {CUT} is unknown")


def test_unknown_kind_filter_rejected(live_server: LiveServer) -> None:
    known = live_server.client.get(JOBS, params={"kind": ["train", "backtest"]})
    response = live_server.client.get(JOBS, params={"kind": ["train", "bogus"]})

    assert known.status_code == 200
    errors = field_errors(response)
    assert list(errors) == ["query.kind"]
    message = errors["query.kind"]["message"]
    assert message.startswith("job kind 'bogus' is unknown; known kinds are [")
    assert "'backtest'" in message
    assert "'train'" in message
    assert message.endswith("or leave kind out to list jobs of every kind")


@pytest.mark.parametrize("path", [JOBS, TRAINING_JOBS])
@pytest.mark.parametrize(
    "cursor",
    [
        "%%%",
        "MToy",  # "1:2"
        "bmFuOng",  # "nan:x"
        "aW5mOng",  # "inf:x"
        encode_cursor("nan", "0" * 32),
        encode_cursor("1796406046.137", "0" * 32),  # no such job
    ],
)
def test_bad_cursor_names_query_field(
    live_server: LiveServer, path: str, cursor: str
) -> None:
    response = live_server.client.get(path, params={"cursor": cursor})

    errors = field_errors(response)
    assert list(errors) == ["query.cursor"]
    assert (
        "pass the next_cursor of the previous page" in errors["query.cursor"]["message"]
    )


@pytest.mark.parametrize("text", ["1e3", "true", "-1", '"-1"', "null", "1000000000"])
def test_version_message_same_in_forecast_and_flow(
    live_server: LiveServer, text: str
) -> None:
    forecast = post_json_text(live_server, FORECAST, f'{{"version": {text}}}')
    flow = post_json_text(
        live_server, FLOW, f'{{"model": {{"name": "nflx", "version": {text}}}}}'
    )

    forecast_message = field_errors(forecast)["version"]["message"]
    flow_message = field_errors(flow)["model.version"]["message"]
    if text == "null":
        # both fields default to 'latest', and each message names its field
        forecast_hint = "; leave version out to use its default"
        flow_hint = "; leave model.version out to use its default"
        assert forecast_message.endswith(forecast_hint)
        assert flow_message.endswith(flow_hint)
        forecast_message = forecast_message.removesuffix(forecast_hint)
        flow_message = flow_message.removesuffix(flow_hint)
    assert forecast_message == flow_message
    assert forecast_message.startswith("version ")
    assert forecast_message.endswith("such as 'latest'")


@pytest.mark.parametrize(
    ("method", "path", "body", "field", "fix"),
    [
        (
            "PUT",
            "/v1/models/nflx/aliases/prod",
            {},
            "version",
            "send version, an integer from 1 to 999999999 such as 3",
        ),
        (
            "POST",
            FORECAST,
            {"history": [{"date": "2020-12-10"}]},
            "history[0].close",
            "send history[0].close, a number such as 501.09",
        ),
        (
            "POST",
            FORECAST,
            {"history": [{"close": 501.09}]},
            "history[0].date",
            'send history[0].date, a date written as YYYY-MM-DD such as "2020-12-10"',
        ),
        ("POST", JOBS, {}, "kind", 'send kind, a string such as "train"'),
        (
            "POST",
            JOBS,
            {"kind": "train", "params": {"data": {"source": "upload"}}},
            "params.data.series_id",
            "send params.data.series_id, a series id of 32 lowercase hexadecimal "
            "digits, as POST /v1/series returns it",
        ),
        (
            "POST",
            TRAINING_JOBS,
            {"data": {"source": "yfinance"}},
            "data.ticker",
            "send data.ticker, a Yahoo Finance ticker of 1 to 15 letters, digits "
            'or the characters . ^ = - such as "NFLX"',
        ),
        (
            "POST",
            FLOW,
            {"model": {}},
            "model.name",
            "send model.name, a name of at most 64 lowercase letters, digits, '_' "
            "and '-' that starts with a letter or digit such as \"nflx\"",
        ),
        (
            "POST",
            FLOW,
            {"input": {"source": "values"}},
            "input.values",
            "send input.values, an array such as [0.5, -0.25, 0.125]",
        ),
    ],
)
def test_missing_field_names_fix(
    live_server: LiveServer,
    method: str,
    path: str,
    body: dict[str, object],
    field: str,
    fix: str,
) -> None:
    response = live_server.client.request(method, path, json=body)

    errors = field_errors(response)
    assert errors[field]["type"] == "missing"
    assert errors[field]["message"] == f"Field required; {fix}"
    assert f"{field}: Field required; {fix}" in response.json()["detail"]


@pytest.mark.parametrize(
    ("method", "path", "text", "fields", "path_message"),
    [
        (
            "POST",
            "/v1/models/NFLX/forecast",
            '{"horizon": 0}',
            ["name", "horizon"],
            "model name 'NFLX' is invalid.",
        ),
        (
            "PUT",
            "/v1/models/nflx/aliases/Prod",
            '{"version": 0}',
            ["alias", "version"],
            "alias 'Prod' is invalid because aliases are lowercase",
        ),
        (
            "PUT",
            "/v1/models/nflx/aliases/latest",
            '{"version": "1"}',
            ["alias", "version"],
            "alias 'latest' always means the highest version and cannot be set",
        ),
    ],
)
def test_path_and_body_errors_listed(
    live_server: LiveServer,
    method: str,
    path: str,
    text: str,
    fields: list[str],
    path_message: str,
) -> None:
    response = live_server.client.request(
        method,
        path,
        content=text.encode(),
        headers={"content-type": "application/json"},
    )

    errors = field_errors(response)
    detail = response.json()["detail"]
    assert list(errors) == fields
    assert errors[fields[0]]["message"].startswith(path_message)
    assert errors[fields[0]]["type"] == "invalid"
    for field in fields:
        assert f"{field}: {errors[field]['message']}" in detail
    # a message that ends with a full stop is followed by a space alone
    assert ".;" not in detail
