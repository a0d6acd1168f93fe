"""A client that stops sending its body gets 408 instead of holding the
connection open, and 503 at once when the server shuts down instead of
holding the shutdown until the body timeout."""

from __future__ import annotations

import signal
import socket
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from models.registry import Registry
from tests.conftest import LiveServer
from tests.service.raw_http import read_reply


@pytest.fixture(scope="module")
def impatient_server(trained_registry: Registry) -> Iterator[LiveServer]:
    server = LiveServer(
        trained_registry.root, env={"RNN_FORECAST_BODY_TIMEOUT_SECONDS": "1"}
    )
    yield server
    server.stop()


# the forecast fast path, and a route behind the app's body limit middleware
STALLED_PATHS = ("/v1/models/nflx/forecast", "/v1/training-jobs")


@pytest.mark.parametrize("path", STALLED_PATHS)
def test_stalled_body_gets_408(impatient_server: LiveServer, path: str) -> None:
    head = (
        f"POST {path} HTTP/1.1\r\n"
        "Host: 127.0.0.1\r\n"
        "Content-Type: application/json\r\n"
        "Content-Length: 100\r\n\r\n"
    )
    with socket.create_connection(("127.0.0.1", impatient_server.port)) as sock:
        sock.settimeout(15)
        started = time.monotonic()
        sock.sendall(head.encode() + b'{"horizon":')
        reply = read_reply(sock)
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


# long enough that a shutdown which waits for it fails the test, with room
# for the diagnostic below to finish on a loaded machine before that
LONG_BODY_TIMEOUT = 60
# a gradient diagnostic of about 2 s on one core
SLOW_DIAGNOSTIC = {"cell": "lstm", "hidden_size": 128, "seq_len": 1000}


def _stall(port: int, path: str) -> socket.socket:
    """Open a connection that sends the head and 11 of 100 body bytes of a
    JSON POST to ``path``, then stalls."""
    head = (
        f"POST {path} HTTP/1.1\r\n"
        "Host: 127.0.0.1\r\n"
        "Content-Type: application/json\r\n"
        "Content-Length: 100\r\n\r\n"
    )
    sock = socket.create_connection(("127.0.0.1", port))
    sock.settimeout(LONG_BODY_TIMEOUT)
    sock.sendall(head.encode() + b'{"horizon":')
    return sock


def test_sigterm_ends_stalled_bodies(trained_registry: Registry) -> None:
    env = {"RNN_FORECAST_BODY_TIMEOUT_SECONDS": str(LONG_BODY_TIMEOUT)}
    server = LiveServer(trained_registry.root, env=env)
    try:
        with ThreadPoolExecutor(max_workers=1) as pool:
            running = pool.submit(
                httpx.post,
                f"{server.url}/v1/diagnostics/gradient-flow",
                json=SLOW_DIAGNOSTIC,
                timeout=LONG_BODY_TIMEOUT,
            )
            stalled = [_stall(server.port, path) for path in STALLED_PATHS]
            time.sleep(0.5)
            started = time.monotonic()
            server.process.send_signal(signal.SIGTERM)
            replies = [read_reply(sock) for sock in stalled]
            after = [sock.recv(65536) for sock in stalled]
            server.process.wait(timeout=LONG_BODY_TIMEOUT)
            stopped = time.monotonic() - started
            diagnostic = running.result()
        for sock in stalled:
            sock.close()
    finally:
        server.stop()

    for reply in replies:
        assert reply.startswith("HTTP/1.1 503"), reply
        assert "the server is shutting down" in reply
        assert "connection: close" in reply.lower()
    assert after == [b"", b""]
    # the request whose body had arrived still gets its response
    assert diagnostic.status_code == 200
    assert stopped < LONG_BODY_TIMEOUT / 2
