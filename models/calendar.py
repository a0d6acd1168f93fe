"""NYSE trading days for forecast dates, from the exchange-calendars package."""

from __future__ import annotations

import datetime as dt
import functools
import threading
import warnings

import exchange_calendars as xcals
import numpy as np
import pandas as pd

EXCHANGE = "XNYS"
CALENDAR_START = "1990-01-02"


@functools.lru_cache(maxsize=1)
def nyse() -> xcals.ExchangeCalendar:
    """Build the NYSE calendar once per process (it takes about a second)."""
    with warnings.catch_warnings():
        # NOTE: exchange_calendars 4.13 reads Series.values on a tz-aware
        # column, which pandas 3.1 deprecates with a Pandas4Warning. Remove
        # this filter once exchange_calendars stops doing that.
        warnings.filterwarnings(
            "ignore", message="Series.values returning an ndarray that drops"
        )
        return xcals.get_calendar(EXCHANGE, start=CALENDAR_START)


_BUILD_LOCK = threading.Lock()


def session_days() -> np.ndarray:
    """Return all NYSE sessions as ``datetime64[D]`` (S,), for lookups
    without pandas.

    The array is built once per process. A thread that calls while the build
    runs waits for it instead of starting a second build.
    """
    with _BUILD_LOCK:
        return _session_days()


@functools.lru_cache(maxsize=1)
def _session_days() -> np.ndarray:
    return nyse().sessions.values.astype("datetime64[D]")


def next_sessions(last: dt.date, count: int) -> list[str]:
    """Return the ``count`` NYSE sessions strictly after ``last`` as ISO dates,
    skipping weekends and exchange holidays.

    Raises ``ValueError`` past the calendar's last known session, which
    exchange-calendars places about a year after its release date.
    """
    days = session_days()
    position = int(np.searchsorted(days, np.datetime64(last, "D"), side="right"))
    chosen = days[position : position + count]
    if len(chosen) < count:
        raise ValueError(
            f"the {EXCHANGE} calendar ends on {days[-1]}, so it has "
            f"no {count} sessions after {last}; upgrade exchange-calendars"
        )
    return [str(day) for day in chosen]


def first_sessions(start: dt.date, count: int) -> pd.DatetimeIndex:
    """Return the first ``count`` NYSE sessions on or after ``start``."""
    sessions = nyse().sessions
    position = int(sessions.searchsorted(pd.Timestamp(start), side="left"))
    chosen = sessions[position : position + count]
    if len(chosen) < count:
        raise ValueError(
            f"the {EXCHANGE} calendar has only {len(chosen)} sessions after "
            f"{start}; request at most {len(chosen)} rows"
        )
    return pd.DatetimeIndex(chosen).tz_localize(None)
