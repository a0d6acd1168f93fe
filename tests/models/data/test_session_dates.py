"""Tests of the check that CSV rows fall on NYSE sessions."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from models.calendar import session_days
from models.data.bundled import load_bundled
from models.data.csv_source import load_csv, parse_csv_bytes
from models.data.validation import clean_frame
from models.errors import DataError

# 2020-01-04 is a Saturday, and 2020-01-05 a Sunday
WEEKEND_CSV = b"date,value\n2020-01-02,1\n2020-01-03,2\n2020-01-04,3\n2020-01-05,4\n"


def weekend_message(label: str) -> str:
    """The error that ``WEEKEND_CSV`` gets when ``label`` names it."""
    return (
        f"{label}: the date '2020-01-04' in data row 3 (row 1 is the first row "
        "after the header) is a Saturday, not an NYSE trading session (the first "
        "of 2 rows on no session); forecasts count one step per NYSE session, so "
        "remove the rows dated on weekends and NYSE holidays"
    )


def parse(raw: bytes) -> None:
    parse_csv_bytes(raw, label="t.csv", source={"source": "t"})


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (WEEKEND_CSV, weekend_message("t.csv")),
        (
            b"date,value\n2020-01-17,1\n2020-01-20,2\n",
            "t.csv: the date '2020-01-20' in data row 2 (row 1 is the first row "
            "after the header) is a Monday on which the NYSE was closed (a "
            "holiday or an unscheduled closure), not an NYSE trading session; "
            "forecasts count one step per NYSE session, so remove the rows dated "
            "on weekends and NYSE holidays",
        ),
        (
            b"date,value\n1989-12-28,1\n1989-12-29,2\n1990-01-02,3\n",
            "t.csv: the date '1989-12-28' in data row 1 (row 1 is the first row "
            "after the header) is before 1990-01-02, the first session of the "
            "NYSE calendar that dates forecasts (the first of 2 rows on no "
            "session); remove the rows dated before 1990-01-02",
        ),
        (
            b"date,value\n2200-12-29,1\n2201-01-03,2\n",
            "t.csv: the date '2201-01-03' in data row 2 (row 1 is the first row "
            "after the header) is after 2200-12-31, the last session of the NYSE "
            "calendar that dates forecasts; remove the rows dated after "
            "2200-12-31",
        ),
    ],
)
def test_dates_outside_sessions_rejected(raw: bytes, message: str) -> None:
    with pytest.raises(DataError) as caught:
        parse(raw)

    assert str(caught.value) == message
    assert caught.value.field == "data"


def test_converted_date_outside_sessions_rejected() -> None:
    raw = b"date,value\n2020-01-06T00:00:00Z,1\n"

    with pytest.raises(DataError) as caught:
        parse_csv_bytes(raw, label="t.csv", source={"source": "t"}, strict_rows=False)

    assert str(caught.value) == (
        "t.csv: the date '2020-01-06T00:00:00Z' (read as 2020-01-05) in data "
        "row 1 (row 1 is the first row after the header) is a Sunday, not an "
        "NYSE trading session; forecasts count one step per NYSE session, so "
        "remove the rows dated on weekends and NYSE holidays"
    )


def test_first_offending_row_in_file_order() -> None:
    raw = b"date,value\n2020-01-07,1\n2020-01-05,2\n2020-01-04,3\n2020-01-06,4\n"

    with pytest.raises(DataError, match=r"the date '2020-01-05' in data row 2 "):
        parse(raw)


def test_row_without_close_is_dropped_not_checked() -> None:
    raw = b"date,value\n2020-01-03,1\n2020-01-04,null\n2020-01-06,2\n"

    series = parse_csv_bytes(raw, label="t.csv", source={"source": "t"})

    assert series.cleaning == ("Dropped 1 row with a missing value: 2020-01-04.",)
    assert series.frame["close"].tolist() == [1.0, 2.0]


def test_load_csv_gets_the_same_check(tmp_path: Path) -> None:
    path = tmp_path / "weekend.csv"
    path.write_bytes(WEEKEND_CSV)

    with pytest.raises(DataError) as caught:
        load_csv(path)

    assert str(caught.value) == weekend_message(str(path))


def test_bundled_rows_are_the_sessions_of_their_range() -> None:
    dates = load_bundled().frame.index.to_numpy().astype("datetime64[D]")
    days = session_days()

    in_range = days[(days >= dates[0]) & (days <= dates[-1])]
    np.testing.assert_array_equal(dates, in_range)


def test_clean_frame_checks_sessions_only_when_asked() -> None:
    raw = pd.DataFrame({"date": ["1985-01-05", "1985-01-06"], "close": ["1", "2"]})

    cleaned, _ = clean_frame(raw, kind="value", label="a.csv")

    assert len(cleaned) == 2
    with pytest.raises(DataError, match=r"^a\.csv: the date '1985-01-05' in data"):
        clean_frame(raw, kind="value", label="a.csv", sessions_only=True)
