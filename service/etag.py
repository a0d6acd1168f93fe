"""Entity tags for cheap polling: ``ETag`` on responses and ``304 Not
Modified`` for a matching ``If-None-Match``."""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any

from fastapi import Request, Response
from fastapi.encoders import jsonable_encoder

# An entity tag: an optional weak prefix and an opaque quoted string, whose
# characters are 0x21, 0x23-0x7E and obs-text 0x80-0xFF (RFC 9110 section 8.8.3)
ENTITY_TAG = re.compile(r'(W/)?"[\x21\x23-\x7e\x80-\xff]*"')

# the OpenAPI ETag header of a response that always carries one
ETAG_HEADERS: dict[str, dict[str, Any]] = {
    "ETag": {
        "description": "Entity tag of the resource, for If-None-Match and If-Match",
        "required": True,
        "schema": {"type": "string"},
    }
}


def tagged(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """Return OpenAPI responses that declare the ``ETag`` header on each
    status in ``statuses``, for a route's ``responses=``."""
    return {status: {"headers": ETAG_HEADERS} for status in statuses}


# the OpenAPI responses of a GET route that sends an ETag with its 200 and
# returns 304 for a matching If-None-Match
NOT_MODIFIED: dict[int | str, dict[str, Any]] = {
    **tagged(200),
    304: {
        "description": "Not modified since the ETag in If-None-Match",
        "headers": ETAG_HEADERS,
    },
}


def content_etag(body: bytes) -> str:
    """Compute a strong ETag from the response bytes."""
    return '"' + hashlib.sha256(body).hexdigest()[:32] + '"'


def matches(request: Request, etag: str) -> bool:
    """Return True when ``If-None-Match`` lists ``etag`` or is ``*``.

    Weak tags (``W/"..."``) compare by their opaque part, because HTTP
    defines weak comparison for this header.
    """
    header = request.headers.get("if-none-match")
    if header is None:
        return False
    return tag_listed(header, etag, strong=False)


def is_tag_list(header: str) -> bool:
    """Return True when ``header`` is ``*`` or a comma-separated list of
    entity tags such as ``"version-3", W/"a"`` (RFC 9110 section 8.8.3).

    Empty list elements are skipped, as the list syntax of RFC 9110 section
    5.6.1 requires, but an empty or blank header is no list.
    """
    if header.strip() == "*":
        return True
    elements = [part.strip() for part in header.split(",") if part.strip()]
    return bool(elements) and all(ENTITY_TAG.fullmatch(part) for part in elements)


def quoted_tag_list(header: str) -> str | None:
    """Return ``header`` with each list element that is no entity tag put in
    double quotes, such as ``"abc", W/"def"`` for ``abc, W/def``, or None
    when an element stays invalid in quotes, such as one with a space.
    Quotes that an element already has at either end are kept once."""
    elements = [part.strip() for part in header.split(",") if part.strip()]
    fixed: list[str] = []
    for element in elements:
        tag = element
        if not ENTITY_TAG.fullmatch(element):
            weak = "W/" if element.startswith("W/") else ""
            opaque = element.removeprefix(weak).strip('"')
            tag = f'{weak}"{opaque}"'
        if not ENTITY_TAG.fullmatch(tag):
            return None
        fixed.append(tag)
    return ", ".join(fixed) or None


def tag_listed(header: str, etag: str, *, strong: bool) -> bool:
    """Return True when ``header``, an If-Match or If-None-Match value, is
    ``*`` or lists ``etag``.

    Strong comparison (If-Match) matches only identical tags that are not
    weak. Weak comparison (If-None-Match) compares the opaque parts.
    """
    if header.strip() == "*":
        return True
    listed = [part.strip() for part in header.split(",")]
    if strong:
        return not etag.startswith("W/") and etag in listed
    wanted = etag.removeprefix("W/")
    return any(part.removeprefix("W/") == wanted for part in listed)


def json_body(content: Any) -> bytes:
    """Encode ``content`` as the compact JSON that ``json_with_etag`` sends."""
    return json.dumps(
        jsonable_encoder(content), separators=(",", ":"), allow_nan=False
    ).encode()


def json_with_etag(
    request: Request,
    content: Any,
    *,
    etag: str | None = None,
    status_code: int = 200,
    headers: dict[str, str] | None = None,
) -> Response:
    """Build a JSON response with an ``ETag``, or an empty 304 when the
    client's copy is current; ``etag`` defaults to a hash of the body."""
    body = json_body(content)
    tag = etag or content_etag(body)
    all_headers = {**(headers or {}), "ETag": tag}
    if (
        status_code == 200
        and request.method in ("GET", "HEAD")
        and matches(request, tag)
    ):
        return Response(status_code=304, headers=all_headers)
    return Response(
        body,
        status_code=status_code,
        media_type="application/json",
        headers=all_headers,
    )
