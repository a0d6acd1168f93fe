"""Strings of parsed JSON that contain half of a UTF-16 surrogate pair.

JSON lets a string escape half of a surrogate pair, such as ``"\\ud800"``,
which ``json.loads`` keeps as a lone surrogate. No Unicode text contains
one, so UTF-8 cannot encode it, and pydantic and ``str.encode`` fail with
``UnicodeEncodeError`` on such a value. The API's JSON bodies and the
command line's JSON files are checked with ``unpaired_surrogate_path`` and
rejected with ``UNPAIRED_SURROGATE_MESSAGE``.
"""

from __future__ import annotations

import re
from typing import Any

UNPAIRED_SURROGATE_MESSAGE = (
    "the string contains an unpaired UTF-16 surrogate escape (\\ud800 to "
    "\\udfff), which is not a Unicode character; send the character "
    "itself, or both halves of its surrogate pair such as \\ud83d\\ude00"
)

# A JSON escape of a surrogate (U+D800 to U+DFFF), or a surrogate that the
# decoding of a UTF-16 or UTF-32 body kept. A match may still be a valid pair.
_MAYBE_SURROGATE = re.compile(r"\\u[dD][89a-fA-F]|[\ud800-\udfff]")


def unpaired_surrogate_path(text: str, value: Any) -> str | None:
    """Return the path of the first string of ``value``, parsed from the
    JSON ``text``, that contains a lone surrogate, such as
    ``history[0].date``, or None. A lone surrogate of a key is written as an
    escape such as ``\\ud800`` in the path. Text without a surrogate escape
    is not walked."""
    if not _MAYBE_SURROGATE.search(text):
        return None
    return _unpaired_surrogate_path(value, "")


def _unpaired_surrogate_path(node: Any, path: str) -> str | None:
    """Return the path of the first string under ``node``, a key or a value,
    that contains a lone surrogate, or None."""
    if isinstance(node, str):
        return None if _is_unicode(node) else path
    if isinstance(node, dict):
        for key, value in node.items():
            if not _is_unicode(key):
                return join_path(path, _escape_surrogates(key))
            found = _unpaired_surrogate_path(value, join_path(path, key))
            if found is not None:
                return found
    elif isinstance(node, list):
        for i, value in enumerate(node):
            found = _unpaired_surrogate_path(value, f"{path}[{i}]")
            if found is not None:
                return found
    return None


def _is_unicode(text: str) -> bool:
    """Return whether ``text`` has no lone surrogate, so UTF-8 can encode it."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _escape_surrogates(text: str) -> str:
    """Write each lone surrogate of ``text`` as an escape such as ``\\ud800``."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def join_path(path: str, key: str) -> str:
    """Return the path of the member ``key`` of the object at ``path``."""
    return f"{path}.{key}" if path else key
