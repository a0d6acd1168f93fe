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
    days = session_days()
    day = dates.to_numpy().astype("datetime64[D]")
    bad = np.flatnonzero(checked & ~np.isin(day, days))
    if len(bad) == 0:
        return

    position = int(bad[0])
    others = f" (the first of {len(bad)} rows on no session)" if len(bad) > 1 else ""
    raise DataError(
        f"{label}: the date {_quote(cells.iloc[position], day[position])} in data "
        f"row {position + 1} (row 1 is the first row after the header) "
        f"{_reason(day[position], days, others)}",
        field="data",
    )


def _quote(cell: object, day: np.datetime64) -> str:
    """Return the cell quoted as written, plus the date it was read as when
    the two differ."""
    text = str(cell).strip()
    return repr(text) if text == str(day) else f"{text!r} (read as {day})"


def _reason(day: np.datetime64, days: np.ndarray, others: str) -> str:
    """Return why ``day`` is not among the sessions ``days`` (S,), and the fix."""
    if day < days[0]:
        return (
            f"is before {days[0]}, the first session of the NYSE calendar "
            f"that dates forecasts{others}; remove the rows dated before {days[0]}"
        )
    if day > days[-1]:
        return (
            f"is after {days[-1]}, the last session of the NYSE calendar "
            f"that dates forecasts{others}; remove the rows dated after {days[-1]}"
        )

    name = DAY_NAMES[day.item().weekday()]
    closed = " on which the NYSE was closed (a holiday or an unscheduled closure)"
    return (
        f"is a {name}{closed if np.is_busday(day) else ''}, not an NYSE trading "
        f"session{others}; {WEEKEND_OR_HOLIDAY_FIX}"
    )
