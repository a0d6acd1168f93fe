"""Upload names whose words mix scripts, after UTS #39: Latin words with a
Cyrillic or Greek look-alike are found, names in one script pass, a micro
sign passes only as the prefix of a unit, and no joiner stays between
characters of the Latin script."""

from __future__ import annotations

import string
import unicodedata
from functools import cache

import pytest
from fontTools import unicodedata as ucd
from hypothesis import given, settings
from hypothesis import strategies as st

from models.errors import InvalidInputError
from service.filename_scripts import (
    MICRO_SIGNS,
    MICRO_UNITS,
    WITH_LATIN_HIGHLY,
    WITH_LATIN_MODERATELY,
    check_filename_scripts,
    mixed_script_word,
    words,
)
from service.filenames import JOINERS, display_filename

# the scripts of the single-script names, with the scripts that one of their
# words may combine (Japanese mixes Han, Hiragana and Katakana)
SCRIPT_GROUPS = {
    "Cyrillic": {"Cyrl"},
    "Greek": {"Grek"},
    "Japanese": {"Hani", "Hira", "Kana"},
    "Korean": {"Hang"},
    "Arabic": {"Arab"},
    "Devanagari": {"Deva"},
    "Latin": {"Latn"},
}
EMOJI = ["\U0001f525", "\U0001f468\u200d\U0001f469\u200d\U0001f467", "\u2764\ufe0f"]
SEPARATORS = [" ", "-", "_", ".", "(", ")", " 2024-05 "]


@cache
def letters_of(scripts: frozenset[str]) -> list[str]:
    """Return the letters of the Basic Multilingual Plane whose
    Script_Extensions lie within ``scripts``."""
    return [
        char
        for char in map(chr, range(0x10000))
        if unicodedata.category(char)[0] == "L"
        and set(ucd.script_extension(char)) <= scripts
    ]


@cache
def latin_characters() -> list[str]:
    """Return the letters and marks of the Basic Multilingual Plane whose
    Script_Extensions contain Latin, modifier letters included."""
    return [
        char
        for char in map(chr, range(0x10000))
        if unicodedata.category(char)[0] in "LM"
        and "Latn" in ucd.script_extension(char)
    ]


def script_words(scripts: frozenset[str]) -> st.SearchStrategy[str]:
    return st.text(st.sampled_from(letters_of(scripts)), min_size=1, max_size=8)


@settings(max_examples=300, deadline=None)
@given(
    latin=st.text(st.sampled_from(letters_of(frozenset({"Latn"}))), min_size=1),
    look_alike=st.sampled_from(
        letters_of(frozenset({"Cyrl"})) + letters_of(frozenset({"Grek"}))
    ),
    position=st.integers(min_value=0),
)
def test_latin_word_with_look_alike_found(
    latin: str, look_alike: str, position: int
) -> None:
    index = position % (len(latin) + 1)
    word = latin[:index] + look_alike + latin[index:]
    name = f"report {word}.csv"

    with pytest.raises(InvalidInputError) as raised:
        check_filename_scripts(name, "file")

    assert mixed_script_word(name) == word
    assert raised.value.field == "file"
    assert f"in the word {word!r}" in raised.value.message
    assert f"U+{ord(look_alike):04X}" in raised.value.message


@settings(max_examples=300, deadline=None)
@given(
    name=st.sampled_from(sorted(SCRIPT_GROUPS)).flatmap(
        lambda group: st.lists(
            script_words(frozenset(SCRIPT_GROUPS[group]))
            | st.sampled_from(EMOJI)
            | st.integers(0, 9999).map(str),
            min_size=1,
            max_size=5,
        )
    ),
    separator=st.sampled_from(SEPARATORS),
)
def test_single_script_name_passes(name: list[str], separator: str) -> None:
    shown = display_filename(separator.join(name) + ".csv")

    check_filename_scripts(shown, "file")
    assert mixed_script_word(shown or "") is None


@pytest.mark.parametrize(
    "name",
    [
        "отчёт.csv",
        "Ελληνικά δεδομένα.csv",
        "東京タワー 2024.csv",
        "Tシャツ売上.csv",
        "K팝 차트.csv",
        "a\u200d\u0915.csv",
        "\U0001f468\u200d\U0001f469\u200d\U0001f467 paypal.csv",
        "caf\u00e9 \u00df\u02b0.csv",
        "\u13da\u13a2\u13b5.csv",
        # the micro prefix of a unit, as Greek mu or as MICRO SIGN
        "10\u03bcm.csv",
        "10\u00b5m.csv",
        "\u03bcs_latency.csv",
        "2\u03bcM IC50.csv",
        "\u00b5L per min.csv",
        "5\u03bcmol-2024.csv",
        # a mu in a word without Latin letters
        "\u03bc.csv",
        "\u03bc\u03b5\u03c4\u03c1\u03ae\u03c3\u03b5\u03b9\u03c2.csv",
    ],
)
def test_legitimate_name_passes(name: str) -> None:
    assert mixed_script_word(name) is None


