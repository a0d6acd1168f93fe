"""Seeded generators of valid HTTP/1.1 requests, of byte positions to split
a stream of them at, and a reader of the responses to a pipelined stream."""

from __future__ import annotations

import json
import random
import re
import socket
from dataclasses import dataclass

FORECAST_PATH = b"/v1/models/nflx/forecast"


@dataclass(frozen=True)
class Response:
    """One HTTP response: its status, its body (empty for HEAD), whether it
    has ``Connection: close``, and the statuses of the interim (1xx)
    responses before it."""

    status: int
    body: bytes
    closing: bool
    interim: tuple[int, ...] = ()


def header_lines(rng: random.Random, count: int) -> bytes:
    """Return ``count`` short header lines with random names and values."""
    lines = b""
    for i in range(count):
        name = b"X-Fuzz-%d-%s" % (i, b"a" * rng.randrange(1, 6))
        value = bytes(rng.choice(b"abcdefXYZ0129-_.") for _ in range(rng.randrange(12)))
        lines += name + b": " + value + b"\r\n"
    return lines


def simple_request(method: bytes, path: bytes, extra: bytes = b"") -> bytes:
    """Return a request without a body."""
    return method + b" " + path + b" HTTP/1.1\r\nHost: 127.0.0.1\r\n" + extra + b"\r\n"


def forecast_body(rng: random.Random) -> bytes:
    """Return a forecast body, sometimes invalid (a 422), padded with JSON
    whitespace to a random size in bytes."""
    horizon: object = rng.randrange(1, 4) if rng.random() < 0.85 else "soon"
    body = json.dumps({"horizon": horizon}).encode()
    size = rng.choice([0, 0, 1, 50, 1000, 5000, 70_000])
    # blank lines in a body look like the end of a head
    padding = bytes(rng.choice(b"  \n\r\t") for _ in range(size))
    return body[:-1] + padding + b"}"


def length_request(
    rng: random.Random, path: bytes = FORECAST_PATH, extra: bytes = b""
) -> bytes:
    """Return a POST with a ``Content-Length`` body and ``extra`` header
    lines."""
    body = forecast_body(rng)
    extra += b"Content-Type: application/json\r\nContent-Length: %d\r\n" % len(body)
    head = simple_request(b"POST", path, extra + header_lines(rng, rng.randrange(3)))
    return head + body


def chunked_body(rng: random.Random, body: bytes) -> bytes:
    """Return ``body`` in random chunks, with chunk extensions and trailer
    fields at random."""
    encoded = b""
    start = 0
    while start < len(body):
        size = rng.randrange(1, max(2, len(body) - start + 1))
        chunk = body[start : start + size]
        start += size
        size_line = (b"%x" if rng.random() < 0.5 else b"%X") % len(chunk)
        if rng.random() < 0.3:
            size_line += b";ext=%d" % rng.randrange(100)
        if rng.random() < 0.2:
            size_line += b';name="quoted value"'
        encoded += size_line + b"\r\n" + chunk + b"\r\n"
    last = b"0;end=1\r\n" if rng.random() < 0.3 else b"0\r\n"
    trailers = b"X-Checksum: %d\r\n" % len(body) if rng.random() < 0.4 else b""
    return encoded + last + trailers + b"\r\n"


def chunked_request(rng: random.Random, extra: bytes = b"") -> bytes:
    """Return a forecast POST with a chunked body and ``extra`` header
    lines."""
    extra += b"Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n"
    head = simple_request(b"POST", FORECAST_PATH, extra)
    return head + chunked_body(rng, forecast_body(rng))


# a request for a protocol that the server does not speak, which it serves
# as plain HTTP
OTHER_UPGRADE = b"Upgrade: rnn-test/1\r\nConnection: Upgrade\r\n"
EXPECT = b"Expect: 100-continue\r\n"
# a WebSocket handshake, which the API rejects with 400 and a close; the
# bytes after it would be WebSocket frames, so it ends a stream
WEBSOCKET_HANDSHAKE = simple_request(
    b"GET",
    b"/v1/health",
    b"Upgrade: websocket\r\nConnection: Upgrade\r\n"
    b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n",
)


