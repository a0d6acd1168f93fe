"""Request header values as error messages show them.

A header value is a sequence of bytes without a declared charset (RFC 9110
section 5.5), and Starlette decodes it as Latin-1, so a value sent as the
UTF-8 bytes of ``é`` reads as ``Ã©``. Messages show a value as its bytes
decoded as UTF-8. Each byte that is no part of a valid UTF-8 sequence, and
the UTF-8 bytes of each character that is not printable, are written as
``\\xNN`` escapes. A backslash and a single quote get a backslash, so a
value shown in single quotes reads back as exactly the bytes sent.
"""

from __future__ import annotations

from models.quoted_ids import MAX_QUOTED_CHARS, cut_note


def header_text(value: str | bytes) -> str:
    """Write a header value for a message, without quotes. ``value`` is the
    raw bytes, or the Latin-1 text that Starlette's ``Headers`` returns."""
    return _escaped(_decoded(value))


def quoted_header(value: str | bytes, limit: int = MAX_QUOTED_CHARS) -> str:
    """Write a header value for a message in single quotes, as
    ``header_text`` does. A value of more than ``limit`` characters is cut
    there, and a note of its length follows the closing quote."""
    text = _decoded(value)
    quoted = f"'{_escaped(text[:limit])}'"
    return quoted if len(text) <= limit else quoted + cut_note(text, limit)


def _decoded(value: str | bytes) -> str:
    """Decode the bytes of ``value`` as UTF-8, keeping each invalid byte as
    a lone surrogate (Python's ``surrogateescape``)."""
    raw = value.encode("latin-1") if isinstance(value, str) else value
    return raw.decode("utf-8", "surrogateescape")


def _escaped(text: str) -> str:
    return "".join(map(_shown_character, text))


def _shown_character(character: str) -> str:
    if character in "\\'":
        return "\\" + character
    if character.isprintable():
        return character
    # an invalid byte comes back as itself, another character as its UTF-8
    raw = character.encode("utf-8", "surrogateescape")
    return "".join(f"\\x{byte:02x}" for byte in raw)
