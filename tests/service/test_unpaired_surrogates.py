"""JSON bodies whose strings contain an unpaired UTF-16 surrogate escape, such
as ``"\\ud800"``, get 422 naming the field, on every JSON route."""

from __future__ import annotations

import pytest

from service.json_bodies import UnpairedSurrogateError, loads_unique_keys
from tests.conftest import LiveServer

PROBLEM = "application/problem+json"


@pytest.mark.parametrize(
    ("body", "path"),
    [
        ('{"horizon": "\\ud800"}', "horizon"),
        ('{"a": [1, {"b": "x\\udfff"}]}', "a[1].b"),
        ('{"a": {"k\\ud800": 1}}', "a.k\\ud800"),
        ('["ok", "\\udc00\\ud800"]', "[1]"),
        ('{"a": "\\udc00", "b": "\\ud800"}', "a"),
    ],
)
def test_unpaired_surrogate_path(body: str, path: str) -> None:
    with pytest.raises(UnpairedSurrogateError) as caught:
        loads_unique_keys(body)

    assert caught.value.path == path


def test_surrogate_pairs_parse() -> None:
    body = '{"emoji": "\\ud83d\\ude00", "text": "caf\\u00e9"}'

    assert loads_unique_keys(body) == {"emoji": "\U0001f600", "text": "café"}


def test_surrogate_in_utf16_body_rejected() -> None:
    body = '{"a": "\\ud800"}'.encode("utf-16")

    with pytest.raises(UnpairedSurrogateError) as caught:
        loads_unique_keys(body)

    assert caught.value.path == "a"


def job_ids(live_server: LiveServer) -> list[str]:
    response = live_server.client.get("/v1/jobs", params={"limit": 200})
    assert response.status_code == 200, response.text
    return [job["id"] for job in response.json()["jobs"]]


@pytest.mark.parametrize(
    ("method", "path", "body", "field"),
    [
        ("POST", "/v1/models/nflx/forecast", '{"horizon": "\\ud800"}', "horizon"),
        ("POST", "/v1/models/nflx/forecast", '{"level": "a\\ud800"}', "level"),
        (
            "POST",
            "/v1/models/nflx/forecast",
            '{"history": [{"date": "2020-12-10", "close": 1, "x\\udc00": 1}]}',
            "history[0].x\\udc00",
        ),
        ("POST", "/v1/training-jobs", '{"epochs": "\\ud800"}', "epochs"),
        ("POST", "/v1/training-jobs", '{"name": "\\ud800"}', "name"),
        (
            "POST",
            "/v1/jobs",
            '{"kind": "lag_experiment", "params": {"lags": ["\\ud800"]}}',
            "params.lags[0]",
        ),
        ("PUT", "/v1/models/nflx/aliases/prod", '{"version": "\\udfff"}', "version"),
        ("POST", "/v1/diagnostics/gradient-flow", '{"seq_len": "\\ud800"}', "seq_len"),
        (
            "POST",
            "/v1/diagnostics/gradient-flow.png",
            '{"hidden_size": "\\ud800"}',
            "hidden_size",
        ),
    ],
)
def test_unpaired_surrogate_rejected(
    live_server: LiveServer, method: str, path: str, body: str, field: str
) -> None:
    before = job_ids(live_server)

    response = live_server.client.request(
        method, path, content=body, headers={"content-type": "application/json"}
    )

    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == PROBLEM
    problem = response.json()
    assert len(problem["errors"]) == 1
    error = problem["errors"][0]
    assert error["field"] == field
    assert error["type"] == "string_unpaired_surrogate"
    assert "unpaired UTF-16 surrogate" in error["message"]
    assert "send" in error["message"]
    assert problem["detail"] == f"{field}: {error['message']}"
    assert job_ids(live_server) == before
    aliases = live_server.client.get("/v1/models/nflx/aliases/prod")
    assert aliases.status_code == 404
