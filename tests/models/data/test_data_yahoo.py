"""Tests of the yfinance loader with a fake ``yfinance.download``.

The fake returns the shape that yfinance 1.7 ``download`` builds for one
ticker with ``group_by="column"``: columns ``(Price, Ticker)`` sorted by price
name and an index named ``Date``. ``download`` makes daily indexes tz-naive by
default, while ``Ticker.history`` and older versions return them tz-aware, so
both are tested.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import warnings
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from models.data.csv_source import load_csv
from models.data.saved_bars import with_root_path
from models.data.sources import load_series
from models.data.yahoo import load_yfinance
from models.errors import DataError, SourceUnavailableError
from models.spec import YFinanceData

PRICES = ["Adj Close", "Close", "High", "Low", "Open", "Volume"]
ALTERNATIVES = (
    "use the bundled NFLX data (--data bundled) or a local CSV file (--data csv:PATH)"
)
SESSIONS_REASON = (
    "This service labels forecasts with NYSE sessions, one step per session, so "
    "it trains only on series whose rows are all dated on NYSE sessions."
)
OTHER_EXCHANGE_FIX = (
    "Yahoo dates bars with the sessions of the ticker's own exchange. Use a ticker "
    "that trades on NYSE sessions, such as one listed on a US exchange, or save "
    "the bars on NYSE sessions as a Yahoo-format CSV file and load that file "
    "(csv:PATH on the command line, POST /v1/series over HTTP)"
)


def yfinance_frame(
    ticker: str = "NFLX",
    tz: str | None = "America/New_York",
    dates: list[str] | None = None,
) -> pd.DataFrame:
    """Daily bars of ``ticker`` on ``dates`` (three NYSE sessions of January
    2020 by default), as ``yfinance.download`` returns them."""
    index = pd.DatetimeIndex(
        dates or ["2020-01-02", "2020-01-03", "2020-01-06"], name="Date"
    ).tz_localize(tz)
    columns = pd.MultiIndex.from_product([PRICES, [ticker]], names=["Price", "Ticker"])
    bars = [
        [329.8, 329.8, 329.9, 316.6, 326.1, 4485800],
        [325.9, 325.9, 329.9, 325.5, 326.8, 3806900],
        [335.8, 335.8, 336.4, 321.2, 323.1, 5663100],
    ]
    rows = [bars[i % len(bars)] for i in range(len(index))]
    return pd.DataFrame(rows, index=index, columns=columns, dtype="float64")


# the cache file of SAP.DE from 2020-01-16 to 2020-02-19 as a release without
# the session check wrote it, and the error that reading it gets
XETRA_CACHE_NAME = "SAP.DE_2020-01-16_2020-02-19.csv"
XETRA_CACHE_CSV = """\
Date,Open,High,Low,Close,Adj Close,Volume
2020-01-16,120.1,121.0,119.5,120.8,120.8,1500000.0
2020-01-20,120.8,122.2,120.3,121.9,121.9,1300000.0
2020-01-21,121.9,122.0,119.9,120.2,120.2,1700000.0
"""
XETRA_CACHE_MESSAGE = (
    f"Yahoo Finance data for SAP.DE in the cache file {XETRA_CACHE_NAME} has a "
    "bar dated 2020-01-20, which is a Monday on which the NYSE was closed (a "
    "holiday or an unscheduled closure), not an NYSE trading session. "
    f"{SESSIONS_REASON} {OTHER_EXCHANGE_FIX}"
)


def write_xetra_cache(cache_dir: Path) -> None:
    """Write ``XETRA_CACHE_CSV`` where ``load_yfinance`` looks for it with
    ``cache_dir``."""
    path = cache_dir / "yfinance" / XETRA_CACHE_NAME
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(XETRA_CACHE_CSV)


def xetra_frame() -> pd.DataFrame:
    """Bars of SAP.DE on XETRA sessions, two of which fall on NYSE holidays
    (2020-01-20 and 2020-02-17), stamped at midnight in Frankfurt."""
    dates = [
        "2020-01-16",
        "2020-01-17",
        "2020-01-20",
        "2020-01-21",
        "2020-02-14",
        "2020-02-17",
        "2020-02-18",
    ]
    return yfinance_frame("SAP.DE", tz="Europe/Berlin", dates=dates)


class FakeDownload:
    """Records each call and returns ``result`` or raises it."""

    def __init__(self, result: pd.DataFrame | Exception) -> None:
        self.result = result
        self.calls: list[tuple[Any, dict[str, Any]]] = []

    def __call__(self, tickers: Any, **kwargs: Any) -> pd.DataFrame:
        self.calls.append((tickers, kwargs))
        if isinstance(self.result, Exception):
            raise self.result
        return self.result.copy()


def test_yfinance_multiindex_tz_aware() -> None:
    fake = FakeDownload(yfinance_frame())

    series = load_yfinance("nflx", "2020-01-01", "2020-01-07", download=fake)

    assert fake.calls == [
        (
            "NFLX",
            {
                "start": "2020-01-01",
                "end": "2020-01-07",
                "interval": "1d",
                "auto_adjust": False,
                "progress": False,
                "actions": False,
                "threads": False,
            },
        )
    ]
    assert series.kind == "price"
    assert series.cleaning == ()
    assert series.frame.index.tz is None
    assert list(series.frame.index.strftime("%Y-%m-%d")) == [
        "2020-01-02",
        "2020-01-03",
        "2020-01-06",
    ]
    assert series.frame["close"].tolist() == [329.8, 325.9, 335.8]
    assert series.frame["volume"].tolist() == [4485800.0, 3806900.0, 5663100.0]
    assert series.source == {
        "source": "yfinance",
        "ticker": "NFLX",
        "start": "2020-01-01",
        "end": "2020-01-07",
        "column": "close",
        "format": "yahoo",
    }


def test_yfinance_naive_index_and_column() -> None:
    fake = FakeDownload(yfinance_frame(tz=None))

    series = load_yfinance(
        "NFLX", dt.date(2020, 1, 1), dt.date(2020, 1, 7), "high", download=fake
    )

    assert series.frame["close"].tolist() == [329.9, 329.9, 336.4]
    assert series.start == dt.date(2020, 1, 2)


def test_yfinance_open_start_sends_calendar_start() -> None:
    fake = FakeDownload(yfinance_frame())

    series = load_yfinance("NFLX", download=fake)

    assert fake.calls[0][1]["start"] == "1990-01-02"
    assert fake.calls[0][1]["end"] is None
    assert series.source["start"] is None


def test_yfinance_other_exchange_rejected() -> None:
    fake = FakeDownload(xetra_frame())

    with pytest.raises(DataError) as caught:
        load_yfinance("SAP.DE", "2020-01-16", "2020-02-19", download=fake)

    assert str(caught.value) == (
        "Yahoo Finance data for SAP.DE has a bar dated 2020-01-20, which is a "
        "Monday on which the NYSE was closed (a holiday or an unscheduled "
        "closure), not an NYSE trading session (the first of 2 bars on no "
        f"session). {SESSIONS_REASON} {OTHER_EXCHANGE_FIX}"
    )
    assert caught.value.field == "data.ticker"


def test_yfinance_bars_before_calendar_rejected() -> None:
    dates = ["1989-12-28", "1989-12-29", "1990-01-02", "1990-01-03"]
    fake = FakeDownload(yfinance_frame("IBM", tz=None, dates=dates))

    with pytest.raises(DataError) as caught:
        load_yfinance("IBM", "1989-12-01", download=fake)

    assert str(caught.value) == (
        "Yahoo Finance data for IBM has a bar dated 1989-12-28, which is before "
        "1990-01-02, the first session of the NYSE calendar that dates "
        f"forecasts (the first of 2 bars on no session). {SESSIONS_REASON} Set "
        "the start of the download (data.start, --start on the command line) "
        "to 1990-01-02 or later"
    )
    assert caught.value.field == "data.start"


def test_yfinance_holiday_without_close_dropped() -> None:
    dates = ["2020-01-17", "2020-01-20", "2020-01-21"]
    frame = yfinance_frame(tz=None, dates=dates)
    frame.iloc[1] = float("nan")

    series = load_yfinance("NFLX", "2020-01-17", download=FakeDownload(frame))

    assert series.cleaning == ("Dropped 1 row with a missing close value: 2020-01-20.",)
    assert list(series.frame.index.strftime("%Y-%m-%d")) == [
        "2020-01-17",
        "2020-01-21",
    ]


# NYSE sessions of January 2020 without the 8th, 9th and 10th. The 20th was
# Martin Luther King Jr. Day, which is no session and so no gap.
SESSIONS_WITH_HOLE = [
    "2020-01-02", "2020-01-03", "2020-01-06", "2020-01-07", "2020-01-13",
    "2020-01-14", "2020-01-15", "2020-01-16", "2020-01-17", "2020-01-21",
]  # fmt: skip
HOLE = (
    "Found no row on 3 NYSE sessions between the first and the last date: "
    "2020-01-08, 2020-01-09, 2020-01-10. The longest gap is 3 sessions, "
    "2020-01-08..2020-01-10. Training and forecasts read the rows on either "
    "side of a gap as consecutive sessions."
)
# the note on the hole in bars from Yahoo Finance, which the user cannot
# edit, and in a CSV file, which the user can
YAHOO_HOLE_NOTE = (
    f"{HOLE} Yahoo Finance sent no bars on these sessions. To model them, save "
    "the bars as a Yahoo-format CSV file, add rows for the missing sessions "
    "and load that file (csv:PATH on the command line, POST /v1/series over "
    "HTTP). To train without a gap, set data.start and data.end (--start and "
    "--end on the command line) to a range that has none."
)
CSV_HOLE_NOTE = f"{HOLE} Add rows for the missing sessions to model them."


def test_yfinance_skipped_sessions_noted(tmp_path: Path) -> None:
    fake = FakeDownload(yfinance_frame(dates=SESSIONS_WITH_HOLE))
    request = ("NFLX", "2020-01-01", "2020-01-22")

    downloaded = load_yfinance(*request, cache_dir=tmp_path, download=fake)
    cached = load_yfinance(*request, cache_dir=tmp_path, download=fake)
    as_csv = load_csv(tmp_path / "yfinance" / "NFLX_2020-01-01_2020-01-22.csv")

    assert len(fake.calls) == 1
    assert downloaded.cleaning == (YAHOO_HOLE_NOTE,)
    assert cached.cleaning == (YAHOO_HOLE_NOTE,)
    assert as_csv.cleaning == (CSV_HOLE_NOTE,)
    assert len(downloaded.frame) == len(SESSIONS_WITH_HOLE)


def test_yfinance_gap_note_without_root_path() -> None:
    """Check that the gap note, which is stored with a version, names the
    upload path without the root path of the process that loads the bars,
    and that ``with_root_path`` puts a root path in front of it."""
    fake = FakeDownload(yfinance_frame(dates=SESSIONS_WITH_HOLE))

    series = load_yfinance(
        "NFLX", "2020-01-01", "2020-01-22", download=fake, root_path="/rnn"
    )
    rooted = YAHOO_HOLE_NOTE.replace("POST /v1/series", "POST /rnn/v1/series")

    assert series.cleaning == (YAHOO_HOLE_NOTE,)
    assert with_root_path(YAHOO_HOLE_NOTE, "/rnn") == rooted
    assert with_root_path(YAHOO_HOLE_NOTE, "") == YAHOO_HOLE_NOTE
    # a note that an earlier release stored with its root path is kept
    assert with_root_path(rooted, "/api") == rooted
    assert with_root_path(CSV_HOLE_NOTE, "/rnn") == CSV_HOLE_NOTE


def test_yfinance_empty_result() -> None:
    empty = yfinance_frame().iloc[:0]

    with pytest.raises(DataError) as caught:
        load_yfinance("XXXX", "2020-01-01", "2020-02-01", download=FakeDownload(empty))

    assert str(caught.value) == (
        "Yahoo Finance returned no data for ticker XXXX from 2020-01-01 to "
        "2020-02-01, which happens for an unknown ticker, a rate limit or no "
        f"network; check the ticker and the dates, or {ALTERNATIVES}"
    )
    assert caught.value.field == "data.ticker"


def test_yfinance_empty_result_logged_reason() -> None:
    def download(tickers: str, **kwargs: Any) -> pd.DataFrame:
        logging.getLogger("yfinance").error(
            "['%s']: YFTzMissingError('possibly delisted; no timezone found')",
            tickers,
        )
        return yfinance_frame(tickers).iloc[:0]

    with pytest.raises(DataError) as caught:
        load_yfinance("XXXX", "2020-01-01", download=download)

    assert "from 2020-01-01 to today, which happens" in str(caught.value)
    assert (
        "no network (yfinance logged: ['XXXX']: YFTzMissingError('possibly "
        "delisted; no timezone found')); check the ticker"
    ) in str(caught.value)


def test_yfinance_download_raises() -> None:
    fake = FakeDownload(ConnectionError("Could not resolve host"))

    with pytest.raises(SourceUnavailableError) as caught:
        load_yfinance("NFLX", "2020-01-01", "2020-02-01", download=fake)

    assert str(caught.value) == (
        "failed to download NFLX from Yahoo Finance (Could not resolve host); "
        f"{ALTERNATIVES}"
    )
    assert isinstance(caught.value.__cause__, ConnectionError)


def test_yfinance_other_ticker_rejected() -> None:
    frame = pd.concat([yfinance_frame("NFLX"), yfinance_frame("AAPL")], axis=1)

    with pytest.raises(DataError, match=r"returned tickers \['NFLX', 'AAPL'\]"):
        load_yfinance("MSFT", "2020-01-01", download=FakeDownload(frame))


def test_yfinance_invalid_ticker() -> None:
    with pytest.raises(DataError) as caught:
        load_yfinance("../etc", download=FakeDownload(yfinance_frame()))

    assert caught.value.field == "data.ticker"
    assert caught.value.message.startswith("ticker '../etc' is invalid.")
    assert "send one such as 'NFLX'" in caught.value.message


def test_yfinance_cache_hit_skips_download(tmp_path: Path) -> None:
    fake = FakeDownload(yfinance_frame())

    first = load_yfinance(
        "NFLX", "2020-01-01", "2020-01-07", cache_dir=tmp_path, download=fake
    )
    second = load_yfinance(
        "NFLX", "2020-01-01", "2020-01-07", cache_dir=tmp_path, download=fake
    )

    path = tmp_path / "yfinance" / "NFLX_2020-01-01_2020-01-07.csv"
    assert len(fake.calls) == 1
    assert [p.name for p in path.parent.iterdir()] == [path.name]
    assert path.read_text().splitlines()[:2] == [
        "Date,Open,High,Low,Close,Adj Close,Volume",
        "2020-01-02,326.1,329.9,316.6,329.8,329.8,4485800.0",
    ]
    assert first.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    assert second.sha256 == first.sha256
    assert second.source == first.source
    assert second.frame.equals(first.frame)


def test_yfinance_cache_key_has_range(tmp_path: Path) -> None:
    fake = FakeDownload(yfinance_frame())

    load_yfinance("NFLX", "2020-01-01", "2020-01-07", cache_dir=tmp_path, download=fake)
    load_yfinance("NFLX", "2020-01-01", "2020-01-08", cache_dir=tmp_path, download=fake)
    load_yfinance("NFLX", "2019-12-31", "2020-01-07", cache_dir=tmp_path, download=fake)

    assert len(fake.calls) == 3


def test_yfinance_open_end_cached_for_today(tmp_path: Path) -> None:
    fake = FakeDownload(yfinance_frame())

    load_yfinance("NFLX", "2020-01-01", cache_dir=tmp_path, download=fake)
    load_yfinance("NFLX", "2020-01-01", cache_dir=tmp_path, download=fake)

    today = dt.date.today().isoformat()
    assert len(fake.calls) == 1
    assert (tmp_path / "yfinance" / f"NFLX_2020-01-01_open-{today}.csv").is_file()


def test_yfinance_failure_writes_no_cache(tmp_path: Path) -> None:
    fake = FakeDownload(TimeoutError("timed out"))

    with pytest.raises(SourceUnavailableError):
        load_yfinance("NFLX", "2020-01-01", cache_dir=tmp_path, download=fake)

    assert not (tmp_path / "yfinance").exists()


def test_yfinance_cached_bars_checked_on_read(tmp_path: Path) -> None:
    write_xetra_cache(tmp_path)
    fake = FakeDownload(xetra_frame())

    with pytest.raises(DataError) as caught:
        load_yfinance(
            "SAP.DE", "2020-01-16", "2020-02-19", cache_dir=tmp_path, download=fake
        )

    assert str(caught.value) == XETRA_CACHE_MESSAGE
    assert caught.value.field == "data.ticker"
    assert fake.calls == []


def test_yfinance_corrupt_cache_names_file(tmp_path: Path) -> None:
    path = tmp_path / "yfinance" / "NFLX_2020-01-01_2020-01-07.csv"
    path.parent.mkdir()
    path.write_text("Date,Open\n")
    fake = FakeDownload(yfinance_frame())

    with pytest.raises(DataError) as caught:
        load_yfinance(
            "NFLX", "2020-01-01", "2020-01-07", cache_dir=tmp_path, download=fake
        )

    assert str(caught.value).startswith(
        "cached Yahoo Finance data for NFLX (NFLX_2020-01-01_2020-01-07.csv, "
        "delete it to download again) has the header 'Date,Open'"
    )
    assert fake.calls == []


def test_yfinance_deprecation_warnings_hidden() -> None:
    def download(tickers: str, **kwargs: Any) -> pd.DataFrame:
        # what pandas raises inside yfinance/multi.py of yfinance 1.7
        warnings.warn_explicit(
            "The inplace keyword in DataFrame.rename is deprecated",
            DeprecationWarning,
            "yfinance/multi.py",
            220,
            module="yfinance.multi",
        )
        return yfinance_frame(tickers)

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        series = load_yfinance("NFLX", "2020-01-01", "2020-01-07", download=download)
        warnings.warn_explicit(
            "kept", DeprecationWarning, "models/x.py", 1, module="models.x"
        )

    assert len(series.frame) == 3
    assert [str(warning.message) for warning in caught] == ["kept"]


DOWNLOADED_ROW_FIX = (
    "Yahoo Finance sent these bars, so set data.start and data.end (--start and "
    "--end on the command line) to leave the row out, or save the bars as a "
    "Yahoo-format CSV file, correct the row and load that file (csv:PATH on the "
    "command line, POST /v1/series over HTTP)"
)


def test_yfinance_low_above_high_rejected(tmp_path: Path) -> None:
    frame = yfinance_frame()
    frame.loc[frame.index[1], ("Low", "NFLX")] = 331.0
    fake = FakeDownload(frame)

    with pytest.raises(DataError) as caught:
        load_yfinance(
            "NFLX", "2020-01-01", "2020-01-07", cache_dir=tmp_path, download=fake
        )

    assert str(caught.value) == (
        "Yahoo Finance data for NFLX: data row 2 (2020-01-03, row 1 is the first "
        "row after the header) has low 331, which is above high (low 331, high "
        "329.9); fix the prices of that row or remove it. " + DOWNLOADED_ROW_FIX
    )
    assert caught.value.field == "data"
    assert not (tmp_path / "yfinance").exists()


def test_yfinance_fixes_name_root_path(tmp_path: Path) -> None:
    """Check that the fixes of errors about bars name the upload path under
    the service's root path, which ``load_series`` passes on."""
    write_xetra_cache(tmp_path)
    cached = YFinanceData(ticker="SAP.DE", start="2020-01-16", end="2020-02-19")
    frame = yfinance_frame()
    frame.loc[frame.index[1], ("Low", "NFLX")] = 331.0

    with pytest.raises(DataError) as off_sessions:
        load_series(cached, cache_dir=tmp_path, root_path="/rnn")
    with pytest.raises(DataError) as bad_row:
        load_yfinance(
            "NFLX",
            "2020-01-01",
            "2020-01-07",
            download=FakeDownload(frame),
            root_path="/rnn",
        )

    rooted = "load that file (csv:PATH on the command line, POST /rnn/v1/series"
    assert str(off_sessions.value).endswith(f"{rooted} over HTTP)")
    assert str(bad_row.value).endswith(f"{rooted} over HTTP)")


