"""Content negotiation on the ``Accept`` request header (RFC 9110 section
12.5.1).

``AcceptMiddleware`` rejects a request with a 406 problem response, before
the route runs or the body is read, when ``Accept`` rules out every media
type of the operation's success responses (``service.operations``). The
rules:

- a missing header, an empty one, or one without a single valid media
  range accepts any media type;
- a media type's quality is the ``q`` of the most specific range that
  matches it (``type/subtype`` before ``type/*`` before ``*/*``), the
  highest ``q`` among equally specific ones, and 0 when none matches;
  parameters other than ``q`` are not compared, so ``text/plain;
  version=0.0.4`` matches the metrics' ``text/plain``;
- a media range that is not ``type/subtype`` of tokens, or whose ``q`` is
  not a number from 0 to 1 with at most three decimals, is skipped;
- ``application/problem+json`` in a header that does not name
  ``application/json`` counts as ``application/json``, because a client that
  reads problem details reads JSON.

Error responses are problem+json whatever the header lists, which RFC 9110
allows, so a client always learns why a request failed.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable
from typing import NamedTuple

from starlette.datastructures import Headers
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from service.errors import PROBLEM_MEDIA_TYPE, close_if_body, problem
from service.header_values import quoted_header
from service.operations import Operations

JSON_MEDIA_TYPE = "application/json"
# RFC 9110 section 5.6.2: the characters of a token
TOKEN = r"[!#$%&'*+.^_`|~0-9a-z-]+"
MEDIA_RANGE = re.compile(rf"(?P<type>{TOKEN})/(?P<subtype>{TOKEN})")
# RFC 9110 section 12.4.2: 0 to 1 with at most three decimals
QVALUE = re.compile(r"0(\.[0-9]{0,3})?|1(\.0{0,3})?")
# the commonest Accept values of forecast requests, which the fast path
# accepts without parsing
PLAIN_JSON_ACCEPTS = frozenset({b"*/*", b"application/json"})
ACCEPT_CACHE_SIZE = 256
ACCEPT_SHOWN_CHARS = 200


class MediaRange(NamedTuple):
    """One element of an ``Accept`` header: a lower-case type and subtype,
    either of which may be ``*``, and its quality from 0 to 1."""

    type: str
    subtype: str
    quality: float

    def specificity(self, media_type: str) -> int:
        """Return how closely the range names ``media_type`` (lower case):
        2 for ``type/subtype``, 1 for ``type/*``, 0 for ``*/*``, and -1
        when it does not match."""
        main, _, sub = media_type.partition("/")
        if self.type == "*":
            return 0
        if self.type != main:
            return -1
        if self.subtype == "*":
            return 1
        return 2 if self.subtype == sub else -1


def parse_accept(value: str) -> list[MediaRange]:
    """Parse an ``Accept`` header value into its valid media ranges."""
    ranges = []
    for element in value.split(","):
        media_range, *parameters = element.split(";")
        found = MEDIA_RANGE.fullmatch(media_range.strip().lower())
        if found is None or (found["type"] == "*" and found["subtype"] != "*"):
            continue
        quality = _quality(parameters)
        if quality is not None:
            ranges.append(MediaRange(found["type"], found["subtype"], quality))
    return ranges


def _quality(parameters: list[str]) -> float | None:
    """Return the ``q`` of a media range's parameters, 1 when it has none,
    or None when it is invalid."""
    for parameter in parameters:
        name, _, value = parameter.partition("=")
        if name.strip().lower() == "q":
            value = value.strip()
            return float(value) if QVALUE.fullmatch(value) else None
    return 1.0


def quality(ranges: Iterable[MediaRange], media_type: str) -> float:
    """Return the quality that ``ranges`` give ``media_type``: the ``q`` of
    the most specific range that matches it, or 0 when none does."""
    media_type = media_type.partition(";")[0].strip().lower()
    best_specificity, best_quality = -1, 0.0
    for media_range in ranges:
        specificity = media_range.specificity(media_type)
        if specificity > best_specificity:
            best_specificity, best_quality = specificity, media_range.quality
        elif specificity == best_specificity and specificity >= 0:
            best_quality = max(best_quality, media_range.quality)
    return best_quality


def acceptable(accept: str | None, media_types: Iterable[str]) -> bool:
    """Return whether the ``Accept`` value ``accept`` allows at least one of
    ``media_types``."""
    ranges = parse_accept(accept or "")
    if not ranges:
        return True
    names = {(r.type, r.subtype) for r in ranges}
    for media_type in media_types:
        if quality(ranges, media_type) > 0:
            return True
        if media_type == JSON_MEDIA_TYPE and ("application", "json") not in names:
            if quality(ranges, PROBLEM_MEDIA_TYPE) > 0:
                return True
    return False


def accepts_json(accept: bytes | None) -> bool:
    """Return whether a raw ``Accept`` value allows ``application/json``.

    The commonest values skip the parser, and the results for the last
    ``ACCEPT_CACHE_SIZE`` other values are cached, because a client sends
    the same header on every request.
    """
    if accept is None or accept in PLAIN_JSON_ACCEPTS:
        return True
    return _accepts_json_value(accept)


@functools.lru_cache(maxsize=ACCEPT_CACHE_SIZE)
def _accepts_json_value(accept: bytes) -> bool:
    return acceptable(accept.decode("latin-1"), (JSON_MEDIA_TYPE,))


def not_acceptable(
    accept: str, media_types: tuple[str, ...], headers: dict[str, str] | None = None
) -> Response:
    """Build the 406 problem response for ``accept``, naming the media types
    that the operation sends."""
    sent = ", ".join(media_types)
    detail = (
        f"Accept {quoted_header(accept, ACCEPT_SHOWN_CHARS)} allows none of the "
        f"media types this endpoint sends ({sent}); accept {media_types[0]} "
        "or */*, or leave the Accept header out"
    )
    return problem(406, detail, headers=headers)


class AcceptMiddleware:
    """Middleware that rejects with 406 a request whose ``Accept`` header
    rules out every media type of its operation's success responses, before
    the route runs."""

    def __init__(self, app: ASGIApp, operations: Operations) -> None:
        self.app = app
        self.operations = operations

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        operation = self.operations.find(scope)
        if operation is not None and operation.media_types:
            headers = Headers(scope=scope)
            accept = ", ".join(headers.getlist("accept"))
            if not acceptable(accept, operation.media_types):
                response = not_acceptable(
                    accept, operation.media_types, close_if_body(headers)
                )
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)
