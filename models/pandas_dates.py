"""The dates that a pandas ``datetime64[ns]`` index can store.

Every series is indexed by a ``datetime64[ns]`` ``DatetimeIndex``. Its int64
count of nanoseconds since 1970 spans 1677-09-21 00:12:43 to 2262-04-11
23:47:16 (``pd.Timestamp.min`` and ``pd.Timestamp.max``), so the whole days
inside it are ``FIRST_DATE`` to ``LAST_DATE``. A date outside them raises
``OutOfBoundsDatetime`` when pandas converts it. This module imports no
pandas, so request models can check dates cheaply.
"""

from __future__ import annotations

import datetime as dt

FIRST_DATE = dt.date(1677, 9, 22)
LAST_DATE = dt.date(2262, 4, 11)
DATE_RANGE = f"{FIRST_DATE}..{LAST_DATE}"


def check_date(name: str, day: dt.date) -> None:
    """Raise ``ValueError`` naming ``name`` when ``day`` is outside
    ``DATE_RANGE``."""
    if not FIRST_DATE <= day <= LAST_DATE:
        raise ValueError(
            f"{name} {day} lies outside {DATE_RANGE}, the range of dates that "
            "pandas datetime64[ns] can store; choose a date inside that range "
            "and inside the series"
        )
