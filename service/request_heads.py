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
400 as problem details with a fix and the parser's reason, as every other
error of the API is.

NOTE: this relies on parts of both uvicorn 0.55 protocols that uvicorn does
not document: the attribute ``cycle``, the request being served (None
before the first head is complete), its ``response_complete``, and the
method ``send_400_response``, which uvicorn calls inside the ``except``
block that caught the parser's exception. It also relies on the httptools protocol's
parser callbacks ``on_message_begin``, ``on_headers_complete`` and
``on_message_complete``. tests/service/test_request_heads.py fails if a
uvicorn release changes them.
"""

from __future__ import annotations

import asyncio
import sys
from typing import Any

import h11
from uvicorn.protocols.http.auto import AutoHTTPProtocol

from service.head_responses import invalid_request_response, timeout_response

# the exceptions that uvicorn's HTTP parsers raise for a request that is not
# valid HTTP
PARSER_ERRORS: tuple[type[Exception], ...] = (h11.RemoteProtocolError,)
try:
    from httptools import HttpParserError
except ImportError:  # uvicorn then parses with h11
    pass
else:
    PARSER_ERRORS += (HttpParserError,)


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
            # uvicorn calls this while it handles its parser's exception,
            # then stops reading the connection
            error = sys.exc_info()[1]
            reason = str(error) if isinstance(error, PARSER_ERRORS) else None
            self.transport.write(invalid_request_response(reason))
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
