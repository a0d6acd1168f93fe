"""Conditional writes: ``If-Match`` and ``If-None-Match`` on PUT and DELETE.

Either header must be ``*`` or a comma-separated list of entity tags in
double quotes (RFC 9110 section 8.8.3), else the request gets a 400 that
shows the value in quotes. RFC 9110 section 13.2.2 evaluates ``If-Match``
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

from models.quoted_ids import quoted
from service.etag import is_tag_list, quoted_tag_list, tag_listed
from service.list_headers import header_list

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
                    f"If-Match {self.if_match!r} requires an existing resource, "
                    "but there is none; leave If-Match out to create it",
                    etag,
                )
            if not tag_listed(self.if_match, etag, strong=True):
                raise _failed(
                    f"If-Match {self.if_match} does not match the current ETag "
                    f"{etag}; {FIX}",
                    etag,
                )
        if self.if_none_match is not None and etag is not None:
            if tag_listed(self.if_none_match, etag, strong=False):
                raise _failed(
                    f"If-None-Match {self.if_none_match} matches the resource, "
                    f"which exists with ETag {etag}; {FIX}",
                    etag,
                )


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
    conditions = Preconditions(
        header_list(request.headers, "if-match"),
        header_list(request.headers, "if-none-match"),
    )
    for name, value in (
        ("If-Match", conditions.if_match),
        ("If-None-Match", conditions.if_none_match),
    ):
        if value is not None and not is_tag_list(value):
            raise HTTPException(400, detail=invalid_tag_list_message(name, value))
    return conditions


def invalid_tag_list_message(name: str, value: str) -> str:
    """Explain the header ``name`` whose ``value`` is not ``*`` or a list of
    entity tags, showing the value in double quotes where that makes it
    valid."""
    fixed = quoted_tag_list(value)
    start = (
        f"{name} {quoted(value)} is not * or a list of entity tags, which are "
        "written in double quotes"
    )
    if fixed is None:
        return (
            f'{start}, as in {name}: "v1" or W/"v1"; send the ETag of the '
            f"resource, or {name}: *, or leave the header out"
        )
    weak = ""
    if "," not in fixed and not fixed.startswith("W/"):
        weak = f" (W/{fixed} for a weak tag)"
    return f"{start}; send {name}: {fixed}{weak} or {name}: *, or leave the header out"


PreconditionsDep = Annotated[Preconditions, Depends(read_preconditions)]


def _failed(detail: str, etag: str | None) -> HTTPException:
    headers = {"ETag": etag} if etag is not None else None
    return HTTPException(412, detail=detail, headers=headers)
