"""A limit on the bytes of each request head (request line and header
lines), counted as they arrive on both of uvicorn's HTTP protocols.

uvicorn 0.55 with httptools accepts a head of any size: httptools keeps a
header line in memory until its end arrives, and uvicorn keeps the URL and
every header. Its h11 protocol stops an incomplete head at 16 KiB (h11's
``max_incomplete_event_size``), but a complete head that arrives in one
read passes whatever its size. ``ParserHeadLimit`` and ``H11HeadLimit``
count the bytes of the current head, from its first byte to the end of the
empty line that ends it, before the parser reads them. Body bytes never
count toward a head. A head over ``max_head_bytes`` is rejected by ``reject_large_head``
(``service/request_heads.py``) before the parser reads the bytes past the
limit.

The same limit applies to each chunk-size line and to the trailer section
of a chunked body, which ``ChunkedBodyEnd`` (``service/chunked_framing.py``)
counts. On h11 it reads each body from the first byte after its head, and
on httptools it also finds where the body ends.

httptools has no way to report where in a read a head or a message ends.
So ``ParserHeadLimit`` feeds it one part of a read at a time: a head up to
its empty line, then a body up to its last byte, and then the next head.
The body of a request that httptools ends at its head (``Connection:
upgrade`` for a protocol that uvicorn does not switch to) goes to an
``UpgradeBody`` (``service/upgrade_bodies.py``) in place of the parser.

NOTE: a chunked body whose framing ``ChunkedBodyEnd`` cannot follow (one
that the parser rejects, or one with a chunk-size line of more than 32
bytes before its extensions, leading zeros of the size not counted) is fed
whole. Its framing lines from that
line on are not limited. A head that follows it in the
same read is counted from the last empty line of that read, and a
complete head there is parsed before it is counted.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

import h11

from service.chunked_framing import BareLineFeed, ChunkedBodyEnd, FramingTooLarge

if TYPE_CHECKING:
    from service.upgrade_bodies import UpgradeBody

# the default of RNN_FORECAST_MAX_HEAD_BYTES, as nginx allows in total with
# its default large_client_header_buffers (4 buffers of 8 KiB)
DEFAULT_MAX_HEAD_BYTES = 32_768
# the smallest and largest RNN_FORECAST_MAX_HEAD_BYTES: below 1 KiB a
# browser's usual headers may not fit, and above 1 MiB a thousand
# connections could hold more than a gigabyte of heads
MAX_HEAD_BYTES_RANGE = (1024, 1_048_576)

# the end of a request head, an empty line; h11 accepts a bare LF too
HEAD_END = re.compile(rb"\n\r?\n")


class HeadTooLarge(h11.RemoteProtocolError):
    """A request head, or a framing line of its chunked body, over the
    limit, raised inside h11's ``next_event`` so that uvicorn passes it to
    ``send_400_response``. ``received`` is the bytes received of it, and
    ``part`` the key of ``TOO_LARGE`` (``service/head_responses.py``) that
    names it."""

    def __init__(self, received: int, part: str) -> None:
        super().__init__(f"{part} over the limit")
        self.received = received
        self.part = part


def head_part(head: bytes | bytearray, max_head_bytes: int) -> str:
    """Return the part of a request head over ``max_head_bytes`` that is
    rejected: "request line" when the request line at the start of
    ``head`` does not end (with its LF) within the limit, else "request
    head"."""
    if head.find(b"\n", 0, max_head_bytes) == -1:
        return "request line"
    return "request head"


def framing_part(error: FramingTooLarge) -> str:
    """Return the part of a chunked body that ``error`` rejects."""
    return "trailer section" if error.trailers else "chunk-size line"


class HeadLimitedConnection(h11.Connection):
    """An ``h11.Connection`` that raises ``HeadTooLarge`` when the request
    head in its receive buffer is over ``max_head_bytes``, or a chunk-size
    line or the trailer section of a chunked request body. It raises
    ``h11.RemoteProtocolError`` for a chunk-size line that ends with a bare
    LF, as llhttp does.

    While the client is IDLE, the buffer contains only the unread request
    head and what follows it, because h11 removes each event it parses.
    While it sends a chunked body, the buffer starts at the first byte of
    that body that h11 has not parsed, and ``_framed`` counts the bytes of
    the buffer that ``_chunked_end`` has read.
    """

    def __init__(self, max_head_bytes: int) -> None:
        # h11 then rejects no incomplete head before this class does
        super().__init__(h11.SERVER, max_incomplete_event_size=max_head_bytes)
        self.max_head_bytes = max_head_bytes
        self._chunked_end: ChunkedBodyEnd | None = None
        self._framed = 0

    def next_event(self) -> Any:
        # NOTE: _receive_buffer and its bytearray _data are h11 0.16
        # internals; tests/service/test_head_limits.py fails if they change
        buffered = self._receive_buffer._data
        if self.their_state is h11.IDLE:
            self._check_head(buffered)
        elif self._chunked_end is not None:
            self._check_framing(self._chunked_end, buffered)
        size = len(buffered)
        event = super().next_event()
        self._framed -= size - len(self._receive_buffer)
        if isinstance(event, h11.Request):
            self._chunked_end = None
            if is_chunked(event):
                self._chunked_end = ChunkedBodyEnd(self.max_head_bytes)
            self._framed = 0
        return event

    def _check_head(self, buffered: bytearray) -> None:
        limit = self.max_head_bytes
        end = HEAD_END.search(buffered, 0, limit + 3)
        head_bytes = end.end() if end is not None else len(buffered)
        if head_bytes > limit:
            raise HeadTooLarge(head_bytes, head_part(buffered, limit))

    def _check_framing(self, chunked_end: ChunkedBodyEnd, buffered: bytearray) -> None:
        try:
            end = chunked_end.find_end(bytes(buffered[self._framed :]))
        except FramingTooLarge as error:
            raise HeadTooLarge(error.received, framing_part(error)) from None
        except BareLineFeed as error:
            # h11 would wait for a CRLF until the body timeout
            raise h11.RemoteProtocolError(str(error)) from None
        if end is None:
            self._framed = len(buffered)
        else:
            self._chunked_end = None


