"""Upload names written wholly in letters of other scripts that look Latin
are found with the Latin name that they pass for. Other names are not."""

from __future__ import annotations

import string
import unicodedata
from collections import defaultdict

import pytest
from fontTools import unicodedata as ucd
from hypothesis import given, settings
from hypothesis import strategies as st

from service.filename_look_alikes import LATIN_LOOK_ALIKES, latin_look_alike
from service.filename_scripts import check_filename_scripts


def look_alikes_by_script() -> dict[str, dict[str, list[str]]]:
    """Return the letters of ``LATIN_LOOK_ALIKES`` by script, then by the
    Latin letter that they look like."""
    found: dict[str, dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
    for char, latin in LATIN_LOOK_ALIKES.items():
        found[ucd.script(char)][latin].append(char)
    return found


BY_SCRIPT = look_alikes_by_script()


@pytest.mark.parametrize(
    ("name", "looks_like"),
    [
        ("\u0440\u0430\u0443.csv", "pay.csv"),
        ("\u0441\u0430\u0445\u0430\u0440.csv", "caxap.csv"),
        ("\u039a\u0391\u0399 2024.csv", "KAI 2024.csv"),
        # letters with a diacritic pass for the Latin letter with it
        ("\u0441\u0451\u0440.csv", "c\u00ebp.csv"),
        ("\u03ac\u03bd.csv", "\u00e1v.csv"),
        ("\u0570\u0585\u057d.csv", "hou.csv"),
        # a Latin word and a look-alike word: the name passes for all-Latin
        ("\u0440\u0430\u0443 report.csv", "pay report.csv"),
        ("\u0440\u0430\u0443 10\u03bcm.csv", "pay 10\u03bcm.csv"),
    ],
)
def test_look_alike_name_found(name: str, looks_like: str) -> None:
    assert latin_look_alike(name) == looks_like


@pytest.mark.parametrize(
    "name",
    [
        None,
        "paypal.csv",
        "10\u03bcm.csv",
        # letters that look like no Latin letter: te, short i, Greek mu
        "\u043e\u0442\u0447\u0451\u0442.csv",
        "\u0440\u0430\u0443 \u043e\u0442\u0447\u0451\u0442.csv",
        "\u0439\u043e.csv",
        "\u03bc\u03b1.csv",
        "\u6771\u4eac.csv",
        "\U0001f525.csv",
    ],
)
def test_name_without_look_alike_passes(name: str | None) -> None:
    assert latin_look_alike(name) is None


@settings(max_examples=300, deadline=None)
@given(data=st.data(), script=st.sampled_from(sorted(BY_SCRIPT)))
def test_word_of_look_alikes_passes_for_latin(data: st.DataObject, script: str) -> None:
    latin_letters = sorted(BY_SCRIPT[script])
    latin = data.draw(st.text(st.sampled_from(latin_letters), min_size=1))
    word = "".join(data.draw(st.sampled_from(BY_SCRIPT[script][c])) for c in latin)
    name = f"{word} 2024-05.csv"

    check_filename_scripts(name, "file")
    assert latin_look_alike(name) == f"{latin} 2024-05.csv"


@settings(max_examples=300, deadline=None)
@given(
    data=st.data(),
    script=st.sampled_from(sorted(BY_SCRIPT)),
    position=st.integers(min_value=0),
)
def test_one_other_letter_clears_look_alike(
    data: st.DataObject, script: str, position: int
) -> None:
    letters = [char for chars in BY_SCRIPT[script].values() for char in chars]
    word = data.draw(st.text(st.sampled_from(letters), min_size=1))
    others = [
        chr(code)
        for code in range(0x0370, 0x0590)
        if unicodedata.category(chr(code)) in ("Lu", "Ll")
        and ucd.script(chr(code)) == script
        and unicodedata.normalize("NFD", chr(code))[0] not in LATIN_LOOK_ALIKES
    ]
    other = data.draw(st.sampled_from(others))
    index = position % (len(word) + 1)

    assert latin_look_alike(f"{word[:index]}{other}{word[index:]}.csv") is None


def test_look_alike_table_maps_other_scripts_to_latin() -> None:
    assert set(BY_SCRIPT) == {"Cyrl", "Grek", "Armn"}
    for char, latin in LATIN_LOOK_ALIKES.items():
        assert "Latn" not in ucd.script_extension(char), ascii(char)
        assert unicodedata.normalize("NFD", char) == char, ascii(char)
        assert latin in string.ascii_letters, ascii(char)
