"""Tests of the CSV loaders and the bundled NFLX file."""

from __future__ import annotations

import codecs
import hashlib
import time
from pathlib import Path

import pandas as pd
import pytest

import models.data
from models.data.bundled import load_bundled
from models.data.csv_source import ACCEPTED_HEADERS, load_csv, parse_csv_bytes
from models.data.series import Series
from models.errors import DataError

YAHOO_HEADER = "Date,Open,High,Low,Close,Adj Close,Volume\n"
BUNDLED_PATH = Path(models.data.__file__).parent / "bundled" / "NFLX.csv"


def write(tmp_path: Path, text: str, name: str = "prices.csv") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def parse(raw: bytes, column: str = "close") -> Series:
    return parse_csv_bytes(raw, column=column, label="t.csv", source={"source": "t"})


def test_bundled_nflx_rows_and_range() -> None:
    series = load_bundled()

    assert len(series.frame) == 4673
    assert series.start.isoformat() == "2002-05-23"
    assert series.end.isoformat() == "2020-12-11"
    assert series.cleaning == ()
    assert series.kind == "price"
    assert list(series.frame.columns) == [
        "open",
        "high",
        "low",
        "close",
        "adj_close",
        "volume",
    ]
    assert series.frame["close"].iloc[0] == 1.196429


def test_bundled_source_and_sha256() -> None:
    raw = BUNDLED_PATH.read_bytes()

    series = load_bundled("adj_close")

    assert series.source == {
        "source": "bundled",
        "file": "NFLX.csv",
        "column": "adj_close",
        "format": "yahoo",
    }
    assert series.sha256 == hashlib.sha256(raw).hexdigest()
    assert series.frame["close"].equals(series.frame["adj_close"])


def test_load_csv_yahoo_clean_file(tmp_path: Path) -> None:
    text = (
        YAHOO_HEADER + "2020-01-02,1,2,0.5,1.5,1.4,100\n2020-01-03,2,3,1,2.5,2.4,200\n"
    )
    path = write(tmp_path, text)

    series = load_csv(path)

    assert series.kind == "price"
    assert series.cleaning == ()
    assert series.source == {
        "source": "csv",
        "path": str(path),
        "column": "close",
        "format": "yahoo",
    }
    assert series.sha256 == hashlib.sha256(text.encode()).hexdigest()
    assert series.frame["close"].tolist() == [1.5, 2.5]
    assert series.frame["volume"].tolist() == [100.0, 200.0]


def test_load_csv_yahoo_cleaning_sentences(tmp_path: Path) -> None:
    text = YAHOO_HEADER + (
        "2020-01-06,3,3,3,3,3,300\n"
        "2020-01-02,1,1,1,1,1,100\n"
        "2020-01-03,null,null,null,null,null,null\n"
        "2020-01-07,4,4,4,4,4,400\n"
        "2020-01-07,4.5,4.5,4.5,4.5,4.5,450\n"
        "2020-01-08,5,5,5,5,5,\n"
    )

    series = load_csv(write(tmp_path, text))

    assert series.cleaning == (
        "Dropped 1 row with a missing close value: 2020-01-03.",
        "Sorted the rows by date, moving 1 row that came after a later date: "
        "2020-01-02.",
        "Dropped 1 row with a duplicate date, keeping the last row in input "
        "order for each date: 2020-01-07. On 1 date the dropped rows had other "
        "values than the kept row, listed as dropped -> kept: 2020-01-07 (open "
        "4 -> 4.5, high 4 -> 4.5, low 4 -> 4.5, close 4 -> 4.5, adj_close 4 -> "
        "4.5, volume 400 -> 450).",
        "Forward-filled 1 missing volume value from the previous row: 2020-01-08.",
        "Found no row on 1 NYSE session between the first and the last date: "
        "2020-01-03. The longest gap is 1 session, 2020-01-03..2020-01-03. "
        "Training and forecasts read the rows on either side of a gap as "
        "consecutive sessions. Add rows for the missing sessions to model "
        "them.",
    )
    assert series.frame["close"].tolist() == [1.0, 3.0, 4.5, 5.0]
    assert series.frame["volume"].tolist() == [100.0, 300.0, 450.0, 450.0]
    assert series.frame.index.is_unique
    assert series.frame.index.is_monotonic_increasing