def random_request(rng: random.Random) -> tuple[bytes, bytes]:
    """Return one valid HTTP/1.1 request and its method."""
    kind = rng.randrange(11)
    if kind == 0:
        return simple_request(b"GET", b"/v1/health"), b"GET"
    if kind == 1:
        return simple_request(b"GET", b"/v1/models", header_lines(rng, 2)), b"GET"
    if kind == 2:
        return simple_request(b"HEAD", b"/v1/health"), b"HEAD"
    if kind == 3:
        # a head of many header lines, under a 1 KiB head limit
        return simple_request(b"GET", b"/v1/health", header_lines(rng, 25)), b"GET"
    if kind == 4:
        # a 404 that the server may send before it reads the body
        return length_request(rng, b"/v1/no-such-route"), b"POST"
    if kind == 5:
        return chunked_request(rng), b"POST"
    if kind == 8:
        if rng.random() < 0.5:
            return chunked_request(rng, OTHER_UPGRADE), b"POST"
        return length_request(rng, FORECAST_PATH, OTHER_UPGRADE), b"POST"
    if kind == 9:
        # uvicorn sends 100 Continue when the app first reads the body
        if rng.random() < 0.5:
            return chunked_request(rng, EXPECT), b"POST"
        return length_request(rng, FORECAST_PATH, EXPECT), b"POST"
    if kind == 10:
        return simple_request(b"GET", b"/v1/health", OTHER_UPGRADE), b"GET"
    return length_request(rng), b"POST"


def split_points(rng: random.Random, stream: bytes, max_pieces: int) -> list[int]:
    """Return sorted positions to split ``stream`` at: random ones, ones in
    and around each empty line that ends a head, and runs of 1-byte
    pieces."""
    points: set[int] = set()
    ends = [m.start() for m in re.finditer(rb"\n\r?\n", stream)]
    for end in rng.sample(ends, min(len(ends), 4)):
        offset = rng.randrange(-2, 4)
        if rng.random() < 0.3:
            points.update(range(end - 3, end + 4))
        else:
            points.add(end + offset)
    for _ in range(rng.randrange(max_pieces // 2)):
        points.add(rng.randrange(1, len(stream)))
    if rng.random() < 0.3:
        start = rng.randrange(len(stream))
        points.update(range(start, start + 12))
    return sorted(p for p in points if 0 < p < len(stream))[:max_pieces]


class ResponseReader:
    """Reads HTTP/1.1 responses from a socket one at a time."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.buffer = b""

    def _fill(self) -> bool:
        chunk = self.sock.recv(65536)
        self.buffer += chunk
        return bool(chunk)

    def _take_until(self, marker: bytes) -> bytes | None:
        while marker not in self.buffer:
            if not self._fill():
                return None
        data, _, self.buffer = self.buffer.partition(marker)
        return data

    def _take(self, size: int) -> bytes:
        while len(self.buffer) < size:
            if not self._fill():
                missing = size - len(self.buffer)
                raise ConnectionError(f"connection closed {missing} bytes short")
        data, self.buffer = self.buffer[:size], self.buffer[size:]
        return data

    def read(self, method: bytes) -> Response | None:
        """Return the next response to a request of ``method``, with the
        interim responses before it, or None when the server closed the
        connection before one began."""
        interim: list[int] = []
        while True:
            head = self._take_until(b"\r\n\r\n")
            if head is None:
                if self.buffer or interim:
                    raise ConnectionError(f"partial response {interim} {self.buffer!r}")
                return None
            lines = head.split(b"\r\n")
            status = int(lines[0].split(b" ")[1])
            if status >= 200:
                break
            interim.append(status)
        headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(b":")
            headers[name.strip().lower()] = value.strip().lower()
        closing = headers.get(b"connection") == b"close"
        if method == b"HEAD" or status in (204, 304):
            body = b""
        elif headers.get(b"transfer-encoding") == b"chunked":
            body = self._read_chunked()
        else:
            body = self._take(int(headers[b"content-length"]))
        return Response(status, body, closing, tuple(interim))

    def _read_chunked(self) -> bytes:
        body = b""
        while True:
            size_line = self._take_until(b"\r\n")
            if size_line is None:
                raise ConnectionError("connection closed inside a chunked body")
            size = int(size_line.split(b";")[0], 16)
            if size == 0:
                # trailer fields up to an empty line
                while self._take_until(b"\r\n"):
                    pass
                return body
            body += self._take(size)
            self._take(2)
