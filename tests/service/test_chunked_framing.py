"""ChunkedBodyEnd finds the last byte of a chunked body however the body is
split across reads, finds no end in framing it cannot follow, and rejects a
chunk-size line or a trailer section over its limit and a chunk-size line
that ends with a bare LF."""

from __future__ import annotations

import pytest

from service.chunked_framing import (
    MAX_KEPT_LINE,
    BareLineFeed,
    ChunkedBodyEnd,
    FramingTooLarge,
    chunk_size,
    without_leading_zeros,
)

LIMIT = 64

BODIES = [
    b"0\r\n\r\n",
    b"5\r\nhello\r\n0\r\n\r\n",
    # chunk data that looks like framing and like the end of a head
    b'3;ext=1\r\n\r\n\r\r\nA;q="v"\r\n0\r\n\r\n\n\n\r\nx\r\n0;end\r\nX-Sum: 3\r\n\r\n',
    # bare LFs after chunk data and in the trailer section: the walk follows
    # them, and the parsers check them
    b"2\r\nab\n0\r\nX-T: 1\n\n",
]


def find_end_split(body: bytes, split: int) -> int | None:
    """Return the end that ``find_end`` reports for ``body`` sent in two
    reads split at ``split``, counted from the start of ``body``."""
    end = ChunkedBodyEnd(LIMIT)
    first = end.find_end(body[:split])
    if first is not None:
        return first
    second = end.find_end(body[split:])
    return None if second is None else split + second


@pytest.mark.parametrize("body", BODIES)
def test_end_found_at_every_split(body: bytes) -> None:
    following = b"GET / HTTP/1.1\r\n\r\n"
    for split in range(1, len(body) + len(following)):
        assert find_end_split(body + following, split) == len(body), split


@pytest.mark.parametrize(
    "body",
    [
        b"2\nab\r\n0\r\n\r\n",
        b"2;e=1\nab\r\n0\r\n\r\n",
        b"2\r\nab\r\n0\n\r\n",
        b"\n",
        b"00000002\nab\r\n0\r\n\r\n",
        b"2;x=" + b"a" * MAX_KEPT_LINE + b"\nab\r\n0\r\n\r\n",
    ],
)
def test_bare_lf_size_line_rejected(body: bytes) -> None:
    for split in range(1, len(body) + 1):
        end = ChunkedBodyEnd(LIMIT)
        with pytest.raises(BareLineFeed):
            end.find_end(body[:split])
            end.find_end(body[split:])


def test_cr_inside_size_line_rejected() -> None:
    # a CR inside the line is no CR before its LF
    end = ChunkedBodyEnd(LIMIT)
    end.find_end(b"2;e=\r")

    with pytest.raises(BareLineFeed):
        end.find_end(b"x\nab\r\n0\r\n\r\n")


def test_invalid_size_has_no_end() -> None:
    end = ChunkedBodyEnd(LIMIT)

    assert end.find_end(b"zz\r\nab\r\n0\r\n\r\n") is None
    assert end.find_end(b"0\r\n\r\n") is None


@pytest.mark.parametrize("digits", [b"-5", b"+5", b"0x5", b"1_0", b"5 5", b""])
def test_non_hex_size_is_none(digits: bytes) -> None:
    assert chunk_size(digits + b";ext=1") is None


def test_padded_uppercase_size_read() -> None:
    assert chunk_size(b" 00Fa ;ext=1") == 0xFA


@pytest.mark.timeout(10)
def test_negative_size_has_no_end() -> None:
    # A size of -5 would move the walk back to the line end before it.
    end = ChunkedBodyEnd(LIMIT)

    assert end.find_end(b"1\r\nA\r\n-5\r\nZ\r\n0\r\n\r\n") is None


def test_size_line_cut_before_extensions_has_no_end() -> None:
    # more hex digits than the kept bytes, so the size is unknown
    size_line = b"1" * (MAX_KEPT_LINE + 1) + b"\r\n"
    end = ChunkedBodyEnd(LIMIT)

    assert end.find_end(size_line + b"a\r\n0\r\n\r\nxyz\r\n0\r\n\r\n") is None


@pytest.mark.parametrize("zeros", [1, MAX_KEPT_LINE, LIMIT - 8])
def test_leading_zeros_of_size_followed(zeros: int) -> None:
    # llhttp reads any number of leading zeros, so the walk must too
    body = b"0" * zeros + b"5;e\r\nhello\r\n" + b"0" * zeros + b"\r\n\r\n"
    following = b"GET / HTTP/1.1\r\n\r\n"
    for split in range(1, len(body) + len(following)):
        assert find_end_split(body + following, split) == len(body), split


@pytest.mark.parametrize(
    ("line", "kept"),
    [
        (b"0005", b"5"),
        (b"00a;x", b"a;x"),
        (b"000", b"0"),
        (b"000;e", b"0;e"),
        (b"0 ", b"0 "),
        (b"10", b"10"),
        (b"", b""),
    ],
)
def test_without_leading_zeros(line: bytes, kept: bytes) -> None:
    assert without_leading_zeros(line) == kept


def test_trailers_after_padded_size_rejected() -> None:
    body = b"0" * (LIMIT - 8) + b"5\r\nhello\r\n0\r\n" + trailers(LIMIT + 1)
    error = framing_error(body, 1)

    assert error is not None
    assert error.trailers


def framing_error(body: bytes, reads: int) -> FramingTooLarge | None:
    """Return the error that ``find_end`` raises for ``body`` sent in
    ``reads`` nearly equal reads, or None."""
    end = ChunkedBodyEnd(LIMIT)
    step = -(-len(body) // reads)
    try:
        for start in range(0, len(body), step):
            end.find_end(body[start : start + step])
    except FramingTooLarge as error:
        return error
    return None


def size_line(size: int) -> bytes:
    """Return a chunk-size line of 5 with an extension, ``size`` bytes in
    all."""
    return b"5;x=" + b"a" * (size - 6) + b"\r\n"


def trailers(size: int) -> bytes:
    """Return a trailer section of ``size`` bytes in all."""
    return b"X-T: " + b"a" * (size - 9) + b"\r\n\r\n"


@pytest.mark.parametrize("reads", [1, 3, 70])
def test_lines_at_limit_pass(reads: int) -> None:
    body = size_line(LIMIT) + b"hello\r\n0\r\n" + trailers(LIMIT)

    assert framing_error(body, reads) is None
    assert find_end_split(body, 1) == len(body)


@pytest.mark.parametrize("reads", [1, 3, 70])
def test_size_line_over_limit_rejected(reads: int) -> None:
    body = b"2\r\nab\r\n" + size_line(LIMIT + 1) + b"hello\r\n0\r\n\r\n"
    error = framing_error(body, reads)

    assert error is not None
    assert not error.trailers
    assert error.received == LIMIT + 1


@pytest.mark.parametrize("reads", [1, 3, 70])
def test_trailers_over_limit_rejected(reads: int) -> None:
    body = b"5\r\nhello\r\n0\r\n" + trailers(LIMIT + 1)
    error = framing_error(body, reads)

    assert error is not None
    assert error.trailers
    assert error.received == LIMIT + 1


def test_incomplete_line_over_limit_rejected() -> None:
    end = ChunkedBodyEnd(LIMIT)

    with pytest.raises(FramingTooLarge):
        end.find_end(b"5;x=" + b"a" * LIMIT)
