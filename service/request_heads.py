"""A deadline for the request head (request line and headers) of every
connection.

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

NOTE: this reads two attributes that both uvicorn 0.55 protocols set but do
not document: ``cycle``, the request being served (None before the first
head is complete), and its ``response_complete``.
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
            super().connection_made(transport)
            self._start_head_timer()

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
            cycle = self.cycle
            return cycle is None or bool(cycle.response_complete)

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
    response = problem(408, detail, headers=CLOSE)
    head = [b"HTTP/1.1 408 Request Timeout"]
    head += [name + b": " + value for name, value in response.raw_headers]
    return b"\r\n".join(head) + b"\r\n\r\n" + response.body
