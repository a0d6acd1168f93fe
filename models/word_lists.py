"""Lists of words in messages: ``'a', 'b' or 'c'``.

This module imports nothing, so the serving path can use it.
"""

from __future__ import annotations

from collections.abc import Sequence


def join_words(words: Sequence[str], conjunction: str = "and") -> str:
    """Return ``words`` separated by commas, with ``conjunction`` before the
    last one: ``"a, b and c"``; ``""`` when there are none."""
    if len(words) < 2:
        return "".join(words)
    return f"{', '.join(words[:-1])} {conjunction} {words[-1]}"
