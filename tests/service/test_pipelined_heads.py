"""Pipelined requests on one keep-alive connection, sent split at random byte
positions, get the same responses in the same order as each request sent
alone, on uvicorn's httptools and h11 protocols with a 1 KiB head limit.

The streams, their split points and the heads near the limit come from a
fixed seed, so a failure names a case that runs the same way again."""

from __future__ import annotations

import random
import socket
import time
from collections.abc import Callable, Iterator

import pytest

from models.registry import Registry
from tests.conftest import LiveServer
from tests.service.pipelined_http import (
    OTHER_UPGRADE,
    WEBSOCKET_HANDSHAKE,
    Response,
    ResponseReader,
    random_request,
    simple_request,
    split_points,
)
from tests.service.test_request_heads import WAIT, start_server

MAX_HEAD = 1024
SEED = 20261206
STREAMS = 40
# the pause between pieces, so that the server reads most pieces apart
PIECE_PAUSE = 0.002


@pytest.fixture(scope="module", params=["httptools", "h11"])
def small_head_server(
    request: pytest.FixtureRequest,
    trained_registry: Registry,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[LiveServer]:
    env = {"RNN_FORECAST_MAX_HEAD_BYTES": str(MAX_HEAD)}
    server = start_server(request.param, trained_registry, tmp_path_factory, env)
    yield server
    server.stop()


def connect(server: LiveServer) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=WAIT)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def send_split(
    server: LiveServer, stream: bytes, points: list[int], methods: list[bytes]
) -> list[Response]:
    """Send ``stream`` in pieces cut at ``points``, then read a response per
    method until the server closes the connection."""
    responses = []
    with connect(server) as sock:
        start = 0
        for point in [*points, len(stream)]:
            try:
                sock.sendall(stream[start:point])
            except (BrokenPipeError, ConnectionResetError):
                break
            start = point
            time.sleep(PIECE_PAUSE)
        reader = ResponseReader(sock)
        for method in methods:
            try:
                response = reader.read(method)
            except ConnectionResetError:
                response = None
            if response is None:
                break
            responses.append(response)
    return responses


class AloneResponses:
    """The response of each request sent alone on its own connection."""

    def __init__(self, server: LiveServer) -> None:
        self.server = server
        self.cache: dict[bytes, Response] = {}

    def get(self, request: bytes, method: bytes) -> Response:
        if request not in self.cache:
            try:
                responses = send_split(self.server, request, [], [method])
            except TimeoutError as error:
                message = f"no response within {WAIT} s to {request[:300]!r}"
                raise AssertionError(message) from error
            assert len(responses) == 1, request[:300]
            self.cache[request] = responses[0]
        return self.cache[request]


def expected_responses(
    alone: AloneResponses, requests: list[tuple[bytes, bytes]]
) -> list[Response]:
    """Return the responses of ``requests`` sent alone, up to the first
    that closes its connection."""
    expected = []
    for request, method in requests:
        response = alone.get(request, method)
        expected.append(response)
        if response.closing:
            break
    return expected


def describe(responses: list[Response]) -> list[tuple[int, int]]:
    return [(response.status, len(response.body)) for response in responses]


def check_stream(
    server: LiveServer,
    alone: AloneResponses,
    rng: random.Random,
    requests: list[tuple[bytes, bytes]],
    max_pieces: int = 30,
    bare_lf: bool = False,
) -> str | None:
    """Send ``requests`` pipelined and split at random, and return what
    differs from the responses of each sent alone, or None. With
    ``bare_lf`` the last response may be a 400 in place of a 431."""
    stream = b"".join(request for request, _ in requests)
    methods = [method for _, method in requests]
    points = split_points(rng, stream, max_pieces)
    expected = expected_responses(alone, requests)
    got = send_split(server, stream, points, methods)
    if got == expected:
        return None
    if bare_lf and got[:-1] == expected[:-1] and rejected_alike(expected, got):
        return None
    return (
        f"expected {describe(expected)}, got {describe(got)}; split at {points}, "
        f"stream starts {stream[:300]!r}"
    )


def rejected_alike(expected: list[Response], got: list[Response]) -> bool:
    """Return whether the last responses of both are a 400 or a 431 that
    closes the connection.

    httptools rejects a bare LF with 400 as soon as it reads one. So a head
    over the limit with bare LF line ends gets 431 when it arrives in one
    read, and it may get 400 when it arrives in pieces.
    """
    if not expected or not got:
        return False
    last = (expected[-1], got[-1])
    return all(r.status in (400, 431) and r.closing for r in last)