def test_parse_csv_header_case_and_order() -> None:
    raw = b"close,DATE,volume,Low,HIGH,open\n1.5,2020-01-02,10,1,2,1.2\n"

    series = parse(raw)

    assert series.source["format"] == "yahoo"
    assert list(series.frame.columns) == ["open", "high", "low", "close", "volume"]


@pytest.mark.parametrize(
    ("header", "repeated"),
    [
        ("date,value,value", "'value'"),
        ("\ufeffDate,Close,close,Volume", "'close'"),
        ("date,value,date,value", "'date', 'value'"),
    ],
)
def test_parse_csv_repeated_column_named_as_sent(header: str, repeated: str) -> None:
    raw = f"{header}\n2020-01-02,1,2,3\n".encode()

    with pytest.raises(DataError) as caught:
        parse(raw)

    message = str(caught.value)
    assert f"has the header {header.lstrip(chr(0xFEFF))!r}" in message
    assert (
        f"names the column{'s' if ',' in repeated else ''} {repeated} more than once"
        in message
    )
    assert ".1" not in message


def test_parse_csv_strips_bom_and_spaces() -> None:
    raw = "\ufeffdate, value\n2020-01-02, 1.5\n".encode()

    series = parse(raw)

    assert series.frame["close"].tolist() == [1.5]


def test_parse_csv_date_value_format() -> None:
    raw = b"date,value\n2020-01-02,-1.5\n2020-01-03,0\n2020-01-06,2\n"

    series = parse(raw)

    assert series.kind == "value"
    assert series.source == {"source": "t", "format": "value"}
    assert list(series.frame.columns) == ["close"]
    assert series.frame["close"].tolist() == [-1.5, 0.0, 2.0]


def test_parse_csv_selects_column() -> None:
    raw = (YAHOO_HEADER + "2020-01-02,1,2,0.5,1.5,1.4,100\n").encode()

    series = parse(raw, column="open")

    assert series.frame["close"].tolist() == [1.0]
    assert series.frame["open"].tolist() == [1.0]
    assert series.frame["adj_close"].tolist() == [1.4]


