"""Routes that take a JSON body, and every route under /v1 but the health
check, reject query parameters that they do not declare with 422 on
``query.<name>``. Declared query parameters still work."""

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


def test_upload_with_unknown_parameter_stores_nothing(
    live_server: LiveServer,
) -> None:
    csv = "date,value\n" + "".join(
        f"2020-12-{day:02d},{day}\n" for day in (7, 8, 9, 10, 11)
    )
    total = live_server.client.get("/v1/series").json()["total"]

    response = live_server.client.post(
        "/v1/series?filename=prices.csv",
        content=csv,
        headers={"content-type": "text/csv"},
    )

    assert response.status_code == 422, response.text
    [error] = response.json()["errors"]
    assert error["field"] == "query.filename"
    assert NOT_TAKEN in error["message"]
    assert live_server.client.get("/v1/series").json()["total"] == total


def test_empty_query_string_is_no_parameter(live_server: LiveServer) -> None:
    response = live_server.client.post("/v1/models/nflx/forecast?", json={})

    assert response.status_code == 200, response.text


@pytest.mark.parametrize(
    ("method", "path", "name", "words"),
    [
        ("GET", "/v1/models?name=nflx", "name", NOT_TAKEN),
        ("GET", "/v1/job-kinds?x=1", "x", NOT_TAKEN),
        ("GET", "/v1/models/nflx/versions/1?fields=spec", "fields", NOT_TAKEN),
        ("GET", "/v1/models/nflx/aliases/prod?v", "v", NOT_TAKEN),
        ("GET", "/v1/models/nflx/versions/1/gradients.png?dpi=300", "dpi", NOT_TAKEN),
        ("HEAD", "/v1/models?name=nflx", "name", NOT_TAKEN),
        ("GET", "/v1/jobs?kind=train&state=failed", "state", "are cursor, kind"),
        ("GET", "/v1/training-jobs?limit=1&offset=2", "offset", "are cursor, limit"),
        ("GET", "/v1/series?page=2", "page", "here are cursor, limit"),
        ("DELETE", "/v1/models/nflx/aliases/prod?force=1", "force", NOT_TAKEN),
        ("DELETE", f"/v1/series/{'a' * 32}?force=1", "force", NOT_TAKEN),
    ],
)
def test_bodiless_route_rejects_unknown(
    live_server: LiveServer, method: str, path: str, name: str, words: str
) -> None:
    response = live_server.client.request(method, path)

    assert response.status_code == 422, response.text
    if method == "HEAD":
        return
    [error] = response.json()["errors"]
    assert error["field"] == f"query.{name}"
    assert error["message"].startswith(f"query parameter {name!r} is not accepted")
    assert words in error["message"]


def test_bodiless_route_takes_declared(live_server: LiveServer) -> None:
    response = live_server.client.get(
        "/v1/jobs", params={"kind": "train", "status": "failed", "limit": 1}
    )

    assert response.status_code == 200, response.text
    assert response.json()["jobs"] == []


@pytest.mark.parametrize("path", ["/v1/health?probe=lb", "/metrics?x=1", "/docs?x=1"])
def test_open_routes_ignore_unknown(live_server: LiveServer, path: str) -> None:
    response = live_server.client.get(path)

    assert response.status_code == 200, response.text


def test_contract_declares_query_422(live_server: LiveServer) -> None:
    paths = live_server.client.get("/openapi.json").json()["paths"]

    assert "422" in paths["/v1/models"]["get"]["responses"]
    assert "422" in paths["/v1/job-kinds"]["get"]["responses"]
    assert "422" not in paths["/v1/health"]["get"]["responses"]
    assert "422" not in paths["/metrics"]["get"]["responses"]


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
