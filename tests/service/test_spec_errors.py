"""Training spec errors over real HTTP: model names, data sources, tickers,
integer fields and the fields of synthetic generators."""

from __future__ import annotations

import httpx
import pytest

from models.names import NAME_PATTERN
from models.spec import DATA_SOURCES, SyntheticData
from service.data_sources import HTTP_SOURCES as HTTP_SOURCE_NAMES
from tests.conftest import LiveServer
from tests.service.test_error_messages import (
    FLOW,
    FORECAST,
    JOBS,
    NON_FINITE_REASONS,
    TRAINING_JOBS,
    field_errors,
)

NAME_RULE = (
    "A name may contain only lowercase letters, digits, '_' and '-', must start "
    "with a letter or digit and may have at most 64 characters."
)


@pytest.mark.parametrize(
    ("path", "body", "field", "name", "example"),
    [
        (TRAINING_JOBS, {"name": "My Model"}, "name", "My Model", "my-model"),
        (
            JOBS,
            {"kind": "tuning", "params": {"study_name": "NFLX study"}},
            "params.study_name",
            "NFLX study",
            "nflx-study",
        ),
        (
            JOBS,
            {"kind": "backtest", "params": {"training": {"name": "gru.v2"}}},
            "params.training.name",
            "gru.v2",
            "gru-v2",
        ),
        (FLOW, {"model": {"name": "NFLX"}}, "model.name", "NFLX", "nflx"),
    ],
)
def test_bad_name_gets_rule_in_words(
    live_server: LiveServer,
    path: str,
    body: dict[str, object],
    field: str,
    name: str,
    example: str,
) -> None:
    response = live_server.client.post(path, json=body)

    errors = field_errors(response)
    assert list(errors) == [field]
    message = errors[field]["message"]
    assert (
        message == f"{name!r} is invalid. {NAME_RULE} Use a name such as {example!r}."
    )
    assert errors[field]["type"] == "string_pattern_mismatch"
    assert NAME_PATTERN not in response.text


def test_openapi_keeps_name_pattern(live_server: LiveServer) -> None:
    schemas = live_server.client.get("/openapi.json").json()["components"]["schemas"]

    assert schemas["TrainingSpec"]["properties"]["name"]["pattern"] == NAME_PATTERN


HTTP_SOURCES = "'bundled', 'yfinance', 'synthetic' or 'upload'"


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        (TRAINING_JOBS, {"data": {}}, "data.source"),
        (TRAINING_JOBS, {"data": {"column": "open"}}, "data.source"),
        (
            JOBS,
            {"kind": "train", "params": {"data": {}}},
            "params.data.source",
        ),
        (
            JOBS,
            {"kind": "tuning", "params": {"base": {"data": {"seed": 1}}}},
            "params.base.data.source",
        ),
    ],
)
def test_missing_source_is_required(
    live_server: LiveServer, path: str, body: dict[str, object], field: str
) -> None:
    errors = field_errors(live_server.client.post(path, json=body))

    assert list(errors) == [field]
    assert errors[field]["type"] == "missing"
    assert errors[field]["message"] == (
        f"Field required: a data spec needs a source, one of {HTTP_SOURCES}"
    )


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        (TRAINING_JOBS, {"data": {"source": "nope"}}, "data.source"),
        (
            JOBS,
            {"kind": "backtest", "params": {"training": {"data": {"source": "s3"}}}},
            "params.training.data.source",
        ),
    ],
)
def test_unknown_source_lists_http_sources(
    live_server: LiveServer, path: str, body: dict[str, object], field: str
) -> None:
    response = live_server.client.post(path, json=body)

    errors = field_errors(response)
    assert list(errors) == [field]
    assert errors[field]["type"] == "union_tag_invalid"
    assert errors[field]["message"].endswith(
        f"is not a data source; use one of {HTTP_SOURCES}"
    )
    assert "csv" not in response.text


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        (
            TRAINING_JOBS,
            {"name": "x", "data": {"source": "yfinance", "ticker": "NFLX US"}},
            "data.ticker",
        ),
        (
            JOBS,
            {
                "kind": "tuning",
                "params": {
                    "base": {
                        "name": "x",
                        "data": {"source": "yfinance", "ticker": "NFLX US"},
                    }
                },
            },
            "params.base.data.ticker",
        ),
    ],
)
def test_invalid_ticker_explained(
    live_server: LiveServer, path: str, body: dict[str, object], field: str
) -> None:
    response = live_server.client.post(path, json=body)

    errors = field_errors(response)
    assert list(errors) == [field]
    assert errors[field]["type"] == "string_pattern_mismatch"
    assert errors[field]["message"] == (
        "ticker 'NFLX US' is invalid. A ticker is a Yahoo Finance symbol of 1 "
        "to 15 letters, digits or the characters . ^ = -, without spaces; send "
        "one such as 'NFLX' (a stock), 'BRK-B' (a share class) or '^GSPC' (an "
        "index)"
    )
    assert "pattern" not in response.json()["detail"]


