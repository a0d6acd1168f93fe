"""Tests of clean_frame: the cleaning policy and its exact messages."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from models.data.validation import clean_frame
from models.errors import DataError


def frame(**columns: list[object]) -> pd.DataFrame:
    return pd.DataFrame(columns)


def test_clean_frame_clean_input_has_no_notes() -> None:
    raw = frame(date=["2020-01-02", "2020-01-03"], close=["1.5", "2.5"])

    cleaned, notes = clean_frame(raw, kind="price", label="a.csv")

    assert notes == []
    assert cleaned.index.name == "date"
    assert cleaned.index.dtype == "datetime64[ns]"
    assert list(cleaned.index.strftime("%Y-%m-%d")) == ["2020-01-02", "2020-01-03"]
    assert cleaned["close"].dtype == np.float64
    assert cleaned["close"].tolist() == [1.5, 2.5]


def test_clean_frame_orders_columns() -> None:
    raw = frame(
        date=["2020-01-02"], volume=[10], close=[2.0], adj_close=[2.0], open=[1.0]
    )

    cleaned, _ = clean_frame(raw, kind="price", label="a.csv")

    assert list(cleaned.columns) == ["open", "close", "adj_close", "volume"]


def test_clean_frame_forward_fills_other_columns() -> None:
    raw = frame(
        date=["2020-01-02", "2020-01-03", "2020-01-06", "2020-01-07"],
        open=["1", "", "null", "4"],
        close=["1", "2", "3", "4"],
        volume=["10", "20", "NaN", "40"],
    )

    cleaned, notes = clean_frame(raw, kind="price", label="a.csv")

    assert notes == [
        "Forward-filled 2 missing open values from the previous row: "
        "2020-01-03, 2020-01-06.",
        "Forward-filled 1 missing volume value from the previous row: 2020-01-06.",
    ]
    assert cleaned["open"].tolist() == [1.0, 1.0, 1.0, 4.0]
    assert cleaned["volume"].tolist() == [10.0, 20.0, 20.0, 40.0]


def test_clean_frame_drops_unfillable_leading_rows() -> None:
    raw = frame(
        date=["2020-01-02", "2020-01-03", "2020-01-06"],
        open=["", "2", "3"],
        close=["1", "2", "3"],
    )

    cleaned, notes = clean_frame(raw, kind="price", label="a.csv")

    assert notes == [
        "Dropped 1 leading row because open had no earlier value to "
        "forward-fill: 2020-01-02.",
    ]
    assert len(cleaned) == 2


def test_clean_frame_drops_empty_column() -> None:
    raw = frame(date=["2020-01-02", "2020-01-03"], close=[1, 2], volume=["", ""])

    cleaned, notes = clean_frame(raw, kind="price", label="a.csv")

    assert notes == ["Dropped the volume column because every value in it was missing."]
    assert list(cleaned.columns) == ["close"]


def test_clean_frame_converts_timezones() -> None:
    raw = frame(
        date=["2020-01-02 00:00:00-05:00", "2020-07-01 00:00:00-04:00"],
        close=[1.0, 2.0],
    )

    cleaned, notes = clean_frame(raw, kind="value", label="a.csv")

    assert notes == [
        "Converted 2 timezone-aware dates to America/New_York and dropped the timezone."
    ]
    assert cleaned.index.tz is None
    assert list(cleaned.index.strftime("%Y-%m-%d")) == ["2020-01-02", "2020-07-01"]


def test_clean_frame_moves_utc_midnight_back() -> None:
    raw = frame(date=["2020-01-03T00:00:00Z"], close=[1.0])

    cleaned, notes = clean_frame(raw, kind="value", label="a.csv")

    assert notes == [
        "Converted 1 timezone-aware date to America/New_York and dropped the timezone.",
        "Dropped the time of day from 1 date: 2020-01-02.",
    ]
    assert cleaned.index[0] == pd.Timestamp("2020-01-02")


def test_clean_frame_rejects_mixed_offsets() -> None:
    raw = frame(date=["2020-01-02 00:00:00-05:00", "2020-07-01"], close=[1, 2])

    with pytest.raises(DataError) as caught:
        clean_frame(raw, kind="value", label="a.csv")

    assert str(caught.value) == (
        "a.csv: the date '2020-07-01' in data row 2 has no UTC offset but other "
        "dates have one; write every date with an offset or none"
    )


def test_clean_frame_drops_time_of_day() -> None:
    raw = frame(date=["2020-01-02 16:00", "2020-01-03"], close=[1.0, 2.0])

    cleaned, notes = clean_frame(raw, kind="value", label="a.csv")

    assert notes == ["Dropped the time of day from 1 date: 2020-01-02."]
    assert (cleaned.index == cleaned.index.normalize()).all()


def test_clean_frame_lists_three_dates() -> None:
    dates = [f"2020-01-{day:02d}" for day in range(1, 7)]
    raw = frame(date=dates, close=["1", "", "", "", "", "6"])

    _, notes = clean_frame(raw, kind="value", label="a.csv")

    assert notes == [
        "Dropped 4 rows with a missing value: "
        "2020-01-02, 2020-01-03, 2020-01-04 and 1 more."
    ]


def test_clean_frame_value_kind_accepts_negatives() -> None:
    raw = frame(date=["2020-01-02", "2020-01-03"], close=["-1.5", "0"])

    cleaned, notes = clean_frame(raw, kind="value", label="a.csv")

    assert notes == []
    assert cleaned["close"].tolist() == [-1.5, 0.0]


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (
            frame(date=["2020-01-02", "02/01/2020"], close=["1", "2"]),
            "a.csv: invalid date '02/01/2020' in data row 2 (row 1 is the first "
            "row after the header); write dates as YYYY-MM-DD",
        ),
        (
            frame(date=["2020-01-02", ""], close=["1", "2"]),
            "a.csv: invalid date '' in data row 2 (row 1 is the first row after "
            "the header); write dates as YYYY-MM-DD",
        ),
        (
            frame(date=["2020-01-02"], close=["1,5"]),
            "a.csv: invalid number '1,5' in column close in data row 1 (row 1 "
            "is the first row after the header), dated 2020-01-02; write a "
            "number or leave the cell empty",
        ),
        (
            frame(date=["2020-01-02", "2020-01-03"], close=["1", "inf"]),
            "a.csv: close is inf in data row 2 (row 1 is the first row after "
            "the header), dated 2020-01-03; replace it with a finite number or "
            "remove the row",
        ),
        (
            frame(date=["2020-01-02"], close=[1.0], high=[-np.inf]),
            "a.csv: high is -inf in data row 1 (row 1 is the first row after "
            "the header), dated 2020-01-02; replace it with a finite number or "
            "remove the row",
        ),
        (
            frame(date=["2020-01-02", "2020-01-03"], close=["", "null"]),
            "a.csv: no rows left after dropping 2 rows with a missing close "
            "value; check that the file contains data",
        ),
        (
            frame(date=["2020-01-02"], close=["null"]),
            "a.csv: no rows left after dropping 1 row with a missing close "
            "value; check that the file contains data",
        ),
        (
            frame(date=[], close=[]),
            "a.csv contains no data rows; add rows below the header",
        ),
        (
            frame(date=["1500-01-02"], close=["1"]),
            "a.csv: a date lies outside 1677-09-22..2262-04-11, the range that "
            "pandas datetime64[ns] can store; fix the date",
        ),
    ],
)
def test_clean_frame_rejects_invalid_input(raw: pd.DataFrame, message: str) -> None:
    with pytest.raises(DataError) as caught:
        clean_frame(raw, kind="price", label="a.csv")

    assert str(caught.value) == message
    assert caught.value.field == "data"


@pytest.mark.parametrize(
    ("column", "value", "shown"),
    [("close", "0", "0"), ("low", "-0.5", "-0.5"), ("adj_close", "0.0", "0")],
)
def test_clean_frame_rejects_non_positive_price(
    column: str, value: str, shown: str
) -> None:
    raw = frame(date=["2020-01-02", "2020-01-03"], close=["1", "2"])
    raw[column] = ["1", value]

    with pytest.raises(DataError) as caught:
        clean_frame(raw, kind="price", label="a.csv")

    assert str(caught.value) == (
        f"a.csv: {column} is {shown} in data row 2 (row 1 is the first row after "
        "the header), dated 2020-01-03, but prices must be positive; clean the "
        "file or load the series as a date,value CSV, which accepts any finite "
        "value"
    )


def test_non_positive_price_names_row_after_sorting() -> None:
    # rows 2 and 4 share a date, and cleaning keeps row 4 of the two
    raw = frame(
        date=["2020-01-06", "2020-01-03", "2020-01-02", "2020-01-03"],
        close=["1", "2", "3", "-4"],
    )

    with pytest.raises(DataError, match=r"close is -4 in data row 4 \("):
        clean_frame(raw, kind="price", label="a.csv")


def test_clean_frame_rejects_negative_volume() -> None:
    raw = frame(date=["2020-01-02"], close=["1"], volume=["-5"])

    with pytest.raises(
        DataError, match=r"volume is -5 in data row 1 \(.*\), dated 2020-01-02, but"
    ):
        clean_frame(raw, kind="price", label="a.csv")


def test_clean_frame_rejects_unknown_kind() -> None:
    raw = frame(date=["2020-01-02"], close=["1"])

    with pytest.raises(ValueError, match="kind must be one of"):
        clean_frame(raw, kind="prices", label="a.csv")


@pytest.mark.parametrize(
    ("close", "message"),
    [
        (
            ["1", "x"],
            "a.csv: invalid number 'x' in column value in data row 2 (row 1 "
            "is the first row after the header), dated 2020-01-03; write a "
            "number or leave the cell empty",
        ),
        (
            ["1", "-inf"],
            "a.csv: value is -inf in data row 2 (row 1 is the first row after "
            "the header), dated 2020-01-03; replace it with a finite number or "
            "remove the row",
        ),
    ],
)
def test_value_kind_errors_name_value_column(close: list[str], message: str) -> None:
    raw = frame(date=["2020-01-02", "2020-01-03"], close=close)

    with pytest.raises(DataError) as caught:
        clean_frame(raw, kind="value", label="a.csv")

    assert str(caught.value) == message


def test_float64_overflow_shown_as_written() -> None:
    raw = frame(date=["2020-01-02", "2020-01-03"], close=["1", "9" * 400])

    with pytest.raises(DataError) as caught:
        clean_frame(raw, kind="price", label="a.csv")

    assert str(caught.value) == (
        f"a.csv: close is {'9' * 40}... (400 characters, the first 40 shown), "
        "beyond the float64 range in data row 2 (row 1 is the first row after "
        "the header), dated 2020-01-03; replace it with a finite number or "
        "remove the row"
    )
