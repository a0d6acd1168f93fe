"""Conditional writes: ``If-Match`` and ``If-None-Match`` on PUT and DELETE.

Either header must be ``*`` or a comma-separated list of entity tags in
double quotes (RFC 9110 section 8.8.3), else the request gets a 400 that
shows the value in quotes. ``PreconditionSyntaxMiddleware`` makes that
check before the body is read. RFC 9110 section 13.2.2 evaluates ``If-Match``
first: it fails when the resource does not exist or when no listed tag
equals its ETag in a strong comparison (``*`` matches any existing
resource). ``If-None-Match`` then fails when the resource exists and the
header is ``*`` or lists its ETag in a weak comparison. A failed
precondition is a 412 response that carries the resource's current ETag,
and the write does not happen.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Header, HTTPException, Request
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Receive, Scope, Send

from service.errors import close_if_body, problem
from service.etag import is_tag_list, quoted_tag_list, tag_listed
from service.header_values import header_text, quoted_header
from service.list_headers import header_list
from service.operations import Operations

FIX = "GET the resource for its current ETag, or leave the header out"


@dataclass(frozen=True)
class Preconditions:
    """The ``If-Match`` and ``If-None-Match`` headers of a request."""

    if_match: str | None
    if_none_match: str | None

    def check(self, etag: str | None) -> None:
        """Raise ``HTTPException`` (412) unless the preconditions hold for a
        resource whose current ETag is ``etag`` (None when it does not
        exist)."""
        if self.if_match is not None:
            if etag is None:
                raise _failed(
                    f"If-Match {quoted_header(self.if_match)} requires an "
                    "existing resource, but there is none; leave If-Match out "
                    "to create it",
                    etag,
                )
            if not tag_listed(self.if_match, etag, strong=True):
                raise _failed(_mismatch_message(self.if_match, etag), etag)
        if self.if_none_match is not None and etag is not None:
            if tag_listed(self.if_none_match, etag, strong=False):
                raise _failed(
                    f"If-None-Match {header_text(self.if_none_match)} matches "
                    f"the resource, which exists with ETag {etag}; {FIX}",
                    etag,
                )


def _mismatch_message(if_match: str, etag: str) -> str:
    """Explain why ``if_match`` does not match the current ETag ``etag``.

    A client that copies a strong ETag with ``W/`` in front gets the tag to
    send, because a weak tag never matches in If-Match's strong comparison,
    whatever its opaque part.
    """
    header = header_text(if_match)
    if not etag.startswith("W/") and tag_listed(if_match, etag, strong=False):
        return (
            f"If-Match {header} lists the current ETag {etag} only as a weak "
            "tag, but If-Match compares entity tags strongly, so a weak tag "
            f"never matches; send If-Match: {etag}, or leave the header out"
        )
    return f"If-Match {header} does not match the current ETag {etag}; {FIX}"


async def read_preconditions(
    request: Request,
    if_match: Annotated[
        str | None,
        Header(
            description="Apply the change only if the resource's current ETag "
            "is one of these, or it exists at all for '*'; else 412"
        ),
    ] = None,
    if_none_match: Annotated[
        str | None,
        Header(
            description="'*' applies the change only if the resource does not "
            "exist yet; else 412"
        ),
    ] = None,
) -> Preconditions:
    """Read both headers; raise ``HTTPException`` (400) for one that is not
    ``*`` or a list of entity tags. The parameters declare them in the
    OpenAPI document, but hold only the first line of each, so every line
    is read from ``request``."""
    invalid = invalid_precondition(request.headers)
    if invalid is not None:
        raise HTTPException(400, detail=invalid)
    return Preconditions(
        header_list(request.headers, "if-match"),
        header_list(request.headers, "if-none-match"),
    )


def invalid_precondition(headers: Headers) -> str | None:
    """Return the message for the first of ``If-Match`` and ``If-None-Match``
    in ``headers`` that is not ``*`` or a list of entity tags, or None when
    both are valid or absent. Every line of each header is read."""
    for name in ("If-Match", "If-None-Match"):
        value = header_list(headers, name.lower())
        if value is not None and not is_tag_list(value):
            return invalid_tag_list_message(name, value)
    return None


def invalid_tag_list_message(name: str, value: str) -> str:
    """Explain the header ``name`` whose ``value`` is not ``*`` or a list of
    entity tags, showing the value in double quotes where that makes it
    valid."""
    fixed = quoted_tag_list(value)
    start = (
        f"{name} {quoted_header(value)} is not * or a list of entity tags, "
        "which are written in double quotes"
    )
    if fixed is None:
        return (
            f'{start}, as in {name}: "v1" or W/"v1"; send the ETag of the '
            f"resource, or {name}: *, or leave the header out"
        )
    weak = ""
    if "," not in fixed and not fixed.startswith("W/"):
        weak = f" (W/{header_text(fixed)} for a weak tag)"
    return (
        f"{start}; send {name}: {header_text(fixed)}{weak} or {name}: *, or "
        "leave the header out"
    )


PreconditionsDep = Annotated[Preconditions, Depends(read_preconditions)]


class PreconditionSyntaxMiddleware:
    """Middleware that rejects with 400 a malformed ``If-Match`` or
    ``If-None-Match`` of an operation that reads them, before the body is
    read.

    FastAPI parses a JSON body before it runs the route's dependencies, so
    without this check a body that is not valid JSON would get its 422
    first, and a body above its limit its 413. A response to a request that
    declares a body closes the connection, because the body is never read.
    """

    def __init__(self, app: ASGIApp, operations: Operations) -> None:
        self.app = app
        self.operations = operations

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        operation = self.operations.find(scope)
        if operation is not None and operation.takes_preconditions:
            headers = Headers(scope=scope)
            invalid = invalid_precondition(headers)
            if invalid is not None:
                response = problem(400, invalid, headers=close_if_body(headers))
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)


def _failed(detail: str, etag: str | None) -> HTTPException:
    headers = {"ETag": etag} if etag is not None else None
    return HTTPException(412, detail=detail, headers=headers)
