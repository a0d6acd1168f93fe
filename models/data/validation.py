"""Validation and cleaning of raw daily rows into the frame that ``Series`` holds.

``clean_frame`` never changes data silently: every change to the raw rows is
returned as one plain sentence that names the count and the first dates
affected. Input that cannot be repaired without guessing raises ``DataError``.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import numpy as np
import pandas as pd

from models.cancellation import StopCheck, stop_if_requested
from models.data.date_lists import format_dates
from models.data.duplicate_dates import drop_duplicate_dates
from models.data.row_checks import (
    BOUNDED_COLUMNS,
    check_iso_dates,
    check_price_ranges,
    source_rows,
)
from models.data.series import PRICE_COLUMNS
from models.data.session_dates import check_sessions
from models.data.session_gaps import session_gap_note
from models.data.value_range import check_column_ranges, check_series_values
from models.errors import DataError
from models.pandas_dates import DATE_RANGE
from models.plurals import plural
from models.quoted_ids import shortened

KINDS = ("price", "value")
# what messages call the close column of each kind
CLOSE_NAMES = {"price": "close", "value": "value"}
VALUE_COLUMNS = ("open", "high", "low", "close", "adj_close", "volume")

# Cells that mean "no value". Older Yahoo exports write ``null`` for days
# without a quote.
MISSING_TOKENS = frozenset({"", "null", "nan", "na", "n/a"})

# Timezone-aware dates are converted to this zone before the timezone is
# dropped, so a US session keeps its local calendar date.
EXCHANGE_TIMEZONE = "America/New_York"
UTC_OFFSET = r"[T ]\d\d:\d\d.*(?:Z|[+-]\d\d(?::?\d\d)?)$"

# characters of a too-large number that a message shows
INFINITE_CELL_CHARS = 40


def clean_frame(
    raw: pd.DataFrame,
    *,
    kind: str,
    label: str,
    sessions_only: bool = False,
    close_name: str | None = None,
    check_all_columns: bool = False,
    strict_rows: bool = False,
    allow_time_of_day: bool = False,
    should_stop: StopCheck | None = None,
) -> tuple[pd.DataFrame, list[str]]:
    """Validate raw rows and return the cleaned frame and the cleaning steps.

    ``raw`` has a ``date`` column (strings or datetimes) and value columns
    named ``open``, ``high``, ``low``, ``close``, ``adj_close`` and ``volume``
    (only ``close`` is required) whose cells are numbers, numeric strings or
    missing markers (NaN, empty, ``null``). ``kind`` is ``"price"`` (every
    price column must be positive) or ``"value"`` (any finite number).
    ``label`` names the input in messages, e.g. a file path, and
    ``close_name`` the input column that became ``close``, such as ``open``
    (default ``close``, or ``value`` for kind ``"value"``). With
    ``check_all_columns``, every value of every column must lie within the
    range that training can scale, not only the closes.

    With ``strict_rows``, date strings must be written as YYYY-MM-DD, and
    on every row low must not exceed high, and open and close must lie
    between them. When ``close_name`` names another column, ``close`` is a
    copy of that column, so only open is compared. Adjusted prices may leave
    the day's range, and the file's own close is no longer in ``raw``. These
    checks of prices run last, so that the checks of signs and ranges report
    their own errors first. They run on the rows as parsed and again on the
    rows kept after forward-filling. A filled high or low that disagrees with
    the row's own prices therefore raises ``DataError`` too. With
    ``allow_time_of_day`` as well, a YYYY-MM-DD date may be followed by a
    time without a UTC offset, which step 1 drops.

    ``should_stop`` is called between the steps below and between the
    columns that step 1 parses; once it returns True, ``clean_frame``
    raises ``ComputationCancelled``.

    The steps run in this order, and each change is reported:

    1. Dates are parsed as ISO 8601. Timezone-aware dates are converted to
       America/New_York and the timezone is dropped, so a date stamped at
       midnight UTC becomes the previous day. A time of day is dropped.
       With ``sessions_only``, every row with a close must then be dated on
       an NYSE session of ``models.calendar`` (no weekend, NYSE holiday or
       date outside 1990-01-02..2200-12-31); the first other row in input
       order raises ``DataError``. Rows without a close are not checked,
       because step 2 drops them. With ``check_all_columns``, the first
       value beyond ``models.data.value_range.MAX_ABS_VALUE`` in any column
       of any row raises ``DataError`` that names the column and the row.
    2. Rows with a missing close are dropped.
    3. Unsorted rows are sorted by date (a stable sort).
    4. Of rows sharing a date, the last one in input order is kept. The
       note names the dates whose dropped rows had other values
       (``models.data.duplicate_dates``).
    5. A column in which every value is missing is dropped. Other missing
       values are forward-filled from the previous row, and leading rows with
       no previous value to copy are dropped.
    6. With ``sessions_only``, the NYSE sessions between the first and the
       last row that have no row are listed, without changing the frame.

    Returns a frame with a ``DatetimeIndex`` named ``date`` (datetime64[ns],
    midnight, sorted, unique) and float64 columns in the order of
    ``VALUE_COLUMNS``, plus the list of sentences, empty when nothing
    changed.

    Raises ``DataError`` for no data rows, an invalid date or number, a date
    that is no NYSE session (with ``sessions_only``), an infinite value, a
    price that is zero or negative (kind ``"price"``), a negative volume, no
    rows left after cleaning, or closes that training cannot scale
    (``models.data.value_range.check_series_values``).
    """
    _check_arguments(raw, kind)
    if raw.empty:
        raise DataError(
            f"{label} contains no data rows; add rows below the header", field="data"
        )

    notes: list[str] = []
    stop = functools.partial(stop_if_requested, should_stop, f"the check of {label}")
    if strict_rows and not pd.api.types.is_datetime64_any_dtype(raw["date"].dtype):
        check_iso_dates(raw["date"], label, allow_time_of_day=allow_time_of_day)
    stop()
    dates = _parse_dates(raw["date"], label, notes)
    name = close_name or CLOSE_NAMES[kind]
    frame = _parse_values(raw, dates, label, close_name=name, stop=stop)
    # rows in input order, so that an error can name the data row
    parsed_rows = frame
    if sessions_only:
        check_sessions(dates, raw["date"], frame["close"].notna().to_numpy(), label)
    if check_all_columns:
        check_column_ranges(frame, names={"close": name}, label=label)

    stop()
    frame = _drop_missing_close(frame, label, notes, name)
    frame = _sort_by_date(frame, notes)
    frame = drop_duplicate_dates(frame, notes, name)
    filled = _fill_missing(frame, notes)
    rows = source_rows(parsed_rows, filled.index)

    if sessions_only:
        gap_note = session_gap_note(filled.index)
        if gap_note is not None:
            notes.append(gap_note)

    _check_signs(filled, kind, label, rows)
    check_series_values(filled["close"], name=name, label=label)
    if strict_rows:
        own_close = close_name in (None, "close")
        bounded = BOUNDED_COLUMNS if own_close else ("open",)
        check_price_ranges(parsed_rows, label, bounded)
        was_missing = frame.loc[filled.index, filled.columns].isna()
        check_price_ranges(filled, label, bounded, rows=rows, filled=was_missing)
    return filled, notes


def _check_arguments(raw: pd.DataFrame, kind: str) -> None:
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")

    missing = [name for name in ("date", "close") if name not in raw.columns]
    if missing:
        raise ValueError(f"raw frame has no {' or '.join(missing)} column")

    unknown = [c for c in raw.columns if c != "date" and c not in VALUE_COLUMNS]
    if unknown:
        raise ValueError(f"raw frame has unknown columns {unknown}")


def _parse_dates(column: pd.Series, label: str, notes: list[str]) -> pd.DatetimeIndex:
    """Parse the date column into a tz-naive midnight ``DatetimeIndex``."""
    parsed = _to_datetime(column, label)

    invalid = np.flatnonzero(parsed.isna().to_numpy())
    if len(invalid):
        position = int(invalid[0])
        raise DataError(
            f"{label}: invalid date {column.iloc[position]!r} in data row "
            f"{position + 1} (row 1 is the first row after the header); "
            "write dates as YYYY-MM-DD",
            field="data",
        )

    if parsed.dt.tz is not None:
        parsed = parsed.dt.tz_convert(EXCHANGE_TIMEZONE).dt.tz_localize(None)
        notes.append(
            f"Converted {plural(len(parsed), 'timezone-aware date')} to "
            f"{EXCHANGE_TIMEZONE} and dropped the timezone."
        )

    with_time = parsed[parsed != parsed.dt.normalize()]
    if len(with_time):
        parsed = parsed.dt.normalize()
        notes.append(
            f"Dropped the time of day from {plural(len(with_time), 'date')}: "
            f"{format_dates(with_time)}."
        )

    try:
        return pd.DatetimeIndex(parsed.astype("datetime64[ns]"), name="date")
    except pd.errors.OutOfBoundsDatetime as exc:
        raise DataError(
            f"{label}: a date lies outside {DATE_RANGE}, the range "
            "that pandas datetime64[ns] can store; fix the date",
            field="data",
        ) from exc


def _to_datetime(column: pd.Series, label: str) -> pd.Series:
    """Parse ISO 8601 dates, returning NaT for cells that are not dates."""
    if pd.api.types.is_datetime64_any_dtype(column.dtype):
        return column.reset_index(drop=True)

    text = column.astype("string").str.strip().reset_index(drop=True)
    try:
        return pd.to_datetime(text, errors="coerce", format="ISO8601")
    except ValueError:
        pass

    # Offsets that change with daylight saving time (-05:00 in winter, -04:00
    # in summer) can only be parsed into one UTC column. Dates without an
    # offset would be read as UTC there, so a mix of both is rejected.
    has_offset = text.str.contains(UTC_OFFSET, regex=True).fillna(True)
    if not has_offset.all():
        position = int(np.flatnonzero(~has_offset.to_numpy())[0])
        raise DataError(
            f"{label}: the date {column.iloc[position]!r} in data row "
            f"{position + 1} has no UTC offset but other dates have one; "
            "write every date with an offset or none",
            field="data",
        )
    return pd.to_datetime(text, errors="coerce", format="ISO8601", utc=True)


def _parse_values(
    raw: pd.DataFrame,
    dates: pd.DatetimeIndex,
    label: str,
    close_name: str,
    stop: Callable[[], None],
) -> pd.DataFrame:
    """Convert every value column to float64, with NaN for missing cells.

    Messages call the ``close`` column ``close_name``, the input column that
    became it, such as ``value`` in a ``date,value`` file. ``stop`` is
    called before each column."""
    frame = pd.DataFrame(index=dates)
    for name in VALUE_COLUMNS:
        if name in raw.columns:
            stop()
            message_name = close_name if name == "close" else name
            frame[name] = _parse_column(raw[name], message_name, dates, label)
    return frame


def _parse_column(
    column: pd.Series, name: str, dates: pd.DatetimeIndex, label: str
) -> np.ndarray:
    """Convert one column to float64; ``name`` is the column as messages
    show it."""
    values: np.ndarray
    if pd.api.types.is_numeric_dtype(column.dtype):
        values = column.to_numpy(dtype="float64", na_value=np.nan)
    else:
        text = column.astype("string").str.strip()
        missing = (text.isna() | text.str.lower().isin(MISSING_TOKENS)).to_numpy()
        numbers = pd.to_numeric(text.mask(missing), errors="coerce")
        values = numbers.to_numpy(dtype="float64", na_value=np.nan)

        invalid = np.flatnonzero(np.isnan(values) & ~missing)
        if len(invalid):
            position = int(invalid[0])
            raise DataError(
                f"{label}: invalid number {column.iloc[position]!r} in column "
                f"{name} in data row {position + 1} (row 1 is the first row "
                f"after the header), dated "
                f"{format_dates(dates[position : position + 1])}; "
                "write a number or leave the cell empty",
                field="data",
            )

    infinite = np.flatnonzero(np.isinf(values))
    if len(infinite):
        position = int(infinite[0])
        raise DataError(
            f"{label}: {name} is {_infinite_cell(column.iloc[position])} in data "
            f"row {position + 1} (row 1 is the first row after the header), dated "
            f"{format_dates(dates[position : position + 1])}; "
            "replace it with a finite number or remove the row",
            field="data",
        )
    return values


def _infinite_cell(cell: object) -> str:
    """Format a cell that parsed as infinite for a message: ``inf`` or
    ``-inf`` for an infinity, and a number too large for float64 as written,
    cut short."""
    text = str(cell).strip()
    if isinstance(cell, str) and "inf" not in text.lower():
        return f"{shortened(text, INFINITE_CELL_CHARS)}, beyond the float64 range"
    return str(float(text))


def _drop_missing_close(
    frame: pd.DataFrame, label: str, notes: list[str], close_name: str
) -> pd.DataFrame:
    """Drop the rows without a close; messages call the close column
    ``close_name``, such as ``value`` in a ``date,value`` file."""
    missing = frame["close"].isna().to_numpy()
    if not missing.any():
        return frame

    cell_name = "value" if close_name == "value" else f"{close_name} value"
    if missing.all():
        raise DataError(
            f"{label}: no rows left after dropping {plural(len(frame), 'row')} "
            f"with a missing {cell_name}; check that the file contains data",
            field="data",
        )

    notes.append(
        f"Dropped {plural(int(missing.sum()), 'row')} with a missing {cell_name}: "
        f"{format_dates(frame.index[missing])}."
    )
    return frame[~missing]


def _sort_by_date(frame: pd.DataFrame, notes: list[str]) -> pd.DataFrame:
    if frame.index.is_monotonic_increasing:
        return frame

    # A row is out of order when its date is earlier than a date above it.
    dates = frame.index.to_numpy()
    latest_above = np.maximum.accumulate(dates)[:-1]
    out_of_order = frame.index[1:][dates[1:] < latest_above]
    notes.append(
        f"Sorted the rows by date, moving {plural(len(out_of_order), 'row')} "
        f"that came after a later date: {format_dates(out_of_order.unique())}."
    )
    return frame.sort_index(kind="stable")


def _fill_missing(frame: pd.DataFrame, notes: list[str]) -> pd.DataFrame:
    for name in list(frame.columns):
        missing = frame[name].isna().to_numpy()
        if missing.all():
            notes.append(
                f"Dropped the {name} column because every value in it was missing."
            )
            frame = frame.drop(columns=name)
            continue

        # Cells before the first value have no previous row to copy from.
        fillable = missing & (np.cumsum(~missing) > 0)
        if fillable.any():
            notes.append(
                f"Forward-filled {plural(int(fillable.sum()), f'missing {name} value')}"
                f" from the previous row: {format_dates(frame.index[fillable])}."
            )
    filled = frame.ffill()

    leading = filled.isna().any(axis=1).to_numpy()
    if leading.any():
        columns = [c for c in filled.columns if filled[c].isna().any()]
        notes.append(
            f"Dropped {plural(int(leading.sum()), 'leading row')} because "
            f"{', '.join(columns)} had no earlier value to forward-fill: "
            f"{format_dates(filled.index[leading])}."
        )
    return filled[~leading]


def _check_signs(frame: pd.DataFrame, kind: str, label: str, rows: np.ndarray) -> None:
    """Raise ``DataError`` for the first price that is not positive or
    volume that is negative. ``rows`` (N,) are the data row numbers of the
    N rows of ``frame``."""
    if kind == "price":
        for name in PRICE_COLUMNS:
            if name in frame.columns:
                _raise_first(
                    frame[name],
                    frame[name] <= 0,
                    (label, rows),
                    "but prices must be positive; clean the file or load the "
                    "series as a date,value CSV, which accepts any finite value",
                )

    if "volume" in frame.columns:
        _raise_first(
            frame["volume"],
            frame["volume"] < 0,
            (label, rows),
            "but volume cannot be negative; clean the file",
        )


def _raise_first(
    column: pd.Series, bad: pd.Series, place: tuple[str, np.ndarray], fix: str
) -> None:
    """Raise ``DataError`` for the first ``bad`` value of ``column``.
    ``place`` is the label of the input and the data row numbers of the
    rows of ``column``."""
    positions = np.flatnonzero(bad.to_numpy())
    if len(positions) == 0:
        return

    label, rows = place
    position = int(positions[0])
    date = format_dates(column.index[position : position + 1])
    raise DataError(
        f"{label}: {column.name} is {column.iloc[position]:g} in data row "
        f"{rows[position]} (row 1 is the first row after the header), dated "
        f"{date}, {fix}",
        field="data",
    )
