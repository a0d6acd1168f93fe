"""A deadline for the request head (request line and headers) of every
connection, and problem details for requests that are not valid HTTP.

uvicorn 0.55 times out a connection only while it is idle after a response
(``timeout_keep_alive``). It sets no timer on a new connection, and cancels
its keep-alive timer as soon as bytes arrive. So a client that connects and
sends nothing, or sends a head one header line at a time, keeps its
connection and its file descriptor for as long as it likes, and enough such
clients leave none for others. The app cannot help, because uvicorn calls
it only once a head is complete.

``head_deadline_protocol`` returns a subclass of the HTTP protocol that
uvicorn picks (httptools when it is installed, else h11). It gives each
request head ``RNN_FORECAST_HEAD_TIMEOUT_SECONDS`` from its first byte, or
from the connection's start for the first request. A head still incomplete
then gets 408 with problem details and ``Connection: close``, and the
connection is closed. The body has its own timeout
(``RNN_FORECAST_BODY_TIMEOUT_SECONDS``).

uvicorn rejects a request that its parser cannot read, such as one with two
different ``Content-Length`` values or an invalid chunk size, with a
plain-text 400 "Invalid HTTP request received.". The subclass sends that
400 as problem details with a fix, as every other error of the API is.

NOTE: this relies on parts of both uvicorn 0.55 protocols that uvicorn does
not document: the attribute ``cycle``, the request being served (None
before the first head is complete), its ``response_complete``, and the
method ``send_400_response``. It also relies on the httptools protocol's
parser callbacks ``on_message_begin``, ``on_headers_complete`` and
``on_message_complete``. tests/service/test_request_heads.py fails if a
uvicorn release changes them.
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.auto import AutoHTTPProtocol

from service.errors import CLOSE, problem


def head_deadline_protocol(
    timeout_seconds: float, base: type[asyncio.Protocol] = AutoHTTPProtocol
) -> type[asyncio.Protocol]:
    """Return the uvicorn HTTP protocol class ``base`` (the one uvicorn
    picks by default) with a deadline of ``timeout_seconds`` for each
    request head."""

    class HeadDeadlineProtocol(base):  # type: ignore[misc, valid-type]
        """uvicorn's HTTP protocol, which sends 408 and closes the
        connection when a request head takes longer than the deadline."""

        head_timeout = timeout_seconds

        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            self._head_timer: asyncio.TimerHandle | None = None
            self._head_cycle: Any = None
            self._reading_body = False
            super().connection_made(transport)
            self._start_head_timer()

        # httptools calls the three methods below while it parses.
        # NOTE: uvicorn's h11 protocol has no such methods, so there the
        # deadline does not tell the rest of a body from the next head.
        def on_message_begin(self) -> None:
            self._reading_body = False
            super().on_message_begin()

        def on_headers_complete(self) -> None:
            self._reading_body = True
            super().on_headers_complete()

        def on_message_complete(self) -> None:
            self._reading_body = False
            super().on_message_complete()

        def data_received(self, data: bytes) -> None:
            super().data_received(data)
            if not self._waiting_for_head():
                self._stop_head_timer()
            elif self._head_timer is None or self._head_cycle is not self.cycle:
                # the first bytes of the next head after a response
                self._start_head_timer()

        def connection_lost(self, exc: Exception | None) -> None:
            self._stop_head_timer()
            super().connection_lost(exc)

        def _waiting_for_head(self) -> bool:
            # A response may complete before its request body has arrived,
            # such as a 404 sent without reading the body. The rest of that
            # body is no part of the next head.
            cycle = self.cycle
            if cycle is None:
                return True
            return bool(cycle.response_complete) and not self._reading_body

        def _start_head_timer(self) -> None:
            self._stop_head_timer()
            self._head_cycle = self.cycle
            self._head_timer = asyncio.get_running_loop().call_later(
                self.head_timeout, self._head_timed_out
            )

        def _stop_head_timer(self) -> None:
            if self._head_timer is not None:
                self._head_timer.cancel()
                self._head_timer = None

        def send_400_response(self, msg: str) -> None:
            # uvicorn calls this for a request that its parser rejects, then
            # stops reading the connection
            self.transport.write(invalid_request_response())
            self.transport.close()

        def _head_timed_out(self) -> None:
            self._head_timer = None
            transport = self.transport
            if transport.is_closing():
                return
            if not self._waiting_for_head() or self._head_cycle is not self.cycle:
                return
            transport.write(timeout_response(self.head_timeout))
            transport.close()

    return HeadDeadlineProtocol


def timeout_response(timeout_seconds: float) -> bytes:
    """Return the bytes of the 408 of a request head that took longer than
    ``timeout_seconds``."""
    detail = (
        f"the request line and headers did not arrive within {timeout_seconds:g} "
        "s; send the whole request head at once, or raise "
        "RNN_FORECAST_HEAD_TIMEOUT_SECONDS"
    )
    return _closing_problem(408, "Request Timeout", detail)


def invalid_request_response() -> bytes:
    """Return the bytes of the 400 of a request that uvicorn's HTTP parser
    rejects."""
    detail = (
        "the request is not valid HTTP/1.1, so the server could not read it; "
        "check the request line, the header lines, a single Content-Length "
        "that matches the body, and the chunk sizes of a chunked body"
    )
    return _closing_problem(400, "Bad Request", detail)


def _closing_problem(status: int, reason: str, detail: str) -> bytes:
    """Return the bytes of a whole problem+json response with ``Connection:
    close``, written to the transport past uvicorn's response handling."""
    response = problem(status, detail, headers=CLOSE)
    head = [f"HTTP/1.1 {status} {reason}".encode()]
    head += [name + b": " + value for name, value in response.raw_headers]
    return b"\r\n".join(head) + b"\r\n\r\n" + response.body
