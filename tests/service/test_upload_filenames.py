"""The multipart filename of an upload is stored and returned as a display
name without control, format and bidirectional characters."""

from __future__ import annotations

from collections.abc import Iterator

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


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    env = {"RNN_FORECAST_DATA_DIR": str(tmp_path_factory.mktemp("uploads"))}
    live = LiveServer(tmp_path_factory.mktemp("registry"), env=env)
    yield live
    live.stop()


def form(filename: str, csv: bytes) -> bytes:
    """A multipart form with ``csv`` in the field ``file`` under
    ``filename``, written as UTF-8 as browsers send it."""
    return (
        f"--{BOUNDARY}\r\n".encode()
        + b'Content-Disposition: form-data; name="file"; filename="'
        + filename.encode()
        + b'"\r\nContent-Type: text/csv\r\n\r\n'
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
