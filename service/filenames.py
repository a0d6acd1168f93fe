"""The display name of an uploaded file, cleaned from the multipart
``filename`` that the client sent.

The name is only shown (``GET /v1/series``), never used as a path. Control
characters could still rewrite a terminal or a log line, and bidirectional
controls reorder the displayed text: ``report``, U+202E RIGHT-TO-LEFT
OVERRIDE and ``vsc.exe`` show as ``reportexe.csv``. A zero-width joiner
hides inside Latin text and beside punctuation, so that ``pay``, U+200D and
``pal.csv`` shows as ``paypal.csv``, and so do U+034F COMBINING GRAPHEME
JOINER and a variation selector there. ``display_filename`` keeps the
printable text. Look-alike letters of other scripts are visible, so they stay
here, and ``filename_scripts`` finds the words that mix them with Latin.
"""

from __future__ import annotations

import unicodedata

from service.filename_scripts import is_latin, script_set

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
# scripts, so they are kept beside a letter or mark of such a script or an
# emoji. Beside ASCII, Latin letters, punctuation, digits and generic
# combining marks alone they change nothing on screen, so they go.
JOINERS = frozenset("\u200c\u200d")
# the categories of letters and marks, which a joiner may shape
LETTERS_AND_MARKS = frozenset("LM")
# Code points that show nothing but are not format characters, from
# Unicode's default ignorable code points: COMBINING GRAPHEME JOINER, the
# Hangul fillers and the Khmer inherent vowels. They always go.
IGNORABLE_RANGES = (
    (0x034F, 0x034F),
    (0x115F, 0x1160),
    (0x17B4, 0x17B5),
    (0x3164, 0x3164),
    (0xFFA0, 0xFFA0),
)
# The variation selectors, Mongolian's included. One picks the form of the
# character before it, as U+FE0F picks an emoji's colour form, so it is
# kept after a character that ``_shaped`` accepts and before U+20E3
# COMBINING ENCLOSING KEYCAP, as in 1, U+FE0F, U+20E3. Elsewhere it hides,
# as in ``pay``, U+FE00, ``pal.csv``, and goes.
SELECTOR_RANGES = (
    (0x180B, 0x180D),
    (0x180F, 0x180F),
    (0xFE00, 0xFE0F),
    (0xE0100, 0xE01EF),
)
KEYCAP = "\u20e3"


def display_filename(name: str | None) -> str | None:
    """Return ``name`` cleaned for display, or None when nothing is left.

    The name is put in NFC form and loses the characters of
    ``REMOVED_CATEGORIES``, except a joiner of ``JOINERS`` between two
    visible characters of which one is a letter or mark that ``_shaped``
    accepts. It also loses the invisible characters of ``IGNORABLE_RANGES``
    and the variation selectors that select nothing.
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
    visible = _joined(_without_ignorables("".join(characters)))
    # NFC again, because a removed character may have parted a letter and its mark
    cleaned = " ".join(unicodedata.normalize("NFC", visible).split())
    # a cut between a joiner and the character after it leaves the joiner last
    return _joined(cleaned[:MAX_FILENAME_CHARS]).rstrip() or None


def _without_ignorables(text: str) -> str:
    """Return ``text`` without the characters of ``IGNORABLE_RANGES``, and
    without the variation selectors that select nothing: those neither
    after a character that ``_shaped`` accepts nor before a keycap."""
    remaining: list[str] = []
    for index, char in enumerate(text):
        if _within(char, IGNORABLE_RANGES):
            continue
        if _within(char, SELECTOR_RANGES):
            after_shaped = bool(remaining) and _shaped(remaining[-1])
            after_selector = bool(remaining) and _within(remaining[-1], SELECTOR_RANGES)
            before_keycap = text[index + 1 : index + 2] == KEYCAP
            if not ((after_shaped and not after_selector) or before_keycap):
                continue
        remaining.append(char)
    return "".join(remaining)


def _within(char: str, ranges: tuple[tuple[int, int], ...]) -> bool:
    """Return whether the code point of ``char`` lies in one of ``ranges``."""
    code = ord(char)
    return any(low <= code <= high for low, high in ranges)


def _joined(text: str) -> str:
    """Return ``text`` without the joiners that do not sit between two
    visible characters (characters other than a space or a joiner), and
    without those of which neither neighbour is ``_shaped``."""
    kept = []
    for index, char in enumerate(text):
        if char in JOINERS and not _joining(text, index):
            continue
        kept.append(char)
    return "".join(kept)


def _joining(text: str, index: int) -> bool:
    """Return whether the joiner ``text[index]`` sits between two visible
    characters of which at least one is ``_shaped``."""
    if not (_visible(text, index - 1) and _visible(text, index + 1)):
        return False
    return _shaped(text[index - 1]) or _shaped(text[index + 1])


def _shaped(char: str) -> bool:
    """Return whether a joiner beside ``char`` may change how it shows.

    That is an emoji or emoji component (category So), or a letter or mark
    of a script other than Latin. Latin, by its Script_Extensions property,
    covers U+FF41 FULLWIDTH LATIN SMALL LETTER A, U+02B0 MODIFIER LETTER
    SMALL H and U+0301 COMBINING ACUTE ACCENT. A letter or mark of the
    Common or Inherited script, such as U+02B9 MODIFIER LETTER PRIME, is
    not shaped either.
    """
    if char.isascii():
        return False
    category = unicodedata.category(char)
    if category == "So":
        return True
    if category[0] not in LETTERS_AND_MARKS:
        return False
    return script_set(char) is not None and not is_latin(char)


def _visible(text: str, index: int) -> bool:
    """Return whether ``text[index]`` exists and is neither whitespace nor
    a joiner."""
    if not 0 <= index < len(text):
        return False
    char = text[index]
    return char not in JOINERS and not char.isspace()
