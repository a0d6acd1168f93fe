"""The display name of an uploaded file, cleaned from the multipart
``filename`` that the client sent.

The name is only shown (``GET /v1/series``), never used as a path. Control
characters could still rewrite a terminal or a log line, and bidirectional
controls reorder the displayed text: ``report``, U+202E RIGHT-TO-LEFT
OVERRIDE and ``vsc.exe`` show as ``reportexe.csv``. A zero-width joiner
hides inside Latin text, so that ``pay``, U+200D and ``pal.csv`` shows as
``paypal.csv``. ``display_filename`` keeps the printable text.
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
# ZERO WIDTH NON-JOINER and ZERO WIDTH JOINER (format characters) shape the
# characters on both sides, as in emoji sequences and Indic and Arabic
# scripts, so they are kept between two visible characters. Between two ASCII
# characters or Latin letters they change nothing on screen, so they go.
JOINERS = frozenset("\u200c\u200d")


def display_filename(name: str | None) -> str | None:
    """Return ``name`` cleaned for display, or None when nothing is left.

    The name is put in NFC form and loses the characters of
    ``REMOVED_CATEGORIES``, except a joiner of ``JOINERS`` between two
    visible characters that are not both ASCII characters or Latin letters.
    Every run of spaces, separators and line controls becomes one space, no
    space is left at either end, and at most ``MAX_FILENAME_CHARS``
    characters are kept. Only the first ``MAX_READ_CHARS`` characters of
    ``name`` are read.
    """
    if name is None:
        return None

    characters = []
    for char in unicodedata.normalize("NFC", name[:MAX_READ_CHARS]):
        if char in SPACE_CONTROLS or unicodedata.category(char) in SPACE_CATEGORIES:
            characters.append(" ")
        elif char in JOINERS or unicodedata.category(char) not in REMOVED_CATEGORIES:
            characters.append(char)
    cleaned = " ".join(_joined("".join(characters)).split())
    # a cut between a joiner and the character after it leaves the joiner last
    return _joined(cleaned[:MAX_FILENAME_CHARS]).rstrip() or None


def _joined(text: str) -> str:
    """Return ``text`` without the joiners that do not sit between two
    visible characters (characters other than a space or a joiner), and
    without those between two ASCII characters or Latin letters."""
    kept = []
    for index, char in enumerate(text):
        if char in JOINERS and not _joining(text, index):
            continue
        kept.append(char)
    return "".join(kept)


def _joining(text: str, index: int) -> bool:
    """Return whether the joiner ``text[index]`` sits between two visible
    characters of which at least one is neither ASCII nor a Latin letter."""
    if not (_visible(text, index - 1) and _visible(text, index + 1)):
        return False
    return not (_latin(text[index - 1]) and _latin(text[index + 1]))


def _latin(char: str) -> bool:
    """Return whether ``char`` is ASCII or a letter of the Latin script,
    judged by its Unicode name, as in LATIN SMALL LETTER E WITH ACUTE."""
    return char.isascii() or unicodedata.name(char, "").startswith("LATIN ")


def _visible(text: str, index: int) -> bool:
    """Return whether ``text[index]`` exists and is neither whitespace nor
    a joiner."""
    if not 0 <= index < len(text):
        return False
    char = text[index]
    return char not in JOINERS and not char.isspace()