def test_csv_source_rejected_over_http(live_server: LiveServer) -> None:
    body = {"data": {"source": "csv", "path": "/etc/hostname"}}

    errors = field_errors(live_server.client.post(TRAINING_JOBS, json=body))

    assert list(errors) == ["data.source"]
    assert errors["data.source"]["message"].startswith(
        "data.source 'csv' reads a file on the server and is not accepted over HTTP"
    )


def test_http_sources_are_spec_sources_but_csv() -> None:
    assert "csv" not in HTTP_SOURCE_NAMES
    assert set(HTTP_SOURCE_NAMES) | {"csv"} == set(DATA_SOURCES)


def send_json_text(
    server: LiveServer, method: str, path: str, text: str
) -> httpx.Response:
    """Send ``text`` as a JSON body, so that numbers keep the form written."""
    return server.client.request(
        method,
        path,
        content=text.encode(),
        headers={"content-type": "application/json"},
    )


def integer_error(
    server: LiveServer, method: str, path: str, text: str, field: str
) -> str:
    """Send ``text`` and return the message of its one field error, after
    checking that it is an ``int_type`` error of ``field`` that the detail
    starts with."""
    response = send_json_text(server, method, path, text)

    errors = field_errors(response)
    assert list(errors) == [field]
    assert errors[field]["type"] == "int_type"
    assert response.json()["detail"].startswith(f"{field}: Input should be an integer")
    return errors[field]["message"]


@pytest.mark.parametrize(
    ("method", "path", "text", "field", "echoed", "example"),
    [
        ("POST", TRAINING_JOBS, '{"hidden_size": 64.0}', "hidden_size", "64.0", 64),
        ("POST", TRAINING_JOBS, '{"hidden_size": 6.4e1}', "hidden_size", "64.0", 64),
        ("POST", TRAINING_JOBS, '{"epochs": 1E1}', "epochs", "10.0", 10),
        ("POST", TRAINING_JOBS, '{"patience": 2.5}', "patience", "2.5", 2),
        (
            "POST",
            TRAINING_JOBS,
            '{"data": {"source": "synthetic", "length": 500.0}}',
            "data.length",
            "500.0",
            500,
        ),
        (
            "POST",
            JOBS,
            '{"kind": "backtest", "params": {"step": 5.0}}',
            "params.step",
            "5.0",
            5,
        ),
        (
            "POST",
            JOBS,
            '{"kind": "tuning", "params": {"space": {"hidden_size": [8, 1.6e1]}}}',
            "params.space.hidden_size[1]",
            "16.0",
            16,
        ),
        (
            "POST",
            JOBS,
            '{"kind": "lag_experiment", "params": {"lags": [5, 10.0]}}',
            "params.lags[1]",
            "10.0",
            10,
        ),
        ("POST", FORECAST, '{"horizon": 3.0}', "horizon", "3.0", 3),
        ("POST", FLOW, '{"seq_len": 1e2}', "seq_len", "100.0", 100),
        # a whole value outside the field's range gets the nearest bound, and
        # a forecast's horizon the 5 steps that nflx forecasts
        ("POST", FORECAST, '{"horizon": 100.0}', "horizon", "100.0", 5),
        ("POST", FORECAST, '{"horizon": -3.0}', "horizon", "-3.0", 1),
        ("POST", TRAINING_JOBS, '{"batch_size": 1e6}', "batch_size", "1000000.0", 4096),
        ("POST", FLOW, '{"seq_len": 0.5}', "seq_len", "0.5", 2),
    ],
)
def test_float_rejected_for_integer(
    live_server: LiveServer,
    method: str,
    path: str,
    text: str,
    field: str,
    echoed: str,
    example: int,
) -> None:
    assert integer_error(live_server, method, path, text, field) == (
        f"Input should be an integer without a decimal point or exponent, not "
        f"{echoed}; send a whole number such as {example}"
    )


