"""ChunkedBodyEnd finds the last byte of a chunked body however the body is
split across reads, and finds no end in framing it cannot follow."""

from __future__ import annotations

import pytest

from service.chunked_framing import ChunkedBodyEnd

BODIES = [
    b"0\r\n\r\n",
    b"5\r\nhello\r\n0\r\n\r\n",
    # chunk data that looks like framing and like the end of a head
    b'3;ext=1\r\n\r\n\r\r\nA;q="v"\r\n0\r\n\r\n\n\n\r\nx\r\n0;end\r\nX-Sum: 3\r\n\r\n',
    b"2\nab\n0\n\n",
]


def find_end_split(body: bytes, split: int) -> int | None:
    """Return the end that ``find_end`` reports for ``body`` sent in two
    reads split at ``split``, counted from the start of ``body``."""
    end = ChunkedBodyEnd()
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


def test_invalid_size_has_no_end() -> None:
    end = ChunkedBodyEnd()

    assert end.find_end(b"zz\r\nab\r\n0\r\n\r\n") is None
    assert end.find_end(b"0\r\n\r\n") is None
