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
then gets 408 with problem details and ``Connection: close``, the
connection is closed, and logger ``service.request_heads`` logs one INFO
line with the client's address, the deadline and the bytes received. A
connection upgraded to WebSocket leaves the deadline, and its timer is
cancelled.

The rest of a request body that arrives after an early response (a 404 sent
before the body was read, say) is not timed as a head. The app no longer
reads it, so its body timeout does not apply either, and uvicorn would read
and drop it for as long as it arrives. The subclass closes the connection
when a part of it takes longer than ``RNN_FORECAST_BODY_TIMEOUT_SECONDS``,
or once more than ``RNN_FORECAST_MAX_REQUEST_BYTES`` of it have arrived,
and logs one INFO line on logger ``service.request_heads``. uvicorn's
keep-alive timer closes a connection that sends nothing after the response.

uvicorn rejects a request that its parser cannot read, such as one with two
different ``Content-Length`` values or an invalid chunk size, with a
plain-text 400 "Invalid HTTP request received.". The subclass sends that
400 as problem details with a fix and the parser's reason, as every other
error of the API is.

The subclass also limits each request head to ``RNN_FORECAST_MAX_HEAD_BYTES``
(``service/head_limits.py``) and sends 431, or 414 for a request line over
the limit, with problem details and ``Connection: close``. A chunk-size
line or trailer section of a chunked body over that limit gets 431 too.
It logs that on logger ``service.request_heads`` as it logs a timeout.

The 400, 431 or 414 of a pipelined request is sent after the responses
to the requests before it, as HTTP/1.1 requires, and the bytes that
arrive meanwhile are not read. So is the hand-off of a pipelined WebSocket
handshake to uvicorn's WebSocket protocol, whose response then follows
those responses. uvicorn itself sends its 400 and hands off a handshake at
once, which drops those responses when httptools parses the failed request
or the handshake in the same read as an earlier request.

NOTE: this relies on parts of both uvicorn 0.55 protocols that uvicorn does
not document. These are the attributes ``cycle`` (the request whose head
was parsed last, None before the first head is complete), its
``response_complete`` and ``more_body``, ``client``, and the httptools
protocol's ``pipeline`` queue of ``(cycle, app)`` pairs. They are the
method ``on_response_complete``, which uvicorn calls after each response
and which arms the keep-alive timer that ``_unset_keepalive_if_required``
cancels, and the method ``handle_websocket_upgrade``, which hands the
transport to the WebSocket protocol without calling ``connection_lost``
and, on httptools, reads the handshake from the protocol's ``scope`` and
``url``. uvicorn calls the method ``send_400_response`` inside the
``except`` block that caught the parser's exception. Both protocols drop
the body parts that arrive after the response to their request (the
httptools protocol in ``on_body``, the h11 protocol at each ``h11.Data``
event). The httptools
protocol's parser callbacks ``on_headers_complete``, ``on_body`` and
``on_message_complete`` are used too, and so are its ``parser``, its
``headers`` list (complete when ``on_headers_complete`` runs) and its
method ``_should_upgrade``, true for a WebSocket handshake that it hands
off. Its ``data_received`` is
called with parts of a read, which it feeds to the parser in order. The
h11 protocol's
``conn``, its ``h11.Connection``, is replaced right after the protocol's
``__init__``, and uvicorn calls its ``next_event`` for every event.
tests/service/test_request_heads.py,
tests/service/test_head_timer_handoff.py,
tests/service/test_head_limits.py and
tests/service/test_pipelined_heads.py fail if a uvicorn release changes
them.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import sys
from collections import deque
from collections.abc import Callable
from typing import Any

import h11
from uvicorn.protocols.http.auto import AutoHTTPProtocol
from uvicorn.protocols.http.h11_impl import H11Protocol

from models.limits import DEFAULT_LIMITS
from service.head_limits import (
    DEFAULT_MAX_HEAD_BYTES,
    H11HeadLimit,
    HeadTooLarge,
    ParserHeadLimit,
)
from service.head_responses import (
    TOO_LARGE,
    invalid_request_response,
    timeout_response,
    too_large_response,
)
from service.settings import DEFAULT_BODY_TIMEOUT_SECONDS

