"""Sessions that a series skips: found against the NYSE calendar and listed
among the cleaning steps."""

from __future__ import annotations

import pandas as pd

from models.data.session_gaps import find_session_gaps
from models.data.validation import clean_frame

# NYSE sessions of January 2020; the 20th was Martin Luther King Jr. Day
JANUARY = [
    "2020-01-02", "2020-01-03", "2020-01-06", "2020-01-07", "2020-01-08",
    "2020-01-09", "2020-01-10", "2020-01-13", "2020-01-14", "2020-01-15",
    "2020-01-16", "2020-01-17", "2020-01-21", "2020-01-22",
]  # fmt: skip


def dates(days: list[str]) -> pd.DatetimeIndex:
    return pd.DatetimeIndex(pd.to_datetime(days), name="date")


def test_gaps_none_without_skipped_session() -> None:
    # the holiday between the 17th and the 21st is no session, so no gap
    assert find_session_gaps(dates(JANUARY)) is None


def test_gaps_list_runs_and_longest() -> None:
    present = [day for day in JANUARY if day not in {"2020-01-06", "2020-01-14",
            "2020-01-15", "2020-01-16", "2020-01-21"}]  # fmt: skip

    gaps = find_session_gaps(dates(present))

    assert gaps is not None
    assert list(gaps.missing.strftime("%Y-%m-%d")) == [
        "2020-01-06", "2020-01-14", "2020-01-15", "2020-01-16", "2020-01-21",
    ]  # fmt: skip
    assert gaps.longest == 3
    assert gaps.longest_first == pd.Timestamp("2020-01-14")
    assert gaps.longest_last == pd.Timestamp("2020-01-16")


def test_gaps_ignore_sessions_outside_rows() -> None:
    assert find_session_gaps(dates(JANUARY[3:8])) is None


def test_clean_frame_notes_dropped_close_gap() -> None:
    closes: list[object] = [float(i + 1) for i in range(len(JANUARY))]
    closes[4] = None
    raw = pd.DataFrame({"date": JANUARY, "close": closes})

    _, notes = clean_frame(raw, kind="price", label="a.csv", sessions_only=True)

    assert notes == [
        "Dropped 1 row with a missing close value: 2020-01-08.",
        "Found no row on 1 NYSE session between the first and the last date: "
        "2020-01-08. The longest gap is 1 session, 2020-01-08..2020-01-08. "
        "Training and forecasts read the rows on either side of a gap as "
        "consecutive sessions. Add rows for the missing sessions to model "
        "them.",
    ]


def test_clean_frame_notes_gaps_only_for_sessions() -> None:
    raw = pd.DataFrame({"date": ["2020-01-02", "2020-01-22"], "close": [1.0, 2.0]})

    _, notes = clean_frame(raw, kind="price", label="a.csv")

    assert notes == []
