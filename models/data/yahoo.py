"""Daily history downloaded with ``yfinance.download`` and cached on disk.

The downloaded frame is written as a Yahoo-format CSV under
``cache_dir/yfinance/`` and parsed by the same code as a local CSV file, so a
cache hit and a fresh download return the same ``Series``.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import os
import re
import tempfile
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pandas as pd

from models.calendar import CALENDAR_START
from models.data.csv_source import parse_csv_bytes
from models.data.saved_bars import saved_file_step
from models.data.series import Series
from models.data.session_gaps import session_gap_note
from models.data.yahoo_sessions import check_bar_sessions
from models.errors import DataError, SourceUnavailableError
from models.tickers import TICKER_PATTERN, invalid_ticker_message

logger = logging.getLogger(__name__)

# yfinance 1.7 fetches only one month when ``start`` is None, so an open
# start is sent as the first session of the NYSE calendar. check_bar_sessions
# rejects bars before it, because that calendar cannot date them.
EARLIEST_START = dt.date.fromisoformat(CALENDAR_START)

YAHOO_COLUMNS = ("Open", "High", "Low", "Close", "Adj Close", "Volume")
ALTERNATIVES = (
    "use the bundled NFLX data (--data bundled) or a local CSV file (--data csv:PATH)"
)

Download = Callable[..., pd.DataFrame | None]


def load_yfinance(
    ticker: str,
    start: dt.date | str | None = None,
    end: dt.date | str | None = None,
    column: str = "close",
    cache_dir: Path | None = None,
    download: Download | None = None,
    root_path: str = "",
) -> Series:
    """Download daily bars for ``ticker`` from Yahoo Finance, or read the cache.

    ``start`` is inclusive and ``end`` exclusive, as in ``yfinance.download``;
    both are ISO dates or ``date`` objects. ``column`` picks the price that
    becomes ``close``. With ``cache_dir`` set, the bars are stored in
    ``cache_dir/yfinance/<TICKER>_<start>_<end>.csv`` and read from there on
    the next call without a download. An open ``end`` is cached for the
    current local day only, because the key then contains today's date.
    ``download`` replaces ``yfinance.download`` (tests pass a fake with the
    same signature). The upload path that the fixes in errors name starts
    with ``root_path``, the service's root path (empty on the command line).
    The notes name it without a root path, because they are stored.

    Every bar with a price must be dated on an NYSE session, whether it was
    downloaded or read from the cache (``check_bar_sessions``), and passes
    the row checks of an uploaded file (``_parse_bars``). Bars that fail a
    check are not cached. When the bars skip NYSE sessions between the
    first and the last bar, the last cleaning note lists those sessions
    (``session_gap_note``), as for a CSV file, with the fix of
    ``session_gap_fix``.

    Raises ``SourceUnavailableError`` when the download raises, and
    ``DataError`` when it returns no rows, a bar off the NYSE sessions or a
    bar that fails a row check.
    yfinance 1.7 catches most network and HTTP errors itself, logs them and
    returns an empty frame, so an empty result cannot be distinguished from
    an unknown ticker. An empty result raises ``DataError`` because the
    request cannot succeed until the ticker, the date range or the network
    changes. Its message includes the error that yfinance logged, if any.
    """
    symbol = _check_ticker(ticker)
    start_text = _iso_date(start, "data.start")
    end_text = _iso_date(end, "data.end")
    source = {
        "source": "yfinance",
        "ticker": symbol,
        "start": start_text,
        "end": end_text,
        "column": column,
    }
    label = f"Yahoo Finance data for {symbol}"
    session_label = label

    cache_path = None
    if cache_dir is not None:
        cache_path = Path(cache_dir) / "yfinance" / cache_file_name(symbol, start, end)

    if cache_path is not None and cache_path.is_file():
        logger.info("reading %s from the cache file %s", symbol, cache_path)
        raw = cache_path.read_bytes()
        label = f"cached {label} ({cache_path.name}, delete it to download again)"
        session_label = f"{session_label} in the cache file {cache_path.name}"
        series = _parse_bars(raw, column, label, source)
        return _check_sessions(series, session_label, root_path)

    first = start_text or EARLIEST_START.isoformat()
    frame = _download(symbol, first, end_text, download)
    raw = _to_yahoo_csv(frame)
    try:
        series = _parse_bars(raw, column, label, source)
    except DataError as exc:
        fixed = f"{exc.message}. {downloaded_row_fix(root_path)}"
        raise DataError(fixed, field=exc.field) from exc
    series = _check_sessions(series, session_label, root_path)
    # only bars that passed every check are cached
    if cache_path is not None:
        _write_cache(cache_path, raw)
    return series


def downloaded_row_fix(root_path: str = "") -> str:
    """Return the fix appended to an error about the bars of a download,
    whose data rows are counted as in the Yahoo-format CSV file that the
    bars are cached as. Its upload path starts with ``root_path``."""
    return (
        "Yahoo Finance sent these bars, so set data.start and data.end "
        "(--start and --end on the command line) to leave the row out, or "
        "save the bars as a Yahoo-format CSV file, correct the row and "
        f"{saved_file_step(root_path)}"
    )


def session_gap_fix() -> str:
    """Return the fix that ends the note on the NYSE sessions that the bars
    skip. Yahoo's bars cannot be edited, so the fix is a saved file with
    the missing rows, or a date range without a gap. Its upload path has no
    root path, because the note is stored (``saved_bars.with_root_path``)."""
    return (
        "Yahoo Finance sent no bars on these sessions. To model them, save the "
        "bars as a Yahoo-format CSV file, add rows for the missing sessions "
        f"and {saved_file_step()}. To train without a gap, set "
        "data.start and data.end (--start and --end on the command line) to a "
        "range that has none."
    )


def cache_file_name(
    ticker: str, start: dt.date | str | None, end: dt.date | str | None
) -> str:
    """Return the cache file name ``<TICKER>_<start>_<end>.csv`` of a request.

    An open start is written as ``EARLIEST_START`` and an open end as
    ``open-<today>``, so an open-ended download is reused on the same day only.
    """
    start_text = _iso_date(start, "data.start") or EARLIEST_START.isoformat()
    end_text = _iso_date(end, "data.end") or f"open-{dt.date.today().isoformat()}"
    return f"{_check_ticker(ticker)}_{start_text}_{end_text}.csv"


def _parse_bars(
    raw: bytes, column: str, label: str, source: dict[str, str | None]
) -> Series:
    """Parse bars written by ``_to_yahoo_csv`` with the checks of an upload.

    Every bar must be dated at midnight (no time of day), its Low must not
    exceed its High with Open and Close between them, and every value of
    every column must lie in the range that training can scale. The session
    check runs afterwards on the cleaned bars (``check_bar_sessions``), so
    that its error speaks of dates.
    """
    return parse_csv_bytes(
        raw,
        column=column,
        label=label,
        source=source,
        sessions_only=False,
        check_all_columns=True,
        strict_rows=True,
    )


def _check_sessions(series: Series, label: str, root_path: str) -> Series:
    """Check that every bar of ``series`` is dated on an NYSE session
    (``check_bar_sessions``), and return it with the note on the sessions
    that it skips appended to its cleaning notes. The note ends with
    ``session_gap_fix`` in place of the advice to add rows that a CSV file
    gets."""
    check_bar_sessions(series.frame.index, label, root_path)
    note = session_gap_note(series.frame.index, session_gap_fix())
    if note is None:
        return series
    return dataclasses.replace(series, cleaning=(*series.cleaning, note))


def _check_ticker(ticker: str) -> str:
    """Return the upper-case ticker, which yfinance also uses."""
    if not re.fullmatch(TICKER_PATTERN, ticker):
        raise DataError(invalid_ticker_message(ticker), field="data.ticker")
    return ticker.upper()


def _iso_date(value: dt.date | str | None, field: str) -> str | None:
    if value is None:
        return None
    if isinstance(value, dt.date):
        return value.isoformat()

    try:
        return dt.date.fromisoformat(value).isoformat()
    except ValueError as exc:
        raise DataError(
            f"invalid date {value!r} for {field}; write it as YYYY-MM-DD",
            field=field,
        ) from exc


def _download(
    symbol: str, start: str, end: str | None, download: Download | None
) -> pd.DataFrame:
    """Call ``yfinance.download`` and return the frame with flat columns."""
    if download is None:
        import yfinance

        download = yfinance.download

    try:
        with _logged_errors(symbol) as errors, _library_warnings_hidden():
            frame = download(
                symbol,
                start=start,
                end=end,
                interval="1d",
                auto_adjust=False,
                progress=False,
                actions=False,
                threads=False,
            )
    # yfinance and its HTTP client raise many unrelated exception types, and
    # every one of them means the same to the caller: no data from Yahoo.
    except Exception as exc:
        logger.warning("download of %s failed: %r", symbol, exc)
        raise SourceUnavailableError(
            f"failed to download {symbol} from Yahoo Finance ({exc}); {ALTERNATIVES}",
            field="data.ticker",
        ) from exc

    if frame is None or frame.empty:
        logged = f" (yfinance logged: {errors[0]})" if errors else ""
        raise DataError(
            f"Yahoo Finance returned no data for ticker {symbol} from {start} to "
            f"{end or 'today'}, which happens for an unknown ticker, a rate limit "
            f"or no network{logged}; check the ticker and the dates, or "
            f"{ALTERNATIVES}",
            field="data.ticker",
        )
    return _flatten_columns(frame, symbol)


@contextmanager
def _library_warnings_hidden() -> Iterator[None]:
    """Hide the deprecation warnings that yfinance's own code raises while
    the block runs. yfinance 1.7 calls pandas APIs that pandas 3.1 deprecates
    (``inplace=True``), and those warnings concern yfinance's code, not the
    user's command."""
    with warnings.catch_warnings():
        for category in (DeprecationWarning, FutureWarning):
            warnings.filterwarnings("ignore", category=category, module=r"yfinance\.")
        yield


