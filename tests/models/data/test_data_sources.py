"""Tests of load_series, the dispatch from a data spec to its loader."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from pydantic import TypeAdapter

from models.data.sources import load_series
from models.errors import DataError, NotFoundError
from models.spec import DataSpec, UploadedData

SERIES_ID = "0123456789abcdef0123456789abcdef"
ADAPTER: TypeAdapter[DataSpec] = TypeAdapter(DataSpec)


def test_load_series_bundled() -> None:
    series = load_series(ADAPTER.validate_python({"source": "bundled"}))

    assert len(series.frame) == 4673
    assert series.source["source"] == "bundled"


def test_load_series_csv(tmp_path: Path) -> None:
    path = tmp_path / "values.csv"
    path.write_text("date,value\n2020-01-02,1\n2020-01-03,2\n")

    series = load_series(ADAPTER.validate_python({"source": "csv", "path": str(path)}))

    assert series.kind == "value"
    assert series.source["path"] == str(path)


def test_load_series_synthetic() -> None:
    spec = ADAPTER.validate_python({"source": "synthetic", "length": 60})

    series = load_series(spec)

    assert len(series.frame) == 60
    assert series.source["generator"] == "sine"


def test_load_series_upload(tmp_path: Path) -> None:
    (tmp_path / f"{SERIES_ID}.csv").write_text("date,value\n2020-01-02,-1\n")

    series = load_series(UploadedData(series_id=SERIES_ID), upload_dir=tmp_path)

    assert series.source == {
        "source": "upload",
        "series_id": SERIES_ID,
        "column": "close",
        "format": "value",
    }
    assert series.frame["close"].tolist() == [-1.0]


def test_load_series_upload_not_found(tmp_path: Path) -> None:
    with pytest.raises(NotFoundError) as caught:
        load_series(UploadedData(series_id=SERIES_ID), upload_dir=tmp_path)

    assert str(caught.value) == (
        f"series {SERIES_ID} not found; upload it with POST /v1/series and use "
        "the id that the upload returns"
    )
    assert caught.value.field == "data.series_id"


def test_load_series_upload_errors_hide_directory(tmp_path: Path) -> None:
    (tmp_path / f"{SERIES_ID}.csv").write_text("date,price\n2020-01-02,1\n")

    with pytest.raises(DataError) as caught:
        load_series(UploadedData(series_id=SERIES_ID), upload_dir=tmp_path)

    assert str(caught.value).startswith(f"uploaded series {SERIES_ID} has the header")
    assert str(tmp_path) not in str(caught.value)


# Uploads as releases stored them before the NYSE session check and the row
# checks of dates and prices, with the error that loading each one now gets.
REUPLOAD_FIX = (
    f"Series {SERIES_ID} was stored by an earlier release that did not run "
    "this check on uploads, and a stored upload cannot be edited. Correct the "
    "file, upload it again with POST /v1/series and use the id that the "
    f"upload returns. DELETE /v1/series/{SERIES_ID} removes the old upload"
)
EARLIER_UPLOADS = {
    "weekend row": (
        "date,value\n2020-01-02,1\n2020-01-04,2\n2020-01-06,3\n",
        "the date '2020-01-04' in data row 2 (row 1 is the first row after the "
        "header) is a Saturday, not an NYSE trading session; forecasts count "
        "one step per NYSE session, so remove the rows dated on weekends and "
        "NYSE holidays",
    ),
    "UTC offset": (
        "date,value\n2020-01-02T16:00-05:00,1\n2020-01-03T16:00-05:00,2\n",
        "invalid date '2020-01-02T16:00-05:00' in data row 1 (row 1 is the "
        "first row after the header); write dates as YYYY-MM-DD, without a "
        "time or a UTC offset",
    ),
    "low above high": (
        "Date,Open,High,Low,Close,Adj Close,Volume\n"
        "2020-01-02,1,1,2,1.5,1.5,10\n2020-01-03,1,2,1,1.5,1.5,10\n",
        "data row 1 (2020-01-02, row 1 is the first row after the header) has "
        "low 2, which is above high (low 2, high 1); fix the prices of that "
        "row or remove it",
    ),
}


@pytest.mark.parametrize("case", EARLIER_UPLOADS)
def test_earlier_upload_error_gives_reupload(tmp_path: Path, case: str) -> None:
    text, error = EARLIER_UPLOADS[case]
    (tmp_path / f"{SERIES_ID}.csv").write_text(text)

    with pytest.raises(DataError) as caught:
        load_series(UploadedData(series_id=SERIES_ID), upload_dir=tmp_path)

    assert str(caught.value) == (
        f"uploaded series {SERIES_ID}: {error}. {REUPLOAD_FIX}"
    )
    assert caught.value.field == "data"


# times of day that the ISO 8601 parser of earlier releases read, among them
# a one-digit hour, an hour alone and the basic format
@pytest.mark.parametrize(
    "time", [" 16:00", "T16:00:00", " 09:30:15.5", " 9:30", "T16", " 1600"]
)
def test_earlier_upload_time_of_day_read_at_midnight(tmp_path: Path, time: str) -> None:
    """Check that a stored upload whose dates have a time of day without a
    UTC offset, as earlier releases accepted them, loads with its dates at
    midnight and the note that the upload's description lists."""
    dates = ["2020-01-02", "2020-01-03", "2020-01-06"]
    text = "date,value\n" + "".join(f"{day}{time},{n}\n" for n, day in enumerate(dates))
    (tmp_path / f"{SERIES_ID}.csv").write_text(text)

    series = load_series(UploadedData(series_id=SERIES_ID), upload_dir=tmp_path)

    assert list(series.frame.index.strftime("%Y-%m-%d")) == dates
    assert series.frame["close"].tolist() == [0.0, 1.0, 2.0]
    assert series.cleaning == (
        f"Dropped the time of day from 3 dates: {', '.join(dates)}.",
    )


