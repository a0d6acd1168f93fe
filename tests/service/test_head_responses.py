"""The raw 400 and 408 responses of the HTTP protocol: a parser's reason is
quoted escaped and cut, and a 400 without a reason keeps its general fix."""

from __future__ import annotations

import json

from service.head_responses import (
    MAX_REASON_CHARS,
    invalid_request_response,
    printable_reason,
    too_large_response,
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


def test_too_large_names_limit_and_setting() -> None:
    uri = too_large_response(414, 4096)
    fields = too_large_response(431, 4096)

    assert uri.startswith(b"HTTP/1.1 414 URI Too Long\r\n")
    assert fields.startswith(b"HTTP/1.1 431 Request Header Fields Too Large\r\n")
    assert detail_of(uri) == (
        "the request line is over the limit of 4096 bytes; send the long values "
        "in a request body instead, or raise RNN_FORECAST_MAX_HEAD_BYTES"
    )
    assert detail_of(fields) == (
        "the request line and headers are over the limit of 4096 bytes; send "
        "fewer or shorter headers, or raise RNN_FORECAST_MAX_HEAD_BYTES"
    )