def test_float_version_rejected_for_stored_model(live_server: LiveServer) -> None:
    body = '{"model": {"name": "nflx", "version": 1.0}, "seq_len": 10}'

    errors = field_errors(send_json_text(live_server, "POST", FLOW, body))

    assert list(errors) == ["model.version"]
    assert errors["model.version"]["message"] == (
        "version 1.0 has a decimal point or an exponent, so it is a float (write "
        "1); send a version number from 1 to 999999999 or an alias of 1-64 "
        "characters of a-z, 0-9, '_' and '-' that starts with a letter, such as "
        "'latest'"
    )


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("1.0", "version 1.0 has a decimal point or an exponent, so it is a float"),
        ("NaN", "version is invalid because the value sent is NaN"),
        ("1000000000", "version 1000000000 is above the largest version number"),
    ],
)
def test_alias_version_uses_version_wording(
    live_server: LiveServer, text: str, problem: str
) -> None:
    path = "/v1/models/nflx/aliases/production"
    body = f'{{"version": {text}}}'

    errors = field_errors(send_json_text(live_server, "PUT", path, body))

    assert list(errors) == ["version"]
    assert errors["version"]["message"].startswith(problem)
    assert errors["version"]["message"].endswith(
        "; send a version number from 1 to 999999999"
    )


@pytest.mark.parametrize(
    ("method", "path", "text", "field", "read_as"),
    [
        ("POST", TRAINING_JOBS, '{"epochs": NaN}', "epochs", "NaN"),
        ("POST", TRAINING_JOBS, '{"seed": Infinity}', "seed", "Infinity"),
        ("POST", TRAINING_JOBS, '{"hidden_size": 1e400}', "hidden_size", "Infinity"),
        (
            "POST",
            JOBS,
            '{"kind": "lag_experiment", "params": {"lags": [5, -Infinity]}}',
            "params.lags[1]",
            "-Infinity",
        ),
        ("POST", FORECAST, '{"horizon": NaN}', "horizon", "NaN"),
        ("POST", FLOW, '{"seq_len": -1e400}', "seq_len", "-Infinity"),
    ],
)
def test_non_finite_rejected_for_integer(
    live_server: LiveServer,
    method: str,
    path: str,
    text: str,
    field: str,
    read_as: str,
) -> None:
    # nflx forecasts 5 steps, so 5 is suggested for its horizon instead of 64
    example = 5 if field == "horizon" else 64

    assert integer_error(live_server, method, path, text, field) == (
        f"Input should be an integer, but {NON_FINITE_REASONS[read_as]}; send a "
        f"whole number such as {example}"
    )


@pytest.mark.parametrize(
    ("path", "text", "field", "rule", "read_as"),
    [
        (
            FORECAST,
            '{"version": NaN}',
            "version",
            "version is invalid because",
            "NaN",
        ),
        (
            FLOW,
            '{"model": {"name": "nflx", "version": Infinity}}',
            "model.version",
            "version is invalid because",
            "Infinity",
        ),
    ],
)
def test_non_finite_version_named(
    live_server: LiveServer, path: str, text: str, field: str, rule: str, read_as: str
) -> None:
    errors = field_errors(send_json_text(live_server, "POST", path, text))

    assert list(errors) == [field]
    assert errors[field]["message"] == (
        f"{rule} {NON_FINITE_REASONS[read_as]}; send a version number from 1 to "
        "999999999 or an alias of 1-64 characters of a-z, 0-9, '_' and '-' that "
        "starts with a letter, such as 'latest'"
    )


