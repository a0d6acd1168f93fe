"""Rejection of request bodies sent with a content coding, such as gzip.

The API reads every body as it arrives and decodes no content coding, so a
request body whose ``Content-Encoding`` names any coding other than
``identity`` gets 415 with ``Accept-Encoding: identity`` before the app
reads it. Repeated ``Content-Encoding`` lines form one list, so a first
line ``identity`` does not hide a second line ``gzip``.
"""

from __future__ import annotations

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Receive, Scope, Send

from service.errors import problem
from service.links import route_path
from service.list_headers import header_list, list_members

# the headers of a 415 for a compressed body: only the identity coding is read
IDENTITY_ONLY = {"Accept-Encoding": "identity"}


def unsupported_codings(headers: Headers) -> str | None:
    """Return the content codings of a request other than ``identity``,
    joined by commas in the order sent, such as ``gzip``, or None when
    there are none."""
    value = header_list(headers, "content-encoding")
    if value is None:
        return None
    codings = [coding.lower() for coding in list_members(value)]
    others = [coding for coding in codings if coding != "identity"]
    return ", ".join(others) or None


def coding_detail(codings: str, content: str) -> str:
    """Return the detail of a 415 for a ``content`` body (``JSON`` or
    ``CSV``) sent with ``codings``."""
    return (
        f"Content-Encoding {codings!r} is not supported; send the {content} "
        "uncompressed, without a Content-Encoding header"
    )


def _has_body(headers: Headers) -> bool:
    """Return True when the request declares a body: a chunked one, or a
    ``Content-Length`` other than 0."""
    length = headers.get("content-length")
    if "transfer-encoding" in headers:
        return True
    return length is not None and length.strip() != "0"


class ContentCodingMiddleware:
    """Reject a request body sent with a content coding other than
    ``identity`` with 415, before the app reads it.

    Requests without a body pass whatever their ``Content-Encoding``.
    ``csv_paths`` are the paths that take a CSV body (series uploads), which
    the detail names instead of JSON.
    """

    def __init__(self, app: ASGIApp, csv_paths: tuple[str, ...] = ()) -> None:
        self.app = app
        self.csv_paths = frozenset(csv_paths)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        headers = Headers(scope=scope)
        codings = unsupported_codings(headers)
        if codings is None or not _has_body(headers):
            await self.app(scope, receive, send)
            return

        content = "CSV" if route_path(scope) in self.csv_paths else "JSON"
        detail = coding_detail(codings, content)
        response = problem(415, detail, headers=IDENTITY_ONLY)
        await response(scope, receive, send)
