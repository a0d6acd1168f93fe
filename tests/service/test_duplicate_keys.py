"""Job, alias, forecast and diagnostics bodies that repeat a key in one JSON object get
422 naming the key, and store nothing."""

from __future__ import annotations

import pytest

from service.json_bodies import DuplicateKeyError, loads_unique_keys
from tests.conftest import LiveServer

PROBLEM = "application/problem+json"


@pytest.mark.parametrize(
    ("body", "path", "key"),
    [
        ('{"epochs": 2, "epochs": 3}', "epochs", "epochs"),
        ('{"a": 1, "b": {"c": 1, "c": 1}}', "b.c", "c"),
        ('{"a": [{"x": 1}, {"y": 1, "z": 2, "y": 3}]}', "a[1].y", "y"),
        ('[{"k": 1, "k": 2}]', "[0].k", "k"),
        ('{"b": {"c": 1, "c": 2}, "b": 3}', "b", "b"),
    ],
)
def test_repeated_key_path(body: str, path: str, key: str) -> None:
    with pytest.raises(DuplicateKeyError) as caught:
        loads_unique_keys(body)

    assert caught.value.path == path
    assert caught.value.key == key


def test_unique_keys_parse_as_json() -> None:
    body = '{"a": {"b": [1, {"c": null}]}, "d": "a"}'

    assert loads_unique_keys(body) == {"a": {"b": [1, {"c": None}]}, "d": "a"}


def job_ids(live_server: LiveServer) -> list[str]:
    response = live_server.client.get("/v1/jobs", params={"limit": 200})
    assert response.status_code == 200, response.text
    return [job["id"] for job in response.json()["jobs"]]


@pytest.mark.parametrize(
    ("method", "path", "body", "field", "key"),
    [
        (
            "POST",
            "/v1/training-jobs",
            '{"epochs": 2, "epochs": 300}',
            "epochs",
            "epochs",
        ),
        (
            "POST",
            "/v1/jobs",
            '{"kind": "train", "params": {"data": {"source": "bundled", '
            '"source": "synthetic"}}}',
            "params.data.source",
            "source",
        ),
        ("POST", "/v1/jobs", '{"kind": "train", "kind": "tuning"}', "kind", "kind"),
        (
            "PUT",
            "/v1/models/nflx/aliases/prod",
            '{"version": 1, "version": 2}',
            "version",
            "version",
        ),
        (
            "POST",
            "/v1/models/nflx/forecast",
            '{"horizon": 2, "horizon": 3}',
            "horizon",
            "horizon",
        ),
        (
            "POST",
            "/v1/models/nflx/forecast",
            '{"history": [{"date": "2020-12-10", "date": "2020-12-11", "close": 1}]}',
            "history[0].date",
            "date",
        ),
        (
            "POST",
            "/v1/diagnostics/gradient-flow",
            '{"seq_len": 5, "seq_len": 6}',
            "seq_len",
            "seq_len",
        ),
        (
            "POST",
            "/v1/diagnostics/gradient-flow.png",
            '{"input": {"source": "noise", "seed": 1, "seed": 2}}',
            "input.seed",
            "seed",
        ),
    ],
)
def test_repeated_key_rejected(
    live_server: LiveServer, method: str, path: str, body: str, field: str, key: str
) -> None:
    before = job_ids(live_server)

    response = live_server.client.request(
        method, path, content=body, headers={"content-type": "application/json"}
    )

    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == PROBLEM
    problem = response.json()
    assert problem["errors"] == [
        {
            "field": field,
            "message": f"the body repeats the key {key!r} in one JSON object, "
            "and only one of the values would be used; send each key once",
            "type": "duplicate_key",
        }
    ]
    assert problem["detail"].startswith(f"{field}: the body repeats the key")
    assert job_ids(live_server) == before
    aliases = live_server.client.get("/v1/models/nflx/aliases/prod")
    assert aliases.status_code == 404