@pytest.mark.parametrize(
    ("raw", "column", "message"),
    [
        (
            b"Date,Price\n2020-01-02,1\n",
            "close",
            "t.csv has the header 'Date,Price', which is not one of the accepted "
            "headers 'Date,Open,High,Low,Close,Adj Close,Volume' (Yahoo Finance, "
            "Adj Close optional) or 'date,value'; rename the columns",
        ),
        (
            b"date,value,value\n2020-01-02,1,2\n",
            "close",
            "t.csv has the header 'date,value,value', which names the column "
            "'value' more than once; keep one column of each name",
        ),
        (
            b"Date,Open,High,Low,Close,Volume\n2020-01-02,1,1,1,1,1\n",
            "adj_close",
            "t.csv has no adj_close column (it has open, high, low, close, "
            "volume); choose one of those columns",
        ),
        (
            b"date,value\n2020-01-02,1\n",
            "adj_close",
            "t.csv is a date,value file with a single value column, so "
            "column='adj_close' does not exist; use column='close'",
        ),
        (
            b"date,value\n2020-01-02,1\n",
            "volume",
            "column must be one of open, high, low, close, adj_close, got 'volume'",
        ),
        (
            b"date,value\n2020-01-02,\xff1\n",
            "close",
            "t.csv is not UTF-8 text (invalid byte at offset 22); save it as a "
            "UTF-8 CSV file",
        ),
        (
            b"\xff\xfed\x00a\x00t\x00e\x00",
            "close",
            "t.csv is UTF-16 text (it starts with the UTF-16 byte order mark), "
            "not UTF-8; save it as a UTF-8 CSV file",
        ),
        (
            codecs.BOM_UTF16_BE + "date,value\n".encode("utf-16-be"),
            "close",
            "t.csv is UTF-16 text (it starts with the UTF-16 byte order mark), "
            "not UTF-8; save it as a UTF-8 CSV file",
        ),
        (
            codecs.BOM_UTF32_LE + "date,value\n".encode("utf-32-le"),
            "close",
            "t.csv is UTF-32 text (it starts with the UTF-32 byte order mark), "
            "not UTF-8; save it as a UTF-8 CSV file",
        ),
        (
            codecs.BOM_UTF32_BE + "date,value\n".encode("utf-32-be"),
            "close",
            "t.csv is UTF-32 text (it starts with the UTF-32 byte order mark), "
            "not UTF-8; save it as a UTF-8 CSV file",
        ),
        (
            b"date,value\n2020-01-02,\x001\n",
            "close",
            "t.csv contains NUL bytes, so it is a binary file and not a CSV "
            "file; export the data as CSV",
        ),
        (
            "date,value\n2020-01-02,1\n".encode("utf-16-le"),
            "close",
            "t.csv is UTF-16 text without a byte order mark, not UTF-8; save it "
            "as a UTF-8 CSV file",
        ),
        (
            "date,value\n2020-01-02,1\n".encode("utf-16-be"),
            "close",
            "t.csv is UTF-16 text without a byte order mark, not UTF-8; save it "
            "as a UTF-8 CSV file",
        ),
        (b"  \n", "close", "t.csv is empty; expected a CSV header"),
        (
            b"date,value\n",
            "close",
            "t.csv contains no data rows; add rows below the header",
        ),
    ],
)
def test_parse_csv_rejects(raw: bytes, column: str, message: str) -> None:
    with pytest.raises(DataError) as caught:
        parse(raw, column=column)

    assert str(caught.value) == message


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (
            b"date,value\n2020-01-02,1,5\n2020-01-03,2\n",
            "t.csv has 3 fields in data row 1 (line 2), but its header "
            "'date,value' has 2; remove the extra fields, or quote values that "
            "contain a comma",
        ),
        (
            b"\ndate,value\n\n2020-01-02,1\n2020-01-03,2,3\n",
            "t.csv has 3 fields in data row 2 (line 5), but its header "
            "'date,value' has 2; remove the extra fields, or quote values that "
            "contain a comma",
        ),
        (
            b"date,value\n2020-01-02,1\n2020-01-03\n",
            "t.csv has 1 field in data row 2 (line 3), but its header "
            "'date,value' has 2; write every field, and leave a missing value "
            "empty between its commas",
        ),
        (
            YAHOO_HEADER.encode() + b"2020-01-02,1,1,1,1\n",
            "t.csv has 5 fields in data row 1 (line 2), but its header "
            "'Date,Open,High,Low,Close,Adj Close,Volume' has 7; write every field",
        ),
        (
            b"a" * 140_000 + b"\n2020-01-02,1\n",
            "t.csv has the header 'aaaa",
        ),
        (
            b'date,value\n2020-01-02,1\n2020-01-03,"' + b"9" * 140_000 + b"\n",
            "t.csv: data row 2 (ending on line 3) is not valid CSV (field larger "
            "than field limit (131072)); close every quoted field and keep each "
            "field under 131072 characters",
        ),
        (
            b"date,value,\n2020-01-02,1,\n",
            "t.csv has the header 'date,value,', whose column 3 has no name; "
            "remove the comma at the end of every line",
        ),
        (
            b"date,,value\n2020-01-02,,1\n",
            "t.csv has the header 'date,,value', whose column 2 has no name; "
            "name that column or remove it",
        ),
        (
            b"date;value\n2020-01-02;1\n",
            "t.csv has the header 'date;value', which separates the column names "
            "with ';'; separate the fields of every line with commas",
        ),
        (
            b"Date\tClose\n2020-01-02\t1\n",
            "t.csv has the header 'Date\\tClose', which separates the column "
            "names with '\\t'; separate the fields of every line with commas",
        ),
        (
            b"root:x:0:0:root:/root:/bin/bash\nuser:x:1000:1000:A, B,,:/home:/bin/sh\n",
            "t.csv has the header 'root:x:0:0:root:/root:/bin/bash', which is not "
            "one of the accepted headers",
        ),
        (
            b'date,value\n2020-01-02,"1\n2020-01-03,2\n',
            "t.csv: data row 1 (line 2) opens a quoted field that is not closed "
            "on that line, so the field runs on to the end of the file; close the "
            "quote on line 2",
        ),
        (
            b'date,value\n2020-01-02,"1\n2\n"\n2020-01-03,2\n',
            "t.csv: data row 1 (line 2) has a quoted field that runs on to line "
            "4: either its quote is not closed on line 2, or the field holds a "
            "line break, which no column accepts; keep each quoted field on one "
            "line",
        ),
        (
            b"date,value\n2020-01-02,1\r2020-01-03,2\n",
            "t.csv has a carriage return (CR) without a line feed on line 2; end "
            "every line with LF or CRLF and remove other CR characters",
        ),
    ],
)
def test_parse_csv_names_layout_problem(raw: bytes, message: str) -> None:
    with pytest.raises(DataError) as caught:
        parse(raw)

    assert str(caught.value).startswith(message)
    assert "Unnamed" not in str(caught.value)
    assert caught.value.field == "data"


