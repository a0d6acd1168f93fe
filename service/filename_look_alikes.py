"""Upload names that pass for Latin names, after the whole-script
confusable test of Unicode Technical Standard #39, section 4.

Each word of ``рау.csv``, written with U+0440, U+0430 and U+0443 of the
Cyrillic script, is in one script, so ``filename_scripts`` accepts it, yet
it shows as the Latin ``pay.csv``. ``latin_look_alike`` finds such names.
Its skeleton of a name replaces each letter of ``LATIN_LOOK_ALIKES`` by the
Latin letter that it looks like. When the skeleton then has only Latin,
Common and Inherited characters, the name can pass for the skeleton.

Such names are kept: many are real words of their script, such as Russian
``сахар`` (sugar, skeleton ``caxap``) or Greek ``ΚΑΙ``. The series
description reports the skeleton as ``filename_looks_like``, so a client
can mark the name where it shows it.

NOTE: ``LATIN_LOOK_ALIKES`` is a hand-made table in place of the
confusables data of UTS #39, which neither Python nor fontTools ships. It
covers Cyrillic, Greek and Armenian letters whose usual glyphs look like a
Latin letter, and DejaVu Sans draws most of them with the Latin letter's
outline. Look-alikes of other scripts, such as Cherokee, are not marked.
"""

from __future__ import annotations

import unicodedata

from service.filename_scripts import LATIN, word_script_sets

# letters of other scripts and the Latin letter that each looks like. The
# keys are letters without a canonical decomposition, because the skeleton
# is built from the NFD form: U+0451 CYRILLIC SMALL LETTER IO is U+0435 and
# U+0308 COMBINING DIAERESIS there, so it passes for ``ë``.
LATIN_LOOK_ALIKES = {
    # Cyrillic
    "\u0410": "A",
    "\u0412": "B",
    "\u0421": "C",
    "\u0415": "E",
    "\u041d": "H",
    "\u0406": "I",
    "\u04c0": "I",
    "\u0408": "J",
    "\u041a": "K",
    "\u041c": "M",
    "\u041e": "O",
    "\u0420": "P",
    "\u051a": "Q",
    "\u0405": "S",
    "\u0422": "T",
    "\u051c": "W",
    "\u0425": "X",
    "\u04ae": "Y",
    "\u0430": "a",
    "\u0441": "c",
    "\u0501": "d",
    "\u0435": "e",
    "\u04bb": "h",
    "\u0456": "i",
    "\u0458": "j",
    "\u04cf": "l",
    "\u043e": "o",
    "\u0440": "p",
    "\u051b": "q",
    "\u0455": "s",
    "\u051d": "w",
    "\u0445": "x",
    "\u0443": "y",
    # Greek
    "\u0391": "A",
    "\u0392": "B",
    "\u03f9": "C",
    "\u0395": "E",
    "\u0397": "H",
    "\u0399": "I",
    "\u039a": "K",
    "\u039c": "M",
    "\u039d": "N",
    "\u039f": "O",
    "\u03a1": "P",
    "\u03a4": "T",
    "\u03a7": "X",
    "\u03a5": "Y",
    "\u0396": "Z",
    "\u03b1": "a",
    "\u03f2": "c",
    "\u03b9": "i",
    "\u03f3": "j",
    "\u03b7": "n",
    "\u03bf": "o",
    "\u03c1": "p",
    "\u03c5": "u",
    "\u03bd": "v",
    "\u03c7": "x",
    "\u03b3": "y",
    # Armenian
    "\u053c": "L",
    "\u0555": "O",
    "\u054d": "U",
    "\u0581": "g",
    "\u0570": "h",
    "\u0578": "n",
    "\u0585": "o",
    "\u0566": "q",
    "\u057d": "u",
}


def latin_look_alike(name: str | None) -> str | None:
    """Return the all-Latin name that the display name ``name`` can pass
    for, in NFC form, or None when ``name`` is None, has no letter of
    ``LATIN_LOOK_ALIKES``, or has a letter of another script that looks
    like no Latin letter.

    A micro sign that prefixes a unit symbol, as in ``10μm``, counts as
    Common, as ``filename_scripts`` counts it.
    """
    # an ASCII name has no letter of another script
    if name is None or name.isascii():
        return None
    decomposed = unicodedata.normalize("NFD", name)
    skeleton = []
    for char, scripts in zip(decomposed, word_script_sets(decomposed), strict=True):
        latin = LATIN_LOOK_ALIKES.get(char)
        if latin is not None:
            skeleton.append(latin)
        elif scripts is None or LATIN in scripts:
            skeleton.append(char)
        else:
            return None
    look_alike = unicodedata.normalize("NFC", "".join(skeleton))
    return look_alike if look_alike != unicodedata.normalize("NFC", name) else None
