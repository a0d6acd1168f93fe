"""Rows that share a date: the kept row and the note that names the values
of the dropped rows."""

from __future__ import annotations

import pandas as pd

from models.data.csv_source import parse_csv_bytes
from models.data.validation import clean_frame

YAHOO_HEADER = "Date,Open,High,Low,Close,Adj Close,Volume\n"


def clean(raw: pd.DataFrame, kind: str = "price") -> tuple[pd.DataFrame, list[str]]:
    return clean_frame(raw, kind=kind, label="a.csv")


def test_identical_duplicates_short_note() -> None:
    raw = pd.DataFrame(
        {
            "date": ["2020-01-02", "2020-01-02", "2020-01-03", "2020-01-03"],
            "close": ["1.5", "1.5", "2", "2"],
            "volume": ["10", "10", "", ""],
        }
    )

    cleaned, notes = clean(raw)

    assert notes[0] == (
        "Dropped 2 rows with a duplicate date and the same values as the row "
        "kept for that date: 2020-01-02, 2020-01-03."
    )
    assert cleaned["close"].tolist() == [1.5, 2.0]


def test_differing_close_named_with_values() -> None:
    raw = pd.DataFrame(
        {
            "date": ["2020-01-02", "2020-01-03", "2020-01-02", "2020-01-06"],
            "close": ["1", "2", "1.25", "3"],
        }
    )

    cleaned, notes = clean(raw, kind="value")

    assert notes == [
        "Sorted the rows by date, moving 1 row that came after a later date: "
        "2020-01-02.",
        "Dropped 1 row with a duplicate date, keeping the last row in input "
        "order for each date: 2020-01-02. On 1 date the dropped rows had other "
        "values than the kept row, listed as dropped -> kept: "
        "2020-01-02 (value 1 -> 1.25).",
    ]
    assert cleaned["close"].tolist() == [1.25, 2.0, 3.0]


def test_differing_volume_and_missing_cell_named() -> None:
    raw = pd.DataFrame(
        {
            "date": ["2020-01-02", "2020-01-02", "2020-01-03", "2020-01-03"],
            "open": ["1", "1", "2", ""],
            "close": ["1", "1", "2", "2"],
            "volume": ["100", "150", "200", "200"],
        }
    )

    _, notes = clean(raw)

    assert notes[0] == (
        "Dropped 2 rows with a duplicate date, keeping the last row in input "
        "order for each date: 2020-01-02, 2020-01-03. On 2 dates the dropped "
        "rows had other values than the kept row, listed as dropped -> kept: "
        "2020-01-02 (volume 100 -> 150), 2020-01-03 (open 2 -> missing)."
    )


def test_mixed_duplicates_count_only_differing_dates() -> None:
    raw = pd.DataFrame(
        {
            "date": ["2020-01-02", "2020-01-02", "2020-01-03", "2020-01-03"],
            "close": ["1", "1", "2", "2.5"],
        }
    )

    _, notes = clean(raw)

    assert notes[0] == (
        "Dropped 2 rows with a duplicate date, keeping the last row in input "
        "order for each date: 2020-01-02, 2020-01-03. On 1 date the dropped "
        "rows had other values than the kept row, listed as dropped -> kept: "
        "2020-01-03 (close 2 -> 2.5)."
    )


def test_many_dropped_values_of_one_date_bounded() -> None:
    closes = ["1", "2", "2", "3", "4", "5", "6"]
    raw = pd.DataFrame({"date": ["2020-01-02"] * len(closes), "close": closes})

    _, notes = clean(raw)

    assert notes[0] == (
        "Dropped 6 rows with a duplicate date, keeping the last row in input "
        "order for each date: 2020-01-02. On 1 date the dropped rows had other "
        "values than the kept row, listed as dropped -> kept: 2020-01-02 "
        "(close 1, 2, 3 and 2 more -> 6)."
    )


def test_many_differing_dates_bounded() -> None:
    days = pd.bdate_range("2020-02-03", periods=8).strftime("%Y-%m-%d").tolist()
    raw = pd.DataFrame(
        {
            "date": [day for day in days for _ in range(2)],
            "close": [str(value) for i in range(8) for value in (i + 1, i + 1.5)],
        }
    )

    cleaned, notes = clean(raw)

    assert notes[0] == (
        "Dropped 8 rows with a duplicate date, keeping the last row in input "
        "order for each date: 2020-02-03, 2020-02-04, 2020-02-05 and 5 more. "
        "On 8 dates the dropped rows had other values than the kept row, "
        "listed as dropped -> kept: 2020-02-03 (close 1 -> 1.5), 2020-02-04 "
        "(close 2 -> 2.5), 2020-02-05 (close 3 -> 3.5), 2020-02-06 (close 4 -> "
        "4.5), 2020-02-07 (close 5 -> 5.5) and 3 more."
    )
    assert len(cleaned) == 8


def test_chosen_column_named_not_copied_close() -> None:
    text = YAHOO_HEADER + (
        "2020-01-02,1,2,0.5,1.5,1.5,100\n"
        "2020-01-02,1.25,2,0.5,1.5,1.5,100\n"
        "2020-01-03,2,3,1,2.5,2.5,200\n"
    )

    series = parse_csv_bytes(
        text.encode(), column="open", label="t.csv", source={"source": "t"}
    )

    assert series.cleaning == (
        "Dropped 1 row with a duplicate date, keeping the last row in input "
        "order for each date: 2020-01-02. On 1 date the dropped rows had other "
        "values than the kept row, listed as dropped -> kept: "
        "2020-01-02 (open 1 -> 1.25). The input's Close column, which open "
        "replaces in the series, was not compared.",
    )
    assert series.frame["close"].tolist() == [1.25, 2.0]


def test_replaced_close_not_called_same() -> None:
    # the two rows of 2020-01-02 differ only in the Close that open replaces
    text = YAHOO_HEADER + (
        "2020-01-02,1,2,0.5,1.5,1.5,100\n"
        "2020-01-02,1,2,0.5,1.75,1.5,100\n"
        "2020-01-03,2,3,1,2.5,2.5,200\n"
    )

    series = parse_csv_bytes(
        text.encode(), column="open", label="t.csv", source={"source": "t"}
    )

    assert series.cleaning == (
        "Dropped 1 row with a duplicate date and the same values as the row "
        "kept for that date: 2020-01-02. The input's Close column, which open "
        "replaces in the series, was not compared.",
    )
    assert series.frame["close"].tolist() == [1.0, 2.0]
