"""Rejection of requests that send ``Content-Type`` on several lines with
different values.

``Content-Type`` takes one media type (RFC 9110 section 8.3.1), so a request
that sends two different ones leaves open how to read its body. Starlette's
``Headers.get`` and the forecast fast path read the first line, which may
not be the one that a proxy in front of the server acted on.
``ContentTypeLinesMiddleware`` rejects such a request with 400 before the
app reads the body. Lines that name one media type pass even when their
bytes differ. RFC 2616 section 3.7 makes the type, the subtype and the
parameter names case-insensitive, and section 3.4 does so for charset
names. A parameter value may also be quoted or not, and spaces may
surround each semicolon.

``Content-Encoding`` needs no such check: it is a list, whose lines
``service.content_coding`` joins and reads in full.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Receive, Scope, Send

from service.errors import close_if_body, problem
from service.header_values import quoted_header

CONTENT_TYPE = b"content-type"
# one parameter of a media type: "; name=value", with optional spaces and
# tabs around the semicolon, and a token or a quoted string as the value
PARAMETER = re.compile(
    rb'[ \t]*;[ \t]*([^=;" \t]+)=("(?:[^"\\]|\\.)*"|[^;" \t]*)[ \t]*'
)
QUOTED_PAIR = re.compile(rb"\\(.)")
# a parsed media type: the type/subtype and the sorted (name, value) pairs
MediaType = tuple[bytes, tuple[tuple[bytes, bytes], ...]]


def differing_content_types(headers: Iterable[tuple[bytes, bytes]]) -> list[bytes]:
    """Return the values of every ``Content-Type`` line in the raw ASGI
    ``headers`` when two of them name different media types, else an empty
    list."""
    values = [value for name, value in headers if name == CONTENT_TYPE]
    return values if len({media_type(value) for value in values}) > 1 else []


def media_type(value: bytes) -> MediaType | bytes:
    """Parse the ``Content-Type`` value ``value`` into a form that is equal
    for two values of one media type, or return ``value`` unchanged when it
    is no valid media type, so that it equals only its own bytes."""
    essence = value.partition(b";")[0]
    parameters = []
    position = len(essence)
    while position < len(value):
        match = PARAMETER.match(value, position)
        if match is None:
            return value
        name, parameter_value = match.group(1).lower(), match.group(2)
        if parameter_value.startswith(b'"'):
            parameter_value = QUOTED_PAIR.sub(rb"\1", parameter_value[1:-1])
        if name == b"charset":
            parameter_value = parameter_value.lower()
        parameters.append((name, parameter_value))
        position = match.end()
    return essence.strip(b" \t").lower(), tuple(sorted(parameters))


def differing_lines_detail(values: list[bytes]) -> str:
    """Return the detail of the 400 for the ``Content-Type`` lines
    ``values``."""
    listed = ", ".join(quoted_header(value) for value in values)
    return (
        f"Content-Type is sent on {len(values)} lines with different values "
        f"({listed}), so the media type of the body is unclear; send one "
        "Content-Type line"
    )


class ContentTypeLinesMiddleware:
    """Middleware that rejects with 400 a request whose ``Content-Type``
    lines differ, before the app reads its body. The response to a request
    that declares a body closes the connection, because the body is never
    read."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        values = []
        if scope["type"] == "http":
            values = differing_content_types(scope["headers"])
        if not values:
            await self.app(scope, receive, send)
            return

        headers = close_if_body(Headers(scope=scope))
        response = problem(400, differing_lines_detail(values), headers=headers)
        await response(scope, receive, send)
