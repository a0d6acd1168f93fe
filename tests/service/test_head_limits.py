"""A request head (request line and headers) over RNN_FORECAST_MAX_HEAD_BYTES
gets 431, or 414 when its request line alone is over the limit, a log line,
and its connection is closed, on a real server. Bodies are not counted, so
large bodies and pipelined requests pass. A chunk-size line or a trailer
section of a chunked body over the limit gets 431 as well.

Every test runs on uvicorn's httptools protocol and on its h11 protocol."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest

from models.registry import Registry
from tests.conftest import LiveServer
from tests.service.raw_http import read_reply
from tests.service.test_request_heads import (
    HEALTH,
    connect,
    read_until_closed,
    start_server,
)

MAX_HEAD = 2048
FORECAST = b'{"horizon": 2}'


@pytest.fixture(scope="module", params=["httptools", "h11"])
def limit_server(
    request: pytest.FixtureRequest,
    trained_registry: Registry,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[LiveServer]:
    env = {"RNN_FORECAST_MAX_HEAD_BYTES": str(MAX_HEAD)}
    server = start_server(request.param, trained_registry, tmp_path_factory, env)
    yield server
    server.stop()


def head_of_size(size: int, path: bytes = b"/v1/health") -> bytes:
    """Return a GET head of exactly ``size`` bytes, padded by one header."""
    start = b"GET " + path + b" HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Pad: "
    end = b"\r\n\r\n"
    return start + b"a" * (size - len(start) - len(end)) + end


def forecast_request(body: bytes) -> bytes:
    return (
        b"POST /v1/models/nflx/forecast HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n" % len(body)
    ) + body


def limit_lines(server: LiveServer, port: int) -> list[Any]:
    """Return the server's log lines about the head limit of the client
    connection from local ``port``."""
    client = f"127.0.0.1:{port}"
    lines = []
    for line in server.output().splitlines():
        if not line.startswith("{"):
            continue
        entry = json.loads(line)
        if (
            entry["logger"] == "service.request_heads"
            and entry.get("client") == client
            and "max_head_bytes" in entry
        ):
            lines.append(entry)
    return lines


def send_rejected(server: LiveServer, parts: list[bytes]) -> tuple[bytes, int]:
    """Send ``parts`` one by one, read until the server closes, and return
    the reply and the client's local port."""
    with connect(server) as sock:
        for part in parts:
            sock.sendall(part)
            time.sleep(0.01)
        return read_until_closed(sock), sock.getsockname()[1]


def chunked_forecast(size_line: bytes, trailers: bytes) -> bytes:
    """Return a forecast POST whose chunked body has one chunk after
    ``size_line`` (without its CRLF), then ``trailers`` (with the empty
    line that ends them)."""
    assert int(size_line.split(b";")[0], 16) == len(FORECAST)
    return (
        b"POST /v1/models/nflx/forecast HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        b"Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
        + size_line
        + b"\r\n"
        + FORECAST
        + b"\r\n0\r\n"
        + trailers
    )


def size_line_of(size: int) -> bytes:
    """Return the chunk-size line of ``FORECAST`` with one extension,
    ``size`` bytes in all with its CRLF."""
    start = b"%x;pad=" % len(FORECAST)
    return start + b"a" * (size - len(start) - 2)


def trailers_of(size: int) -> bytes:
    """Return a trailer section of ``size`` bytes with its empty line."""
    return b"X-Pad: " + b"a" * (size - 11) + b"\r\n\r\n"


def assert_rejected(reply: bytes, status: int) -> None:
    head, _, body = reply.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 %d " % status), reply
    assert b"content-type: application/problem+json" in head.lower()
    assert b"connection: close" in head.lower()
    problem = json.loads(body)
    assert problem["status"] == status
    assert f"over the limit of {MAX_HEAD} bytes" in problem["detail"]
    assert "RNN_FORECAST_MAX_HEAD_BYTES" in problem["detail"]


def assert_logged(server: LiveServer, port: int, status: int, received: int) -> None:
    lines = limit_lines(server, port)
    assert len(lines) == 1, lines
    entry = lines[0]
    assert entry["level"] == "INFO"
    assert entry["status"] == status
    assert entry["max_head_bytes"] == MAX_HEAD
    assert entry["received_bytes"] == received
    assert entry["client"] in entry["message"]


def test_head_at_limit_served(limit_server: LiveServer) -> None:
    with connect(limit_server) as sock:
        sock.sendall(head_of_size(MAX_HEAD))
        reply = read_reply(sock)

    assert reply.startswith("HTTP/1.1 200 "), reply


