"""A connection whose request head (request line and headers) does not
arrive within RNN_FORECAST_HEAD_TIMEOUT_SECONDS gets 408, a log line and is
closed, on a real server. Complete heads and slow bodies are not affected,
and a request that is not valid HTTP gets a problem+json 400 with the
parser's reason.

Every test runs twice: on uvicorn's httptools protocol, and on its h11
protocol, which ``serve`` uses when httptools cannot be imported."""

from __future__ import annotations

import json
import os
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

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


@pytest.fixture(scope="module", params=["httptools", "h11"])
def head_server(
    request: pytest.FixtureRequest,
    trained_registry: Registry,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[LiveServer]:
    env = {"RNN_FORECAST_HEAD_TIMEOUT_SECONDS": str(HEAD_TIMEOUT)}
    server = start_server(request.param, trained_registry, tmp_path_factory, env)
    yield server
    server.stop()


def start_server(
    parser: str,
    registry: Registry,
    tmp_path_factory: pytest.TempPathFactory,
    env: dict[str, str],
) -> LiveServer:
    """Start a server with ``env`` whose uvicorn uses ``parser``, "httptools"
    or "h11"; the server's ``parser`` attribute names it."""
    if parser == "h11":
        hidden = without_httptools(tmp_path_factory.mktemp("no-httptools"))
        env = {**env, "PYTHONPATH": hidden}
    server = LiveServer(registry.root, env=env)
    server.parser = parser  # type: ignore[attr-defined]
    return server


def without_httptools(folder: Path) -> str:
    """Return a PYTHONPATH on which ``import httptools`` raises
    ``ImportError``, so uvicorn falls back to its h11 protocol."""
    package = folder / "httptools"
    package.mkdir()
    (package / "__init__.py").write_text(
        'raise ImportError("httptools is hidden from this server")\n'
    )
    return os.pathsep.join([str(folder), os.environ.get("PYTHONPATH", "")])


def connect(server: LiveServer) -> socket.socket:
    return socket.create_connection(("127.0.0.1", server.port), timeout=WAIT)


def read_until_closed(sock: socket.socket) -> bytes:
    data = b""
    while chunk := sock.recv(65536):
        data += chunk
    return data


def head_timeout_lines(server: LiveServer, sock: socket.socket) -> list[Any]:
    """Return the server's log lines about the head timeout of ``sock``'s
    connection."""
    client = f"127.0.0.1:{sock.getsockname()[1]}"
    lines = []
    for line in server.output().splitlines():
        if not line.startswith("{"):
            continue
        entry = json.loads(line)
        if entry["logger"] == "service.request_heads" and entry["client"] == client:
            lines.append(entry)
    return lines


def assert_logged(server: LiveServer, sock: socket.socket, head_bytes: int) -> None:
    """Check the one log line of the head timeout of ``sock``'s connection,
    which the server writes before its 408."""
    lines = head_timeout_lines(server, sock)
    assert len(lines) == 1, lines
    entry = lines[0]
    assert entry["level"] == "INFO"
    assert entry["status"] == 408
    assert entry["timeout_s"] == HEAD_TIMEOUT
    assert entry["received_bytes"] == head_bytes
    assert entry["client"] in entry["message"]
    assert "timed out after 1 s" in entry["message"]


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
        assert_logged(head_server, sock, head_bytes=0)

    assert_timed_out(reply, time.monotonic() - started)


def test_trickled_head_times_out(head_server: LiveServer) -> None:
    started = time.monotonic()
    request_line = b"GET /v1/health HTTP/1.1\r\n"
    with connect(head_server) as sock:
        sock.sendall(request_line)
        # one header line every 0.2 s keeps the connection busy, but the
        # head never ends. The last line leaves 0.4 s before the deadline,
        # so a sleep that overruns on a loaded machine still sends it in time
        # and the logged byte count includes it.
        for i in range(3):
            time.sleep(HEAD_TIMEOUT / 5)
            sock.sendall(b"X-Part-%d: a\r\n" % i)
        reply = read_until_closed(sock)
        assert_logged(head_server, sock, head_bytes=len(request_line) + 3 * 13)

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
        assert_logged(head_server, sock, head_bytes=10)

    assert first.startswith("HTTP/1.1 200 "), first
    assert_timed_out(reply, time.monotonic() - started)


# requests that are not valid HTTP, and the reason that each parser reports
MALFORMED = [
    (
        b"GET /v1/health HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\n"
        b"Content-Length: 2\r\n\r\nab",
        {
            "httptools": "Duplicate Content-Length",
            "h11": "conflicting Content-Length headers",
        },
    ),
    (
        b"GET /v1/he alth HTTP/1.1\r\nHost: x\r\n\r\n",
        {
            "httptools": "Expected HTTP/, RTSP/ or ICE/",
            "h11": "illegal request line: bytearray(b'GET /v1/he alth HTTP/1.1')",
        },
    ),
    (
        b"POST /v1/jobs HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"zz\r\n{}\r\n0\r\n\r\n",
        {
            "httptools": "Invalid character in chunk size",
            "h11": "illegal chunk header: bytearray(b'zz\\r\\n')",
        },
    ),
    (
        b"POST /v1/jobs HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"2\n{}\n0\n\n",
        {
            "httptools": "Missing expected CR after chunk size",
            "h11": "chunk-size line ends with LF without CR; end it with CRLF",
        },
    ),
    (
        b"POST /v1/jobs HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"2\r\n{}\r\n0\n\n",
        {
            "httptools": "Missing expected CR after chunk size",
            "h11": "chunk-size line ends with LF without CR; end it with CRLF",
        },
    ),
    (
        b"GET /v1/health HTTP/1.1\r\nHost: x\r\nX-B\x01d: 1\r\n\r\n",
        {
            "httptools": "Invalid header token",
            "h11": "illegal header line: bytearray(b'X-B\\x01d: 1')",
        },
    ),
]


@pytest.mark.parametrize(
    ("request_bytes", "reasons"),
    MALFORMED,
    ids=[
        "two-lengths",
        "space-in-path",
        "chunk-size",
        "chunk-size-bare-lf",
        "last-chunk-bare-lf",
        "header-name",
    ],
)
def test_malformed_request_gets_problem(
    head_server: LiveServer, request_bytes: bytes, reasons: dict[str, str]
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
    detail = problem["detail"]
    assert detail.startswith("the request is not valid HTTP/1.1"), detail
    reason = reasons[head_server.parser]  # type: ignore[attr-defined]
    assert f"(the HTTP parser reported: {reason});" in detail


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
        assert head_timeout_lines(head_server, sock) == []

    assert early.startswith("HTTP/1.1 404 "), early
    assert "connection: close" not in early.lower()
    assert after.startswith("HTTP/1.1 200 "), after


# the body timeout of ``discard_server``, shorter than the pause between the
# bytes of ``trickle_until_closed``
BODY_TIMEOUT = 0.1
MAX_DISCARDED = 4096
TRICKLE_PAUSE = 0.3


@pytest.fixture(scope="module", params=["httptools", "h11"])
def discard_server(
    request: pytest.FixtureRequest,
    trained_registry: Registry,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[LiveServer]:
    env = {
        "RNN_FORECAST_BODY_TIMEOUT_SECONDS": str(BODY_TIMEOUT),
        "RNN_FORECAST_MAX_REQUEST_BYTES": str(MAX_DISCARDED),
    }
    server = start_server(request.param, trained_registry, tmp_path_factory, env)
    yield server
    server.stop()


def trickle_until_closed(sock: socket.socket, max_bytes: int) -> int | None:
    """Send one byte every ``TRICKLE_PAUSE`` seconds, at most ``max_bytes``,
    and return how many were sent when the server closed the connection,
    or None when it is still open after them."""
    sock.settimeout(TRICKLE_PAUSE)
    for sent in range(max_bytes):
        try:
            if sock.recv(1) == b"":
                return sent
        except TimeoutError:
            pass
        except ConnectionResetError:
            return sent
        try:
            sock.sendall(b"a")
        except (BrokenPipeError, ConnectionResetError):
            return sent
    return None


def closed_by_server(sock: socket.socket) -> bool:
    """Read what arrives on ``sock``, and return whether the server closes
    the connection before ``WAIT`` seconds pass without a byte."""
    sock.settimeout(WAIT)
    try:
        while sock.recv(65536):
            pass
    except ConnectionResetError:
        return True
    except TimeoutError:
        return False
    return True


def discard_lines(server: LiveServer, sock: socket.socket) -> list[Any]:
    """Return the server's log lines about the discarded body of ``sock``'s
    connection."""
    lines = head_timeout_lines(server, sock)
    return [entry for entry in lines if "discarded_bytes" in entry]


def unknown_route_head(framing: bytes) -> bytes:
    """Return the head of a POST to a route that does not exist, with the
    header line ``framing`` that declares its body."""
    return (
        b"POST /v1/no-such-route HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        b"Content-Type: application/json\r\n" + framing + b"\r\n\r\n"
    )


def test_trickled_body_after_response_closed(discard_server: LiveServer) -> None:
    head = unknown_route_head(b"Content-Length: 1000")
    with connect(discard_server) as sock:
        sock.sendall(head + b"a" * 10)
        early = read_reply(sock)
        # Each pause is longer than the body timeout, so the first one ends
        # the connection. 40 bytes give the server 12 s to close it.
        sent = trickle_until_closed(sock, 40)
        lines = discard_lines(discard_server, sock)

    assert early.startswith("HTTP/1.1 404 "), early
    assert sent is not None, "the connection stayed open"
    assert len(lines) == 1, lines
    entry = lines[0]
    assert entry["level"] == "INFO"
    assert entry["timeout_s"] == BODY_TIMEOUT
    # a byte sent while the server closes is not discarded
    assert 0 < entry["discarded_bytes"] <= sent
    assert entry["client"] in entry["message"]
    assert "timed out" in entry["message"]


def test_long_body_after_response_closed(discard_server: LiveServer) -> None:
    # a Content-Length over the limit would get a 413 that closes the
    # connection, so the body is chunked
    size = 2 * MAX_DISCARDED
    head = unknown_route_head(b"Transfer-Encoding: chunked")
    with connect(discard_server) as sock:
        sock.sendall(head + b"%x\r\n" % size + b"a" * 10)
        early = read_reply(sock)
        try:
            sock.sendall(b"a" * (size - 10))
        except (BrokenPipeError, ConnectionResetError):
            pass
        closed = closed_by_server(sock)
        lines = discard_lines(discard_server, sock)

    assert early.startswith("HTTP/1.1 404 "), early
    assert closed
    assert len(lines) == 1, lines
    entry = lines[0]
    assert entry["level"] == "INFO"
    assert entry["max_discarded_bytes"] == MAX_DISCARDED
    assert MAX_DISCARDED < entry["discarded_bytes"] <= size - 10
    assert entry["client"] in entry["message"]
