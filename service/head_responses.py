"""Whole HTTP responses that the HTTP protocol writes to a connection past
uvicorn's response handling. These are the 408 of a request head that took
too long, the 431 or 414 of a request head over its size limit, and the 400
of a request that is not valid HTTP. A chunk-size line or trailer section
over the head size limit gets 431 as well. All are problem details with
``Connection: close``."""

from __future__ import annotations

from typing import NamedTuple

from models.quoted_ids import shortened
from service.errors import CLOSE, problem

# the maximum length of a parser's reason quoted in a 400, in characters
MAX_REASON_CHARS = 200


class TooLarge(NamedTuple):
    """The response to one part of a request over the head size limit: its
    status and reason phrase, the part as the detail names it, and the
    fix."""

    status: int
    reason: str
    subject: str
    fix: str


FIELDS_TOO_LARGE = "Request Header Fields Too Large"
# each part of a request that RNN_FORECAST_MAX_HEAD_BYTES limits
TOO_LARGE = {
    "request line": TooLarge(
        414,
        "URI Too Long",
        "the request line is",
        "send the long values in a request body instead",
    ),
    "request head": TooLarge(
        431,
        FIELDS_TOO_LARGE,
        "the request line and headers are",
        "send fewer or shorter headers",
    ),
    "chunk-size line": TooLarge(
        431,
        FIELDS_TOO_LARGE,
        "a chunk-size line of the chunked request body is",
        "send shorter chunk extensions",
    ),
    "trailer section": TooLarge(
        431,
        FIELDS_TOO_LARGE,
        "the trailer fields of the chunked request body are",
        "send fewer or shorter trailer fields",
    ),
}


def timeout_response(timeout_seconds: float) -> bytes:
    """Return the bytes of the 408 of a request head that took longer than
    ``timeout_seconds``."""
    detail = (
        f"the request line and headers did not arrive within {timeout_seconds:g} "
        "s; send the whole request head at once, or raise "
        "RNN_FORECAST_HEAD_TIMEOUT_SECONDS"
    )
    return _closing_problem(408, "Request Timeout", detail)


def too_large_response(part: str, max_head_bytes: int) -> bytes:
    """Return the bytes of the 414 or 431 of ``part``, a key of
    ``TOO_LARGE``, over ``max_head_bytes``."""
    status, reason, subject, fix = TOO_LARGE[part]
    detail = (
        f"{subject} over the limit of {max_head_bytes} bytes; {fix}, or raise "
        "RNN_FORECAST_MAX_HEAD_BYTES"
    )
    return _closing_problem(status, reason, detail)


def invalid_request_response(reason: str | None = None) -> bytes:
    """Return the bytes of the 400 of a request that uvicorn's HTTP parser
    rejects, with the parser's ``reason`` when there is one."""
    cause = ""
    if reason:
        cause = f" (the HTTP parser reported: {printable_reason(reason)})"
    detail = (
        f"the request is not valid HTTP/1.1, so the server could not read it{cause}; "
        "check the request line, the header lines, a single Content-Length "
        "that matches the body, and the chunk sizes of a chunked body"
    )
    return _closing_problem(400, "Bad Request", detail)


def printable_reason(reason: str) -> str:
    """Return ``reason`` with every character outside printable ASCII
    escaped as ``ascii`` escapes it, cut to ``MAX_REASON_CHARS``.

    h11 quotes the invalid line of the request in its reason, so the
    client's bytes reach the response only escaped and cut.
    """
    escaped = "".join(
        char if " " <= char <= "~" else ascii(char)[1:-1] for char in reason
    )
    return shortened(escaped, MAX_REASON_CHARS)


def _closing_problem(status: int, reason: str, detail: str) -> bytes:
    """Return the bytes of a whole problem+json response with ``Connection:
    close``, written to the transport past uvicorn's response handling."""
    response = problem(status, detail, headers=CLOSE)
    head = [f"HTTP/1.1 {status} {reason}".encode()]
    head += [name + b": " + value for name, value in response.raw_headers]
    return b"\r\n".join(head) + b"\r\n\r\n" + response.body
