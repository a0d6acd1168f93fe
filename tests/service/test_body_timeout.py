"""A client that stops sending its body gets 408 instead of holding the
connection open."""

from __future__ import annotations

import re
import socket
import time
from collections.abc import Iterator

import pytest

from models.registry import Registry
from tests.conftest import LiveServer


@pytest.fixture(scope="module")
def impatient_server(trained_registry: Registry) -> Iterator[LiveServer]:
    server = LiveServer(
        trained_registry.root, env={"RNN_FORECAST_BODY_TIMEOUT_SECONDS": "1"}
    )
    yield server
    server.stop()


def _read_reply(sock: socket.socket) -> str:
    """Read one HTTP reply, head and body, which may arrive in several
    segments."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            return data.decode()
        data += chunk

    head, _, body = data.partition(b"\r\n\r\n")
    length = re.search(rb"content-length: (\d+)", head, re.IGNORECASE)
    expected_length = int(length.group(1)) if length else 0
    while len(body) < expected_length:
        chunk = sock.recv(65536)
        if not chunk:
            break
        body += chunk
    return (head + b"\r\n\r\n" + body).decode()


def test_stalled_body_gets_408(impatient_server: LiveServer) -> None:
    head = (
        "POST /v1/models/nflx/forecast HTTP/1.1\r\n"
        "Host: 127.0.0.1\r\n"
        "Content-Type: application/json\r\n"
        "Content-Length: 100\r\n\r\n"
    )
    with socket.create_connection(("127.0.0.1", impatient_server.port)) as sock:
        sock.settimeout(15)
        started = time.monotonic()
        sock.sendall(head.encode() + b'{"horizon":')
        reply = _read_reply(sock)
        waited = time.monotonic() - started
        # the server closes the connection instead of reading the rest of
        # the declared body as a new request
        after = sock.recv(65536)

    assert reply.startswith("HTTP/1.1 408")
    assert "application/problem+json" in reply
    assert "RNN_FORECAST_BODY_TIMEOUT_SECONDS" in reply
    assert "connection: close" in reply.lower()
    assert after == b""
    assert waited < 10


def test_prompt_body_is_served(impatient_server: LiveServer) -> None:
    response = impatient_server.client.post(
        "/v1/models/nflx/forecast", json={"horizon": 2}
    )
    assert response.status_code == 200