logger = logging.getLogger(__name__)

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
    timeout_seconds: float,
    base: type[asyncio.Protocol] = AutoHTTPProtocol,
    max_head_bytes: int = DEFAULT_MAX_HEAD_BYTES,
    body_timeout_seconds: float = DEFAULT_BODY_TIMEOUT_SECONDS,
    max_discarded_bytes: int = DEFAULT_LIMITS.max_request_bytes,
) -> type[asyncio.Protocol]:
    """Return the uvicorn HTTP protocol class ``base`` (the one uvicorn
    picks by default) with a deadline of ``timeout_seconds`` for each
    request head and a limit of ``max_head_bytes`` on its size. The rest of
    a request body that arrives after its response closes the connection
    when it pauses for longer than ``body_timeout_seconds`` or is over
    ``max_discarded_bytes``.

    ``base`` is uvicorn's h11 protocol or its httptools protocol, or a
    subclass of either. On h11 the state of the ``h11.Connection`` shows
    whether a request body is being read, and on httptools the parser
    callbacks record it.
    """
    limit = H11HeadLimit if issubclass(base, H11Protocol) else ParserHeadLimit
    return type(
        "HeadDeadlineProtocol",
        (limit, HeadDeadline, base),
        {
            "head_timeout": timeout_seconds,
            "max_head_bytes": max_head_bytes,
            "body_timeout": body_timeout_seconds,
            "max_discarded_bytes": max_discarded_bytes,
            "__doc__": HeadDeadline.__doc__,
        },
    )