def test_parse_csv_rejects_non_positive_price() -> None:
    raw = (YAHOO_HEADER + "2020-01-02,1,1,1,1,1,1\n2020-01-03,1,1,1,-2,1,1\n").encode()

    with pytest.raises(DataError) as caught:
        parse(raw)

    assert str(caught.value) == (
        "t.csv: close is -2 in data row 2 (row 1 is the first row after the "
        "header), dated 2020-01-03, but prices must be positive; clean the file "
        "or load the series as a date,value CSV, which accepts any finite value"
    )


def test_load_csv_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "absent.csv"

    with pytest.raises(DataError) as caught:
        load_csv(path)

    assert str(caught.value) == f"CSV file not found: {path}; check the path"
    assert caught.value.field == "data.path"


def test_load_csv_directory(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="failed to read CSV file"):
        load_csv(tmp_path)


@pytest.mark.parametrize(
    "date",
    [
        "20240103",
        "2024-01-03T10:00:00Z",
        "2024-01-03 00:00",
        "3.1.2024",
        "\uff12\uff10\uff12\uff14-01-03",
    ],
)
def test_csv_date_not_iso_rejected(date: str) -> None:
    raw = f"date,value\n2024-01-02,1.0\n{date},2.0\n".encode()

    with pytest.raises(DataError) as caught:
        parse(raw)

    assert str(caught.value) == (
        f"t.csv: invalid date {date!r} in data row 2 (row 1 is the first row "
        "after the header); write dates as YYYY-MM-DD, without a time or a "
        "UTC offset"
    )


def test_yahoo_download_dates_stay_lenient() -> None:
    raw = b"date,value\n2024-01-02 00:00:00-05:00,1.0\n2024-01-03 00:00:00-05:00,2.0\n"

    series = parse_csv_bytes(
        raw, label="t.csv", source={"source": "t"}, strict_rows=False
    )

    assert len(series.frame) == 2


@pytest.mark.parametrize(
    ("row", "message"),
    [
        (
            "2024-01-03,10,9,11,10,10,100",
            "has low 11, which is above high (low 11, high 9)",
        ),
        ("2024-01-03,14,13,11,12.5,12,100", "has open 14, which is outside low..high"),
        (
            "2024-01-03,12,13,11,13.5,13,100",
            "has close 13.5, which is outside low..high",
        ),
        (
            "2024-01-03,12,,11,13,13,100",
            "has close 13, which is outside low..high (low 11, high 12; high "
            "forward-filled from the previous row); fill in the high of that "
            "row, fix its prices or remove it",
        ),
        (
            "2024-01-03,8.5,9,,8.5,8.5,100",
            "has open 8.5, which is outside low..high (low 9, high 9; low "
            "forward-filled from the previous row); fill in the low of that "
            "row, fix its prices or remove it",
        ),
        (
            "2024-01-03,,8,,7.5,7.5,100",
            "has low 9, which is above high (low 9, high 8; low forward-filled "
            "from the previous row); fill in the low of that row",
        ),
    ],
)
def test_yahoo_row_prices_checked(row: str, message: str) -> None:
    raw = (YAHOO_HEADER + "2024-01-02,10,12,9,11,11,100\n" + row + "\n").encode()

    with pytest.raises(DataError) as caught:
        parse(raw)

    assert str(caught.value).startswith(
        "t.csv: data row 2 (2024-01-03, row 1 is the first row after the header)"
    )
    assert message in str(caught.value)


