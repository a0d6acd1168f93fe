"""Whole HTTP responses that the HTTP protocol writes to a connection past
uvicorn's response handling. These are the 408 of a request head that took
too long, the 431 or 414 of a request head over its size limit, and the 400
of a request that is not valid HTTP. All are problem details with
``Connection: close``."""

from __future__ import annotations

from models.quoted_ids import shortened
from service.errors import CLOSE, problem

# the maximum length of a parser's reason quoted in a 400, in characters
MAX_REASON_CHARS = 200


def timeout_response(timeout_seconds: float) -> bytes:
    """Return the bytes of the 408 of a request head that took longer than
    ``timeout_seconds``."""
    detail = (
        f"the request line and headers did not arrive within {timeout_seconds:g} "
        "s; send the whole request head at once, or raise "
        "RNN_FORECAST_HEAD_TIMEOUT_SECONDS"
    )
    return _closing_problem(408, "Request Timeout", detail)


def too_large_response(status: int, max_head_bytes: int) -> bytes:
    """Return the bytes of the 414 (a request line) or the 431 (a request
    head) over ``max_head_bytes``."""
    if status == 414:
        reason, part = "URI Too Long", "the request line is"
        fix = "send the long values in a request body instead"
    else:
        reason = "Request Header Fields Too Large"
        part = "the request line and headers are"
        fix = "send fewer or shorter headers"
    detail = (
        f"{part} over the limit of {max_head_bytes} bytes; {fix}, or raise "
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
