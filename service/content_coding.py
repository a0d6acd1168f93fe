"""Rejection of request bodies sent with a content or transfer coding, such
as gzip.

The API reads every body as it arrives and decodes no content coding, so a
request body whose ``Content-Encoding`` names any coding other than
``identity`` gets 415 with ``Accept-Encoding: identity`` before the app
reads it. Repeated ``Content-Encoding`` lines form one list, so a first
line ``identity`` does not hide a second line ``gzip``.

uvicorn 0.55 decodes the chunked transfer coding and passes the chunks on
without decoding any other, so the app would read a body sent with
``Transfer-Encoding: gzip, chunked`` as compressed bytes. Such a body gets
400 with ``Connection: close`` before the app reads it. RFC 9112 (section
6.1) suggests 501 for a transfer coding that the server does not
implement, but the API rejects every body that it cannot read with a 4xx,
as it does for a content coding.
"""

from __future__ import annotations

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Receive, Scope, Send

from service.errors import CLOSE, problem
from service.header_values import quoted_header
from service.links import route_path
from service.list_headers import header_list, list_members

# the headers of a 415 for a compressed body: only the identity coding is read
IDENTITY_ONLY = {"Accept-Encoding": "identity"}


def unsupported_codings(headers: Headers) -> str | None:
    """Return the content codings of a request other than ``identity``,
    joined by commas in the order sent, such as ``gzip``, or None when
    there are none."""
    return _codings_other_than(headers, "content-encoding", "identity")


def unsupported_transfer_codings(headers: Headers) -> str | None:
    """Return the transfer codings of a request other than ``chunked``, in
    the same form as ``unsupported_codings``."""
    return _codings_other_than(headers, "transfer-encoding", "chunked")


def _codings_other_than(headers: Headers, name: str, kept: str) -> str | None:
    """Return the codings that all lines of the header ``name`` list, other
    than ``kept``, lower case and joined by commas, or None when none is."""
    value = header_list(headers, name)
    if value is None:
        return None
    # codings are ASCII tokens, and lower() would change non-ASCII bytes
    codings = [
        coding.lower() if coding.isascii() else coding for coding in list_members(value)
    ]
    others = [coding for coding in codings if coding != kept]
    return ", ".join(others) or None


def coding_detail(codings: str, content: str) -> str:
    """Return the detail of a 415 for a ``content`` body (``JSON`` or
    ``CSV``) sent with ``codings``."""
    return (
        f"Content-Encoding {quoted_header(codings)} is not supported; send "
        f"the {content} uncompressed, without a Content-Encoding header"
    )


def transfer_coding_detail(header: str, content: str) -> str:
    """Return the detail of a 400 for a ``content`` body (``JSON`` or
    ``CSV``) sent with the ``Transfer-Encoding`` value ``header``."""
    return (
        f"Transfer-Encoding {quoted_header(header)} is not supported, because "
        "the server decodes only the chunked transfer coding; send the "
        f"{content} uncompressed, with Transfer-Encoding: chunked or a "
        "Content-Length"
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
    ``identity`` with 415, and one sent with a transfer coding other than
    ``chunked`` with 400, before the app reads it.

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
        content = "CSV" if route_path(scope) in self.csv_paths else "JSON"
        if unsupported_transfer_codings(headers) is not None:
            header = header_list(headers, "transfer-encoding") or ""
            detail = transfer_coding_detail(header, content)
            await problem(400, detail, headers=CLOSE)(scope, receive, send)
            return

        codings = unsupported_codings(headers)
        if codings is None or not _has_body(headers):
            await self.app(scope, receive, send)
            return

        detail = coding_detail(codings, content)
        response = problem(415, detail, headers=IDENTITY_ONLY)
        await response(scope, receive, send)
