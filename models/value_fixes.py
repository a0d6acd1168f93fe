"""The fix that a validation error's message gives for the value sent.

Pydantic's messages name what is wrong, such as "Input should be greater
than or equal to 1" or "Input should be a valid list", but not the value
to send. ``value_fix`` returns that value in words for a number out of its
field's range, a list below its minimum length, a value of the wrong JSON
type and a value outside the listed choices. The API's 422 messages and
the command line's messages for fields of a ``--spec`` file add it after a
semicolon.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from models.plurals import plural

# the bound that each range error of pydantic puts in its ``ctx``, and the
# words of the fix that name the values to send
RANGE_FIXES = {
    "greater_than": ("gt", "above"),
    "greater_than_equal": ("ge", "of at least"),
    "less_than": ("lt", "below"),
    "less_than_equal": ("le", "of at most"),
}

# the fix for a value of the wrong JSON type, by pydantic's error type
TYPE_FIXES = {
    "float_type": "send a number such as 1.5",
    "int_type": "send a whole number such as 3",
    "string_type": "send a JSON string in double quotes",
    "list_type": "send a JSON array",
    "dict_type": "send a JSON object",
    "model_type": "send a JSON object",
    "model_attributes_type": "send a JSON object",
}

# pydantic's error types for a value outside a Literal or an Enum, whose
# messages list the choices
CHOICE_ERRORS = ("literal_error", "enum")


def _range_fix(error: Mapping[str, Any], message: str) -> str:
    """Return ``; send a value of at most 60`` and the like for a value
    outside a field's range, or "" for another error or a message that
    gives its fix after a semicolon already."""
    fix = RANGE_FIXES.get(str(error.get("type")))
    bound = (error.get("ctx") or {}).get(fix[0]) if fix else None
    if fix is None or bound is None or "; " in message:
        return ""
    # pydantic writes a float bound that is a whole number without ".0"
    if isinstance(bound, float) and bound.is_integer():
        bound = int(bound)
    return f"; send a value {fix[1]} {bound}"


def _length_fix(error: Mapping[str, Any], message: str) -> str:
    """Return ``; send at least 2 items`` and the like for a list below its
    minimum length, or "" for another error or a message that gives its fix
    after a semicolon already."""
    minimum = (error.get("ctx") or {}).get("min_length")
    if error.get("type") != "too_short" or not isinstance(minimum, int):
        return ""
    if "; " in message:
        return ""
    return f"; send at least {plural(minimum, 'item')}"


def _type_fix(error: Mapping[str, Any], message: str) -> str:
    """Return ``; send a JSON array`` and the like for a value of the wrong
    JSON type, or "" for another error or a message that gives its fix
    already. A null gets "" too, because its fix depends on whether the
    field has a default, which only the caller can tell."""
    fix = TYPE_FIXES.get(str(error.get("type")))
    if fix is None or error.get("input") is None or "; " in message:
        return ""
    return f"; {fix}"


def _choice_fix(error: Mapping[str, Any], message: str) -> str:
    """Return ``; send one of them`` for a value outside the choices that
    the message lists, such as "Input should be 'rnn', 'lstm' or 'gru'", or
    "" for another error or a message that gives its fix already."""
    if error.get("type") not in CHOICE_ERRORS or "; " in message:
        return ""
    return "; send one of them"


def value_fix(error: Mapping[str, Any], message: str) -> str:
    """Return the fix of pydantic ``error``, whose message is ``message``,
    as ``; send ...``, or "" when there is none or the message gives one
    after a semicolon already."""
    return (
        _range_fix(error, message)
        or _length_fix(error, message)
        or _type_fix(error, message)
        or _choice_fix(error, message)
    )
