"""The multipart filename of an upload is stored and returned as a display
name without control, format and bidirectional characters."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from service.filenames import MAX_FILENAME_CHARS, MAX_READ_CHARS, display_filename
from tests.conftest import LiveServer
from tests.service.test_series import yahoo_tail

BOUNDARY = "filename-boundary"


@pytest.mark.parametrize(
    ("sent", "shown"),
    [
        ("NFLX.csv", "NFLX.csv"),
        ("report\u202evsc.exe", "reportvsc.exe"),
        ("\u2066a\u2069\u200fb\u200e.csv", "ab.csv"),
        ("\ufeffzero\u200bwidth.csv", "zerowidth.csv"),
        ("red\x1b[31m.csv", "red[31m.csv"),
        ("a\x00b\x7fc\x9b.csv", "abc.csv"),
        ("two\r\nlines\u2028and\ttabs.csv", "two lines and tabs.csv"),
        ("  spaced \u00a0 out  ", "spaced out"),
        ("private\ue000use.csv", "privateuse.csv"),
        ("cafe\u0301.csv", "caf\u00e9.csv"),
        # ZWJ and ZWNJ between visible characters: an emoji sequence, an
        # emoji with a variation selector, Devanagari after a virama, Persian
        (
            "\U0001f468\u200d\U0001f469\u200d\U0001f467.csv",
            "\U0001f468\u200d\U0001f469\u200d\U0001f467.csv",
        ),
        ("\u2764\ufe0f\u200d\U0001f525.csv", "\u2764\ufe0f\u200d\U0001f525.csv"),
        ("\u0915\u094d\u200d\u0937.csv", "\u0915\u094d\u200d\u0937.csv"),
        (
            "\u0645\u06cc\u200c\u062e\u0648\u0627\u0647\u0645.csv",
            "\u0645\u06cc\u200c\u062e\u0648\u0627\u0647\u0645.csv",
        ),
        # a joiner beside a letter of a script other than Latin or an emoji
        ("a\u200d\u0915.csv", "a\u200d\u0915.csv"),
        ("\U0001f525\u200dx.csv", "\U0001f525\u200dx.csv"),
        # joiners between two ASCII characters or Latin letters, where they hide
        ("pay\u200dpal.csv", "paypal.csv"),
        ("pay\u200cpal.csv", "paypal.csv"),
        ("v1\u200d2.csv", "v12.csv"),
        ("caf\u00e9\u200d\u00df.csv", "caf\u00e9\u00df.csv"),
        ("name\u200d.csv", "name.csv"),
        # beside punctuation, digits, symbols, spacing accents, generic
        # combining marks or fullwidth Latin letters, where they hide too
        ("report\u2013\u200dfinal.csv", "report\u2013final.csv"),
        ("O\u2019\u200dBrien.csv", "O\u2019Brien.csv"),
        ("v\u00b2\u200d1.csv", "v\u00b21.csv"),
        ("\u20ac\u200d5.csv", "\u20ac5.csv"),
        ("a\u00b4\u200db.csv", "a\u00b4b.csv"),
        ("x\u0301\u200dy.csv", "x\u0301y.csv"),
        (
            "\uff50\uff41\uff59\u200d\uff50\uff41\uff4c",
            "\uff50\uff41\uff59\uff50\uff41\uff4c",
        ),
        # Latin and Common modifier letters, whose names lack LATIN
        ("a\u200d\u02b0.csv", "a\u02b0.csv"),
        ("\u1d2c\u200cb.csv", "\u1d2cb.csv"),
        ("x\u02b9\u200dy.csv", "x\u02b9y.csv"),
        # beside a Greek or Cyrillic letter, or an emoji component, they stay
        ("a\u200d\u03b2.csv", "a\u200d\u03b2.csv"),
        ("\u0436\u200d1.csv", "\u0436\u200d1.csv"),
        (
            "\U0001f469\U0001f3fd\u200d\U0001f4bb.csv",
            "\U0001f469\U0001f3fd\u200d\U0001f4bb.csv",
        ),
        # invisible marks: the grapheme joiner and Hangul fillers always
        # go, a variation selector unless it follows an emoji or a letter of
        # a script other than Latin, or starts a keycap
        ("pay\u034fpal.csv", "paypal.csv"),
        ("pay\u3164pal.csv", "paypal.csv"),
        ("pay\ufe00pal.csv", "paypal.csv"),
        ("pay\U000e0100pal.csv", "paypal.csv"),
        ("pay\ufe0f\u200dpal.csv", "paypal.csv"),
        ("\u2764\ufe0f.csv", "\u2764\ufe0f.csv"),
        ("\u2764\ufe0f\ufe0f.csv", "\u2764\ufe0f.csv"),
        ("1\ufe0f\u20e3.csv", "1\ufe0f\u20e3.csv"),
        ("\u845b\U000e0100.csv", "\u845b\U000e0100.csv"),
        ("\u1820\u180b.csv", "\u1820\u180b.csv"),
        # a removed character between a joiner and a visible one
        ("a\u202e\u200db.csv", "ab.csv"),
        ("\u0915\u094d\u202e\u200d\u0937.csv", "\u0915\u094d\u200d\u0937.csv"),
        # a removed character between a letter and its mark, or between
        # marks out of canonical order, leaves the name in NFC form
        ("cafe\u200b\u0301.csv", "caf\u00e9.csv"),
        ("\u0395\U000e0001\u0301.csv", "\u0388.csv"),
        ("o\u0308\u202e\u0323.csv", "\u1ecd\u0308.csv"),
        ("s\u200c\u0301.csv", "\u015b.csv"),
        # joiners at either end, beside a space or another joiner
        ("\u200dlead.csv", "lead.csv"),
        ("trail.csv\u200c", "trail.csv"),
        ("a \u200d b.csv", "a b.csv"),
        ("a\u200d\tb.csv", "a b.csv"),
        ("a\u200d\u200db.csv", "ab.csv"),
        ("a\u200c\u200d\u200cb.csv", "ab.csv"),
        ("\u200d\u0915.csv", "\u0915.csv"),
        ("\u0915\u200c", "\u0915"),
        ("\u0915 \u200d \u0937.csv", "\u0915 \u0937.csv"),
        ("\u0915\u200d\t\u0937.csv", "\u0915 \u0937.csv"),
        ("\u0915\u200d\u200d\u0937.csv", "\u0915\u0937.csv"),
        ("\u0915\u200c\u200d\u200c\u0937.csv", "\u0915\u0937.csv"),
        ("\u200d", None),
        ("", None),
        ("\u202e\u202c\x00 ", None),
        (None, None),
    ],
)
def test_display_filename_cleaned(sent: str | None, shown: str | None) -> None:
    assert display_filename(sent) == shown


def test_display_filename_bounded() -> None:
    long_name = "x" * (MAX_FILENAME_CHARS - 1) + " tail.csv"

    shown = display_filename(long_name)

    assert shown == "x" * (MAX_FILENAME_CHARS - 1)
    assert display_filename("\u202e" * MAX_READ_CHARS + "late.csv") is None


def test_display_filename_cut_drops_last_joiner() -> None:
    # the cut at MAX_FILENAME_CHARS falls between the joiner and the ssa
    sent = "x" * (MAX_FILENAME_CHARS - 2) + "\u0915\u200d\u0937.csv"

    shown = display_filename(sent)

    assert shown == "x" * (MAX_FILENAME_CHARS - 2) + "\u0915"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    env = {"RNN_FORECAST_DATA_DIR": str(tmp_path_factory.mktemp("uploads"))}
    live = LiveServer(tmp_path_factory.mktemp("registry"), env=env)
    yield live
    live.stop()


def form(filename: str | bytes, csv: bytes) -> bytes:
    """A multipart form with ``csv`` in the field ``file`` under
    ``filename``, written as UTF-8 when it is text."""
    raw = filename.encode() if isinstance(filename, str) else filename
    return form_part(b'form-data; name="file"; filename="' + raw + b'"', csv)


def form_part(disposition: bytes, csv: bytes) -> bytes:
    """A multipart form of one part, ``csv`` with the Content-Disposition
    ``disposition``."""
    return (
        f"--{BOUNDARY}\r\n".encode()
        + b"Content-Disposition: "
        + disposition
        + b"\r\nContent-Type: text/csv\r\n\r\n"
        + csv
        + f"\r\n--{BOUNDARY}--\r\n".encode()
    )


def test_upload_stores_display_filename(server: LiveServer) -> None:
    headers = {"content-type": f"multipart/form-data; boundary={BOUNDARY}"}
    body = form("prices\u202evsc.exe\x1b\t2020.csv", yahoo_tail(50))

    response = server.client.post("/v1/series", content=body, headers=headers)

    assert response.status_code == 201, response.text
    info = response.json()
    assert info["filename"] == "pricesvsc.exe 2020.csv"
    assert server.client.get(f"/v1/series/{info['id']}").json()["filename"] == (
        "pricesvsc.exe 2020.csv"
    )
    listed = server.client.get("/v1/series").json()["series"]
    assert [entry["filename"] for entry in listed] == ["pricesvsc.exe 2020.csv"]


def test_upload_cleans_joiners(server: LiveServer) -> None:
    headers = {"content-type": f"multipart/form-data; boundary={BOUNDARY}"}
    family = "\U0001f468\u200d\U0001f469\u200d\U0001f467"
    body = form(f"\u200d{family} \u200cpay\u200dpal.csv\u200c", yahoo_tail(50))

    response = server.client.post("/v1/series", content=body, headers=headers)

    assert response.status_code == 201, response.text
    info = response.json()
    assert info["filename"] == f"{family} paypal.csv"
    stored = server.client.get(f"/v1/series/{info['id']}").json()
    assert stored["filename"] == f"{family} paypal.csv"


def test_upload_mixed_script_name_rejected(server: LiveServer) -> None:
    headers = {"content-type": f"multipart/form-data; boundary={BOUNDARY}"}
    before = server.client.get("/v1/series").json()["series"]
    body = form("p\u0430ypal.csv", yahoo_tail(50))

    response = server.client.post("/v1/series", content=body, headers=headers)

    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert (
        "mixes Latin and Cyrillic letters in the word 'p\u0430ypal'"
        in (problem["detail"])
    )
    assert "U+0430 CYRILLIC SMALL LETTER A" in problem["detail"]
    assert "rename the file" in problem["detail"]
    assert [error["field"] for error in problem["errors"]] == ["file"]
    assert server.client.get("/v1/series").json()["series"] == before


@pytest.mark.parametrize(
    "name",
    [
        "\u043e\u0442\u0447\u0451\u0442 2024.csv",
        "\u03b4\u03b5\u03b4\u03bf\u03bc\u03ad\u03bd\u03b1.csv",
        "\u6771\u4eac\u30bf\u30ef\u30fc.csv",
        "\U0001f525 prices.csv",
        # the micro prefix of a unit beside Latin letters
        "sensor 10\u03bcm.csv",
        "sensor 10\u00b5m.csv",
        # percent escapes are kept as sent
        "caf%C3%A9.csv",
    ],
)
def test_upload_accepted_name_kept(server: LiveServer, name: str) -> None:
    headers = {"content-type": f"multipart/form-data; boundary={BOUNDARY}"}

    response = server.client.post(
        "/v1/series", content=form(name, yahoo_tail(50)), headers=headers
    )

    assert response.status_code == 201, response.text
    assert response.json()["filename"] == name


@pytest.mark.parametrize("micro", ["\u03bc", "\u00b5"])
def test_upload_mu_in_latin_word_rejected(server: LiveServer, micro: str) -> None:
    headers = {"content-type": f"multipart/form-data; boundary={BOUNDARY}"}
    body = form(f"{micro}pdate.csv", yahoo_tail(50))

    response = server.client.post("/v1/series", content=body, headers=headers)

    assert response.status_code == 422, response.text
    problem = response.json()
    assert f"in the word '{micro}pdate'" in problem["detail"]
    assert f"U+{ord(micro):04X}" in problem["detail"]
    assert [error["field"] for error in problem["errors"]] == ["file"]


def test_upload_look_alike_name_marked(server: LiveServer) -> None:
    headers = {"content-type": f"multipart/form-data; boundary={BOUNDARY}"}
    # U+0440, U+0430 and U+0443 of the Cyrillic script
    name = "\u0440\u0430\u0443 2024.csv"

    response = server.client.post(
        "/v1/series", content=form(name, yahoo_tail(50)), headers=headers
    )

    assert response.status_code == 201, response.text
    info = response.json()
    assert info["filename"] == name
    assert info["filename_looks_like"] == "pay 2024.csv"
    stored = server.client.get(f"/v1/series/{info['id']}").json()
    assert stored["filename_looks_like"] == "pay 2024.csv"
    listed = server.client.get("/v1/series").json()["series"]
    marks = {entry["id"]: entry["filename_looks_like"] for entry in listed}
    assert marks[info["id"]] == "pay 2024.csv"


def test_upload_latin_name_unmarked(server: LiveServer) -> None:
    headers = {"content-type": f"multipart/form-data; boundary={BOUNDARY}"}

    response = server.client.post(
        "/v1/series", content=form("pay 2024.csv", yahoo_tail(50)), headers=headers
    )

    assert response.status_code == 201, response.text
    assert response.json()["filename_looks_like"] is None
    stored = server.client.get(f"/v1/series/{response.json()['id']}").json()
    assert stored["filename_looks_like"] is None


@pytest.mark.parametrize(
    ("sent", "shown", "problem"),
    [
        # é in Latin-1, and отчёт in windows-1251
        (b"caf\xe9.csv", "'caf\\xe9.csv'", "(byte 0xE9 at offset 3: "),
        (b"\xee\xf2\xf7\xb8\xf2.csv", "'\\xee\\xf2", "(byte 0xEE at offset 0: "),
    ],
)
def test_upload_non_utf8_filename_rejected(
    server: LiveServer, sent: bytes, shown: str, problem: str
) -> None:
    headers = {"content-type": f"multipart/form-data; boundary={BOUNDARY}"}
    before = server.client.get("/v1/series").json()["series"]

    response = server.client.post(
        "/v1/series", content=form(sent, yahoo_tail(50)), headers=headers
    )

    assert response.status_code == 422, response.text
    detail = response.json()["detail"]
    assert detail.startswith(f"the filename {shown}"), detail
    assert f"of the form field 'file' is not valid UTF-8 {problem}" in detail
    assert "send the filename as UTF-8" in detail
    assert [error["field"] for error in response.json()["errors"]] == ["file"]
    assert server.client.get("/v1/series").json()["series"] == before


def post_in_charset(
    server: LiveServer, charset: str, filename: bytes
) -> httpx.Response:
    """Upload a CSV under ``filename`` in a form whose Content-Type names
    ``charset``."""
    content_type = f"multipart/form-data; charset={charset}; boundary={BOUNDARY}"
    return server.client.post(
        "/v1/series",
        content=form(filename, yahoo_tail(50)),
        headers={"content-type": content_type},
    )


@pytest.mark.parametrize(
    ("charset", "sent", "shown"),
    [
        ("iso-8859-1", b"caf\xe9.csv", "caf\u00e9.csv"),
        (
            "windows-1251",
            b"\xee\xf2\xf7\xb8\xf2.csv",
            "\u043e\u0442\u0447\u0451\u0442.csv",
        ),
    ],
)
def test_upload_filename_in_declared_charset(
    server: LiveServer, charset: str, sent: bytes, shown: str
) -> None:
    response = post_in_charset(server, charset, sent)

    assert response.status_code == 201, response.text
    assert response.json()["filename"] == shown


@pytest.mark.parametrize("charset", ["x-unknown", "base64", "rot13"])
def test_upload_unknown_charset_rejected(server: LiveServer, charset: str) -> None:
    response = post_in_charset(server, charset, b"caf\xe9.csv")

    assert response.status_code == 422, response.text
    detail = response.json()["detail"]
    assert detail.startswith(f"the charset '{charset}' of the Content-Type"), detail
    assert "is no known text encoding" in detail
    assert "leave the charset out and send the filename as UTF-8" in detail
    assert [error["field"] for error in response.json()["errors"]] == ["file"]


@pytest.mark.parametrize(
    ("charset", "sent", "problem"),
    [
        (
            "us-ascii",
            b"caf\xe9.csv",
            "of the form field 'file' is not valid ascii, the charset that the "
            "Content-Type names (byte 0xE9 at offset 3: ordinal not in range",
        ),
        # the punycode codec raises a UnicodeError of its own for the "."
        (
            "punycode",
            b"a.csv",
            "a part header of the form cannot be decoded in punycode, the "
            "charset that the Content-Type names (decoding with 'punycode' codec "
            "failed",
        ),
    ],
)
def test_upload_filename_invalid_in_declared_charset(
    server: LiveServer, charset: str, sent: bytes, problem: str
) -> None:
    response = post_in_charset(server, charset, sent)

    assert response.status_code == 422, response.text
    detail = response.json()["detail"]
    assert problem in detail
    assert "send the filename as UTF-8" in detail
    assert [error["field"] for error in response.json()["errors"]] == ["file"]


def test_upload_filename_star_ignored(server: LiveServer) -> None:
    headers = {"content-type": f"multipart/form-data; boundary={BOUNDARY}"}
    disposition = (
        b'form-data; name="file"; filename="report.csv"; '
        b"filename*=UTF-8''caf%C3%A9.csv"
    )

    response = server.client.post(
        "/v1/series", content=form_part(disposition, yahoo_tail(50)), headers=headers
    )

    assert response.status_code == 201, response.text
    assert response.json()["filename"] == "report.csv"


def test_upload_repeated_filename_rejected(server: LiveServer) -> None:
    headers = {"content-type": f"multipart/form-data; boundary={BOUNDARY}"}
    disposition = b'form-data; name="file"; filename="a.csv"; FILENAME="b;c.csv"'
    before = server.client.get("/v1/series").json()["series"]

    response = server.client.post(
        "/v1/series", content=form_part(disposition, yahoo_tail(50)), headers=headers
    )

    assert response.status_code == 422, response.text
    assert [error["field"] for error in response.json()["errors"]] == ["file"]
    assert response.json()["detail"] == (
        "the Content-Disposition header of the form field 'file' gives the "
        "filename parameter 2 times, and only the last would be stored; send it "
        "once, as in: curl -F 'file=@series.csv;filename=NAME.csv'"
    )
    assert server.client.get("/v1/series").json()["series"] == before


def test_upload_quoted_semicolon_filename_kept(server: LiveServer) -> None:
    headers = {"content-type": f"multipart/form-data; boundary={BOUNDARY}"}
    disposition = b'form-data; name="file"; filename="a; filename=b.csv"'

    response = server.client.post(
        "/v1/series", content=form_part(disposition, yahoo_tail(50)), headers=headers
    )

    assert response.status_code == 201, response.text
    assert response.json()["filename"] == "a; filename=b.csv"
