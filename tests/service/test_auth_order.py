"""With an API key configured, a request to an endpoint that needs it gets
401 (403 for a wrong key) before anything reads or judges its body: not its
media type, its JSON, its form or its size. Reads and forecasts need no key,
and neither do CORS preflights (``test_cors.py``)."""

from __future__ import annotations

import json
import re
import socket
from typing import Any

import pytest

from tests.conftest import ROOT, LiveServer
from tests.service.conftest import API_KEY
from tests.service.raw_http import read_reply

# far above the upload limit of 10 MB, and never sent whole
OVERSIZE_BYTES = 10**9
PROBLEM = "application/problem+json"
CHALLENGE = 'APIKey header="X-API-Key"'


def keyed_operations() -> list[tuple[str, str]]:
    """Return the method and a request path of every operation of the
    committed OpenAPI document that needs the API key."""
    document: dict[str, Any] = json.loads((ROOT / "openapi.json").read_text())
    found = []
    for template, path_item in document["paths"].items():
        for method, operation in path_item.items():
            if operation.get("security"):
                path = re.sub(r"\{[^}]+\}", "a1", template)
                found.append((method.upper(), path))
    return found


KEYED = keyed_operations()
# bodies that FastAPI would reject with 400, 415 or 422 if it read them
BAD_BODIES = [
    ("application/json", b"not json"),
    ("application/json", b'{"epochs": "many", "cell": 7}'),
    ("application/json", b"\xff\xfe{"),
    ("text/plain", b"some text"),
    ("multipart/form-data", b"--no-boundary--"),
]


def test_every_keyed_operation_found() -> None:
    labels = {f"{method} {path}" for method, path in KEYED}

    assert "POST /v1/training-jobs" in labels
    assert "POST /v1/series" in labels
    assert "PUT /v1/models/a1/aliases/a1" in labels
    assert "DELETE /v1/jobs/a1" in labels


@pytest.mark.parametrize(("method", "path"), KEYED)
@pytest.mark.parametrize(("content_type", "body"), BAD_BODIES)
def test_bad_body_without_key_gets_401(
    strict_server: LiveServer, method: str, path: str, content_type: str, body: bytes
) -> None:
    headers = {"Content-Type": content_type}

    missing = strict_server.client.request(method, path, content=body, headers=headers)
    wrong = strict_server.client.request(
        method, path, content=body, headers={**headers, "X-API-Key": "wrong-key"}
    )

    assert missing.status_code == 401, missing.text
    assert missing.headers["content-type"] == PROBLEM
    assert missing.headers["www-authenticate"] == CHALLENGE
    assert missing.json()["status"] == 401
    assert wrong.status_code == 403, wrong.text
    assert wrong.headers["content-type"] == PROBLEM


def test_bad_body_with_key_is_judged(strict_server: LiveServer) -> None:
    response = strict_server.client.post(
        "/v1/training-jobs",
        content=b"not json",
        headers={"Content-Type": "application/json", "X-API-Key": API_KEY},
    )

    assert response.status_code == 422, response.text


def test_body_without_key_closes_connection(strict_server: LiveServer) -> None:
    with_body = strict_server.client.post("/v1/training-jobs", json={"epochs": 1})
    without_body = strict_server.client.delete("/v1/training-jobs/a1")

    assert with_body.status_code == 401
    assert with_body.headers["connection"] == "close"
    assert without_body.status_code == 401
    assert "connection" not in without_body.headers


def send_head(port: int, head: str, first_bytes: bytes) -> tuple[str, bool]:
    """Send a request head and the first bytes of its body, and return the
    reply, which must come without the rest of the body, and whether the
    server then closed the connection."""
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.settimeout(10)
        sock.sendall(head.encode() + first_bytes)
        reply = read_reply(sock)
        try:
            closed = sock.recv(65536) == b""
        except ConnectionResetError:
            closed = True
    return reply, closed


OVERSIZE = [
    ("/v1/training-jobs", "application/json"),
    ("/v1/series", "text/csv"),
    ("/v1/series", "multipart/form-data; boundary=b"),
]


@pytest.mark.parametrize(("path", "content_type"), OVERSIZE)
@pytest.mark.parametrize(("key", "status"), [(None, 401), ("wrong", 403)])
def test_oversize_body_without_key_rejected_unread(
    strict_server: LiveServer,
    path: str,
    content_type: str,
    key: str | None,
    status: int,
) -> None:
    key_line = "" if key is None else f"X-API-Key: {key}\r\n"
    head = (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        f"Content-Type: {content_type}\r\nContent-Length: {OVERSIZE_BYTES}\r\n"
        f"{key_line}\r\n"
    )

    reply, closed = send_head(strict_server.port, head, b"date,value\n")

    assert reply.startswith(f"HTTP/1.1 {status} "), reply
    assert "connection: close" in reply.lower()
    assert PROBLEM in reply
    assert closed


def test_oversize_body_with_key_gets_413(strict_server: LiveServer) -> None:
    head = (
        "POST /v1/training-jobs HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        "Content-Type: application/json\r\n"
        f"Content-Length: {OVERSIZE_BYTES}\r\n"
        f"X-API-Key: {API_KEY}\r\n\r\n"
    )

    reply, closed = send_head(strict_server.port, head, b"{")

    assert reply.startswith("HTTP/1.1 413 "), reply
    assert closed


def test_chunked_body_without_key_rejected_unread(strict_server: LiveServer) -> None:
    head = (
        "POST /v1/series HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        "Content-Type: text/csv\r\nTransfer-Encoding: chunked\r\n\r\n"
    )

    # one chunk, then no more, so a server that read the body would wait
    reply, closed = send_head(strict_server.port, head, b"b\r\ndate,value\n\r\n")

    assert reply.startswith("HTTP/1.1 401 "), reply
    assert "connection: close" in reply.lower()
    assert closed


@pytest.mark.parametrize("method", ["GET", "HEAD"])
@pytest.mark.parametrize(
    "path", ["/v1/training-jobs", "/v1/jobs", "/v1/series", "/v1/health"]
)
def test_reads_need_no_key(strict_server: LiveServer, method: str, path: str) -> None:
    response = strict_server.client.request(method, path)

    assert response.status_code == 200, response.text


def test_forecasts_need_no_key(strict_server: LiveServer) -> None:
    path = "/v1/models/nflx/forecast"

    served = strict_server.client.post(path, json={"horizon": 2})
    invalid = strict_server.client.post(path, json={"horizon": "two"})

    assert served.status_code == 200, served.text
    assert invalid.status_code == 422, invalid.text
