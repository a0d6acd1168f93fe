"""Tests of the raw 400, 408, 414 and 431 responses of the HTTP protocol.

A parser's reason is quoted, escaped and cut. A 400 without a reason keeps
its general fix, and a 414 or 431 names the part over the limit and the
setting."""

from __future__ import annotations

import json

import pytest

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


FIELDS_TOO_LARGE = b"HTTP/1.1 431 Request Header Fields Too Large\r\n"
# each part over the limit, its status line and its detail
TOO_LARGE_CASES = [
    (
        "request line",
        b"HTTP/1.1 414 URI Too Long\r\n",
        "the request line is over the limit of 4096 bytes; send the long values "
        "in a request body instead, or raise RNN_FORECAST_MAX_HEAD_BYTES",
    ),
    (
        "request head",
        FIELDS_TOO_LARGE,
        "the request line and headers are over the limit of 4096 bytes; send "
        "fewer or shorter headers, or raise RNN_FORECAST_MAX_HEAD_BYTES",
    ),
    (
        "chunk-size line",
        FIELDS_TOO_LARGE,
        "a chunk-size line of the chunked request body is over the limit of 4096 "
        "bytes; send shorter chunk extensions, or raise RNN_FORECAST_MAX_HEAD_BYTES",
    ),
    (
        "trailer section",
        FIELDS_TOO_LARGE,
        "the trailer fields of the chunked request body are over the limit of "
        "4096 bytes; send fewer or shorter trailer fields, or raise "
        "RNN_FORECAST_MAX_HEAD_BYTES",
    ),
]


@pytest.mark.parametrize(("part", "status_line", "detail"), TOO_LARGE_CASES)
def test_too_large_names_part_and_setting(
    part: str, status_line: bytes, detail: str
) -> None:
    response = too_large_response(part, 4096)

    assert response.startswith(status_line)
    assert detail_of(response) == detail