def test_head_one_byte_over_rejected(limit_server: LiveServer) -> None:
    reply, port = send_rejected(limit_server, [head_of_size(MAX_HEAD + 1)])

    assert_rejected(reply, 431)
    assert_logged(limit_server, port, 431, MAX_HEAD + 1)


def test_huge_header_line_rejected(limit_server: LiveServer) -> None:
    head = head_of_size(4 * MAX_HEAD)
    reply, port = send_rejected(limit_server, [head])

    assert_rejected(reply, 431)
    assert_logged(limit_server, port, 431, len(head))


def test_many_header_lines_rejected(limit_server: LiveServer) -> None:
    lines = b"".join(b"X-Line-%03d: abcdefghij\r\n" % i for i in range(100))
    head = b"GET /v1/health HTTP/1.1\r\nHost: 127.0.0.1\r\n" + lines + b"\r\n"
    reply, port = send_rejected(limit_server, [head])

    assert_rejected(reply, 431)
    assert_logged(limit_server, port, 431, len(head))


def test_huge_url_gets_414(limit_server: LiveServer) -> None:
    head = b"GET /v1/health?q=" + b"a" * 3000 + b" HTTP/1.1\r\nHost: x\r\n\r\n"
    reply, port = send_rejected(limit_server, [head])

    assert_rejected(reply, 414)
    assert_logged(limit_server, port, 414, len(head))


def test_split_head_counted_across_sends(limit_server: LiveServer) -> None:
    head = head_of_size(MAX_HEAD + 50)
    parts = [head[i : i + 100] for i in range(0, len(head), 100)]
    reply, port = send_rejected(limit_server, parts)

    assert_rejected(reply, 431)
    # the server reads every part that the client sent before the limit
    lines = limit_lines(limit_server, port)
    assert len(lines) == 1, lines
    assert MAX_HEAD < lines[0]["received_bytes"] <= len(head)


def test_split_head_under_limit_served(limit_server: LiveServer) -> None:
    head = head_of_size(MAX_HEAD - 10)
    with connect(limit_server) as sock:
        for i in range(0, len(head), 100):
            sock.sendall(head[i : i + 100])
            time.sleep(0.01)
        reply = read_reply(sock)

    assert reply.startswith("HTTP/1.1 200 "), reply


def test_second_head_over_limit_rejected(limit_server: LiveServer) -> None:
    with connect(limit_server) as sock:
        sock.sendall(head_of_size(MAX_HEAD))
        first = read_reply(sock)
        sock.sendall(head_of_size(MAX_HEAD + 1))
        second = read_until_closed(sock)

    assert first.startswith("HTTP/1.1 200 "), first
    assert_rejected(second, 431)


def test_large_body_under_small_head_served(limit_server: LiveServer) -> None:
    # JSON allows whitespace, so the body is valid at any size
    body = b'{"horizon": 2' + b" " * (200 * MAX_HEAD) + b"}"
    with connect(limit_server) as sock:
        sock.sendall(forecast_request(body))
        reply = read_reply(sock)

    assert reply.startswith("HTTP/1.1 200 "), reply


def test_pipelined_requests_served(limit_server: LiveServer) -> None:
    body = b'{"horizon": 2' + b" " * (4 * MAX_HEAD) + b"}"
    heads = head_of_size(MAX_HEAD) + forecast_request(body) + head_of_size(MAX_HEAD)
    last = b"GET /v1/health HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    with connect(limit_server) as sock:
        sock.sendall(heads + HEALTH + last)
        replies = read_until_closed(sock)

    assert replies.startswith(b"HTTP/1.1 200 "), replies
    assert replies.count(b"HTTP/1.1 200 ") == 5, replies
    assert b"HTTP/1.1 4" not in replies


def test_head_after_chunked_body_served(limit_server: LiveServer) -> None:
    chunked = (
        b"POST /v1/models/nflx/forecast HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        b"Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"%x\r\n%s\r\n0\r\n\r\n" % (len(FORECAST), FORECAST)
    )
    close = b"\r\nConnection: close\r\n\r\n"
    last = head_of_size(MAX_HEAD - len(close) + 4).replace(b"\r\n\r\n", close)
    assert len(last) == MAX_HEAD
    with connect(limit_server) as sock:
        sock.sendall(chunked + last[:-30])
        time.sleep(0.2)
        sock.sendall(last[-30:])
        replies = read_until_closed(sock)

    assert replies.count(b"HTTP/1.1 200 ") == 2, replies
    assert b"HTTP/1.1 4" not in replies


