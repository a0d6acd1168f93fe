"""Identifiers quoted in error messages, cut to a readable length.

A client may send an id of any length in a path or a body, and an error that
quoted it whole would grow with it. Messages quote the first
``MAX_QUOTED_CHARS`` characters and the length instead. The cut lies at
twice the longest model name (64 characters), so a name just over that limit
is still shown whole.
"""

from __future__ import annotations

MAX_QUOTED_CHARS = 128


def quoted(value: object, limit: int = MAX_QUOTED_CHARS) -> str:
    """Return ``repr(value)``; for a string longer than ``limit``, the repr
    of its first ``limit`` characters and a note with its length."""
    if not isinstance(value, str) or len(value) <= limit:
        return repr(value)
    return f"{value[:limit]!r}{cut_note(value, limit)}"


def shortened(text: str, limit: int = MAX_QUOTED_CHARS) -> str:
    """Return ``text`` unquoted, such as a request path; when it is longer
    than ``limit``, its first ``limit`` characters and a note with its
    length."""
    if len(text) <= limit:
        return text
    return f"{text[:limit]}{cut_note(text, limit)}"


def cut_note(text: str, limit: int) -> str:
    """Return the note that follows ``text`` cut to ``limit`` characters."""
    return f"... ({len(text)} characters, the first {limit} shown)"
