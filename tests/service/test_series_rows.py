"""Series uploads over real HTTP whose rows the csv module cannot read, or
whose rows disagree with the header or with themselves after filling."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from models.registry import Registry
from tests.conftest import LiveServer
from tests.service.jobs_support import start_job_server

PROBLEM = "application/problem+json"
CSV = {"content-type": "text/csv"}
YAHOO_HEADER = b"Date,Open,High,Low,Close,Adj Close,Volume\n"
# one field over the csv module's default field_size_limit
LONG_FIELD = 131_073


@pytest.fixture(scope="module")
def rows_server(
    trained_registry: Registry, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[LiveServer, Path]]:
    env = {"RNN_FORECAST_MAX_UPLOAD_BYTES": "400000"}
    server, _, data_dir = start_job_server(
        trained_registry.root, tmp_path_factory.mktemp("series-rows"), env
    )
    yield server, data_dir
    server.stop()


def stored_files(data_dir: Path) -> set[str]:
    folder = data_dir / "series"
    return {p.name for p in folder.iterdir()} if folder.is_dir() else set()


def rejected_detail(server: tuple[LiveServer, Path], body: bytes) -> str:
    """Upload ``body`` and return the problem detail of its 422; check that
    nothing was stored."""
    client, data_dir = server[0].client, server[1]
    before = stored_files(data_dir)

    response = client.post("/v1/series", content=body, headers=CSV)

    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == PROBLEM
    assert stored_files(data_dir) == before
    detail: str = response.json()["detail"]
    return detail


def test_header_over_field_limit_rejected(
    rows_server: tuple[LiveServer, Path],
) -> None:
    detail = rejected_detail(rows_server, b"a" * 140_000)

    assert detail.startswith("the uploaded CSV has the header 'aaaa")
    assert "(140000 characters, the first 128 shown)" in detail
    assert "is not valid CSV (field larger than field limit (131072))" in detail
    assert "write one of the accepted headers" in detail


def test_blank_lines_rejected(rows_server: tuple[LiveServer, Path]) -> None:
    body = b"date,value\n2020-12-07,1\n" + b"\n" * 300_000

    detail = rejected_detail(rows_server, body)

    assert detail.startswith(
        "the uploaded CSV has 300,000 lines without a value (blank or only "
        "commas) and 2 lines with values; remove the lines without a value"
    )


def test_row_over_field_limit_rejected(rows_server: tuple[LiveServer, Path]) -> None:
    body = b'date,value\n2020-12-07,1\n2020-12-08,"' + b"9" * LONG_FIELD + b'"\n'

    detail = rejected_detail(rows_server, body)

    assert detail == (
        "the uploaded CSV: data row 2 (ending on line 3) is not valid CSV "
        "(field larger than field limit (131072)); close every quoted field "
        "and keep each field under 131072 characters"
    )


def test_unclosed_quote_rejected(rows_server: tuple[LiveServer, Path]) -> None:
    rows = [b"2020-12-07,500,505,495,505,505,1000", b"2020-12-08,505,506,500,505"]
    rows[1] += b',"505,1000'
    body = YAHOO_HEADER + b"\n".join(rows) + b"\n2020-12-09,505,506,500,505,505,1\n"

    detail = rejected_detail(rows_server, body)

    assert detail == (
        "the uploaded CSV: data row 2 (line 3) opens a quoted field that is not "
        "closed on that line, so the field runs on to the end of the file; close "
        "the quote on line 3"
    )


def test_bare_carriage_return_rejected(
    rows_server: tuple[LiveServer, Path],
) -> None:
    body = YAHOO_HEADER + b"2020-12-07,500,505,495,505,505,1000\r2020-12-08\n"

    detail = rejected_detail(rows_server, body)

    assert detail.startswith(
        "the uploaded CSV has a carriage return (CR) without a line feed on line 2"
    )
    assert "universal-newline" not in detail


def test_short_row_rejected(rows_server: tuple[LiveServer, Path]) -> None:
    body = YAHOO_HEADER + b"2020-12-07,500,505,495,505,505,1000\n2020-12-08,505\n"

    detail = rejected_detail(rows_server, body)

    assert detail.startswith("the uploaded CSV has 2 fields in data row 2 (line 3)")
    assert "has 7; write every field" in detail


def test_filled_high_below_close_rejected(
    rows_server: tuple[LiveServer, Path],
) -> None:
    body = (
        YAHOO_HEADER
        + b"2020-12-07,500,505,495,505,505,1000\n"
        + b"2020-12-08,505,,500,530,530,1000\n"
        + b"2020-12-09,510,520,505,515,515,1000\n"
    )

    detail = rejected_detail(rows_server, body)

    assert detail == (
        "the uploaded CSV: data row 2 (2020-12-08, row 1 is the first row after "
        "the header) has close 530, which is outside low..high (low 500, high "
        "505; high forward-filled from the previous row); fill in the high of "
        "that row, fix its prices or remove it"
    )


def test_filled_high_in_range_accepted(rows_server: tuple[LiveServer, Path]) -> None:
    body = (
        YAHOO_HEADER
        + b"2020-12-07,500,505,495,505,505,1000\n"
        + b"2020-12-08,505,,500,503,503,1000\n"
        + b"2020-12-09,503,506,500,504,504,1000\n"
        + b"2020-12-10,504,507,501,505,505,1000\n"
        + b"2020-12-11,505,508,502,506,506,1000\n"
    )

    response = rows_server[0].client.post("/v1/series", content=body, headers=CSV)

    assert response.status_code == 201, response.text
    assert response.json()["cleaning"] == [
        "Forward-filled 1 missing high value from the previous row: 2020-12-08."
    ]


@pytest.mark.parametrize(
    ("cell", "message"),
    [
        (b"inf", "close is inf in data row 2 (row 1 is the first row after the "),
        (b"-5", "close is -5 in data row 2 (row 1 is the first row after the "),
        (
            b"abc",
            "invalid number 'abc' in column close in data row 2 (row 1 is the "
            "first row after the ",
        ),
    ],
)
def test_bad_close_names_data_row(
    rows_server: tuple[LiveServer, Path], cell: bytes, message: str
) -> None:
    body = (
        YAHOO_HEADER
        + b"2020-12-07,500,505,495,505,505,1000\n"
        + b"2020-12-08,505,510,500,"
        + cell
        + b",505,1000\n"
    )

    detail = rejected_detail(rows_server, body)

    assert detail.startswith("the uploaded CSV: " + message)
    assert "header), dated 2020-12-08" in detail
