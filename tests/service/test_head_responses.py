"""The raw 400 and 408 responses of the HTTP protocol: a parser's reason is
quoted escaped and cut, and a 400 without a reason keeps its general fix."""

from __future__ import annotations

import json

from service.head_responses import (
    MAX_REASON_CHARS,
    invalid_request_response,
    printable_reason,
)


def detail_of(response: bytes) -> str:
    _, _, body = response.partition(b"\r\n\r\n")
    return str(json.loads(body)["detail"])


def test_reason_escapes_unprintable_characters() -> None:
    assert printable_reason("bad \x01\r\n\x7f é \u2028 ok") == (
        r"bad \x01\r\n\x7f \xe9 \u2028 ok"
    )


def test_reason_cut_to_limit() -> None:
    reason = printable_reason("x" * (MAX_REASON_CHARS + 50))

    assert reason.startswith("x" * MAX_REASON_CHARS + "... (")
    assert f"({MAX_REASON_CHARS + 50} characters" in reason


def test_invalid_request_quotes_reason() -> None:
    detail = detail_of(invalid_request_response("Invalid header\x00token"))

    assert "(the HTTP parser reported: Invalid header\\x00token);" in detail
    assert "\x00" not in detail


def test_invalid_request_without_reason() -> None:
    detail = detail_of(invalid_request_response(None))

    assert detail.startswith(
        "the request is not valid HTTP/1.1, so the server could not read it; check"
    )