class HeadDeadline(asyncio.Protocol):
    """uvicorn's HTTP protocol, which sends 408 and closes the connection
    when a request head takes longer than ``head_timeout`` seconds, and
    sends 431 or 414 when it is over ``max_head_bytes``. It closes the
    connection when the rest of a body after its response pauses for
    longer than ``body_timeout`` seconds or is over ``max_discarded_bytes``.

    A class that ``head_deadline_protocol`` builds puts this before
    uvicorn's protocol, whose attributes are declared below.
    """

    head_timeout: float
    max_head_bytes: int
    body_timeout: float
    max_discarded_bytes: int
    transport: asyncio.Transport
    client: tuple[str, int] | None
    cycle: Any

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._head_timer: asyncio.TimerHandle | None = None
        self._head_cycle: Any = None
        self._head_bytes = 0
        # true once the connection reads no more requests: its error
        # response or its WebSocket hand-off is done or waits
        self._finished = False
        # that response or hand-off while it waits for the responses before
        # it, and how many of those are still to complete
        self._pending: Callable[[], None] | None = None
        self._responses_before = 0
        # the timer, the request and the bytes dropped of a body that
        # arrives after its response
        self._discard_timer: asyncio.TimerHandle | None = None
        self._discard_cycle: Any = None
        self._discarded = 0
        super().connection_made(transport)
        self._start_head_timer()

    def data_received(self, data: bytes) -> None:
        if self._finished:
            return
        super().data_received(data)
        if self._discarding_body():
            self._count_discarded(len(data))
            return
        self._stop_discard_timer()
        if not self._waiting_for_head():
            self._stop_head_timer()
            return
        if self._head_timer is None or self._head_cycle is not self.cycle:
            # the first bytes of the next head after a response
            self._start_head_timer()
        # The segment that starts a deadline counts whole, so the count may
        # include the end of the previous request's body.
        self._head_bytes += len(data)

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop_head_timer()
        self._stop_discard_timer()
        super().connection_lost(exc)

    def handle_websocket_upgrade(self, *args: Any) -> None:
        # uvicorn hands the transport to its WebSocket protocol, which gets
        # connection_lost in place of this one
        hand_off = functools.partial(super().handle_websocket_upgrade, *args)  # type: ignore[misc]
        self._after_earlier_responses(hand_off)

    def send_400_response(self, msg: str) -> None:
        # uvicorn calls this while it handles its parser's exception, then
        # stops reading the connection
        error = sys.exc_info()[1]
        if isinstance(error, HeadTooLarge):
            self.reject_large_head(error.received, error.part)
            return
        reason = str(error) if isinstance(error, PARSER_ERRORS) else None
        self.send_closing_response(invalid_request_response(reason))

    def send_closing_response(self, response: bytes) -> None:
        """Write ``response`` and close the connection, right away or, when
        the request that failed is pipelined, once the responses to the
        requests before it are complete."""
        self._after_earlier_responses(functools.partial(self._close_with, response))

    def _close_with(self, response: bytes) -> None:
        self.transport.write(response)
        self.transport.close()

    def _after_earlier_responses(self, action: Callable[[], None]) -> None:
        """Stop reading requests, and run ``action`` once the responses to
        the requests before the current one are complete."""
        self._finished = True
        self._stop_head_timer()
        self._responses_before = self._count_earlier_responses()
        if self._responses_before:
            self._pending = action
        else:
            action()

    def on_response_complete(self) -> None:
        super().on_response_complete()  # type: ignore[misc]
        if self._pending is None:
            return
        self._responses_before -= 1
        if self._responses_before == 0 and not self.transport.is_closing():
            # the response armed uvicorn's keep-alive timer
            self._unset_keepalive_if_required()  # type: ignore[attr-defined]
            self._pending()

    def _count_earlier_responses(self) -> int:
        """Count the responses to send before the error response or the
        WebSocket hand-off of the current request. On httptools, drop a
        request that failed from uvicorn's queue of pipelined requests, so
        that it never runs."""
        # ``cycle`` is the request whose head was parsed last (a WebSocket
        # handshake has none), and uvicorn serves pipelined requests in
        # order: one runs, and ``pipeline`` (httptools only) contains those
        # that wait, the newest first. h11 parses a head only after the
        # response before it is complete.
        cycle = self.cycle
        if cycle is None or cycle.response_complete:
            return 0
        queued: deque[tuple[Any, Any]] = getattr(self, "pipeline", deque())
        if not cycle.more_body:
            # the error is in the next head, after the whole of ``cycle``
            return len(queued) + 1
        # The error is inside the body of ``cycle``, which cannot complete.
        # It is dropped when it waits, and else gets the error at once.
        if not queued or queued[0][0] is not cycle:
            return 0
        queued.popleft()
        return len(queued) + 1

    def _reading_body(self) -> bool:
        """True while the parser reads a request body."""
        raise NotImplementedError

    def _waiting_for_head(self) -> bool:
        """True while the connection reads requests and the next byte
        belongs to a request head."""
        if self._finished or self.transport.is_closing():
            return False
        # A response may complete before its request body has arrived,
        # such as a 404 sent without reading the body. The rest of that
        # body is no part of the next head.
        cycle = self.cycle
        if cycle is None:
            return True
        return bool(cycle.response_complete) and not self._reading_body()

    def _discarding_body(self) -> bool:
        """True while the parser reads the rest of a request body whose
        response is complete."""
        cycle = self.cycle
        if cycle is None or self._finished or self.transport.is_closing():
            return False
        return bool(cycle.response_complete) and self._reading_body()

    def _count_discarded(self, size: int) -> None:
        """Count ``size`` more bytes of a body after its response. Close the
        connection when they are over ``max_discarded_bytes``, else give the
        next part ``body_timeout`` seconds."""
        if self._discard_cycle is not self.cycle:
            self._discard_cycle = self.cycle
            self._discarded = 0
        self._discarded += size
        self._stop_discard_timer()
        if self._discarded > self.max_discarded_bytes:
            self._log_rejected(
                "request body from %s, arriving after its response, is over %d "
                "bytes; closed the connection after discarding %d bytes",
                (self.max_discarded_bytes, self._discarded),
                max_discarded_bytes=self.max_discarded_bytes,
                discarded_bytes=self._discarded,
            )
            self.transport.close()
            return
        self._discard_timer = asyncio.get_running_loop().call_later(
            self.body_timeout, self._discard_timed_out
        )

    def _discard_timed_out(self) -> None:
        self._discard_timer = None
        if self._discard_cycle is not self.cycle or not self._discarding_body():
            return
        self._log_rejected(
            "request body from %s, arriving after its response, timed out "
            "after %g s between parts; closed the connection after discarding "
            "%d bytes",
            (self.body_timeout, self._discarded),
            timeout_s=self.body_timeout,
            discarded_bytes=self._discarded,
        )
        self.transport.close()

    def _stop_discard_timer(self) -> None:
        if self._discard_timer is not None:
            self._discard_timer.cancel()
            self._discard_timer = None

    def _start_head_timer(self) -> None:
        self._stop_head_timer()
        self._head_cycle = self.cycle
        self._head_bytes = 0
        self._head_timer = asyncio.get_running_loop().call_later(
            self.head_timeout, self._head_timed_out
        )

    def _stop_head_timer(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_timed_out(self) -> None:
        self._head_timer = None
        if self._head_cycle is not self.cycle or not self._waiting_for_head():
            return
        self._log_rejected(
            "request head from %s timed out after %g s with %d bytes received",
            (self.head_timeout, self._head_bytes),
            status=408,
            timeout_s=self.head_timeout,
            received_bytes=self._head_bytes,
        )
        self._close_with(timeout_response(self.head_timeout))

    def reject_large_head(self, received: int, part: str) -> None:
        """Send 414 or 431 for ``part`` of a request (a key of
        ``TOO_LARGE`` in ``service/head_responses.py``) of ``received``
        bytes so far, over ``max_head_bytes``, log it, and close the
        connection without reading more."""
        status = TOO_LARGE[part].status
        self._log_rejected(
            part + " from %s rejected with %d: %d bytes received, above the "
            "limit of %d bytes",
            (status, received, self.max_head_bytes),
            status=status,
            max_head_bytes=self.max_head_bytes,
            received_bytes=received,
        )
        self.send_closing_response(too_large_response(part, self.max_head_bytes))

    def _log_rejected(self, message: str, args: tuple[Any, ...], **extra: Any) -> None:
        """Log one INFO line about a rejected head or body: ``message``
        takes the client's address, then ``args``, and ``extra`` adds log
        fields."""
        client = client_address(self.client)
        logger.info(message, client, *args, extra={"client": client, **extra})


def client_address(client: tuple[str, int] | None) -> str:
    """Return ``host:port`` of a connection's client, or "unknown" when the
    transport has no peer address (a Unix socket)."""
    if client is None:
        return "unknown"
    host, port = client
    return f"{host}:{port}"
