"""Version references of requests: a version number or an alias.

A version number is written with ASCII digits, with or without leading
zeros, so ``7`` and ``"007"`` both mean version 7 in a path, a request body
and on the command line. Numbers run from 1 to ``MAX_VERSION``, and the
registry writes no version above it.
"""

from __future__ import annotations

import json
import math
import re

from models.errors import InvalidInputError
from models.field_types import non_finite_reason
from models.quoted_ids import MAX_QUOTED_CHARS, quoted

ALIAS_PATTERN = r"^[a-z][a-z0-9_-]{0,63}$"
ALIAS_RE = re.compile(ALIAS_PATTERN)
# nine digits, so a version number fits in a 32-bit signed integer
MAX_VERSION = 999_999_999
# A version reference as ``check_version_ref`` accepts it in a path: 1 to
# MAX_VERSION in ASCII digits after any leading zeros, or an alias. The
# OpenAPI document declares it, and tests/service/test_openapi_contract.py
# checks that both accept the same values.
VERSION_REF_PATTERN = r"^(?:0*[1-9][0-9]{0,8}|[a-z][a-z0-9_-]{0,63})$"


def lowercase_hint(alias: object) -> str:
    """Return `` because aliases are lowercase (send 'prod')`` for an alias
    such as ``Prod`` that is valid in lowercase, else an empty string."""
    if not isinstance(alias, str) or alias == alias.lower():
        return ""
    if not ALIAS_RE.fullmatch(alias.lower()):
        return ""
    return f" because aliases are lowercase (send {alias.lower()!r})"


def version_number(ref: str | int) -> int | None:
    """Return the version number that ``ref`` writes (an int, or ASCII digits
    with or without leading zeros), or None when ``ref`` is not a number."""
    if isinstance(ref, int) and not isinstance(ref, bool):
        return ref
    # ASCII digits only: str.isdigit also accepts characters such as "²" or "١"
    if isinstance(ref, str) and ref.isascii() and ref.isdigit():
        # Leading zeros are stripped first, because Python's int() rejects
        # strings of over 4300 digits by default and 5000 zeros then 7 is 7.
        return int(ref.lstrip("0") or "0")
    return None


# the fix that the error for every rejected version gives
NUMBER_RULE = f"send a version number from 1 to {MAX_VERSION}"
REF_RULE = (
    f"{NUMBER_RULE} or an alias of 1-64 characters of a-z, 0-9, '_' and '-' "
    "that starts with a letter, such as 'latest'"
)
_SIGNED_DIGITS_RE = re.compile(r"^-[0-9]+$")


def version_type_problem(value: object) -> str | None:
    """Return what is wrong with a JSON ``value`` that is not an int or a
    string, such as ``is a boolean, not a version number``; None for an int
    or a string."""
    if isinstance(value, bool):
        return f"{json.dumps(value)} is a boolean, not a version number"
    if isinstance(value, float):
        if not math.isfinite(value):
            return f"is invalid because {non_finite_reason(value)}"
        if not value.is_integer():
            return f"{value!r} is not a whole number"
        problem = f"{value!r} has a decimal point or an exponent, so it is a float"
        if abs(value) <= MAX_VERSION:
            problem += f" (write {int(value)})"
        return problem
    if isinstance(value, int | str):
        return None
    kinds = {type(None): "JSON null", list: "a JSON array", dict: "a JSON object"}
    shown = json.dumps(value, default=str)
    if len(shown) > MAX_QUOTED_CHARS:
        shown = f"{shown[:MAX_QUOTED_CHARS]}... (the first {MAX_QUOTED_CHARS} shown)"
    return f"{shown} is {kinds.get(type(value), type(value).__name__)}, not a number"


def version_number_error(value: object, rule: str = NUMBER_RULE) -> str | None:
    """Return the message for a JSON ``value`` that is not an int from 1 to
    ``MAX_VERSION``, ending with ``rule``; None for a valid version number."""
    problem = version_type_problem(value)
    if problem is not None:
        return f"version {problem}; {rule}"
    if isinstance(value, str):
        return f"version {quoted(value)} is a string, not a number; {rule}"
    assert isinstance(value, int)
    if value < 1:
        return f"version {value} is invalid because versions start at 1; {rule}"
    if value > MAX_VERSION:
        return (
            f"version {_quoted_ref(value)} is above the largest version number, "
            f"{MAX_VERSION}; {rule}"
        )
    return None


def check_version_ref(ref: str | int, field: str = "version") -> str | int:
    """Return ``ref`` if it is a version number from 1 to ``MAX_VERSION`` or
    a valid alias; raise ``InvalidInputError`` naming ``field`` otherwise.

    Leading zeros are accepted, so ``"007"`` means version 7. Every message
    ends with ``REF_RULE``.
    """
    digits = isinstance(ref, str) and ref.isascii() and ref.isdigit()
    if digits and len(str(ref).lstrip("0")) > len(str(MAX_VERSION)):
        # compared by length, because int() rejects more than 4300 digits
        number: int | None = MAX_VERSION + 1
    elif isinstance(ref, str) and _SIGNED_DIGITS_RE.fullmatch(ref):
        # "-1" is a negative number, not a malformed alias
        number = -1 if ref.strip("-0") else 0
    else:
        number = version_number(ref)
    if number is None:
        if isinstance(ref, str) and ALIAS_RE.fullmatch(ref):
            return ref
        raise InvalidInputError(
            f"version {quoted(ref)} is invalid{lowercase_hint(ref)}; {REF_RULE}",
            field=field,
        )
    if number < 1:
        raise InvalidInputError(
            f"version {_quoted_ref(ref)} is invalid because versions start at 1; "
            f"{REF_RULE}",
            field=field,
        )
    if number > MAX_VERSION:
        raise InvalidInputError(
            f"version {_quoted_ref(ref)} is above the largest version number, "
            f"{MAX_VERSION}; {REF_RULE}",
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