@pytest.mark.parametrize(
    ("path", "body"),
    [
        (FORECAST, {"horizon": 3}),
        (FLOW, {"seq_len": 10}),
        (FLOW, {"model": {"name": "nflx", "version": 1}, "seq_len": 10}),
    ],
)
def test_integer_still_accepted(
    live_server: LiveServer, path: str, body: dict[str, object]
) -> None:
    response = live_server.client.post(path, json=body)

    assert response.status_code == 200, response.text


# 60 rows are too short for the default lookback and horizon, so a spec that
# passes the generator check fails the data check and queues no job
SHORT = {"source": "synthetic", "length": 60}


@pytest.mark.parametrize(
    ("path", "body", "field", "generator"),
    [
        (
            TRAINING_JOBS,
            {"name": "s", "data": {**SHORT, "generator": "sine", "noise": 0.5}},
            "data.noise",
            "sine",
        ),
        (
            TRAINING_JOBS,
            {"name": "s", "data": {**SHORT, "seed": 3}},
            "data.seed",
            "sine",
        ),
        (
            JOBS,
            {
                "kind": "backtest",
                "params": {
                    "training": {"data": {**SHORT, "generator": "sine", "phi": 0.2}}
                },
            },
            "params.training.data.phi",
            "sine",
        ),
        (
            JOBS,
            {
                "kind": "tuning",
                "params": {
                    "name": "t",
                    "base": {
                        "data": {**SHORT, "generator": "random_walk", "period": 9}
                    },
                },
            },
            "params.base.data.period",
            "random_walk",
        ),
    ],
)
def test_unused_generator_field_rejected(
    live_server: LiveServer,
    path: str,
    body: dict[str, object],
    field: str,
    generator: str,
) -> None:
    errors = field_errors(live_server.client.post(path, json=body))

    assert list(errors) == [field]
    message = errors[field]["message"]
    name = field.rsplit(".", 1)[1]
    assert message.startswith(
        f"data.{name} is not used by generator {generator!r}, which uses data.length"
    )
    assert errors[field]["type"] == "invalid"


@pytest.mark.parametrize(
    "data",
    [
        {**SHORT, "generator": "sine", "period": 20, "level": 3},
        {**SHORT, "generator": "ar1", "seed": 1, "noise": 0.2, "phi": 0.5},
        {**SHORT, "generator": "mackey_glass", "seed": 1, "noise": 0.0, "level": 1},
        # every field, as a job's params and a stored spec list them
        SyntheticData(generator="sine", length=60).model_dump(mode="json"),
    ],
)
def test_used_generator_fields_accepted(
    live_server: LiveServer, data: dict[str, object]
) -> None:
    body = {"name": "s", "target": "price", "data": data}

    errors = field_errors(live_server.client.post(TRAINING_JOBS, json=body))

    # the series is too short, a check that runs after the generator check
    assert list(errors) == ["data"]
    assert "too short" in errors["data"]["message"]


@pytest.mark.parametrize(
    ("path", "body", "field", "choices"),
    [
        (TRAINING_JOBS, {"scaler": "none"}, "scaler", "'standard' or 'minmax'"),
        (TRAINING_JOBS, {"cell": "cnn"}, "cell", "'rnn', 'lstm' or 'gru'"),
        (
            JOBS,
            {"kind": "lag_experiment", "params": {"cells": ["rnn", "tcn"]}},
            "params.cells[1]",
            "'rnn', 'lstm' or 'gru'",
        ),
        (FLOW, {"activation": "relu"}, "activation", "'tanh' or 'identity'"),
    ],
)
def test_unknown_choice_says_send_one(
    live_server: LiveServer, path: str, body: object, field: str, choices: str
) -> None:
    response = live_server.client.post(path, json=body)

    error = field_errors(response)[field]
    assert error["type"] == "literal_error"
    assert error["message"] == f"Input should be {choices}; send one of them"
