"""Identifiers quoted in error messages."""

from __future__ import annotations

from models.quoted_ids import quoted, shortened


def test_short_id_quoted_whole() -> None:
    assert quoted("a" * 128) == repr("a" * 128)
    assert quoted(7) == "7"


def test_long_id_cut_with_length() -> None:
    text = quoted("b" * 10_000)

    assert text == f"{'b' * 128!r}... (10000 characters, the first 128 shown)"


def test_long_text_shortened_unquoted() -> None:
    text = shortened("/v1/" + "c" * 996)

    assert text == f"/v1/{'c' * 124}... (1000 characters, the first 128 shown)"


def test_short_text_kept_whole() -> None:
    assert shortened("/v1/nope") == "/v1/nope"
