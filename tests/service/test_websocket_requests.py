"""A WebSocket handshake gets a problem+json 400 that names the Upgrade
header, because the API has no WebSocket endpoints."""

from __future__ import annotations

import json
import socket

import pytest

from tests.conftest import LiveServer
from tests.service.raw_http import read_reply

HANDSHAKE = (
    "GET {path} HTTP/1.1\r\n"
    "Host: 127.0.0.1\r\n"
    "Upgrade: websocket\r\n"
    "Connection: Upgrade\r\n"
    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
    "Sec-WebSocket-Version: 13\r\n"
    "\r\n"
)


@pytest.mark.parametrize("path", ["/v1/health", "/v1/models", "/v1/nowhere"])
def test_websocket_handshake_rejected(live_server: LiveServer, path: str) -> None:
    with socket.create_connection(("127.0.0.1", live_server.port), timeout=10) as sock:
        sock.sendall(HANDSHAKE.format(path=path).encode())
        reply = read_reply(sock)

    head, _, body = reply.partition("\r\n\r\n")
    status_line, *header_lines = head.split("\r\n")
    headers = dict(line.lower().split(": ", 1) for line in header_lines)
    assert status_line.startswith("HTTP/1.1 400 "), reply
    assert headers["content-type"] == "application/problem+json"
    problem = json.loads(body)
    assert problem["status"] == 400
    assert "Upgrade: websocket" in problem["detail"]
    assert "send the request without" in problem["detail"]
