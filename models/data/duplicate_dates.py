"""Rows that share a date: the last one in input order is kept.

The cleaning note counts the dropped rows. When a dropped row has values
other than the kept row of its date, the note names those dates, columns
and values, because the kept row was chosen without looking at them.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from models.data.date_lists import format_dates
from models.plurals import plural

# dates whose differing values a note lists
LISTED_CONFLICTS = 5
# distinct dropped values of one column and date that a note lists
LISTED_VALUES = 3


def drop_duplicate_dates(
    frame: pd.DataFrame, notes: list[str], close_name: str = "close"
) -> pd.DataFrame:
    """Keep the last row of each date of ``frame`` and note what was dropped.

    ``frame`` has a sorted ``DatetimeIndex`` and float64 columns with NaN
    for missing cells. Every column of ``frame`` is compared: ``close``, the
    column that training models, and for a Yahoo-format input also open,
    high, low, adj_close and volume, because the series keeps them and the
    row checks read them. ``close_name`` is the input column that became
    ``close``, such as ``value`` or ``open``, and names it in the note. When
    ``close`` is a copy of another column of ``frame`` (``close_name`` is
    ``open``, say), only that column is compared. The input's own Close is
    then no longer in ``frame`` and is not compared. Two missing cells
    agree, and a missing cell differs from a number.

    Appends one note to ``notes`` when a row was dropped. It is short when
    every dropped row equals the kept row of its date. Otherwise it lists
    the first ``LISTED_CONFLICTS`` dates whose values differ, each with
    the dropped and the kept value of every differing column. When
    ``close`` is a copy, either note ends by stating that the input's Close
    was not compared.
    """
    dropped = frame.index.duplicated(keep="last")
    if not dropped.any():
        return frame

    kept_rows = frame[~dropped]
    dates = frame.index[dropped].unique()
    count = plural(int(dropped.sum()), "row")
    differs, columns = _differing_cells(frame, kept_rows, dropped, close_name)
    conflict_dates = frame.index[differs.any(axis=1)].unique()
    uncompared = _uncompared_close(frame, close_name)
    if len(conflict_dates) == 0:
        notes.append(
            f"Dropped {count} with a duplicate date and the same values as the "
            f"row kept for that date: {format_dates(dates)}.{uncompared}"
        )
        return kept_rows

    names = [close_name if name == "close" else name for name in columns]
    listed = ", ".join(
        _describe(frame[columns], kept_rows[columns], differs, date, names)
        for date in conflict_dates[:LISTED_CONFLICTS]
    )
    rest = len(conflict_dates) - LISTED_CONFLICTS
    more = f" and {rest} more" if rest > 0 else ""
    notes.append(
        f"Dropped {count} with a duplicate date, keeping the last row in input "
        f"order for each date: {format_dates(dates)}. On "
        f"{plural(len(conflict_dates), 'date')} the dropped rows had other "
        f"values than the kept row, listed as dropped -> kept: {listed}{more}."
        f"{uncompared}"
    )
    return kept_rows


def _close_is_copy(frame: pd.DataFrame, close_name: str) -> bool:
    """Return whether ``close`` is a copy of the column ``close_name`` of
    ``frame``, which then replaced the input's own Close."""
    return close_name != "close" and close_name in frame.columns


def _uncompared_close(frame: pd.DataFrame, close_name: str) -> str:
    """Return the sentence that ends a note when the input's Close was
    replaced before the comparison, else an empty string."""
    if not _close_is_copy(frame, close_name):
        return ""
    return (
        f" The input's Close column, which {close_name} replaces in the series, "
        "was not compared."
    )


def _differing_cells(
    frame: pd.DataFrame, kept_rows: pd.DataFrame, dropped: np.ndarray, close_name: str
) -> tuple[np.ndarray, list[str]]:
    """Return the cells (N, C) of the dropped rows that differ from the kept
    row of their date, and the C compared columns.

    ``dropped`` (N,) bool marks the rows of ``frame`` (N rows) that
    ``kept_rows`` does not contain."""
    copied = _close_is_copy(frame, close_name)
    columns = [name for name in frame.columns if not (name == "close" and copied)]
    values = frame[columns].to_numpy()
    # (N, C): the values of the kept row of each row's date
    kept_values = kept_rows[columns].reindex(frame.index).to_numpy()
    same = (values == kept_values) | (np.isnan(values) & np.isnan(kept_values))
    return ~same & dropped[:, None], columns


def _describe(
    frame: pd.DataFrame,
    kept_rows: pd.DataFrame,
    differs: np.ndarray,
    date: pd.Timestamp,
    names: list[str],
) -> str:
    """Describe the differing values of one date, such as
    ``2020-01-07 (close 4 -> 4.5)``. ``differs`` (N, C) marks the cells of
    ``frame`` (N rows, C columns) that differ, and ``names`` (C,) are the
    columns as the note calls them."""
    rows = frame.index == date
    parts = []
    for position, name in enumerate(names):
        column_differs = differs[rows, position]
        if column_differs.any():
            others = frame.iloc[:, position].to_numpy()[rows][column_differs]
            kept_value = kept_rows.iloc[:, position].loc[date]
            parts.append(f"{name} {_values(others)} -> {_number(kept_value)}")
    return f"{date.strftime('%Y-%m-%d')} ({', '.join(parts)})"


def _values(values: np.ndarray) -> str:
    """Format the distinct ``values`` (M,) in input order, at most
    ``LISTED_VALUES`` of them, and count the rest."""
    texts = list(dict.fromkeys(_number(value) for value in values))
    listed = ", ".join(texts[:LISTED_VALUES])
    rest = len(texts) - LISTED_VALUES
    return f"{listed} and {rest} more" if rest > 0 else listed


def _number(value: float) -> str:
    """Format ``value`` as the shortest text that reads back as the same
    float64, without a trailing ``.0``, or ``missing`` for NaN."""
    if np.isnan(value):
        return "missing"
    return repr(float(value)).removesuffix(".0")
