"""Loading of daily series from CSV files in two formats.

A Yahoo Finance export (``Date,Open,High,Low,Close,Adj Close,Volume``, with
``Adj Close`` optional) gives a series of kind ``"price"``. A two-column
``date,value`` file gives a series of kind ``"value"`` whose values are stored
as ``close``. Header names are matched case-insensitively and in any order.
"""

from __future__ import annotations

import codecs
import csv
import io
import re
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd

from models.cancellation import StopCheck, stop_if_requested
from models.data.series import PRICE_COLUMNS, Series, sha256_bytes
from models.data.validation import clean_frame
from models.errors import DataError
from models.plurals import plural
from models.quoted_ids import quoted

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
# maximum field length, in characters, that Python's csv module reads
MAX_FIELD_CHARS = csv.field_size_limit()
# delimiters of other CSV dialects, which leave a header of one column
OTHER_DELIMITERS = (";", "\t", "|")
# bytes at the start of a file that the UTF-16 check reads
UTF16_SAMPLE_BYTES = 256
# the byte order marks of the encodings that editors save instead of UTF-8,
# UTF-32 first (see _bom_encoding)
BYTE_ORDER_MARKS = (
    ("UTF-32", (codecs.BOM_UTF32_LE, codecs.BOM_UTF32_BE)),
    ("UTF-16", (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)),
)
# lines without a value that any CSV may have; more are accepted only up
# to the number of lines with values
MAX_EMPTY_LINES = 1_000
# the rest of a line from its first character other than a comma, space,
# tab or line end: one match per line that the row check would not skip
LINE_WITH_VALUE = re.compile(r"[^ \t,\r\n][^\n]*")
# rows of the row check between two calls of a parse's stop check
STOP_CHECK_ROWS = 10_000
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
    check_all_columns: bool = False,
    strict_rows: bool = True,
    allow_time_of_day: bool = False,
    should_stop: StopCheck | None = None,
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
    With ``check_all_columns``, a value beyond the range that training can
    scale raises ``DataError`` in any column, not only in the chosen one.
    With ``strict_rows`` (the default), so does a date not written as
    YYYY-MM-DD, or a row whose open, high, low and close disagree. With
    ``allow_time_of_day`` as well, a YYYY-MM-DD date followed by a time
    without a UTC offset is read at midnight of that date, with a cleaning
    note.
    ``should_stop`` is called between the steps of the parse and every
    ``STOP_CHECK_ROWS`` rows of the row check; once it returns True the
    parse raises ``ComputationCancelled``.
    """
    if column not in PRICE_COLUMNS:
        raise DataError(
            f"column must be one of {', '.join(PRICE_COLUMNS)}, got {column!r}",
            field="data.column",
        )

    table, file_format = _read_table(raw, label, should_stop)
    stop_if_requested(should_stop, f"the parse of {label}")
    table = _rename_header(table, file_format)
    table = _select_column(table, file_format, column, label)

    kind = "price" if file_format == "yahoo" else "value"
    frame, notes = clean_frame(
        table,
        kind=kind,
        label=label,
        sessions_only=sessions_only,
        close_name=column if kind == "price" else None,
        check_all_columns=check_all_columns,
        strict_rows=strict_rows,
        allow_time_of_day=allow_time_of_day,
        should_stop=should_stop,
    )
    return Series(
        frame=frame,
        source={**source, "format": file_format},
        sha256=sha256_bytes(raw),
        cleaning=tuple(notes),
        kind=kind,
    )


def _read_table(
    raw: bytes, label: str, should_stop: StopCheck | None = None
) -> tuple[pd.DataFrame, str]:
    """Decode UTF-8 bytes, check the header and read every cell as a
    string; return the table and the format, ``"yahoo"`` or ``"value"``."""
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        encoding = _bom_encoding(raw)
        if encoding is not None:
            raise DataError(
                f"{label} is {encoding} text (it starts with the {encoding} "
                "byte order mark), not UTF-8; save it as a UTF-8 CSV file",
                field="data",
            ) from exc
        raise DataError(
            f"{label} is not UTF-8 text (invalid byte at offset {exc.start}); "
            "save it as a UTF-8 CSV file",
            field="data",
        ) from exc

    if "\x00" in text:
        if _looks_like_utf16(raw):
            raise DataError(
                f"{label} is UTF-16 text without a byte order mark, not UTF-8; "
                "save it as a UTF-8 CSV file",
                field="data",
            )
        raise DataError(
            f"{label} contains NUL bytes, so it is a binary file and not a "
            "CSV file; export the data as CSV",
            field="data",
        )
    if not text.strip():
        raise DataError(f"{label} is empty; expected a CSV header", field="data")
    bare_cr = _bare_cr_error(text, label)
    if bare_cr is not None:
        raise bare_cr
    empty_lines = _empty_lines_error(text, label)
    if empty_lines is not None:
        raise empty_lines

    # The header is checked on the line as written: pandas would rename a
    # repeated name (value to value.1) or an empty one (Unnamed: 2).
    header = _header_line(text)
    file_format = _header_format(header, label)

    # Rows with fewer fields than the header are rejected here, because
    # pandas would read their missing fields as empty cells.
    width_error = _row_width_error(text, header, label, should_stop)
    if width_error is not None:
        raise width_error

    # Every cell stays a string so that clean_frame can tell a missing value
    # (empty, null) from an invalid one.
    try:
        table = pd.read_csv(
            io.StringIO(text),
            dtype=str,
            keep_default_na=False,
            skipinitialspace=True,
        )
    except (pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise DataError(
            f"{label} is not a valid CSV file ({str(exc).strip()}); check the "
            "quotes and the number of fields in each row",
            field="data",
        ) from exc
    # pandas reads the first column as the index when the first data row has
    # one field more than the header
    if not isinstance(table.index, pd.RangeIndex):
        raise DataError(
            f"{label} has a data row with more fields than the header "
            f"{quoted(header)}; remove the extra fields",
            field="data",
        )
    return table, file_format


def _bom_encoding(raw: bytes) -> str | None:
    """Return ``"UTF-16"`` or ``"UTF-32"`` when ``raw`` starts with the byte
    order mark of that encoding, else None. UTF-32 is tested first, because
    its little-endian mark starts with the UTF-16 one."""
    for encoding, marks in BYTE_ORDER_MARKS:
        if raw.startswith(marks):
            return encoding
    return None


def _looks_like_utf16(raw: bytes) -> bool:
    """True when every other byte of the start of ``raw`` is NUL, as in
    ASCII text encoded as UTF-16 (little or big endian)."""
    start = raw[:UTF16_SAMPLE_BYTES]
    start = start[: len(start) - len(start) % 2]
    if not start:
        return False
    return set(start[1::2]) == {0} or set(start[0::2]) == {0}


def _header_line(text: str) -> str:
    """Return the first line that is not blank, as pandas reads it."""
    for line in text.lstrip("\ufeff").splitlines():
        if line.strip():
            return line.strip()
    return ""


def _header_format(header: str, label: str) -> str:
    """Return ``"yahoo"`` or ``"value"`` for an accepted header; raise
    ``DataError`` naming the problem for any other header."""
    names = [name.strip().lower() for name in _header_fields(header, label)]
    # Counter keeps this linear: a 10 MB header of commas has 10 million names.
    # Empty names get their own message below.
    counts = Counter(names)
    repeated = sorted(name for name, count in counts.items() if count > 1 and name)
    if repeated:
        raise DataError(
            f"{label} has the header {quoted(header)}, which names the "
            f"column{'s' if len(repeated) > 1 else ''} "
            f"{', '.join(repr(name) for name in repeated)} more than once; "
            "keep one column of each name",
            field="data",
        )
    if "" in names:
        position = names.index("") + 1
        fix = (
            "remove the comma at the end of every line"
            if position == len(names)
            else "name that column or remove it"
        )
        raise DataError(
            f"{label} has the header {quoted(header)}, whose column {position} has "
            f"no name; {fix}",
            field="data",
        )
    delimiters = [char for char in OTHER_DELIMITERS if char in header]
    if len(names) == 1 and delimiters:
        raise DataError(
            f"{label} has the header {quoted(header)}, which separates the column "
            f"names with {delimiters[0]!r}; separate the fields of every line "
            "with commas",
            field="data",
        )

    yahoo_required = set(YAHOO_COLUMNS) - {"adj close"}
    if set(names) in (set(YAHOO_COLUMNS), yahoo_required):
        return "yahoo"
    if set(names) == set(VALUE_COLUMNS):
        return "value"
    raise DataError(
        f"{label} has the header {quoted(header)}, which is not one of the "
        f"accepted headers {ACCEPTED_HEADERS}; rename the columns",
        field="data",
    )


def _header_fields(header: str, label: str) -> list[str]:
    """Split the header line into its fields; raise ``DataError`` when the
    csv module cannot read it, such as a field over ``MAX_FIELD_CHARS``."""
    try:
        return next(csv.reader([header]))
    except csv.Error as exc:
        raise DataError(
            f"{label} has the header {quoted(header)}, which is not valid CSV "
            f"({exc}); write one of the accepted headers {ACCEPTED_HEADERS}",
            field="data",
        ) from exc


def _bare_cr_error(text: str, label: str) -> DataError | None:
    """Return the error for a carriage return that no line feed follows, or
    None when every CR is part of a CRLF line end.

    The csv module reads such a CR as a line break inside a field and fails,
    and pandas reads it as a line end, so the two would split rows apart.
    """
    position = text.replace("\r\n", "\n\n").find("\r")
    if position < 0:
        return None
    line = text.count("\n", 0, position) + 1
    return DataError(
        f"{label} has a carriage return (CR) without a line feed on line {line}; "
        "end every line with LF or CRLF and remove other CR characters",
        field="data",
    )


def _empty_lines_error(text: str, label: str) -> DataError | None:
    """Return the error for a text with more lines without a value than
    ``MAX_EMPTY_LINES`` and than lines with one, or None.

    A line without a value is blank or contains only commas, spaces and tabs.
    The row check reads such lines one by one in Python and skips them, so
    ten million of them in 10 MB would cost about ten seconds of CPU. The
    count runs in the regular expression engine, in about 25 ms of CPU for
    10 MB (scripts/upload_parse_cost.py).
    """
    lines = text.count("\n") + (0 if text.endswith("\n") else 1)
    if lines <= MAX_EMPTY_LINES:
        return None
    with_value = sum(1 for _ in LINE_WITH_VALUE.finditer(text))
    empty = lines - with_value
    if empty <= max(MAX_EMPTY_LINES, with_value):
        return None
    return DataError(
        f"{label} has {empty:,} lines without a value (blank or only commas) "
        f"and {with_value:,} lines with values; remove the lines without a "
        f"value, because at most {MAX_EMPTY_LINES:,}, or as many as the lines "
        "with values, are accepted",
        field="data",
    )


def _row_width_error(
    text: str, header: str, label: str, should_stop: StopCheck | None = None
) -> DataError | None:
    """Return the error for the first data row with more or fewer fields
    than the header, or None when every row has as many.

    Rows whose fields are all blank are skipped, as pandas skips blank
    lines. A row that the csv module cannot read, such as one with a field
    over ``MAX_FIELD_CHARS`` characters, and a row with an unclosed quote
    also return an error.
    """
    width = len(_header_fields(header, label))
    text = text.lstrip("\ufeff")
    reader = csv.reader(io.StringIO(text))
    line_count = text.count("\n") + (0 if text.endswith("\n") else 1)
    number = 0
    try:
        for start, fields in _rows_with_start_line(reader, label, should_stop):
            if number == 0:
                number = 1  # the header
                continue
            lines = (start, reader.line_num, line_count)
            unclosed = _unclosed_quote_error(text, fields, lines)
            if unclosed is not None:
                return DataError(f"{label}: data row {number} {unclosed}", field="data")
            if len(fields) != width:
                place = (number, reader.line_num)
                return _width_error(label, header, width, fields, place)
            number += 1
    except csv.Error as exc:
        return DataError(
            f"{label}: data row {max(number, 1)} (ending on line {reader.line_num}) "
            f"is not valid CSV ({exc}); close every quoted field and keep each "
            f"field under {MAX_FIELD_CHARS} characters",
            field="data",
        )
    return None


def _rows_with_start_line(
    reader: Any, label: str, should_stop: StopCheck | None
) -> Iterator[tuple[int, list[str]]]:
    """Yield each row of ``reader`` that has a field that is not blank, with
    the file line that the row starts on. Blank rows are skipped, as pandas
    skips blank lines. ``should_stop`` is checked every
    ``STOP_CHECK_ROWS`` rows, blank ones included."""
    end = 0
    for count, fields in enumerate(reader, start=1):
        if count % STOP_CHECK_ROWS == 0:
            stop_if_requested(should_stop, f"the parse of {label}")
        start, end = end + 1, reader.line_num
        if any(field.strip() for field in fields):
            yield start, fields


def _unclosed_quote_error(
    text: str, fields: list[str], lines: tuple[int, int, int]
) -> str | None:
    """Return the end of the message for a row with a quoted field that
    spans lines; None otherwise. ``lines`` are the line the row
    starts on, the line it ends on and the number of lines in ``text``.

    No accepted column contains a line break, so a field with one comes from a
    quote that runs on to a later line. A quote still open at the end of a
    file without a final line break leaves no line break in the field, so the
    last row is read again by a strict reader, which reports the open quote.
    """
    start, end, line_count = lines
    at_end = end >= line_count
    if not any("\n" in field for field in fields):
        if not at_end or not _open_at_end(text, start):
            return None
    if not at_end:
        # a closing quote on a later line may belong to this field or to
        # a field of a later row, so both causes are named
        return (
            f"(line {start}) has a quoted field that runs on to line {end}: "
            f"either its quote is not closed on line {start}, or the field "
            "holds a line break, which no column accepts; keep each quoted "
            "field on one line"
        )
    return (
        f"(line {start}) opens a quoted field that is not closed on that line, "
        f"so the field runs on to the end of the file; close the quote on line "
        f"{start}"
    )


def _open_at_end(text: str, start: int) -> bool:
    """Return whether the rows of ``text`` from line ``start`` on end inside
    a quoted field."""
    tail = text.split("\n", start - 1)[-1]
    try:
        for _ in csv.reader(io.StringIO(tail), strict=True):
            pass
    except csv.Error as exc:
        return "unexpected end of data" in str(exc)
    return False


def _width_error(
    label: str, header: str, width: int, fields: list[str], place: tuple[int, int]
) -> DataError:
    """Return the error for a data row whose ``fields`` are more or fewer
    than the ``width`` fields of the header. ``place`` is the data row number
    and the file line that the row ends on."""
    number, line = place
    fix = (
        "remove the extra fields, or quote values that contain a comma"
        if len(fields) > width
        else "write every field, and leave a missing value empty between its commas"
    )
    return DataError(
        f"{label} has {plural(len(fields), 'field')} in data row {number} (line "
        f"{line}), but its header {quoted(header)} has {width}; {fix}",
        field="data",
    )


def _rename_header(table: pd.DataFrame, file_format: str) -> pd.DataFrame:
    """Rename the columns of an accepted header to lowercase snake case."""
    names = [str(name).strip().lower() for name in table.columns]
    renames = YAHOO_COLUMNS if file_format == "yahoo" else VALUE_COLUMNS
    return table.set_axis(names, axis=1).rename(columns=renames)


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
