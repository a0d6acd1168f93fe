"""The check that the rows of a daily series fall on NYSE sessions.

Forecasts date their steps with the NYSE sessions of ``models.calendar``, one
step per row of the training series. A row on a weekend or an NYSE holiday
therefore gets forecast dates that do not match the steps the model learned.
A series that ends outside the calendar's range (1990-01-02 to 2200-12-31)
gives a version that cannot forecast from its own history.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from models.calendar import session_days
from models.errors import DataError

DAY_NAMES = (
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
    "Sunday",
)
WEEKEND_OR_HOLIDAY_FIX = (
    "forecasts count one step per NYSE session, so remove the rows dated on "
    "weekends and NYSE holidays"
)


def check_sessions(
    dates: pd.DatetimeIndex, cells: pd.Series, checked: np.ndarray, label: str
) -> None:
    """Raise ``DataError`` for the first checked row, in file order, whose
    date is not an NYSE session.

    ``dates`` (N,) are the parsed midnight dates of the data rows in file
    order, ``cells`` (N,) the date cells as written and ``checked`` (N,) bool
    marks the rows to check. ``label`` names the input, e.g. a file path.
    The message names the data row (row 1 is the first row after the header),
    its date, why the date is no session and how to fix the file.
    """
    bad = non_session_positions(dates, checked)
    if len(bad) == 0:
        return

    position = int(bad[0])
    day = np.datetime64(dates[position], "D")
    others = f" (the first of {len(bad)} rows on no session)" if len(bad) > 1 else ""
    raise DataError(
        f"{label}: the date {_quote(cells.iloc[position], day)} in data "
        f"row {position + 1} (row 1 is the first row after the header) "
        f"{non_session_reason(day)}{others}; {_row_fix(day)}",
        field="data",
    )


def non_session_positions(
    dates: pd.DatetimeIndex, checked: np.ndarray | None = None
) -> np.ndarray:
    """Return the ascending positions (M,) of the ``dates`` (N,) that are no
    NYSE session, where M <= N counts those dates. With ``checked`` (N,)
    bool, only the dates it marks count."""
    day = dates.to_numpy().astype("datetime64[D]")
    outside = ~np.isin(day, session_days())
    if checked is not None:
        outside &= checked
    return np.flatnonzero(outside)


def non_session_reason(day: np.datetime64) -> str:
    """Return why ``day`` is no NYSE session, as the rest of a sentence whose
    subject is the date, such as "is a Saturday, not an NYSE trading
    session"."""
    days = session_days()
    if day < days[0]:
        return (
            f"is before {days[0]}, the first session of the NYSE calendar "
            "that dates forecasts"
        )
    if day > days[-1]:
        return (
            f"is after {days[-1]}, the last session of the NYSE calendar "
            "that dates forecasts"
        )

    name = DAY_NAMES[day.item().weekday()]
    closed = " on which the NYSE was closed (a holiday or an unscheduled closure)"
    return (
        f"is a {name}{closed if np.is_busday(day) else ''}, not an NYSE trading session"
    )


def _quote(cell: object, day: np.datetime64) -> str:
    """Return the cell quoted as written, plus the date it was read as when
    the two differ."""
    text = str(cell).strip()
    return repr(text) if text == str(day) else f"{text!r} (read as {day})"


def _row_fix(day: np.datetime64) -> str:
    """Return the fix for a file with a row dated ``day``, which is no NYSE
    session."""
    days = session_days()
    if day < days[0]:
        return f"remove the rows dated before {days[0]}"
    if day > days[-1]:
        return f"remove the rows dated after {days[-1]}"
    return WEEKEND_OR_HOLIDAY_FIX
