"""Page cursors: the round trip, and the rejection of any other text."""

from __future__ import annotations

import base64

import pytest

from models.errors import InvalidInputError
from service.cursors import decode_cursor, encode_cursor

ITEM_ID = "3f2a9c1e5b7d4e0f8a6b2c4d1e3f5a7b"


def raw_cursor(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


@pytest.mark.parametrize(
    "sort_key", ["1796406046.137", "2026-12-04T16:20:46.137512+00:00", "1e-05"]
)
def test_cursor_round_trip(sort_key: str) -> None:
    cursor = encode_cursor(sort_key, ITEM_ID)

    assert "=" not in cursor
    assert decode_cursor(cursor) == (sort_key, ITEM_ID)


@pytest.mark.parametrize(
    "cursor",
    [
        "",
        "%%%",
        "MToy",  # "1:2"
        raw_cursor(ITEM_ID),
        raw_cursor(f":{ITEM_ID}"),
        raw_cursor(f"1.0:{ITEM_ID.upper()}"),
        raw_cursor(f"1.0:{ITEM_ID}0"),
        raw_cursor(f"1.0:{ITEM_ID}") + "%",
        raw_cursor(f"1.0:{ITEM_ID}") + "A",
        "é",
        base64.urlsafe_b64encode(b"1.0:\xff").decode(),
    ],
)
def test_malformed_cursor_rejected(cursor: str) -> None:
    with pytest.raises(InvalidInputError, match="cursor is invalid") as caught:
        decode_cursor(cursor)

    assert caught.value.field == "query.cursor"
    assert "pass the next_cursor of the previous page" in caught.value.message
