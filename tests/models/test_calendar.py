"""The shipped NYSE session file against exchange-calendars, and the session
lookups that forecasts use."""

from __future__ import annotations

import datetime as dt
import importlib.util
from pathlib import Path
from types import ModuleType

import numpy as np
import pandas as pd
import pytest

from models.calendar import (
    CALENDAR_END,
    CALENDAR_START,
    SESSIONS_FILE,
    exchange_calendar_sessions,
    first_sessions,
    format_sessions,
    next_sessions,
    parse_sessions,
    session_days,
)

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = ROOT / "models" / SESSIONS_FILE
REGENERATE = "make calendar  (or: .venv/bin/python scripts/export_calendar.py)"


@pytest.fixture(scope="module")
def exchange_sessions() -> np.ndarray:
    return exchange_calendar_sessions(CALENDAR_START, CALENDAR_END)


def export_script() -> ModuleType:
    path = ROOT / "scripts" / "export_calendar.py"
    spec = importlib.util.spec_from_file_location("export_calendar", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_shipped_sessions_match_exchange_calendars(
    exchange_sessions: np.ndarray,
) -> None:
    shipped = session_days()
    missing = np.setdiff1d(exchange_sessions, shipped)
    extra = np.setdiff1d(shipped, exchange_sessions)

    assert not len(missing), f"sessions missing from the file: {missing[:10]}"
    assert not len(extra), f"file sessions that are closed days: {extra[:10]}"
    assert shipped[0] == np.datetime64(CALENDAR_START)
    assert shipped[-1] == np.datetime64(CALENDAR_END)


def test_shipped_file_is_current(exchange_sessions: np.ndarray) -> None:
    if SHIPPED.read_text() != format_sessions(exchange_sessions):
        pytest.fail(
            f"models/{SESSIONS_FILE} differs from exchange-calendars; "
            f"regenerate and commit it:\n    {REGENERATE}"
        )


def test_every_year_has_closed_weekdays() -> None:
    # exchange-calendars lists no holiday after its rules end, so a file that
    # runs past them has years whose weekdays are all sessions
    days = session_days()
    weekdays = np.arange(days[0], days[-1] + 1, dtype="datetime64[D]")
    weekdays = weekdays[np.is_busday(weekdays)]
    closed = np.setdiff1d(weekdays, days)
    closed_years = set(closed.astype("datetime64[Y]").astype(int) + 1970)

    first_year, last_year = int(CALENDAR_START[:4]), int(CALENDAR_END[:4])
    missing = [y for y in range(first_year, last_year + 1) if y not in closed_years]
    assert not missing, f"years without a closed weekday: {missing[:10]}"


def test_session_days_are_sorted_and_read_only() -> None:
    days = session_days()

    assert days.dtype == np.dtype("datetime64[D]")
    assert np.all(np.diff(days) > np.timedelta64(0, "D"))
    assert not days.flags.writeable
    assert session_days() is days


@pytest.mark.parametrize(
    ("last", "expected"),
    [
        # Christmas on a Wednesday, then a weekend
        (
            dt.date(2019, 12, 23),
            ["2019-12-24", "2019-12-26", "2019-12-27", "2019-12-30"],
        ),
        # Good Friday and the weekend after it
        (
            dt.date(2024, 3, 27),
            ["2024-03-28", "2024-04-01", "2024-04-02", "2024-04-03"],
        ),
        # the exchange was closed from 2001-09-11 to 2001-09-14
        (
            dt.date(2001, 9, 10),
            ["2001-09-17", "2001-09-18", "2001-09-19", "2001-09-20"],
        ),
        # the national day of mourning for President Carter
        (
            dt.date(2025, 1, 8),
            ["2025-01-10", "2025-01-13", "2025-01-14", "2025-01-15"],
        ),
        # New Year's Day, observed on Monday 2023-01-02, after a Saturday
        (
            dt.date(2022, 12, 31),
            ["2023-01-03", "2023-01-04", "2023-01-05", "2023-01-06"],
        ),
    ],
)
def test_next_sessions_skips_closed_days(last: dt.date, expected: list[str]) -> None:
    assert next_sessions(last, 4) == expected


def test_next_sessions_past_end_names_last_date() -> None:
    with pytest.raises(ValueError) as caught:
        next_sessions(dt.date(2200, 12, 30), 2)

    assert str(caught.value) == (
        f"the XNYS calendar ends on {CALENDAR_END}, where the holidays known to "
        "exchange-calendars end, so it has no 2 sessions after 2200-12-30"
    )


def test_next_sessions_fills_up_to_end() -> None:
    assert next_sessions(dt.date(2200, 12, 29), 2) == ["2200-12-30", "2200-12-31"]


@pytest.mark.parametrize("last", [dt.date(1950, 3, 24), dt.date(1990, 1, 1)])
def test_next_sessions_before_start_is_rejected(last: dt.date) -> None:
    with pytest.raises(ValueError) as caught:
        next_sessions(last, 1)

    assert str(caught.value) == (
        f"the XNYS calendar starts on {CALENDAR_START}, so it does not list the "
        f"sessions that follow {last}"
    )


def test_next_sessions_from_first_session() -> None:
    assert next_sessions(dt.date(1990, 1, 2), 1) == ["1990-01-03"]


def test_first_sessions_returns_datetime_index() -> None:
    index = first_sessions(dt.date(2000, 1, 1), 3)

    assert isinstance(index, pd.DatetimeIndex)
    assert index.dtype == np.dtype("datetime64[ns]")
    assert index.tz is None
    assert list(index) == [
        pd.Timestamp("2000-01-03"),
        pd.Timestamp("2000-01-04"),
        pd.Timestamp("2000-01-05"),
    ]


def test_first_sessions_beyond_end_is_rejected() -> None:
    with pytest.raises(ValueError, match="calendar has only 1 sessions after"):
        first_sessions(dt.date(2200, 12, 31), 2)


def test_format_and_parse_round_trip() -> None:
    sessions = np.array(
        ["2024-12-23", "2024-12-24", "2024-12-26", "2024-12-27", "2024-12-30"],
        dtype="datetime64[D]",
    )

    text = format_sessions(sessions)

    assert text.splitlines()[-3:] == [
        "first 2024-12-23",
        "last 2024-12-30",
        "2024-12-25",
    ]
    np.testing.assert_array_equal(parse_sessions(text), sessions)


def test_format_rejects_weekend_session() -> None:
    sessions = np.array(["1952-05-23", "1952-05-24"], dtype="datetime64[D]")

    with pytest.raises(ValueError, match="session 1952-05-24 is on a weekend"):
        format_sessions(sessions)


def test_parse_rejects_missing_header() -> None:
    with pytest.raises(RuntimeError, match="where a 'first YYYY-MM-DD' line"):
        parse_sessions("2024-12-25\nlast 2024-12-31\n")
    with pytest.raises(RuntimeError, match="has no 'first' and 'last' lines"):
        parse_sessions("# a comment only\n")


def test_export_check_reports_stale_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    script = export_script()
    output = tmp_path / SESSIONS_FILE
    output.write_text("first 1990-01-02\nlast 1990-01-03\n")

    assert script.main(["--check", "--output", str(output)]) == 1
    assert "is out of date; run `make calendar`" in capsys.readouterr().err

    assert script.main(["--output", str(output)]) == 0
    assert output.read_text() == SHIPPED.read_text()
    assert script.main(["--check", "--output", str(output)]) == 0
