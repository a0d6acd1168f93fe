"""Loading of daily series from CSV files in two formats.

A Yahoo Finance export (``Date,Open,High,Low,Close,Adj Close,Volume``, with
``Adj Close`` optional) gives a series of kind ``"price"``. A two-column
``date,value`` file gives a series of kind ``"value"`` whose values are stored
as ``close``. Header names are matched case-insensitively and in any order.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

import pandas as pd

from models.data.series import PRICE_COLUMNS, Series, sha256_bytes
from models.data.validation import clean_frame
from models.errors import DataError

YAHOO_COLUMNS = {
    "date": "date",
    "open": "open",
    "high": "high",
    "low": "low",
    "close": "close",
    "adj close": "adj_close",
    "volume": "volume",
}
VALUE_COLUMNS = {"date": "date", "value": "close"}
ACCEPTED_HEADERS = (
    "'Date,Open,High,Low,Close,Adj Close,Volume' (Yahoo Finance, Adj Close "
    "optional) or 'date,value'"
)


def load_csv(path: str | Path, column: str = "close") -> Series:
    """Read a CSV file from disk and return its validated series.

    ``column`` picks the Yahoo column that becomes ``close``; see
    ``parse_csv_bytes``. Raises ``DataError`` when the file is missing or
    unreadable, or when its content is invalid.
    """
    path = Path(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError as exc:
        raise DataError(
            f"CSV file not found: {path}; check the path", field="data.path"
        ) from exc
    except OSError as exc:
        raise DataError(
            f"failed to read CSV file {path}: {exc.strerror}; check the path and "
            "its permissions",
            field="data.path",
        ) from exc

    source = {"source": "csv", "path": str(path), "column": column}
    return parse_csv_bytes(raw, column=column, label=str(path), source=source)


def parse_csv_bytes(
    raw: bytes,
    *,
    column: str = "close",
    label: str,
    source: dict[str, Any],
    sessions_only: bool = True,
) -> Series:
    """Parse CSV bytes in either accepted format into a validated series.

    For a Yahoo file, ``column`` (``close``, ``adj_close``, ``open``, ``high``
    or ``low``) becomes ``close`` in the frame, replacing the file's Close,
    and every other column is kept under its own name. A ``date,value`` file
    only accepts ``column="close"``. ``label`` names the input in error
    messages. The returned ``source`` is ``source`` plus ``"format"``
    (``"yahoo"`` or ``"value"``); ``sha256`` is of ``raw``. With
    ``sessions_only`` (the default), a row dated on a weekend, an NYSE holiday
    or outside the NYSE calendar raises ``DataError`` (see ``clean_frame``).
    """
    if column not in PRICE_COLUMNS:
        raise DataError(
            f"column must be one of {', '.join(PRICE_COLUMNS)}, got {column!r}",
            field="data.column",
        )

    table = _read_table(raw, label)
    file_format, table = _rename_header(table, label)
    table = _select_column(table, file_format, column, label)

    kind = "price" if file_format == "yahoo" else "value"
    frame, notes = clean_frame(
        table, kind=kind, label=label, sessions_only=sessions_only
    )
    return Series(
        frame=frame,
        source={**source, "format": file_format},
        sha256=sha256_bytes(raw),
        cleaning=tuple(notes),
        kind=kind,
    )


def _read_table(raw: bytes, label: str) -> pd.DataFrame:
    """Decode UTF-8 bytes and read every cell as a string."""
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise DataError(
            f"{label} is not UTF-8 text (invalid byte at offset {exc.start}); "
            "save it as a UTF-8 CSV file",
            field="data",
        ) from exc

    if "\x00" in text:
        raise DataError(
            f"{label} contains NUL bytes, so it is a binary file and not a "
            "CSV file; export the data as CSV",
            field="data",
        )
    if not text.strip():
        raise DataError(f"{label} is empty; expected a CSV header", field="data")

    _check_unique_header(text, label)

    # Every cell stays a string so that clean_frame can tell a missing value
    # (empty, null) from an invalid one.
    try:
        return pd.read_csv(
            io.StringIO(text),
            dtype=str,
            keep_default_na=False,
            skipinitialspace=True,
        )
    except (pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise DataError(
            f"{label} is not a valid CSV file: {exc}", field="data"
        ) from exc


def _check_unique_header(text: str, label: str) -> None:
    """Raise ``DataError`` when the header names a column twice. pandas would
    rename the second one (``value`` to ``value.1``), and the header error
    would then quote names the file does not contain."""
    first_line = text.lstrip("\ufeff").splitlines()[0]
    names = [name.strip().lower() for name in next(csv.reader([first_line]))]
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise DataError(
            f"{label} has the header {first_line.strip()!r}, which names the "
            f"column{'s' if len(repeated) > 1 else ''} "
            f"{', '.join(repr(name) for name in repeated)} more than once; "
            "keep one column of each name",
            field="data",
        )


def _rename_header(table: pd.DataFrame, label: str) -> tuple[str, pd.DataFrame]:
    """Detect the format from the header and rename to lowercase snake case."""
    header = ",".join(str(name) for name in table.columns)
    names = [str(name).strip().lower() for name in table.columns]
    table = table.set_axis(names, axis=1)

    yahoo_required = set(YAHOO_COLUMNS) - {"adj close"}
    if len(set(names)) == len(names):
        if set(names) in (set(YAHOO_COLUMNS), yahoo_required):
            return "yahoo", table.rename(columns=YAHOO_COLUMNS)
        if set(names) == set(VALUE_COLUMNS):
            return "value", table.rename(columns=VALUE_COLUMNS)

    raise DataError(
        f"{label} has the header {header!r}, which is not one of the "
        f"accepted headers {ACCEPTED_HEADERS}; rename the columns",
        field="data",
    )


def _select_column(
    table: pd.DataFrame, file_format: str, column: str, label: str
) -> pd.DataFrame:
    if column == "close":
        return table

    if file_format == "value":
        raise DataError(
            f"{label} is a date,value file with a single value column, so "
            f"column={column!r} does not exist; use column='close'",
            field="data.column",
        )
    if column not in table.columns:
        present = ", ".join(c for c in table.columns if c != "date")
        raise DataError(
            f"{label} has no {column} column (it has {present}); "
            "choose one of those columns",
            field="data.column",
        )

    return table.assign(close=table[column])
