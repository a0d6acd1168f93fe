"""The check that Yahoo Finance bars fall on NYSE sessions.

Yahoo dates the daily bars of a ticker with the sessions of its own exchange.
A ticker of another exchange, such as an XETRA one, has bars on days when the
NYSE was closed, and a series that starts before 1990-01-02 has bars before
the NYSE calendar of ``models.calendar``. Forecasts date their steps with
that calendar, one step per row of the training series, so such a series
would give forecast dates that do not match the steps the model learned.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from models.calendar import session_days
from models.data.saved_bars import saved_file_step
from models.data.session_dates import non_session_positions, non_session_reason
from models.errors import DataError

REASON = (
    "This service labels forecasts with NYSE sessions, one step per session, "
    "so it trains only on series whose rows are all dated on NYSE sessions."
)


def other_exchange_fix(root_path: str = "") -> str:
    """Return the fix for bars on the sessions of another exchange. The
    upload path in it starts with ``root_path``, the service's root path."""
    return (
        "Yahoo dates bars with the sessions of the ticker's own exchange. Use "
        "a ticker that trades on NYSE sessions, such as one listed on a US "
        "exchange, or save the bars on NYSE sessions as a Yahoo-format CSV "
        f"file and {saved_file_step(root_path)}"
    )


def check_bar_sessions(
    dates: pd.DatetimeIndex, label: str, root_path: str = ""
) -> None:
    """Raise ``DataError`` when one of the bars dated ``dates`` (N,), at
    midnight, is dated on no NYSE session.

    ``label`` names the data, such as "Yahoo Finance data for SAP.DE". The
    message names the first such date, why it is no session, why this
    service needs sessions, and the fix, whose upload path starts with
    ``root_path``, the service's root path. Its field is ``data.start`` or
    ``data.end`` for a date outside the calendar, else ``data.ticker``.
    """
    bad = non_session_positions(dates)
    if len(bad) == 0:
        return

    day = np.datetime64(dates[int(bad[0])], "D")
    others = f" (the first of {len(bad)} bars on no session)" if len(bad) > 1 else ""
    fix, field = _fix(day, root_path)
    raise DataError(
        f"{label} has a bar dated {day}, which {non_session_reason(day)}{others}. "
        f"{REASON} {fix}",
        field=field,
    )


def _fix(day: np.datetime64, root_path: str) -> tuple[str, str]:
    """Return the fix for a bar dated ``day``, which is no NYSE session, and
    the spec field that the fix changes."""
    days = session_days()
    if day < days[0]:
        return (
            f"Set the start of the download (data.start, --start on the command "
            f"line) to {days[0]} or later",
            "data.start",
        )
    if day > days[-1]:
        return (
            f"Set the end of the download (data.end, --end on the command line) "
            f"to {days[-1]} or earlier",
            "data.end",
        )
    return other_exchange_fix(root_path), "data.ticker"
