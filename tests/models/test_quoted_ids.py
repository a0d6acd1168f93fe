"""Identifiers quoted in error messages."""

from __future__ import annotations

from models.quoted_ids import quoted


def test_short_id_quoted_whole() -> None:
    assert quoted("a" * 128) == repr("a" * 128)
    assert quoted(7) == "7"


def test_long_id_cut_with_length() -> None:
    text = quoted("b" * 10_000)

    assert text == f"{'b' * 128!r}... (10000 characters, the first 128 shown)"
