"""Training spec errors over real HTTP: model names, data sources, integer
fields and the fields of synthetic generators."""

from __future__ import annotations

import pytest

from models.names import NAME_PATTERN
from models.spec import DATA_SOURCES
from service.data_sources import HTTP_SOURCES as HTTP_SOURCE_NAMES
from tests.conftest import LiveServer
from tests.service.test_error_messages import (
    FLOW,
    JOBS,
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
