"""Content codings of request bodies: every Content-Encoding line is read,
and only bodies are rejected."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from starlette.datastructures import Headers

from service.content_coding import ContentCodingMiddleware, unsupported_codings


def coding_headers(*lines: str) -> Headers:
    return Headers(raw=[(b"content-encoding", line.encode()) for line in lines])


@pytest.mark.parametrize(
    ("lines", "expected"),
    [
        ((), None),
        (("identity",), None),
        (("Identity", " , identity ,"), None),
        (("",), None),
        (("gzip",), "gzip"),
        (("identity", "gzip"), "gzip"),
        (("identity, GZIP",), "gzip"),
        (("br", "identity", "deflate"), "br, deflate"),
    ],
)
def test_unsupported_codings_cases(
    lines: tuple[str, ...], expected: str | None
) -> None:
    assert unsupported_codings(coding_headers(*lines)) == expected


async def _plain_app(scope: Any, receive: Any, send: Any) -> None:
    await send({"type": "http.response.start", "status": 204, "headers": []})
    await send({"type": "http.response.body", "body": b""})


def send_through(
    method: str, headers: list[tuple[bytes, bytes]], path: str
) -> tuple[int, str | None]:
    """Send one request through the middleware in front of an app that
    returns 204, and return the response status and the problem's detail."""
    middleware = ContentCodingMiddleware(_plain_app, csv_paths=("/v1/series",))
    scope = {"type": "http", "method": method, "path": path, "headers": headers}
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    asyncio.run(middleware(scope, receive, send))
    status = int(sent[0]["status"])
    detail = json.loads(sent[1]["body"])["detail"] if status == 415 else None
    return status, detail


GZIP = (b"content-encoding", b"gzip")


@pytest.mark.parametrize(
    ("method", "headers", "path", "content"),
    [
        ("GET", [GZIP], "/v1/models", None),
        ("POST", [GZIP, (b"content-length", b"0")], "/v1/jobs", None),
        ("POST", [GZIP, (b"content-length", b"12")], "/v1/jobs", "JSON"),
        ("POST", [GZIP, (b"transfer-encoding", b"chunked")], "/v1/series", "CSV"),
        ("POST", [(b"content-length", b"12")], "/v1/jobs", None),
    ],
)
def test_only_bodies_are_checked(
    method: str, headers: list[tuple[bytes, bytes]], path: str, content: str | None
) -> None:
    status, detail = send_through(method, headers, path)

    if content is None:
        assert status == 204
        assert detail is None
    else:
        assert status == 415
        assert detail == (
            f"Content-Encoding 'gzip' is not supported; send the {content} "
            "uncompressed, without a Content-Encoding header"
        )