@pytest.mark.parametrize(
    ("name", "word"),
    [
        ("p\u0430ypal.csv", "p\u0430ypal"),
        ("\u0440aypal.csv", "\u0440aypal"),
        ("2024 \u03bfffice.csv", "\u03bfffice"),
        ("Q3\u043e\u0442\u0447\u0451\u0442.csv", "Q3\u043e\u0442\u0447\u0451\u0442"),
        # Cherokee is not a Recommended script, so it may not join Latin
        ("\u13aaBC.csv", "\u13aaBC"),
        # two scripts other than Latin
        ("\u03b1\u0432.csv", "\u03b1\u0432"),
        ("\u0915\u0627.csv", "\u0915\u0627"),
        # a micro sign that prefixes no unit is a Greek letter, which NFKC
        # makes of MICRO SIGN too
        ("\u03bcpdate.csv", "\u03bcpdate"),
        ("\u00b5pdate.csv", "\u00b5pdate"),
        ("\u03bcmbrella.csv", "\u03bcmbrella"),
        ("x\u03bcm.csv", "x\u03bcm"),
        ("data\u00b5.csv", "data\u00b5"),
    ],
)
def test_mixed_word_found(name: str, word: str) -> None:
    assert mixed_script_word(name) == word


@settings(max_examples=200, deadline=None)
@given(
    micro=st.sampled_from(sorted(MICRO_SIGNS)),
    unit=st.sampled_from(sorted(MICRO_UNITS)),
    number=st.integers(0, 9999).map(str) | st.just(""),
    tail=st.sampled_from(["", "2", "-1", "_per_day", " run 3"]),
)
def test_micro_prefix_of_unit_passes(
    micro: str, unit: str, number: str, tail: str
) -> None:
    name = f"sensor {number}{micro}{unit}{tail}.csv"

    check_filename_scripts(name, "file")


@settings(max_examples=200, deadline=None)
@given(
    micro=st.sampled_from(sorted(MICRO_SIGNS)),
    letters=st.text(st.sampled_from(string.ascii_letters), min_size=1, max_size=6),
    before=st.sampled_from(["", "x"]),
)
def test_micro_sign_beside_latin_word_found(
    micro: str, letters: str, before: str
) -> None:
    word = f"{before}{micro}{letters}"
    # a unit symbol after no letter is the micro prefix, which passes
    if not before and letters in MICRO_UNITS:
        assert mixed_script_word(f"{word}.csv") is None
        return

    with pytest.raises(InvalidInputError) as raised:
        check_filename_scripts(f"{word}.csv", "file")

    message = raised.value.message
    assert "Greek" in message
    assert "Latin" in message
    assert f"in the word {word!r}" in message
    assert f"U+{ord(micro):04X}" in message


def test_words_split_at_punctuation_and_spaces() -> None:
    assert words("a-b c_d.e\u2013f\U0001f525g") == ["a", "b", "c", "d", "e", "f", "g"]
    assert words("v2\u0301x") == ["v2\u0301x"]


def test_allowed_script_codes_known() -> None:
    for code in WITH_LATIN_MODERATELY:
        assert ucd.script_name(code, default=None) is not None, code
    assert WITH_LATIN_HIGHLY == {"Hanb", "Jpan", "Kore"}


def unnamed_latin() -> list[str]:
    """Return the characters of ``latin_characters`` whose Unicode name
    lacks the word LATIN, such as U+02B0 MODIFIER LETTER SMALL H."""
    return [
        char
        for char in latin_characters()
        if "LATIN" not in unicodedata.name(char, "").split()
    ]


LATIN_OR_OTHER = (
    st.sampled_from(latin_characters())
    | st.sampled_from(unnamed_latin())
    | st.sampled_from(list("09.-_ '"))
)


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.tuples(LATIN_OR_OTHER, st.sampled_from(["", *sorted(JOINERS)])),
        max_size=12,
    ).map(lambda pieces: "".join(char + joiner for char, joiner in pieces))
)
def test_no_joiner_beside_latin(sent: str) -> None:
    shown = display_filename(sent) or ""

    assert not JOINERS & set(shown), ascii(shown)
