"""Routes that take a JSON body reject query parameters that they do not
declare, with 422 on ``query.<name>``; declared query parameters work."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from fastapi import FastAPI
from pydantic import BaseModel

from service.errors import install_error_handlers
from service.query_params import UnknownQueryDep
from tests.conftest import LiveServer

IN_BODY = "belongs in the JSON body, so send it there"
NOT_TAKEN = "is not accepted, because this route takes no query parameters"


@pytest.mark.parametrize(
    ("method", "path", "body", "name", "words"),
    [
        ("POST", "/v1/diagnostics/gradient-flow?seq_len=3", "{}", "seq_len", IN_BODY),
        ("POST", "/v1/diagnostics/gradient-flow.png?cell=gru", "{}", "cell", IN_BODY),
        ("POST", "/v1/models/nflx/forecast?horizon=3", "{}", "horizon", IN_BODY),
        ("POST", "/v1/models/nflx/forecast?debug", "{}", "debug", NOT_TAKEN),
        ("POST", "/v1/training-jobs?epochs=3", "", "epochs", IN_BODY),
        ("POST", "/v1/jobs?epochs=3", '{"kind": "train"}', "epochs", NOT_TAKEN),
        (
            "PUT",
            "/v1/models/nflx/aliases/prod?version=1",
            '{"version": 1}',
            "version",
            IN_BODY,
        ),
    ],
)
def test_unknown_query_parameter_rejected(
    live_server: LiveServer, method: str, path: str, body: str, name: str, words: str
) -> None:
    response = live_server.client.request(
        method, path, content=body, headers={"content-type": "application/json"}
    )

    assert response.status_code == 422, response.text
    [error] = response.json()["errors"]
    assert error["field"] == f"query.{name}"
    assert error["message"].startswith(f"query parameter {name!r}")
    assert words in error["message"]
    aliases = live_server.client.get("/v1/models/nflx/aliases/prod")
    assert aliases.status_code == 404


def test_empty_query_string_is_no_parameter(live_server: LiveServer) -> None:
    response = live_server.client.post("/v1/models/nflx/forecast?", json={})

    assert response.status_code == 200, response.text


def test_bodiless_route_ignores_unknown(live_server: LiveServer) -> None:
    response = live_server.client.get(
        "/v1/jobs", params={"kind": "train", "limit": 1, "unknown": "x"}
    )

    # the declared kind and limit apply, and the undeclared parameter is ignored
    assert response.status_code == 200, response.text


class Item(BaseModel):
    name: str


def body_and_query_app() -> FastAPI:
    """An app with one route that takes a JSON body and the query parameter
    ``dry_run``, behind the service's dependency and error handlers."""
    app = FastAPI(dependencies=[UnknownQueryDep])
    install_error_handlers(app)

    @app.post("/items")
    def create_item(item: Item, dry_run: bool = False) -> dict[str, object]:
        return {"name": item.name, "dry_run": dry_run}

    return app


def test_declared_parameter_beside_body() -> None:
    async def post(path: str) -> httpx.Response:
        transport = httpx.ASGITransport(app=body_and_query_app())
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
            return await c.post(path, json={"name": "a"})

    declared = asyncio.run(post("/items?dry_run=true"))
    unknown = asyncio.run(post("/items?dry=1"))
    body_field = asyncio.run(post("/items?name=b"))

    assert declared.status_code == 200, declared.text
    assert declared.json() == {"name": "a", "dry_run": True}
    assert unknown.status_code == 422
    assert unknown.json()["errors"][0]["message"] == (
        "query parameter 'dry' is not accepted; the query parameters here are dry_run"
    )
    assert body_field.status_code == 422
    assert body_field.json()["errors"][0]["field"] == "query.name"
