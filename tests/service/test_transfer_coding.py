"""Request bodies sent with a transfer coding other than chunked, such as
``Transfer-Encoding: gzip, chunked``, get 400 naming the header on a real
server, before anything is stored."""

from __future__ import annotations

import gzip
import json
import socket

import pytest
from starlette.datastructures import Headers

from service.content_coding import unsupported_transfer_codings
from tests.conftest import LiveServer
from tests.service.raw_http import read_reply


def transfer_headers(*lines: str) -> Headers:
    return Headers(raw=[(b"transfer-encoding", line.encode()) for line in lines])


@pytest.mark.parametrize(
    ("lines", "expected"),
    [
        ((), None),
        (("chunked",), None),
        (("Chunked",), None),
        (("gzip, chunked",), "gzip"),
        (("GZIP", "chunked"), "gzip"),
        (("x-custom, deflate, chunked",), "x-custom, deflate"),
    ],
)
def test_unsupported_transfer_codings_cases(
    lines: tuple[str, ...], expected: str | None
) -> None:
    assert unsupported_transfer_codings(transfer_headers(*lines)) == expected


def send_gzip_chunked(port: int, path: str, content_type: str, body: bytes) -> str:
    """Send ``body`` gzip-compressed in one chunk with ``Transfer-Encoding:
    gzip, chunked`` and return the reply."""
    packed = gzip.compress(body)
    request = (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        f"Content-Type: {content_type}\r\n"
        "Transfer-Encoding: gzip, chunked\r\n\r\n"
    ).encode()
    chunked = b"%x\r\n" % len(packed) + packed + b"\r\n0\r\n\r\n"
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(request + chunked)
        return read_reply(sock)


def listed_ids(live_server: LiveServer, path: str, key: str) -> list[str]:
    response = live_server.client.get(path, params={"limit": 200})
    assert response.status_code == 200, response.text
    return [item["id"] for item in response.json()[key]]


@pytest.mark.parametrize(
    ("path", "content_type", "body", "content"),
    [
        ("/v1/models/nflx/forecast", "application/json", b'{"horizon": 2}', "JSON"),
        ("/v1/jobs", "application/json", b'{"kind": "train"}', "JSON"),
        ("/v1/series", "text/csv", b"date,value\n2020-12-10,1\n", "CSV"),
    ],
)
def test_gzip_transfer_coding_rejected(
    live_server: LiveServer, path: str, content_type: str, body: bytes, content: str
) -> None:
    jobs_before = listed_ids(live_server, "/v1/jobs", "jobs")
    series_before = listed_ids(live_server, "/v1/series", "series")

    reply = send_gzip_chunked(live_server.port, path, content_type, body)

    head, _, payload = reply.partition("\r\n\r\n")
    status_line, *header_lines = head.split("\r\n")
    headers = dict(line.lower().split(": ", 1) for line in header_lines)
    assert status_line.startswith("HTTP/1.1 400 "), reply
    assert headers["content-type"] == "application/problem+json"
    assert headers["connection"] == "close"
    detail = json.loads(payload)["detail"]
    assert detail == (
        "Transfer-Encoding 'gzip, chunked' is not supported, because the server "
        f"decodes only the chunked transfer coding; send the {content} "
        "uncompressed, with Transfer-Encoding: chunked or a Content-Length"
    )
    assert listed_ids(live_server, "/v1/jobs", "jobs") == jobs_before
    assert listed_ids(live_server, "/v1/series", "series") == series_before


def test_unknown_transfer_coding_forecast_rejected(live_server: LiveServer) -> None:
    body = b'{"horizon": 2}'
    request = (
        b"POST /v1/models/nflx/forecast HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        b"Content-Type: application/json\r\n"
        b"Transfer-Encoding: x-custom, chunked\r\n\r\n"
    )
    chunked = b"%x\r\n" % len(body) + body + b"\r\n0\r\n\r\n"
    with socket.create_connection(("127.0.0.1", live_server.port), timeout=10) as sock:
        sock.sendall(request + chunked)
        reply = read_reply(sock)

    status_line = reply.split("\r\n", 1)[0]
    assert status_line.startswith("HTTP/1.1 400 "), reply
    assert "Transfer-Encoding 'x-custom, chunked' is not supported" in reply