def test_yfinance_close_outside_day_range_rejected() -> None:
    frame = yfinance_frame(tz=None)
    frame.loc[frame.index[2], ("Close", "NFLX")] = 340.0

    with pytest.raises(DataError) as caught:
        load_yfinance("NFLX", "2020-01-01", "2020-01-07", download=FakeDownload(frame))

    assert str(caught.value).startswith(
        "Yahoo Finance data for NFLX: data row 3 (2020-01-06, row 1 is the first "
        "row after the header) has close 340, which is outside low..high (low "
        "321.2, high 336.4); fix the prices of that row or remove it. "
    )
    assert str(caught.value).endswith(DOWNLOADED_ROW_FIX)


def test_yfinance_open_checked_for_other_column() -> None:
    frame = yfinance_frame()
    frame.loc[frame.index[0], ("Open", "NFLX")] = 300.0

    with pytest.raises(DataError) as caught:
        load_yfinance(
            "NFLX",
            "2020-01-01",
            "2020-01-07",
            "adj_close",
            download=FakeDownload(frame),
        )

    assert "data row 1 (2020-01-02" in str(caught.value)
    assert "has open 300, which is outside low..high" in str(caught.value)


def test_yfinance_value_out_of_range_rejected() -> None:
    frame = yfinance_frame()
    frame.loc[frame.index[0], ("Volume", "NFLX")] = 1e200

    with pytest.raises(DataError) as caught:
        load_yfinance("NFLX", "2020-01-01", "2020-01-07", download=FakeDownload(frame))

    assert "volume" in str(caught.value)
    assert "1e+200" in str(caught.value)
    assert str(caught.value).endswith(DOWNLOADED_ROW_FIX)


