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

U+00B5 MICRO SIGN is Common there, but NFKC makes it U+03BC GREEK SMALL
LETTER MU, which passes for a ``u``, so both count as Greek. Either one
that starts an SI unit symbol, as in ``10μm`` or ``μs_latency``, is the
micro prefix and goes with every script instead.

A word wholly in one script whose letters look Latin, such as Cyrillic
``рау``, is no mix; ``filename_look_alikes`` marks such names.
"""

from __future__ import annotations

import re
import unicodedata

from fontTools import unicodedata as ucd

from models.errors import InvalidInputError

# ISO 15924 codes
LATIN = "Latn"
GREEK = "Grek"
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
# U+00B5 MICRO SIGN and U+03BC GREEK SMALL LETTER MU, its NFKC form
MICRO_SIGNS = frozenset("\u00b5\u03bc")
# SI unit symbols that take the micro prefix, as in μm, μs, μg, μL, μmol
# and μM (micromolar). A mu is a prefix only before a whole symbol, so the
# mu of ``μpdate`` is a Greek letter.
MICRO_UNITS = frozenset(
    {
        "A",
        "Bq",
        "C",
        "F",
        "Gy",
        "H",
        "Hz",
        "J",
        "K",
        "L",
        "M",
        "N",
        "Pa",
        "S",
        "Sv",
        "T",
        "V",
        "W",
        "Wb",
        "g",
        "l",
        "m",
        "mol",
        "s",
    }
)
# the letters after a micro sign, up to the next character that is no letter
LETTERS_AFTER = re.compile(r"[^\W\d_]*")


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
    pairs = zip(word, word_script_sets(word), strict=True)
    others = list(
        dict.fromkeys(
            char for char, scripts in pairs if scripts and LATIN not in scripts
        )
    )
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
    sets = [scripts for scripts in word_script_sets(word) if scripts is not None]
    if not sets or frozenset.intersection(*sets):
        return True

    # the scripts that every character without Latin has in common
    others = [scripts for scripts in sets if LATIN not in scripts]
    shared = frozenset.intersection(*others)
    return bool(shared & (WITH_LATIN_HIGHLY | WITH_LATIN_MODERATELY))


def word_script_sets(word: str) -> list[frozenset[str] | None]:
    """Return the ``script_set`` of each character of ``word``, with a
    micro sign of ``MICRO_SIGNS`` counted as Greek, or as None (every
    script) where it is the micro prefix of a unit symbol."""
    return [
        _micro_scripts(word, index) if char in MICRO_SIGNS else script_set(char)
        for index, char in enumerate(word)
    ]


def _micro_scripts(word: str, index: int) -> frozenset[str] | None:
    """Return the scripts of the micro sign ``word[index]``: None when it
    starts a run of letters that is a symbol of ``MICRO_UNITS`` and follows
    no letter, as in ``10μm``, and Greek otherwise, as in ``μpdate``."""
    unit = LETTERS_AFTER.match(word, index + 1)
    after_letter = index > 0 and word[index - 1].isalpha()
    if unit is not None and unit.group() in MICRO_UNITS and not after_letter:
        return None
    return frozenset({GREEK})


def scripts_named(word: str) -> list[str]:
    """Return the names of the Script property values of ``word``'s
    characters other than Common and Inherited, in the order they first
    appear, such as ``['Latin', 'Cyrillic']``. A micro sign of
    ``MICRO_SIGNS`` is named Greek unless it is a unit's micro prefix."""
    names: list[str] = []
    for char, scripts in zip(word, word_script_sets(word), strict=True):
        if char in MICRO_SIGNS:
            script = COMMON if scripts is None else GREEK
        else:
            script = ucd.script(char)
        name = ucd.script_name(script)
        if script not in (COMMON, INHERITED) and name not in names:
            names.append(name)
    return names
