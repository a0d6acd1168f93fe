"""A connection whose request head (request line and headers) does not
arrive within RNN_FORECAST_HEAD_TIMEOUT_SECONDS gets 408 and is closed, on
a real server. Complete heads and slow bodies are not affected, and a
request that is not valid HTTP gets a problem+json 400."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator

import pytest

from models.registry import Registry
from tests.conftest import LiveServer
from tests.service.raw_http import read_reply

HEAD_TIMEOUT = 1.0
# the deadline plus the time a loaded test machine may take to act on it
WAIT = 10.0
# uvloop's timers count whole milliseconds from the loop's cached clock, so
# one may fire up to a millisecond before its deadline
TIMER_SLACK = 0.005
HEALTH = b"GET /v1/health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"


@pytest.fixture(scope="module")
def head_server(trained_registry: Registry) -> Iterator[LiveServer]:
    server = LiveServer(
        trained_registry.root,
        env={"RNN_FORECAST_HEAD_TIMEOUT_SECONDS": str(HEAD_TIMEOUT)},
    )
    yield server
    server.stop()


def connect(server: LiveServer) -> socket.socket:
    return socket.create_connection(("127.0.0.1", server.port), timeout=WAIT)


def read_until_closed(sock: socket.socket) -> bytes:
    data = b""
    while chunk := sock.recv(65536):
        data += chunk
    return data


def assert_timed_out(reply: bytes, waited: float) -> None:
    head, _, body = reply.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 408 "), reply
    assert b"content-type: application/problem+json" in head.lower()
    assert b"connection: close" in head.lower()
    detail = json.loads(body)["detail"]
    assert "RNN_FORECAST_HEAD_TIMEOUT_SECONDS" in detail
    assert HEAD_TIMEOUT - TIMER_SLACK <= waited < WAIT


def test_silent_connection_times_out(head_server: LiveServer) -> None:
    started = time.monotonic()
    with connect(head_server) as sock:
        reply = read_until_closed(sock)

    assert_timed_out(reply, time.monotonic() - started)


def test_trickled_head_times_out(head_server: LiveServer) -> None:
    started = time.monotonic()
    with connect(head_server) as sock:
        sock.sendall(b"GET /v1/health HTTP/1.1\r\n")
        # one header line every 0.3 s keeps the connection busy, but the
        # head never ends
        for i in range(3):
            time.sleep(0.3)
            sock.sendall(b"X-Part-%d: a\r\n" % i)
        reply = read_until_closed(sock)

    assert_timed_out(reply, time.monotonic() - started)


def test_kept_alive_connection_serves_again(head_server: LiveServer) -> None:
    with connect(head_server) as sock:
        sock.sendall(HEALTH)
        first = read_reply(sock)
        # the second head arrives in parts, all within the deadline
        sock.sendall(HEALTH[:10])
        time.sleep(HEAD_TIMEOUT / 2)
        sock.sendall(HEALTH[10:])
        second = read_reply(sock)

    assert first.startswith("HTTP/1.1 200 "), first
    assert second.startswith("HTTP/1.1 200 "), second


def test_slow_body_not_cut_by_head_deadline(head_server: LiveServer) -> None:
    body = b'{"horizon": 2}'
    head = (
        b"POST /v1/models/nflx/forecast HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n" % len(body)
    )
    with connect(head_server) as sock:
        sock.sendall(head + body[:5])
        time.sleep(HEAD_TIMEOUT * 1.5)
        sock.sendall(body[5:])
        reply = read_reply(sock)

    assert reply.startswith("HTTP/1.1 200 "), reply


def test_stalled_second_head_times_out(head_server: LiveServer) -> None:
    with connect(head_server) as sock:
        sock.sendall(HEALTH)
        first = read_reply(sock)
        started = time.monotonic()
        sock.sendall(HEALTH[:10])
        reply = read_until_closed(sock)

    assert first.startswith("HTTP/1.1 200 "), first
    assert_timed_out(reply, time.monotonic() - started)


@pytest.mark.parametrize(
    "request_bytes",
    [
        b"GET /v1/health HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\n"
        b"Content-Length: 2\r\n\r\nab",
        b"GET /v1/he alth HTTP/1.1\r\nHost: x\r\n\r\n",
        b"POST /v1/jobs HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"zz\r\n{}\r\n0\r\n\r\n",
    ],
)
def test_malformed_request_gets_problem(
    head_server: LiveServer, request_bytes: bytes
) -> None:
    with connect(head_server) as sock:
        sock.sendall(request_bytes)
        reply = read_until_closed(sock)

    head, _, body = reply.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 400 "), reply
    assert b"content-type: application/problem+json" in head.lower()
    assert b"connection: close" in head.lower()
    problem = json.loads(body)
    assert problem["status"] == 400
    assert problem["detail"].startswith("the request is not valid HTTP/1.1")


def test_body_after_early_response_not_timed_out(head_server: LiveServer) -> None:
    # a 404 comes before the body, which the client still sends whole
    chunks = [b"a" * 10] * 5
    body_size = 10 + sum(map(len, chunks))
    head = (
        b"POST /v1/no-such-route HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n" % body_size
    )
    with connect(head_server) as sock:
        sock.sendall(head + b"a" * 10)
        early = read_reply(sock)
        # the rest of the body takes longer than the head deadline
        for chunk in chunks:
            time.sleep(HEAD_TIMEOUT * 0.3)
            sock.sendall(chunk)
        sock.sendall(HEALTH)
        after = read_reply(sock)

    assert early.startswith("HTTP/1.1 404 "), early
    assert "connection: close" not in early.lower()
    assert after.startswith("HTTP/1.1 200 "), after