def test_yfinance_intraday_time_rejected() -> None:
    frame = yfinance_frame(tz=None)
    frame.index = frame.index + pd.Timedelta(hours=9, minutes=30)

    with pytest.raises(DataError) as caught:
        load_yfinance("NFLX", "2020-01-01", "2020-01-07", download=FakeDownload(frame))

    assert str(caught.value).startswith(
        "Yahoo Finance data for NFLX: invalid date '2020-01-02 09:30:00' in data "
        "row 1 (row 1 is the first row after the header); write dates as "
        "YYYY-MM-DD, without a time or a UTC offset. "
    )
    assert str(caught.value).endswith(DOWNLOADED_ROW_FIX)


def test_yfinance_cached_bars_row_checked(tmp_path: Path) -> None:
    path = tmp_path / "yfinance" / "NFLX_2020-01-01_2020-01-07.csv"
    path.parent.mkdir(parents=True)
    path.write_text(
        "Date,Open,High,Low,Close,Adj Close,Volume\n"
        "2020-01-02,326.1,329.9,316.6,329.8,329.8,4485800.0\n"
        "2020-01-03,326.8,320.0,325.5,325.9,325.9,3806900.0\n"
    )
    fake = FakeDownload(yfinance_frame())

    with pytest.raises(DataError) as caught:
        load_yfinance(
            "NFLX", "2020-01-01", "2020-01-07", cache_dir=tmp_path, download=fake
        )

    assert str(caught.value).startswith(
        "cached Yahoo Finance data for NFLX (NFLX_2020-01-01_2020-01-07.csv, "
        "delete it to download again): data row 2 (2020-01-03"
    )
    assert fake.calls == []
