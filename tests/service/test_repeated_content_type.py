"""A request with two different Content-Type lines gets 400, on the forecast
fast path as on every other route, and one whose lines name one media type
is served."""

from __future__ import annotations

import json
import socket

import pytest

from service.content_type_lines import differing_content_types
from tests.conftest import LiveServer
from tests.service.raw_http import read_reply

FORECAST = "/v1/models/nflx/forecast"
JOBS = "/v1/jobs"


def post_raw(
    server: LiveServer, path: str, content_types: list[bytes], body: bytes
) -> tuple[int, dict[str, str], str]:
    """POST ``body`` with one Content-Type line per item of ``content_types``;
    return the status, the response headers and the body."""
    lines = [b"Content-Type: " + value for value in content_types]
    head = b"\r\n".join(
        [
            f"POST {path} HTTP/1.1".encode(),
            b"Host: 127.0.0.1",
            *lines,
            f"Content-Length: {len(body)}".encode(),
        ]
    )
    with socket.create_connection(("127.0.0.1", server.port)) as sock:
        sock.sendall(head + b"\r\n\r\n" + body)
        reply = read_reply(sock)
    head_text, _, payload = reply.partition("\r\n\r\n")
    status_line, *header_lines = head_text.split("\r\n")
    headers = dict(line.lower().split(": ", 1) for line in header_lines)
    return int(status_line.split(" ")[1]), headers, payload


def job_ids(server: LiveServer) -> list[str]:
    page = server.client.get(JOBS, params={"limit": 200}).json()
    return [job["id"] for job in page["jobs"]]


@pytest.mark.parametrize(
    ("path", "body"),
    [(FORECAST, b'{"horizon": 2}'), (JOBS, b'{"kind": "train"}')],
)
@pytest.mark.parametrize(
    ("first", "second"),
    [
        (b"application/json", b"text/plain"),
        (b"text/plain", b"application/json"),
        (b"application/json", b"application/json; charset=utf-8"),
    ],
)
def test_different_content_types_rejected(
    live_server: LiveServer, path: str, body: bytes, first: bytes, second: bytes
) -> None:
    before = job_ids(live_server)

    status, headers, payload = post_raw(live_server, path, [first, second], body)

    assert status == 400, payload
    assert headers["content-type"] == "application/problem+json"
    assert headers["connection"] == "close"
    detail = json.loads(payload)["detail"]
    assert detail == (
        f"Content-Type is sent on 2 lines with different values "
        f"('{first.decode()}', '{second.decode()}'), so the media type of the "
        "body is unclear; send one Content-Type line"
    )
    assert job_ids(live_server) == before


def test_equal_content_types_served(live_server: LiveServer) -> None:
    json_type = b"application/json"

    status, _, payload = post_raw(
        live_server, FORECAST, [json_type, json_type], b'{"horizon": 2}'
    )

    assert status == 200, payload
    assert len(json.loads(payload)["forecast"]) == 2


@pytest.mark.parametrize(
    ("first", "second"),
    [
        (b"application/json", b"Application/JSON"),
        (b"application/json; charset=utf-8", b"application/json;charset=UTF-8"),
        (b"application/json; charset=utf-8", b'application/json; Charset="utf-8"'),
    ],
)
def test_same_media_type_served(
    live_server: LiveServer, first: bytes, second: bytes
) -> None:
    status, _, payload = post_raw(
        live_server, FORECAST, [first, second], b'{"horizon": 2}'
    )

    assert status == 200, payload
    assert len(json.loads(payload)["forecast"]) == 2


@pytest.mark.parametrize(
    "values",
    [
        [b"multipart/form-data; boundary=AbC", b"multipart/form-data; boundary=abc"],
        [b"text/plain; a=1", b"text/plain; a=1; a=2"],
        [b"text/plain; a", b"text/plain;  a"],
    ],
)
def test_differing_parameters_detected(values: list[bytes]) -> None:
    headers = [(b"content-type", value) for value in values]

    assert differing_content_types(headers) == values
