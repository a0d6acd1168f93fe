"""Rejection of requests that send ``Content-Type`` on several lines with
different values.

``Content-Type`` takes one media type (RFC 9110 section 8.3.1), so a request
that sends two different ones leaves open how to read its body. Starlette's
``Headers.get`` and the forecast fast path read the first line, which may
not be the one that a proxy in front of the server acted on.
``ContentTypeLinesMiddleware`` rejects such a request with 400 before the
app reads the body. Lines with equal bytes leave no doubt and pass.

``Content-Encoding`` needs no such check: it is a list, whose lines
``service.content_coding`` joins and reads in full.
"""

from __future__ import annotations

from collections.abc import Iterable

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Receive, Scope, Send

from service.errors import close_if_body, problem
from service.header_values import quoted_header

CONTENT_TYPE = b"content-type"


def differing_content_types(headers: Iterable[tuple[bytes, bytes]]) -> list[bytes]:
    """Return the values of every ``Content-Type`` line in the raw ASGI
    ``headers`` when two of them differ, else an empty list."""
    values = [value for name, value in headers if name == CONTENT_TYPE]
    return values if len(set(values)) > 1 else []


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
