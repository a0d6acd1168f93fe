"""Counted nouns in messages: ``1 row`` but ``2 rows``.

This module imports nothing heavy, so the serving path can use it.
"""

from __future__ import annotations


def plural(count: int, noun: str) -> str:
    """Return ``"1 row"`` or ``"2 rows"`` for ``noun="row"``."""
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"