def head_of_size(size: int, newline: bytes) -> bytes:
    """Return a GET /v1/health head of exactly ``size`` bytes with
    ``newline`` line ends, padded by one header."""
    start = b"GET /v1/health HTTP/1.1" + newline + b"Host: 127.0.0.1" + newline
    start += b"X-Pad: "
    end = newline + newline
    return start + b"a" * (size - len(start) - len(end)) + end


def test_split_pipelined_streams_match(small_head_server: LiveServer) -> None:
    alone = AloneResponses(small_head_server)
    failures = []
    for case in range(STREAMS):
        rng = random.Random(SEED + case)
        requests = [random_request(rng) for _ in range(rng.randrange(1, 7))]
        if rng.random() < 0.2:
            requests.append((WEBSOCKET_HANDSHAKE, b"GET"))
        failure = check_stream(small_head_server, alone, rng, requests)
        if failure:
            failures.append(f"case {case}: {failure}")

    assert not failures, "\n".join(failures[:5])


def near_limit_failures(
    server: LiveServer, near: Callable[[int], bytes], bare_lf: bool = False
) -> list[str]:
    """Send streams that end with the request ``near(size)`` for sizes
    around the limit and then a GET, and return what differs from each
    request sent alone."""
    alone = AloneResponses(server)
    failures = []
    for size in range(MAX_HEAD - 2, MAX_HEAD + 4):
        for case in range(3):
            rng = random.Random(SEED + size * 10 + case)
            before = [random_request(rng) for _ in range(rng.randrange(3))]
            method = near(size).split(b" ", 1)[0]
            requests = [*before, (near(size), method), (HEALTH, b"GET")]
            failure = check_stream(server, alone, rng, requests, bare_lf=bare_lf)
            if failure:
                failures.append(f"size {size}, case {case}: {failure}")
    return failures


@pytest.mark.parametrize("newline", [b"\r\n", b"\n"], ids=["crlf", "lf"])
def test_heads_near_limit_split(small_head_server: LiveServer, newline: bytes) -> None:
    failures = near_limit_failures(
        small_head_server,
        lambda size: head_of_size(size, newline),
        bare_lf=newline == b"\n",
    )

    assert not failures, "\n".join(failures[:5])


def chunk_line_of_size(size: int) -> bytes:
    """Return a chunked forecast POST whose one chunk-size line has ``size``
    bytes with its extension and CRLF."""
    body = b'{"horizon": 2}'
    start = b"%x;pad=" % len(body)
    size_line = start + b"a" * (size - len(start) - 2)
    return chunked_forecast(body, len(body)).replace(b"%x;ext=1" % len(body), size_line)


def trailers_of_size(size: int) -> bytes:
    """Return a chunked forecast POST whose trailer section has ``size``
    bytes with its empty line."""
    trailers = b"X-Pad: " + b"a" * (size - 11) + b"\r\n\r\n"
    return chunked_forecast(b'{"horizon": 2}', 5).replace(
        b"X-Checksum: 1\r\n\r\n", trailers
    )


@pytest.mark.parametrize(
    "near", [chunk_line_of_size, trailers_of_size], ids=["size-line", "trailers"]
)
def test_chunk_framing_near_limit_split(
    small_head_server: LiveServer, near: Callable[[int], bytes]
) -> None:
    failures = near_limit_failures(small_head_server, near)

    assert not failures, "\n".join(failures[:5])


FORECAST = (
    b"POST /v1/models/nflx/forecast HTTP/1.1\r\nHost: 127.0.0.1\r\n"
    b"Content-Type: application/json\r\nContent-Length: 14\r\n\r\n"
    b'{"horizon": 3}'
)
HEALTH = simple_request(b"GET", b"/v1/health")


def send_whole(server: LiveServer, stream: bytes, count: int) -> list[Response]:
    """Send ``stream`` in one write and read up to ``count`` responses."""
    return send_split(server, stream, [], [b"GET"] * count)


def test_pipelined_large_head_rejected_in_order(small_head_server: LiveServer) -> None:
    # the head over the limit arrives in the same read as the requests
    # before it, whose responses come first
    large = head_of_size(MAX_HEAD + 1, b"\r\n")
    responses = send_whole(small_head_server, FORECAST + HEALTH + large, 3)

    assert [response.status for response in responses] == [200, 200, 431]
    assert responses[-1].closing


