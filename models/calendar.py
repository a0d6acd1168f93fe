"""NYSE trading days for forecast dates, from a session file shipped in the
package.

``xnys_sessions.txt`` stores the sessions of the NYSE (XNYS) from
``CALENDAR_START`` to ``CALENDAR_END`` as every Monday to Friday in that range
minus the weekdays it lists as closed (holidays and unscheduled closures).
Reading it needs numpy only, so serving a forecast imports neither pandas nor
exchange-calendars. ``scripts/export_calendar.py`` writes the file from
exchange-calendars, and a test checks that the file still matches it.

Sessions after the release of the exchange-calendars version that wrote the
file follow its holiday rules, so they miss closures announced later. Dates
outside the file have no sessions here: ``next_sessions`` raises
``ValueError`` for them instead of guessing.
"""

from __future__ import annotations

import datetime as dt
import functools
import warnings
from importlib import resources
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import pandas as pd

EXCHANGE = "XNYS"
SESSIONS_FILE = "xnys_sessions.txt"
CALENDAR_START = "1990-01-02"
# exchange-calendars 4.13 builds its holidays on pandas' AbstractHolidayCalendar,
# whose end_date is 2200-12-31 in pandas 3.1, so it lists no closed day after
# 2200 and would count later holidays as sessions. The file therefore ends on
# the last session of 2200.
CALENDAR_END = "2200-12-31"
REGENERATE = "scripts/export_calendar.py"

HEADER = f"""\
# NYSE ({EXCHANGE}) sessions: every Monday to Friday from `first` to `last`
# except the closed weekdays listed below them, one ISO date per line.
# Written by {REGENERATE} from exchange-calendars. Do not edit.
"""


@functools.cache
def session_days() -> np.ndarray:
    """Return all NYSE sessions as a read-only ``datetime64[D]`` array (S,).

    The file is read once per process, in about 10 ms.
    """
    text = resources.files("models").joinpath(SESSIONS_FILE).read_text()
    days = parse_sessions(text)
    days.flags.writeable = False
    return days


def first_session_from(day: dt.date) -> dt.date | None:
    """Return the first NYSE session on or after ``day``, or None when
    ``day`` is after the calendar's last session."""
    days = session_days()
    position = int(np.searchsorted(days, np.datetime64(day, "D")))
    if position == len(days):
        return None
    return days[position].astype(dt.date)


def next_sessions(last: dt.date, count: int) -> list[str]:
    """Return the ``count`` NYSE sessions strictly after ``last`` as ISO dates,
    skipping weekends and exchange holidays.

    Raises ``ValueError`` when ``last`` is before the calendar's first session,
    ``CALENDAR_START``, because the file does not list the sessions between
    them. Also raises it when fewer than ``count`` sessions follow ``last``
    before the calendar's end, ``CALENDAR_END``.
    """
    return list(_next_sessions(last, count))


# forecasts of one series mostly start from the same last date, so the
# dates of recent (last, count) pairs are kept, up to 4 KB per entry
@functools.lru_cache(maxsize=1024)
def _next_sessions(last: dt.date, count: int) -> tuple[str, ...]:
    days = session_days()
    day = np.datetime64(last, "D")
    if day < days[0]:
        raise ValueError(
            f"the {EXCHANGE} calendar starts on {days[0]}, so it does not list "
            f"the sessions that follow {last}"
        )
    position = int(np.searchsorted(days, day, side="right"))
    chosen = days[position : position + count]
    if len(chosen) < count:
        raise ValueError(
            f"the {EXCHANGE} calendar ends on {days[-1]}, where the holidays "
            f"known to exchange-calendars end, so it has no {count} sessions "
            f"after {last}"
        )
    return tuple(np.datetime_as_string(chosen, unit="D").tolist())


def first_sessions(start: dt.date, count: int) -> pd.DatetimeIndex:
    """Return the first ``count`` NYSE sessions on or after ``start`` as a
    tz-naive ``DatetimeIndex`` (datetime64[ns]).

    Raises ``ValueError`` when the calendar has fewer sessions after ``start``.
    """
    import pandas as pd

    days = session_days()
    position = int(np.searchsorted(days, np.datetime64(start, "D"), side="left"))
    chosen = days[position : position + count]
    if len(chosen) < count:
        raise ValueError(
            f"the {EXCHANGE} calendar has only {len(chosen)} sessions after "
            f"{start}; request at most {len(chosen)} rows"
        )
    return pd.DatetimeIndex(chosen.astype("datetime64[ns]"))


def parse_sessions(text: str) -> np.ndarray:
    """Return the sessions ``datetime64[D]`` (S,) that a session file's text
    describes."""
    lines = [line for line in text.splitlines() if not line.startswith("#")]
    if len(lines) < 2:
        raise RuntimeError(
            f"models/{SESSIONS_FILE} has no 'first' and 'last' lines; rewrite "
            f"the file with {REGENERATE}"
        )
    first = _header_date(lines[0], "first")
    last = _header_date(lines[1], "last")
    closed = np.array(lines[2:], dtype="datetime64[D]")

    days = np.arange(first, last + 1, dtype="datetime64[D]")
    return days[np.is_busday(days, holidays=closed)]


def format_sessions(sessions: np.ndarray) -> str:
    """Return the session file's text for sessions ``datetime64[D]`` (S,),
    sorted ascending.

    Raises ``ValueError`` for a session on a Saturday or Sunday, which the
    file cannot store.
    """
    weekend = sessions[~np.is_busday(sessions)]
    if len(weekend):
        raise ValueError(
            f"session {weekend[0]} is on a weekend, but the session file lists "
            "only closed weekdays; choose a CALENDAR_START after it"
        )

    first, last = sessions[0], sessions[-1]
    weekdays = np.arange(first, last + 1, dtype="datetime64[D]")
    weekdays = weekdays[np.is_busday(weekdays)]
    closed = np.setdiff1d(weekdays, sessions)
    lines = [f"first {first}", f"last {last}", *(str(day) for day in closed)]
    return HEADER + "\n".join(lines) + "\n"


def exchange_calendar_sessions(
    start: str = CALENDAR_START, end: str = CALENDAR_END
) -> np.ndarray:
    """Build the NYSE sessions from ``start`` to ``end`` with exchange-calendars,
    as ``datetime64[D]`` (S,).

    Only the export script and its test call this. It imports pandas and
    exchange-calendars and takes about a second.
    """
    import exchange_calendars

    with warnings.catch_warnings():
        # NOTE: exchange_calendars 4.13 reads Series.values on a tz-aware
        # column, which pandas 3.1 deprecates with a Pandas4Warning. Remove
        # this filter once exchange_calendars stops doing that.
        warnings.filterwarnings(
            "ignore", message="Series.values returning an ndarray that drops"
        )
        calendar = exchange_calendars.get_calendar(EXCHANGE, start=start, end=end)
    sessions: np.ndarray = calendar.sessions.to_numpy().astype("datetime64[D]")
    return sessions


def _header_date(line: str, key: str) -> np.datetime64:
    name, _, value = line.partition(" ")
    if name != key:
        raise RuntimeError(
            f"models/{SESSIONS_FILE} has {line!r} where a '{key} YYYY-MM-DD' "
            f"line belongs; rewrite the file with {REGENERATE}"
        )
    return np.datetime64(value, "D")