def test_upload_errors_name_root_path(tmp_path: Path) -> None:
    text, _ = EARLIER_UPLOADS["weekend row"]
    (tmp_path / f"{SERIES_ID}.csv").write_text(text)
    missing = UploadedData(series_id="0" * 32)

    with pytest.raises(DataError) as earlier:
        load_series(
            UploadedData(series_id=SERIES_ID), upload_dir=tmp_path, root_path="/rnn"
        )
    with pytest.raises(NotFoundError) as not_found:
        load_series(missing, upload_dir=tmp_path, root_path="/rnn")

    assert str(earlier.value).endswith(
        "Correct the file, upload it again with POST /rnn/v1/series and use the "
        f"id that the upload returns. DELETE /rnn/v1/series/{SERIES_ID} removes "
        "the old upload"
    )
    assert "upload it with POST /rnn/v1/series and use" in str(not_found.value)


def test_invalid_upload_error_has_no_reupload(tmp_path: Path) -> None:
    (tmp_path / f"{SERIES_ID}.csv").write_text("date,value\n2020-01-02,x\n")

    with pytest.raises(DataError) as caught:
        load_series(UploadedData(series_id=SERIES_ID), upload_dir=tmp_path)

    assert str(caught.value) == (
        f"uploaded series {SERIES_ID}: invalid number 'x' in column value in "
        "data row 1 (row 1 is the first row after the header), dated "
        "2020-01-02; write a number or leave the cell empty"
    )


def test_load_series_upload_without_directory() -> None:
    with pytest.raises(DataError, match="no upload directory is configured"):
        load_series(UploadedData(series_id=SERIES_ID))


def test_load_series_yfinance_arguments(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    calls: list[tuple[object, ...]] = []

    def fake_load(*args: object, **kwargs: object) -> str:
        calls.append((*args, kwargs))
        return "series"

    monkeypatch.setattr("models.data.sources.load_yfinance", fake_load)
    spec = ADAPTER.validate_python(
        {"source": "yfinance", "ticker": "NFLX", "start": "2020-01-01"}
    )

    assert load_series(spec, cache_dir=tmp_path, root_path="/rnn") == "series"
    assert calls == [
        (
            "NFLX",
            dt.date(2020, 1, 1),
            None,
            "close",
            {"cache_dir": tmp_path, "root_path": "/rnn"},
        )
    ]
