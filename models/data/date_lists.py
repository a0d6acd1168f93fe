"""Short lists of dates for the messages and cleaning notes of a series."""

from __future__ import annotations

import pandas as pd

LISTED_DATES = 3


def format_dates(dates: pd.DatetimeIndex | pd.Series) -> str:
    """Format up to three dates as ``YYYY-MM-DD`` and count the rest."""
    listed = ", ".join(
        pd.Timestamp(d).strftime("%Y-%m-%d") for d in dates[:LISTED_DATES]
    )
    rest = len(dates) - LISTED_DATES
    return f"{listed} and {rest} more" if rest > 0 else listed
