"""A CSV with many more lines without a value than lines with values is
rejected before its rows are read one by one."""

from __future__ import annotations

import pytest

from models.data.csv_source import MAX_EMPTY_LINES, parse_csv_bytes
from models.errors import DataError
from tests.conftest import ROOT

ONE_ROW = b"date,value\n2024-01-02,1\n"


def parse_rows(raw: bytes) -> int:
    return len(parse_csv_bytes(raw, label="upload", source={}).frame)


@pytest.mark.parametrize("empty_line", [b"\n", b"  \t\n", b",\n", b" , \r\n"])
def test_empty_lines_beyond_limit_rejected(empty_line: bytes) -> None:
    raw = ONE_ROW + empty_line * (MAX_EMPTY_LINES + 1)

    with pytest.raises(DataError) as error:
        parse_rows(raw)

    assert error.value.field == "data"
    assert str(error.value) == (
        "upload has 1,001 lines without a value (blank or only commas) and 2 "
        "lines with values; remove the lines without a value, because at most "
        "1,000, or as many as the lines with values, are accepted"
    )


def test_empty_lines_at_limit_accepted() -> None:
    assert parse_rows(ONE_ROW + b"\n" * MAX_EMPTY_LINES) == 1


def test_empty_line_after_each_row_accepted() -> None:
    lines = (ROOT / "models" / "data" / "bundled" / "NFLX.csv").read_bytes()
    header, *rows = lines.splitlines()[: MAX_EMPTY_LINES * 2]
    raw = header + b"\n" + b"".join(row + b"\n\n" for row in rows)

    assert raw.count(b"\n\n") > MAX_EMPTY_LINES
    assert parse_rows(raw) == len(rows)
