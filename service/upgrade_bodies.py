"""The body of a request with ``Connection: upgrade`` for a protocol that
the server does not switch to, on uvicorn's httptools protocol.

llhttp, the parser inside httptools, ends such a request at its head and
leaves the bytes after it to the new protocol. uvicorn 0.55 then hands the
app an empty body, and parses the body as the next request. RFC 9110
(section 7.8) lets a server ignore ``Upgrade``, and uvicorn's h11 protocol
serves such a request as plain HTTP with its body. ``UpgradeBody`` does the
same on httptools: a second parser reads the body, framed as the request's
head declares, and passes it to the protocol's parser callbacks.
"""

from __future__ import annotations

from typing import Any

import httptools


class UpgradeBody:
    """A parser of one request body of ``body_left`` bytes, or chunked when
    ``body_left`` is None, which calls ``protocol.on_body`` with its data
    and ``protocol.on_message_complete`` at its end."""

    def __init__(self, protocol: Any, body_left: int | None) -> None:
        self._protocol = protocol
        self._parser = httptools.HttpRequestParser(self)
        if body_left is None:
            framing = b"Transfer-Encoding: chunked"
        else:
            framing = b"Content-Length: %d" % body_left
        self._parser.feed_data(b"POST / HTTP/1.1\r\n" + framing + b"\r\n\r\n")

    def feed(self, data: bytes) -> None:
        """Parse the next bytes ``data`` of the body, and have the protocol
        send its 400 when they are not valid."""
        # as uvicorn's data_received does before it feeds its parser
        self._protocol._unset_keepalive_if_required()
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserError:
            self._protocol.send_400_response("Invalid HTTP request received.")

    def on_body(self, body: bytes) -> None:
        self._protocol.on_body(body)

    def on_message_complete(self) -> None:
        self._protocol.on_message_complete()