def test_pipelined_bad_head_rejected_in_order(small_head_server: LiveServer) -> None:
    invalid = b"GET /v1/health HTTP/1.1\r\nHost: 127.0.0.1\r\nBad Name: x\r\n\r\n"
    responses = send_whole(small_head_server, FORECAST + HEALTH + invalid, 3)

    assert [response.status for response in responses] == [200, 200, 400]
    assert b"the HTTP parser reported" in responses[-1].body
    assert responses[-1].closing


def test_pipelined_bad_chunk_rejected_in_order(small_head_server: LiveServer) -> None:
    # the invalid chunk size comes in the same read as the request before it
    bad_chunk = (
        b"POST /v1/models/nflx/forecast HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        b"Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"zz\r\n"
    )
    responses = send_whole(small_head_server, FORECAST + HEALTH + bad_chunk, 3)

    assert [response.status for response in responses] == [200, 200, 400]
    assert b"the HTTP parser reported" in responses[-1].body
    assert responses[-1].closing


def test_pipelined_websocket_handshake_in_order(
    small_head_server: LiveServer,
) -> None:
    # the handshake arrives in the same read as the requests before it, and
    # its 400 from the WebSocket protocol comes after their responses
    responses = send_whole(
        small_head_server, FORECAST + HEALTH + WEBSOCKET_HANDSHAKE, 3
    )

    assert [response.status for response in responses] == [200, 200, 400]
    assert b"no WebSocket endpoints" in responses[-1].body


@pytest.mark.parametrize("chunked", [False, True], ids=["length", "chunked"])
def test_upgrade_request_body_served(
    small_head_server: LiveServer, chunked: bool
) -> None:
    # the server ignores an Upgrade for a protocol that it does not speak
    # and reads the body, so the next request is not parsed from the body
    upgrade = FORECAST.replace(
        b"Host: 127.0.0.1\r\n", b"Host: 127.0.0.1\r\n" + OTHER_UPGRADE
    )
    if chunked:
        upgrade = chunked_forecast(b'{"horizon": 3}', 4).replace(
            b"Host: 127.0.0.1\r\n", b"Host: 127.0.0.1\r\n" + OTHER_UPGRADE
        )
    responses = send_whole(small_head_server, upgrade + HEALTH + upgrade, 3)

    assert [response.status for response in responses] == [200, 200, 200]
    assert b'"horizon":3' in responses[0].body
    assert responses[2].body == responses[0].body


def chunked_forecast(body: bytes, chunk_bytes: int) -> bytes:
    """Return a chunked forecast POST with ``body`` in chunks of
    ``chunk_bytes``, the last one with a chunk extension, and a trailer."""
    chunks = b""
    for start in range(0, len(body), chunk_bytes):
        chunk = body[start : start + chunk_bytes]
        chunks += b"%x;ext=1\r\n%s\r\n" % (len(chunk), chunk)
    return (
        b"POST /v1/models/nflx/forecast HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        b"Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
        + chunks
        + b"0\r\nX-Checksum: 1\r\n\r\n"
    )


def test_head_after_chunked_body_limited(small_head_server: LiveServer) -> None:
    # chunk data that looks like the end of a body, then two heads in the
    # same read: one at the limit and one over it
    body = b'{"horizon":\r\n\r\n\n\n2\r\n\r\n' + b" " * 3000 + b"}"
    at_limit = head_of_size(MAX_HEAD, b"\r\n")
    large = head_of_size(MAX_HEAD + 1, b"\r\n")
    stream = chunked_forecast(body, 7) + at_limit + large
    responses = send_whole(small_head_server, stream, 3)

    assert [response.status for response in responses] == [200, 200, 431]
    assert responses[-1].closing


def test_pipelined_long_trailers_rejected_in_order(
    small_head_server: LiveServer,
) -> None:
    # trailer fields over the limit, in the same read as the requests
    # before them
    long_trailers = trailers_of_size(MAX_HEAD + 1)
    responses = send_whole(small_head_server, FORECAST + HEALTH + long_trailers, 3)

    assert [response.status for response in responses] == [200, 200, 431]
    assert b"trailer fields" in responses[-1].body
    assert responses[-1].closing
