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
# the prices that must lie between low and high on every row
BOUNDED_COLUMNS = ("open", "close")


def check_iso_dates(column: pd.Series, label: str) -> None:
    """Raise ``DataError`` for the first date cell of ``column`` (strings)
    not written as YYYY-MM-DD, such as ``20201210`` or a date with a time."""
    text = column.astype("string").str.strip().reset_index(drop=True)
    written = text.str.fullmatch(ISO_DATE).fillna(False).to_numpy(dtype=bool)
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
    frame: pd.DataFrame, label: str, bounded: tuple[str, ...] = BOUNDED_COLUMNS
) -> None:
    """Raise ``DataError`` for the first row of ``frame`` whose low is above
    its high, or whose price in a ``bounded`` column lies outside low..high.

    ``frame`` has float columns in input row order, NaN for missing cells,
    which are not compared. Without both ``low`` and ``high`` there is
    nothing to check.
    """
    if "low" not in frame.columns or "high" not in frame.columns:
        return
    low = frame["low"].to_numpy()
    high = frame["high"].to_numpy()
    _raise_first(frame, low > high, label, "low", "is above high")
    for name in bounded:
        if name not in frame.columns:
            continue
        price = frame[name].to_numpy()
        outside = (price < low) | (price > high)
        _raise_first(frame, outside, label, name, "is outside low..high")


def _raise_first(
    frame: pd.DataFrame, bad: np.ndarray, label: str, name: str, problem: str
) -> None:
    positions = np.flatnonzero(bad)
    if len(positions) == 0:
        return

    position = int(positions[0])
    row = frame.iloc[position]
    date = pd.Timestamp(frame.index[position]).strftime("%Y-%m-%d")
    raise DataError(
        f"{label}: data row {position + 1} ({date}, row 1 is the first row "
        f"after the header) has {name} {row[name]:.15g}, which {problem} (low "
        f"{row['low']:.15g}, high {row['high']:.15g}); fix the prices of that row "
        "or remove it",
        field="data",
    )