def test_endless_header_line_not_read(limit_server: LiveServer) -> None:
    # 8 MiB of one header line: the server closes the connection after the
    # first read past the limit, so most of it is never sent
    sent = 0
    with connect(limit_server) as sock:
        port = sock.getsockname()[1]
        sock.sendall(b"GET /v1/health HTTP/1.1\r\nX-Big: ")
        try:
            while sent < 8 * 2**20:
                sock.sendall(b"a" * 65536)
                sent += 65536
        except (BrokenPipeError, ConnectionResetError):
            pass

    assert sent < 8 * 2**20
    lines = limit_lines(limit_server, port)
    assert len(lines) == 1, lines
    assert lines[0]["status"] == 431
    assert MAX_HEAD < lines[0]["received_bytes"] < 2**20


def test_body_after_early_response_not_counted(limit_server: LiveServer) -> None:
    # a 404 comes before the body, whose rest arrives after it in parts
    body = b"a" * (4 * MAX_HEAD)
    head = (
        b"POST /v1/no-such-route HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n" % len(body)
    )
    with connect(limit_server) as sock:
        sock.sendall(head + body[:10])
        early = read_reply(sock)
        for i in range(10, len(body), MAX_HEAD):
            sock.sendall(body[i : i + MAX_HEAD])
            time.sleep(0.05)
        sock.sendall(head_of_size(MAX_HEAD))
        after = read_reply(sock)

    assert early.startswith("HTTP/1.1 404 "), early
    assert after.startswith("HTTP/1.1 200 "), after


def test_chunk_lines_at_limit_served(limit_server: LiveServer) -> None:
    request = chunked_forecast(size_line_of(MAX_HEAD), trailers_of(MAX_HEAD))
    with connect(limit_server) as sock:
        sock.sendall(request)
        reply = read_reply(sock)

    assert reply.startswith("HTTP/1.1 200 "), reply


@pytest.mark.parametrize("split", [False, True], ids=["whole", "split"])
def test_long_chunk_size_line_rejected(limit_server: LiveServer, split: bool) -> None:
    request = chunked_forecast(size_line_of(MAX_HEAD + 1), b"\r\n")
    parts = [request[i : i + 500] for i in range(0, len(request), 500)]
    reply, port = send_rejected(limit_server, parts if split else [request])

    assert_rejected(reply, 431)
    assert b"a chunk-size line of the chunked request body is" in reply
    lines = limit_lines(limit_server, port)
    assert len(lines) == 1, lines
    assert lines[0]["status"] == 431
    assert lines[0]["received_bytes"] > MAX_HEAD


@pytest.mark.parametrize("split", [False, True], ids=["whole", "split"])
def test_long_trailers_rejected(limit_server: LiveServer, split: bool) -> None:
    request = chunked_forecast(b"%x" % len(FORECAST), trailers_of(MAX_HEAD + 1))
    parts = [request[i : i + 500] for i in range(0, len(request), 500)]
    reply, port = send_rejected(limit_server, parts if split else [request])

    assert_rejected(reply, 431)
    assert b"the trailer fields of the chunked request body are" in reply
    assert_logged(limit_server, port, 431, MAX_HEAD + 1)


def test_trailers_after_zero_padded_size_rejected(limit_server: LiveServer) -> None:
    # llhttp reads a size after any number of leading zeros, so the walk of
    # the framing must follow such a size to limit the trailers after it
    padded = b"0" * 40 + b"%x" % len(FORECAST)
    request = chunked_forecast(padded, trailers_of(MAX_HEAD + 1))
    reply, _ = send_rejected(limit_server, [request])

    assert_rejected(reply, 431)
    assert b"the trailer fields of the chunked request body are" in reply


@pytest.mark.parametrize("size_line", [b"-5", b"+1", b"0x1", b"1_0"])
def test_non_hex_chunk_size_gets_400(
    limit_server: LiveServer, size_line: bytes
) -> None:
    # A negative size would send the walk of the body's framing back for ever.
    request = chunked_forecast(b"%x" % len(FORECAST), b"")
    request = request.replace(b"\r\n0\r\n", b"\r\n" + size_line + b"\r\nZ\r\n", 1)
    reply, _ = send_rejected(limit_server, [request])

    head, _, body = reply.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 400 "), reply
    assert "chunk sizes" in json.loads(body)["detail"]
    assert limit_server.client.get("/v1/health").status_code == 200
