"""NYSE sessions that a series skips between its first and last row.

Training windows and forecasts count one step per row, so a series that
skips sessions, such as one whose rows without a close were dropped, joins
the rows on either side of each gap as if they were consecutive sessions.
The cleaning notes of a CSV file, an upload and a Yahoo Finance download
list these sessions (``session_gap_note``). The note ends with a fix that
fits the source: rows can be added to a file, but not to the bars that
Yahoo Finance sends.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from models.calendar import session_days
from models.data.date_lists import format_dates
from models.plurals import plural

# the fix for a file, to which the user can add rows
ADD_ROWS_FIX = "Add rows for the missing sessions to model them."


@dataclass(frozen=True)
class SessionGaps:
    """The sessions without a row, and the longest run of them.

    ``missing`` lists the sessions (M,) in date order, and the longest run
    is the ``longest`` consecutive sessions from ``longest_first`` to
    ``longest_last``, the earliest of the longest when several tie.
    """

    missing: pd.DatetimeIndex
    longest: int
    longest_first: pd.Timestamp
    longest_last: pd.Timestamp


def find_session_gaps(dates: pd.DatetimeIndex) -> SessionGaps | None:
    """Return the NYSE sessions between the first and last of ``dates`` that
    have no row, or None when there are none.

    ``dates`` (N,) are sorted, unique NYSE sessions at midnight, as
    ``clean_frame`` returns them with ``sessions_only``.
    """
    if len(dates) < 2:
        return None
    days = dates.to_numpy().astype("datetime64[D]")
    sessions = session_days()
    inside = sessions[(sessions >= days[0]) & (sessions <= days[-1])]
    missing = np.setdiff1d(inside, days, assume_unique=True)
    if len(missing) == 0:
        return None

    # consecutive missing sessions have consecutive positions in the calendar
    positions = np.searchsorted(inside, missing)
    breaks = np.flatnonzero(np.diff(positions) != 1)
    starts = np.concatenate(([0], breaks + 1))
    ends = np.concatenate((breaks, [len(missing) - 1]))
    run = int(np.argmax(ends - starts))
    return SessionGaps(
        missing=pd.DatetimeIndex(missing.astype("datetime64[ns]")),
        longest=int(ends[run] - starts[run] + 1),
        longest_first=pd.Timestamp(missing[starts[run]]),
        longest_last=pd.Timestamp(missing[ends[run]]),
    )


def session_gap_note(dates: pd.DatetimeIndex, fix: str = ADD_ROWS_FIX) -> str | None:
    """Return the cleaning note that lists the sessions ``dates`` (N,) skip,
    or None when they skip none.

    ``dates`` are as ``find_session_gaps`` takes them. The note ends with
    ``fix``, one or more sentences on how to model the missing sessions.
    """
    gaps = find_session_gaps(dates)
    if gaps is None:
        return None

    first = gaps.longest_first.strftime("%Y-%m-%d")
    last = gaps.longest_last.strftime("%Y-%m-%d")
    return (
        f"Found no row on {plural(len(gaps.missing), 'NYSE session')} between "
        f"the first and the last date: {format_dates(gaps.missing)}. The "
        f"longest gap is {plural(gaps.longest, 'session')}, {first}..{last}. "
        "Training and forecasts read the rows on either side of a gap as "
        f"consecutive sessions. {fix}"
    )
