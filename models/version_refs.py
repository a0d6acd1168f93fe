"""Version references of requests: a version number or an alias.

A version number is written with ASCII digits, with or without leading
zeros, so ``7`` and ``"007"`` both mean version 7 in a path, a request body
and on the command line. Numbers run from 1 to ``MAX_VERSION``, and the
registry writes no version above it.
"""

from __future__ import annotations

import re

from models.errors import InvalidInputError
from models.quoted_ids import MAX_QUOTED_CHARS, quoted

ALIAS_RE = re.compile(r"^[a-z][a-z0-9_-]{0,63}$")
# nine digits, so a version number fits in a 32-bit signed integer
MAX_VERSION = 999_999_999


def version_number(ref: str | int) -> int | None:
    """Return the version number that ``ref`` writes (an int, or ASCII digits
    with or without leading zeros), or None when ``ref`` is not a number."""
    if isinstance(ref, int) and not isinstance(ref, bool):
        return ref
    # ASCII digits only: str.isdigit also accepts characters such as "²" or "١"
    if isinstance(ref, str) and ref.isascii() and ref.isdigit():
        return int(ref)
    return None


def check_version_ref(ref: str | int, field: str = "version") -> str | int:
    """Return ``ref`` if it is a version number from 1 to ``MAX_VERSION`` or
    a valid alias; raise ``InvalidInputError`` naming ``field`` otherwise.

    Leading zeros are accepted, so ``"007"`` means version 7.
    """
    digits = isinstance(ref, str) and ref.isascii() and ref.isdigit()
    if digits and len(str(ref).lstrip("0")) > len(str(MAX_VERSION)):
        # compared by length, because int() rejects more than 4300 digits
        number: int | None = MAX_VERSION + 1
    else:
        number = version_number(ref)
    if number is None:
        if isinstance(ref, str) and ALIAS_RE.fullmatch(ref):
            return ref
        raise InvalidInputError(
            f"version {quoted(ref)} is invalid; send a version number (versions "
            "start at 1) or an alias of 1-64 characters of a-z, 0-9, '_' and "
            "'-' starting with a letter, such as 'latest'",
            field=field,
        )
    if number < 1:
        raise InvalidInputError(
            f"version {_quoted_ref(ref)} is invalid; versions start at 1",
            field=field,
        )
    if number > MAX_VERSION:
        raise InvalidInputError(
            f"version {_quoted_ref(ref)} is above the largest version number, "
            f"{MAX_VERSION}; send a version number from 1 to {MAX_VERSION}",
            field=field,
        )
    return ref


def _quoted_ref(ref: str | int) -> str:
    """Quote a string ``ref`` and write an int as bare digits, each cut after
    ``MAX_QUOTED_CHARS`` characters."""
    if isinstance(ref, str):
        return quoted(ref)
    text = str(ref)
    if len(text) <= MAX_QUOTED_CHARS:
        return text
    shown = text[:MAX_QUOTED_CHARS]
    return f"{shown}... ({len(text)} digits, the first {MAX_QUOTED_CHARS} shown)"
