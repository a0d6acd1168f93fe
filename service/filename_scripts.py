"""Mixed-script detection for upload names, after Unicode Technical Standard
#39 (Unicode Security Mechanisms), section 5.

A word that mixes Latin with Cyrillic or Greek letters, as ``pаypal`` with
U+0430 CYRILLIC SMALL LETTER A, shows as another word. Each word of a name,
a run of letters, marks, digits and format characters, must meet the
standard's Moderately Restrictive level. That is, its characters share a
script, or they are covered by Latin and Han with Hiragana and Katakana,
Bopomofo or Hangul, or by Latin and one other Recommended script of UAX #31
that is not Cyrillic or Greek. A name may still contain words of different
scripts, as ``отчёт.csv`` contains a Cyrillic and a Latin word.

Scripts are the Script_Extensions property from fontTools' copy of the
Unicode Character Database. Common and Inherited characters, such as
digits, emoji and combining marks of no script, go with every script.

NOTE: a word wholly in one script whose letters look Latin, such as
Cyrillic ``рау``, passes. The standard's whole-script confusable detection
would catch it, but it needs the confusables data of UTS #39, which neither
Python nor fontTools ships.
"""

from __future__ import annotations

import unicodedata

from fontTools import unicodedata as ucd

from models.errors import InvalidInputError

# ISO 15924 codes
LATIN = "Latn"
COMMON = "Zyyy"
INHERITED = "Zinh"
# the scripts that UTS #39 adds to a character's set, because one writing
# system uses them together: Han with Bopomofo (Hanb), with Hiragana and
# Katakana (Jpan), and with Hangul (Kore)
AUGMENTED = {
    "Hani": frozenset({"Hanb", "Jpan", "Kore"}),
    "Hira": frozenset({"Jpan"}),
    "Kana": frozenset({"Jpan"}),
    "Hang": frozenset({"Kore"}),
    "Bopo": frozenset({"Hanb"}),
}
# the writing systems that may share a word with Latin at the Highly
# Restrictive level
WITH_LATIN_HIGHLY = frozenset({"Hanb", "Jpan", "Kore"})
# the Recommended scripts of UAX #31 (Table 5), less Latin, Cyrillic and
# Greek, which may share a word with Latin at the Moderately Restrictive
# level. Cherokee is not Recommended, so it may not share one either.
WITH_LATIN_MODERATELY = frozenset(
    {
        "Arab",
        "Armn",
        "Beng",
        "Bopo",
        "Deva",
        "Ethi",
        "Geor",
        "Gujr",
        "Guru",
        "Hang",
        "Hani",
        "Hebr",
        "Hira",
        "Kana",
        "Khmr",
        "Knda",
        "Laoo",
        "Mlym",
        "Mymr",
        "Orya",
        "Sinh",
        "Taml",
        "Telu",
        "Thaa",
        "Thai",
        "Tibt",
    }
)
# general categories whose characters separate two words: punctuation,
# symbols and separators
SEPARATOR_CATEGORIES = frozenset("PSZ")
# the maximum number of non-Latin characters that an error message names
MAX_NAMED_CHARS = 3


def script_set(char: str) -> frozenset[str] | None:
    """Return the augmented Script_Extensions of ``char``, or None for a
    Common or Inherited character, which goes with every script."""
    scripts = frozenset(ucd.script_extension(char))
    if scripts <= {COMMON, INHERITED}:
        return None
    augmented = set(scripts)
    for script in scripts:
        augmented |= AUGMENTED.get(script, frozenset())
    return frozenset(augmented)


def is_latin(char: str) -> bool:
    """Return whether Latin is one of the scripts of ``char``, as of
    U+02B0 MODIFIER LETTER SMALL H, whose name lacks the word LATIN."""
    return LATIN in ucd.script_extension(char)


def check_filename_scripts(name: str | None, field: str) -> None:
    """Raise ``InvalidInputError`` (HTTP 422) when a word of the display
    name ``name``, sent in the form field ``field``, mixes scripts below the
    Moderately Restrictive level."""
    word = None if name is None else mixed_script_word(name)
    if word is None:
        return
    others = [
        char
        for char in dict.fromkeys(word)
        if (scripts := script_set(char)) is not None and LATIN not in scripts
    ]
    named = [
        f"U+{ord(char):04X} {unicodedata.name(char, '')}"
        for char in others[:MAX_NAMED_CHARS]
    ]
    raise InvalidInputError(
        f"the filename {name!r} of the form field {field!r} mixes "
        f"{' and '.join(scripts_named(word))} letters in the word {word!r} "
        f"({', '.join(named)}), so it can pass for another name; rename the "
        "file so that each word is written in one script",
        field=field,
    )


def mixed_script_word(name: str) -> str | None:
    """Return the first word of ``name`` below the Moderately Restrictive
    level, or None when every word meets it."""
    for word in words(name):
        if not _moderately_restrictive(word):
            return word
    return None


def words(name: str) -> list[str]:
    """Return the runs of ``name`` between punctuation, symbols and spaces."""
    found, current = [], []
    for char in name:
        if unicodedata.category(char)[0] in SEPARATOR_CATEGORIES:
            if current:
                found.append("".join(current))
            current = []
        else:
            current.append(char)
    if current:
        found.append("".join(current))
    return found


def _moderately_restrictive(word: str) -> bool:
    """Return whether ``word`` is single-script, or is Latin with one script
    or writing system of ``WITH_LATIN_HIGHLY`` or ``WITH_LATIN_MODERATELY``."""
    sets = [scripts for char in word if (scripts := script_set(char)) is not None]
    if not sets or frozenset.intersection(*sets):
        return True

    # the scripts that every character without Latin has in common
    others = [scripts for scripts in sets if LATIN not in scripts]
    shared = frozenset.intersection(*others)
    return bool(shared & (WITH_LATIN_HIGHLY | WITH_LATIN_MODERATELY))


def scripts_named(word: str) -> list[str]:
    """Return the names of the Script property values of ``word``'s
    characters other than Common and Inherited, in the order they first
    appear, such as ``['Latin', 'Cyrillic']``."""
    names: list[str] = []
    for char in word:
        script = ucd.script(char)
        name = ucd.script_name(script)
        if script not in (COMMON, INHERITED) and name not in names:
            names.append(name)
    return names
