"""Checks of single rows of a user's file: dates written as YYYY-MM-DD, and
open, high, low and close prices that agree with each other.

Each error names the data row, counted from 1 for the first row after the
header, so that the row can be found in the file.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from models.errors import DataError

# ASCII digits only, because \d also matches digits of other scripts
ISO_DATE = r"[0-9]{4}-[0-9]{2}-[0-9]{2}"
# a time of day after the date without a UTC offset, such as " 16:00",
# "T16:00:00.5", " 9:30" or " 1600": digits, colons and a decimal point, as
# the ISO 8601 parser reads them. The parser rejects a cell that is no time.
TIME_OF_DAY = r"[T ][0-9][0-9:.]*"
# the prices that must lie between low and high on every row
BOUNDED_COLUMNS = ("open", "close")


def check_iso_dates(
    column: pd.Series, label: str, *, allow_time_of_day: bool = False
) -> None:
    """Raise ``DataError`` for the first date cell of ``column`` (strings)
    not written as YYYY-MM-DD, such as ``20201210`` or a date with a time.

    With ``allow_time_of_day``, a YYYY-MM-DD date followed by a time without
    a UTC offset, such as ``2020-12-10 16:00``, passes too. Its date does
    not depend on a timezone, and parsing drops the time with a cleaning
    note.
    """
    pattern = ISO_DATE + (f"(?:{TIME_OF_DAY})?" if allow_time_of_day else "")
    text = column.astype("string").str.strip().reset_index(drop=True)
    written = text.str.fullmatch(pattern).fillna(False).to_numpy(dtype=bool)
    if written.all():
        return

    position = int(np.flatnonzero(~written)[0])
    raise DataError(
        f"{label}: invalid date {column.iloc[position]!r} in data row "
        f"{position + 1} (row 1 is the first row after the header); write "
        "dates as YYYY-MM-DD, without a time or a UTC offset",
        field="data",
    )


def check_price_ranges(
    frame: pd.DataFrame,
    label: str,
    bounded: tuple[str, ...] = BOUNDED_COLUMNS,
    *,
    rows: np.ndarray | None = None,
    filled: pd.DataFrame | None = None,
) -> None:
    """Raise ``DataError`` for the first row of ``frame`` whose low is above
    its high, or whose price in a ``bounded`` column lies outside low..high.

    ``frame`` has float columns, NaN for missing cells, which are not
    compared. ``rows`` (N,) are the data row numbers of its N rows, by
    default 1..N for rows in input order. ``filled`` has ``frame``'s shape
    and is True for cells forward-filled from an earlier row, which the
    message names. Without both ``low`` and ``high`` there is nothing to
    check.
    """
    if "low" not in frame.columns or "high" not in frame.columns:
        return
    numbers = np.arange(1, len(frame) + 1) if rows is None else rows
    low = frame["low"].to_numpy()
    high = frame["high"].to_numpy()
    place = (label, numbers, filled)
    _raise_first(frame, low > high, place, "low", "is above high")
    for name in bounded:
        if name not in frame.columns:
            continue
        price = frame[name].to_numpy()
        outside = (price < low) | (price > high)
        _raise_first(frame, outside, place, name, "is outside low..high")


def source_rows(parsed: pd.DataFrame, kept: pd.DatetimeIndex) -> np.ndarray:
    """Return the data row number of each date in ``kept`` (N,), as (N,).

    ``parsed`` has the rows in input order, indexed by date. Of rows with a
    close that share a date, the last one is the one that cleaning keeps.
    """
    numbers = pd.Series(np.arange(1, len(parsed) + 1), index=parsed.index)
    with_close = numbers[parsed["close"].notna().to_numpy()]
    return with_close.groupby(level=0).last().loc[kept].to_numpy()


def _raise_first(
    frame: pd.DataFrame,
    bad: np.ndarray,
    place: tuple[str, np.ndarray, pd.DataFrame | None],
    name: str,
    problem: str,
) -> None:
    positions = np.flatnonzero(bad)
    if len(positions) == 0:
        return

    label, rows, filled = place
    position = int(positions[0])
    row = frame.iloc[position]
    date = pd.Timestamp(frame.index[position]).strftime("%Y-%m-%d")
    compared = [name] + [c for c in ("low", "high") if c != name]
    filled_names = []
    if filled is not None:
        filled_names = [c for c in compared if filled[c].iloc[position]]
    if filled_names:
        names = " and ".join(filled_names)
        note = f"; {names} forward-filled from the previous row"
        fix = f"fill in the {names} of that row, fix its prices or remove it"
    else:
        note = ""
        fix = "fix the prices of that row or remove it"
    raise DataError(
        f"{label}: data row {rows[position]} ({date}, row 1 is the first row "
        f"after the header) has {name} {row[name]:.15g}, which {problem} (low "
        f"{_price_text(row['low'])}, high {_price_text(row['high'])}{note}); {fix}",
        field="data",
    )


def _price_text(value: float) -> str:
    """Format a price for a message, ``missing`` for NaN."""
    return "missing" if np.isnan(value) else f"{value:.15g}"
