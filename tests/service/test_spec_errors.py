"""Training spec errors over real HTTP: model names, data sources, integer
fields and the fields of synthetic generators."""

from __future__ import annotations

import pytest

from models.names import NAME_PATTERN
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