def is_chunked(request: h11.Request) -> bool:
    """Return whether ``request`` has a chunked body; h11 accepts no other
    transfer coding."""
    return any(name == b"transfer-encoding" for name, _ in request.headers)


class H11HeadLimit:
    """The head limit of uvicorn's h11 protocol, which swaps in a
    ``HeadLimitedConnection`` before the first byte arrives. The state of
    that connection shows whether a request body is being read."""

    max_head_bytes: int
    conn: h11.Connection

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.conn = HeadLimitedConnection(self.max_head_bytes)

    def _reading_body(self) -> bool:
        return self.conn.their_state is h11.SEND_BODY


class ParserHeadLimit:
    """The head limit of uvicorn's httptools protocol, which counts the
    bytes of each head before it feeds them to the parser. The parser
    callbacks record whether the next byte belongs to a body."""

    max_head_bytes: int
    transport: Any
    headers: list[tuple[bytes, bytes]]
    _finished: bool

    parser: Any
    _parsing_body = False
    # the body of a request that the parser ended at its head
    _upgrade_body: UpgradeBody | None = None
    # body bytes still to come, or None for a chunked body
    _body_left: int | None = 0
    # the end of the current request's body when it is chunked
    _chunked_end: ChunkedBodyEnd
    _head_size = 0
    # the last bytes of the head so far, to find an empty line split by a read
    _head_tail = b""
    _line_ended = False

    def on_headers_complete(self) -> None:
        self._parsing_body = True
        self._body_left = content_length(self.headers)
        self._start_head()
        super().on_headers_complete()  # type: ignore[misc]

    def on_message_complete(self) -> None:
        if self._body_skipped():
            # imports httptools, which this protocol runs on
            from service.upgrade_bodies import UpgradeBody

            self._upgrade_body = UpgradeBody(self, self._body_left)
            return
        self._upgrade_body = None
        self._parsing_body = False
        super().on_message_complete()  # type: ignore[misc]

    def _body_skipped(self) -> bool:
        """True when the parser ends a request that has a body at its head,
        as llhttp does with ``Connection: upgrade``, and uvicorn does not
        switch to the protocol named in ``Upgrade``."""
        return (
            self._upgrade_body is None
            and self._parsing_body
            and self._body_left != 0
            and self.parser.should_upgrade()
            and not self._should_upgrade()  # type: ignore[attr-defined]
        )

    def _reading_body(self) -> bool:
        return self._parsing_body

    def data_received(self, data: bytes) -> None:
        while data and not (self._finished or self.transport.is_closing()):
            size = self._next_part(data)
            if size is None:
                return
            part, data = data[:size], data[size:]
            chunked = self._parsing_body and self._body_left is None
            if self._upgrade_body is None:
                super().data_received(part)  # type: ignore[misc]
            else:
                self._upgrade_body.feed(part)
            if chunked and not self._parsing_body:
                self._count_after_chunked_body(part)

    def _next_part(self, data: bytes) -> int | None:
        """Return how many bytes of ``data`` to feed next, or None when the
        head is over the limit and the connection has been rejected."""
        if not self._parsing_body:
            return self._count_head(data)
        if self._body_left is None:
            try:
                end = self._chunked_end.find_end(data)
            except FramingTooLarge as error:
                self.reject_large_head(error.received, framing_part(error))  # type: ignore[attr-defined]
                return None
            except BareLineFeed:
                # llhttp rejects the line with its own reason
                return len(data)
            return len(data) if end is None else end
        if self._body_left == 0:
            return len(data)
        size = min(self._body_left, len(data))
        self._body_left -= size
        return size

    def _count_head(self, data: bytes) -> int | None:
        """Count the bytes of ``data`` up to the end of the head, and return
        that count, or None when the head is over the limit."""
        limit = self.max_head_bytes
        searched = self._head_tail + data
        end = HEAD_END.search(searched)
        size = len(data) if end is None else end.end() - len(self._head_tail)
        if not self._line_ended:
            room = max(0, limit - self._head_size)
            self._line_ended = data.find(b"\n", 0, room) != -1
        if self._head_size + size > limit:
            part = "request head" if self._line_ended else "request line"
            self.reject_large_head(self._head_size + size, part)  # type: ignore[attr-defined]
            return None
        self._head_size += size
        self._head_tail = searched[-3:] if end is None else b""
        return size

    def _start_head(self) -> None:
        self._chunked_end = ChunkedBodyEnd(self.max_head_bytes)
        self._head_size = 0
        self._head_tail = b""
        self._line_ended = False

    def _count_after_chunked_body(self, part: bytes) -> None:
        # A chunked body ends with an empty line, so a head that follows it
        # in ``part`` starts after the last empty line of ``part``.
        self._start_head()
        ends = list(HEAD_END.finditer(part))
        rest = part[ends[-1].end() :] if ends else part
        if rest:
            self._count_head(rest)


def content_length(headers: list[tuple[bytes, bytes]]) -> int | None:
    """Return the body size of a request with ``headers`` (lowercase names),
    which httptools has validated: None for a chunked body, else its
    ``Content-Length`` or 0."""
    length = 0
    for name, value in headers:
        if name == b"transfer-encoding":
            return None
        if name == b"content-length":
            length = int(value)
    return length
