"""Encoded slashes in a request path stay inside their path segment.

uvicorn percent-decodes the request target into ``scope["path"]``, so the
``%2F`` of ``PUT /v1/models/nflx/aliases/..%2F`` becomes a ``/`` that the
router reads as a segment separator. That path would match no route, and
its 404 would name ``/v1/models/nflx/aliases/..`` as the path to send
(``service.trailing_slashes``). RFC 3986 section 2.2 makes ``%2F`` data, not
a separator. ``keep_encoded_slashes`` therefore writes each decoded slash
back as ``%2F``, so the router matches the route that the client's segments
name. The value of the path parameter then contains ``%2F``, which breaks
the pattern of every parameter (``name``, ``alias``, ``version``,
``series_id`` and ``job_id``), and the route rejects it as any other
invalid value.
"""

from __future__ import annotations

from urllib.parse import unquote

from starlette.types import Scope

ENCODED_SLASH = b"%2f"


def keep_encoded_slashes(scope: Scope) -> None:
    """Rewrite ``scope["path"]`` with ``%2F`` for every slash that the
    client sent percent-encoded in ``scope["raw_path"]``.

    The path is left as it is when the raw path has no encoded slash, or
    when decoding the raw path does not give ``scope["path"]``, as behind a
    server that builds the two differently.
    """
    raw = scope.get("raw_path")
    if not raw or ENCODED_SLASH not in raw.lower():
        return
    try:
        segments = [unquote(segment) for segment in raw.decode("ascii").split("/")]
    except UnicodeDecodeError:
        return
    if "/".join(segments) != scope["path"]:
        return
    scope["path"] = "/".join(segment.replace("/", "%2F") for segment in segments)