def test_adjusted_close_may_leave_range() -> None:
    # Adj Close 8 lies below Low 9, as dividends can make it
    raw = (YAHOO_HEADER + "2024-01-02,10,12,9,11,8,100\n").encode()

    adjusted = parse(raw, column="adj_close")
    close = parse(raw)

    assert adjusted.frame["close"].iloc[0] == 8.0
    assert close.frame["close"].iloc[0] == 11.0
    with pytest.raises(DataError, match="has close 13, which is outside"):
        parse(raw.replace(b",11,8,", b",13,8,"))


def test_header_over_field_limit_quoted_short() -> None:
    with pytest.raises(DataError) as caught:
        parse(b"a" * 140_000 + b"\n2020-01-02,1\n")

    message = str(caught.value)
    assert "(140000 characters, the first 128 shown)" in message
    assert "is not valid CSV (field larger than field limit (131072))" in message
    assert message.endswith("write one of the accepted headers " + ACCEPTED_HEADERS)
    assert len(message) < 600


def test_forward_filled_prices_in_range_accepted() -> None:
    raw = (
        YAHOO_HEADER
        + "2024-01-02,10,12,9,11,11,100\n"
        + "2024-01-03,10,,9.5,11.5,11.5,\n"
    ).encode()

    series = parse(raw)

    assert series.frame["high"].tolist() == [12.0, 12.0]
    assert series.frame["volume"].tolist() == [100.0, 100.0]
    assert len(series.cleaning) == 2


def test_missing_low_shown_as_missing() -> None:
    raw = (YAHOO_HEADER + "2024-01-02,10,12,,13,13,100\n").encode()

    with pytest.raises(DataError, match=r"\(low missing, high 12\);"):
        parse(raw)


def test_filled_row_named_after_sorting() -> None:
    # the rows are written newest first, so data row 1 is the filled one
    raw = (
        YAHOO_HEADER
        + "2024-01-03,12,,11,13,13,100\n"
        + "2024-01-02,10,12,9,11,11,100\n"
    ).encode()

    with pytest.raises(DataError, match=r"^t\.csv: data row 1 \(2024-01-03,"):
        parse(raw)


def yahoo_rows(count: int) -> list[str]:
    """``count`` valid Yahoo rows on weekdays from 2019-10-01, which are all
    NYSE sessions up to 2019-11-27."""
    days = pd.bdate_range("2019-10-01", periods=count)
    return [f"{day.date()},100,102,99,101,101,1000" for day in days]


def parse_error(raw: bytes) -> str:
    """The message of the ``DataError`` that parsing ``raw`` raises."""
    with pytest.raises(DataError) as caught:
        parse(raw)
    return str(caught.value)


def test_unclosed_quote_names_opening_line() -> None:
    rows = yahoo_rows(40)
    rows[4] = rows[4].replace(",", ',"', 1)
    raw = (YAHOO_HEADER + "\n".join(rows) + "\n").encode()

    assert parse_error(raw) == (
        "t.csv: data row 5 (line 6) opens a quoted field that is not closed on "
        "that line, so the field runs on to the end of the file; close the quote "
        "on line 6"
    )


@pytest.mark.parametrize("end", ["", "\n"])
def test_trailing_open_quote_named(end: str) -> None:
    raw = (YAHOO_HEADER + "\n".join(yahoo_rows(40)) + ',"abc' + end).encode()

    message = parse_error(raw)
    assert message.startswith("t.csv: data row 40 (line 41) opens a quoted field")
    assert message.endswith("close the quote on line 41")
    assert "extra fields" not in message


def test_crlf_line_ends_accepted() -> None:
    raw = (YAHOO_HEADER + "\n".join(yahoo_rows(40)) + "\n").encode()

    series = parse(raw.replace(b"\n", b"\r\n"))

    assert len(series.frame) == len(parse(raw).frame)


def test_long_header_checked_in_linear_time() -> None:
    # 200,000 empty names: a check that compares each name with every other
    # one took over a minute, and a 10 MB header of commas took days
    raw = b"date,value" + b"," * 200_000 + b"\n2020-01-02,1\n"

    started = time.perf_counter()
    message = parse_error(raw)
    elapsed = time.perf_counter() - started

    assert "whose column 3 has no name" in message
    assert elapsed < 10
