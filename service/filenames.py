"""The display name of an uploaded file, cleaned from the multipart
``filename`` that the client sent.

The name is only shown (``GET /v1/series``), never used as a path. Control
characters could still rewrite a terminal or a log line, and bidirectional
controls reorder the displayed text: ``report``, U+202E RIGHT-TO-LEFT
OVERRIDE and ``vsc.exe`` show as ``reportexe.csv``. ``display_filename``
keeps the printable text.
"""

from __future__ import annotations

import unicodedata

MAX_FILENAME_CHARS = 255
# characters of a sent name that are cleaned, which bounds the time the
# event loop spends on a name of megabytes
MAX_READ_CHARS = 4096
# Unicode general categories removed from a name: control (Cc), format (Cf,
# which contains the bidirectional controls, zero-width characters and the
# byte order mark), surrogate (Cs), private use (Co) and unassigned (Cn)
REMOVED_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Co", "Cn"})
# categories of the characters that become a space: the separators (Zs,
# Zl, Zp), such as U+2028 LINE SEPARATOR, and the controls that end a line
# or a field
SPACE_CATEGORIES = frozenset({"Zs", "Zl", "Zp"})
SPACE_CONTROLS = frozenset("\t\n\v\f\r\x1c\x1d\x1e\x1f\x85")


def display_filename(name: str | None) -> str | None:
    """Return ``name`` in NFC form with the characters of
    ``REMOVED_CATEGORIES`` removed, every run of spaces, separators and line
    controls turned into one space, no space at either end, and at most
    ``MAX_FILENAME_CHARS`` characters; None when nothing is left. Only the
    first ``MAX_READ_CHARS`` characters of ``name`` are read."""
    if name is None:
        return None

    characters = []
    for char in unicodedata.normalize("NFC", name[:MAX_READ_CHARS]):
        if char in SPACE_CONTROLS or unicodedata.category(char) in SPACE_CATEGORIES:
            characters.append(" ")
        elif unicodedata.category(char) not in REMOVED_CATEGORIES:
            characters.append(char)
    cleaned = " ".join("".join(characters).split())
    return cleaned[:MAX_FILENAME_CHARS].rstrip() or None