@contextmanager
def _logged_errors(symbol: str) -> Iterator[list[str]]:
    """Collect the error messages that the ``yfinance`` logger emits for
    ``symbol`` while the block runs."""
    messages: list[str] = []

    class Collector(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            message = record.getMessage()
            if symbol in message:
                messages.append(message.strip())

    handler = Collector(level=logging.ERROR)
    yf_logger = logging.getLogger("yfinance")
    yf_logger.addHandler(handler)
    try:
        yield messages
    finally:
        yf_logger.removeHandler(handler)


def _flatten_columns(frame: pd.DataFrame, symbol: str) -> pd.DataFrame:
    """Reduce the ``(Price, Ticker)`` column MultiIndex to the price names.

    yfinance 1.x returns these two levels even for a single ticker unless
    ``multi_level_index=False`` is passed.
    """
    if isinstance(frame.columns, pd.MultiIndex):
        level = "Ticker" if "Ticker" in frame.columns.names else -1
        tickers = frame.columns.get_level_values(level).unique()
        if symbol in tickers:
            frame = frame.xs(symbol, axis=1, level=level)
        elif len(tickers) == 1:
            frame = frame.droplevel(level, axis=1)
        else:
            raise DataError(
                f"Yahoo Finance returned tickers {list(tickers)} instead of "
                f"{symbol}; request one ticker at a time",
                field="data.ticker",
            )

    missing = [c for c in YAHOO_COLUMNS if c != "Adj Close" and c not in frame]
    if missing:
        raise DataError(
            f"Yahoo Finance data for {symbol} has no {', '.join(missing)} "
            f"column (columns: {', '.join(map(str, frame.columns))}); "
            f"{ALTERNATIVES}",
            field="data.ticker",
        )
    return frame


def _to_yahoo_csv(frame: pd.DataFrame) -> bytes:
    """Write the bars as ``Date,Open,High,Low,Close,Adj Close,Volume`` CSV.

    A timezone-aware index is made naive in its own timezone, so each daily
    bar keeps the exchange-local date that Yahoo stamps at local midnight
    (``yfinance.download`` 1.7 does the same for daily bars by default).
    """
    index = pd.DatetimeIndex(frame.index)
    if index.tz is not None:
        index = index.tz_localize(None)

    table = frame[[c for c in YAHOO_COLUMNS if c in frame]].set_axis(
        index.rename("Date"), axis=0
    )

    # A time of day is written out so that clean_frame reports dropping it.
    date_format = "%Y-%m-%d" if (index == index.normalize()).all() else None
    text: str = table.to_csv(date_format=date_format, lineterminator="\n")
    return text.encode()


def _write_cache(path: Path, raw: bytes) -> None:
    """Write ``raw`` to a temporary file and rename it, so that readers never
    see a partial file. A failed write is logged and otherwise ignored."""
    temporary: str | None = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        descriptor, temporary = tempfile.mkstemp(
            dir=path.parent, prefix=f".{path.stem}.", suffix=".tmp"
        )
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(raw)
        os.replace(temporary, path)
        logger.info("cached Yahoo Finance data in %s", path)
    except OSError as exc:
        logger.warning("failed to write the cache file %s: %s", path, exc)
        if temporary is not None and os.path.exists(temporary):
            os.remove(temporary)
