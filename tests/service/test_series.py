"""Series uploads over real HTTP: both CSV formats, raw and multipart bodies,
limits, bad content, and training from an uploaded series."""

from __future__ import annotations

import datetime as dt
import gzip
import json
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from models.calendar import first_sessions
from models.data.csv_source import parse_csv_bytes
from models.data.upload_checks import CHECKS_VERSION
from models.registry import Registry
from service.cursors import encode_cursor
from service.series_store import list_series, upload_description
from service.settings import Settings
from tests.conftest import ROOT, LiveServer
from tests.models.data.test_session_dates import WEEKEND_CSV, weekend_message
from tests.service.jobs_support import (
    LONG,
    finished,
    start_job_server,
    tiny_job,
    wait_for_job,
)

PROBLEM = "application/problem+json"
MAX_UPLOAD_BYTES = 100_000
MAX_SERIES_ROWS = 1_000
CSV = {"content-type": "text/csv"}


@pytest.fixture(scope="module")
def series_server(
    trained_registry: Registry, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[LiveServer, Path]]:
    env = {
        "RNN_FORECAST_MAX_UPLOAD_BYTES": str(MAX_UPLOAD_BYTES),
        "RNN_FORECAST_MAX_SERIES_ROWS": str(MAX_SERIES_ROWS),
    }
    server, _, data_dir = start_job_server(
        trained_registry.root, tmp_path_factory.mktemp("series"), env
    )
    yield server, data_dir
    server.stop()


@pytest.fixture
def client(series_server: tuple[LiveServer, Path]) -> httpx.Client:
    return series_server[0].client


def yahoo_tail(rows: int) -> bytes:
    """The bundled NFLX file's header and its last ``rows`` rows."""
    lines = (
        (ROOT / "models" / "data" / "bundled" / "NFLX.csv").read_bytes().splitlines()
    )
    return b"\n".join([lines[0], *lines[-rows:]]) + b"\n"


def test_upload_yahoo_csv_raw(
    client: httpx.Client, series_server: tuple[LiveServer, Path]
) -> None:
    response = client.post("/v1/series", content=yahoo_tail(600), headers=CSV)

    assert response.status_code == 201, response.text
    info = response.json()
    assert re.fullmatch(r"[a-f0-9]{32}", info["id"])
    assert response.headers["location"] == f"/v1/series/{info['id']}"
    assert info["rows"] == 600
    assert info["end"] == "2020-12-11"
    assert info["format"] == "yahoo"
    assert info["kind"] == "price"
    assert info["cleaning"] == []
    stored = series_server[1] / "series" / f"{info['id']}.csv"
    assert stored.read_bytes() == yahoo_tail(600)
    assert client.get(f"/v1/series/{info['id']}").json() == info


def test_upload_value_csv_multipart_reports_cleaning(client: httpx.Client) -> None:
    body = (
        "date,value\n2024-01-03,2.0\n2024-01-02,1.5\n2024-01-02,1.5\n"
        "2024-01-04,null\n2024-01-05,-3.25\n2024-01-08,0.5\n2024-01-09,1.0\n"
    )
    response = client.post(
        "/v1/series", files={"file": ("level.csv", body.encode(), "text/csv")}
    )

    assert response.status_code == 201, response.text
    info = response.json()
    assert info["format"] == "value"
    assert info["filename"] == "level.csv"
    assert info["rows"] == 5
    assert info["start"] == "2024-01-02"
    assert info["end"] == "2024-01-09"
    assert len(info["cleaning"]) == 4
    assert any(step.startswith("Sorted the rows") for step in info["cleaning"])
    assert (
        "Dropped 1 row with a duplicate date and the same values as the row "
        "kept for that date: 2024-01-02." in info["cleaning"]
    )
    assert info["cleaning"][-1].startswith(
        "Found no row on 1 NYSE session between the first and the last date: "
        "2024-01-04."
    )


def test_upload_names_differing_duplicate_values(client: httpx.Client) -> None:
    body = (
        "Date,Open,High,Low,Close,Adj Close,Volume\n"
        "2024-01-02,10,11,9,10.5,10.5,1000\n"
        "2024-01-03,10,11,9,10.25,10.25,1100\n"
        "2024-01-02,10,11,9,10.75,10.75,1000\n"
        "2024-01-04,10,11,9,10,10,1200\n"
        "2024-01-05,10,11,9,10,10,1300\n"
        "2024-01-08,10,11,9,10,10,1400\n"
    )

    response = client.post("/v1/series", content=body.encode(), headers=CSV)

    assert response.status_code == 201, response.text
    info = response.json()
    assert info["rows"] == 5
    assert (
        "Dropped 1 row with a duplicate date, keeping the last row in input "
        "order for each date: 2024-01-02. On 1 date the dropped rows had other "
        "values than the kept row, listed as dropped -> kept: 2024-01-02 "
        "(close 10.5 -> 10.75, adj_close 10.5 -> 10.75)." in info["cleaning"]
    )
    assert (
        client.get(f"/v1/series/{info['id']}").json()["cleaning"] == (info["cleaning"])
    )


@pytest.mark.parametrize(
    ("body", "text"),
    [
        (b"when,price\n2024-01-02,1\n", "not one of the accepted headers"),
        (b"date,value\n2024-01-02,\xff\n", "not UTF-8"),
        (
            "date,value\n2024-01-02,1\n".encode("utf-16"),
            "is UTF-16 text (it starts with the UTF-16 byte order mark), not "
            "UTF-8; save it as a UTF-8 CSV file",
        ),
        (b"", "empty"),
        (b"date,value\n", "contains no data rows; add rows below the header"),
        (b"date,value\n2024-01-02,inf\n", "the uploaded CSV"),
        (b"date,value\n2024-13-45,1.0\n", "the uploaded CSV"),
    ],
)
def test_invalid_csv_rejected(client: httpx.Client, body: bytes, text: str) -> None:
    response = client.post("/v1/series", content=body, headers=CSV)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == PROBLEM
    assert text in response.json()["detail"]


def stored_files(data_dir: Path) -> set[str]:
    """Names of every file in the upload folder, temporary ones included."""
    folder = data_dir / "series"
    return {path.name for path in folder.iterdir()} if folder.is_dir() else set()


def test_upload_off_sessions_rejected_and_not_stored(
    client: httpx.Client, series_server: tuple[LiveServer, Path]
) -> None:
    before = stored_files(series_server[1])
    total = client.get("/v1/series").json()["total"]

    response = client.post("/v1/series", content=WEEKEND_CSV, headers=CSV)

    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == PROBLEM
    problem = response.json()
    assert problem["detail"] == weekend_message("the uploaded CSV")
    assert problem["errors"][0]["field"] == "body"
    assert stored_files(series_server[1]) == before
    assert client.get("/v1/series").json()["total"] == total


def with_cell(body: bytes, row: int, column: int, value: bytes) -> bytes:
    """Replace the cell of data ``row`` (1 is the first row after the
    header) in ``column`` (0 is Date) of the CSV ``body`` by ``value``."""
    lines = body.splitlines()
    cells = lines[row].split(b",")
    cells[column] = value
    lines[row] = b",".join(cells)
    return b"\n".join(lines) + b"\n"


# the bundled file's columns are Date,Open,High,Low,Close,Adj Close,Volume
@pytest.mark.parametrize(
    ("column", "name"), [(1, "open"), (3, "low"), (5, "adj_close"), (6, "volume")]
)
def test_upload_beyond_range_in_any_column(
    client: httpx.Client,
    series_server: tuple[LiveServer, Path],
    column: int,
    name: str,
) -> None:
    before = stored_files(series_server[1])
    total = client.get("/v1/series").json()["total"]
    body = with_cell(yahoo_tail(20), 7, column, b"1e300")
    date = body.splitlines()[7].split(b",")[0].decode()

    response = client.post("/v1/series", content=body, headers=CSV)

    assert response.status_code == 422, response.text
    (error,) = response.json()["errors"]
    assert error["field"] == "body"
    assert error["message"] == (
        f"the uploaded CSV: {name} is 1e+300 in data row 7 (row 1 is the first "
        f"row after the header), dated {date}, too large to scale; uploads accept "
        "values between -1e+150 and 1e+150 in every column, the range that "
        "training can scale; divide the column by a power of ten"
    )
    assert stored_files(series_server[1]) == before
    assert client.get("/v1/series").json()["total"] == total


def test_upload_before_calendar_rejected(
    client: httpx.Client, series_server: tuple[LiveServer, Path]
) -> None:
    before = stored_files(series_server[1])
    body = yahoo_tail(5) + b"1989-12-29,1,1,1,1,1,1\n"

    response = client.post("/v1/series", files={"file": ("old.csv", body, "text/csv")})

    assert response.status_code == 422, response.text
    assert response.json()["detail"] == (
        "the uploaded CSV: the date '1989-12-29' in data row 6 (row 1 is the "
        "first row after the header) is before 1990-01-02, the first session of "
        "the NYSE calendar that dates forecasts; remove the rows dated before "
        "1990-01-02"
    )
    assert response.json()["errors"][0]["field"] == "file"
    assert stored_files(series_server[1]) == before


# the Content-Encoding lines of a request, and whether its body is gzip
@pytest.mark.parametrize(
    ("codings", "compressed"),
    [
        (["gzip"], True),
        (["identity", "gzip"], True),
        (["identity", "gzip"], False),
        (["identity, gzip"], False),
    ],
)
def test_compressed_upload_rejected(
    client: httpx.Client,
    series_server: tuple[LiveServer, Path],
    codings: list[str],
    compressed: bool,
) -> None:
    body = gzip.compress(yahoo_tail(20)) if compressed else yahoo_tail(20)
    headers = [*CSV.items(), *(("content-encoding", line) for line in codings)]
    before = stored_files(series_server[1])

    response = client.post("/v1/series", content=body, headers=headers)

    assert response.status_code == 415, response.text
    assert response.headers["content-type"] == PROBLEM
    assert response.headers["accept-encoding"] == "identity"
    assert response.json()["detail"] == (
        "Content-Encoding 'gzip' is not supported; send the CSV uncompressed, "
        "without a Content-Encoding header"
    )
    assert stored_files(series_server[1]) == before


def test_too_many_rows_rejected(client: httpx.Client) -> None:
    response = client.post(
        "/v1/series", content=yahoo_tail(MAX_SERIES_ROWS + 1), headers=CSV
    )
    assert response.status_code == 422
    assert response.json()["detail"] == (
        f"the uploaded CSV has {MAX_SERIES_ROWS + 1} rows, above the limit of "
        f"{MAX_SERIES_ROWS} rows (RNN_FORECAST_MAX_SERIES_ROWS); upload a series "
        f"of at most {MAX_SERIES_ROWS} rows, or raise RNN_FORECAST_MAX_SERIES_ROWS"
    )
    assert response.json()["errors"][0]["field"] == "body"


def test_too_many_rows_in_form_rejected(client: httpx.Client) -> None:
    body = yahoo_tail(MAX_SERIES_ROWS + 1)
    response = client.post("/v1/series", files={"file": ("long.csv", body)})
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "file"


def test_oversized_upload_rejected(client: httpx.Client) -> None:
    body = b"date,value\n" + b"2024-01-02,1.0\n" * (MAX_UPLOAD_BYTES // 10)

    declared = client.post("/v1/series", content=body, headers=CSV)
    chunked = client.post(
        "/v1/series", content=iter([body[:50_000], body[50_000:]]), headers=CSV
    )
    multipart = client.post("/v1/series", files={"file": ("big.csv", body)})

    for response in (declared, chunked, multipart):
        assert response.status_code == 413, response.text
        assert response.headers["content-type"] == PROBLEM
        assert str(MAX_UPLOAD_BYTES) in response.json()["detail"]
        assert "RNN_FORECAST_MAX_UPLOAD_BYTES" in response.json()["detail"]


def test_upload_needs_csv_content_type(client: httpx.Client) -> None:
    response = client.post("/v1/series", json={"date": "2024-01-02"})
    assert response.status_code == 415
    assert "text/csv" in response.json()["detail"]

    no_file = client.post("/v1/series", data={"other": "x"}, files={"x": ("a", b"")})
    assert no_file.status_code == 422
    assert "no file field 'file'" in no_file.json()["detail"]


def test_upload_as_text_field_rejected(client: httpx.Client) -> None:
    total = client.get("/v1/series").json()["total"]

    # the part that curl -F 'file=<series.csv' sends: no filename parameter
    body = (
        b'--B\r\nContent-Disposition: form-data; name="file"\r\n\r\n'
        b"date,value\n2024-01-02,1\n\r\n--B--\r\n"
    )
    response = client.post(
        "/v1/series",
        content=body,
        headers={"content-type": "multipart/form-data; boundary=B"},
    )

    assert response.status_code == 422, response.text
    [error] = response.json()["errors"]
    assert error["field"] == "file"
    assert error["message"] == (
        "the form field 'file' is a text field, because its part has no "
        "filename parameter; send the CSV as file=@series.csv, which sends the "
        "file with its name"
    )
    assert client.get("/v1/series").json()["total"] == total


def form_body(boundary: str, csv: bytes) -> bytes:
    """A multipart/form-data body with ``csv`` as its field ``file``."""
    return (
        f"--{boundary}\r\n".encode()
        + b'Content-Disposition: form-data; name="file"; filename="a.csv"\r\n'
        + b"Content-Type: text/csv\r\n\r\n"
        + csv
        + f"\r\n--{boundary}--\r\n".encode()
    )


@pytest.mark.parametrize(
    ("content_type", "body"),
    [
        ("Text/CSV", yahoo_tail(30)),
        ("TEXT/CSV; charset=UTF-8", yahoo_tail(30)),
        ("Multipart/Form-Data; boundary=XyZ", form_body("XyZ", yahoo_tail(30))),
    ],
)
def test_upload_content_type_case_insensitive(
    client: httpx.Client, content_type: str, body: bytes
) -> None:
    response = client.post(
        "/v1/series", content=body, headers={"content-type": content_type}
    )

    assert response.status_code == 201, response.text
    assert response.json()["rows"] == 30


@pytest.mark.parametrize(
    ("content_type", "body", "problem"),
    [
        (
            "multipart/form-data",
            b"date,value\n",
            "the Content-Type multipart/form-data has no boundary parameter",
        ),
        (
            "multipart/form-data; boundary=xyz",
            b"--xyz\r\nfoo\r\n",
            "the body is not valid multipart/form-data (",
        ),
        (
            "multipart/form-data; boundary=xyz",
            b"--xyz\r\nContent-Disposition: form-data\r\n\r\n1\r\n--xyz--\r\n",
            "a part of the form has no name in its Content-Disposition header",
        ),
    ],
)
def test_malformed_form_rejected(
    client: httpx.Client, content_type: str, body: bytes, problem: str
) -> None:
    response = client.post(
        "/v1/series", content=body, headers={"content-type": content_type}
    )

    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == PROBLEM
    detail = response.json()["detail"]
    assert detail.startswith(problem)
    assert "in the field 'file' (curl -F file=@series.csv)" in detail
    assert response.json()["errors"][0]["field"] == "file"


def test_two_files_rejected(client: httpx.Client) -> None:
    csv = yahoo_tail(600)
    response = client.post(
        "/v1/series",
        files=[("file", ("a.csv", csv, "text/csv")), ("file", ("b.csv", csv))],
    )

    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == PROBLEM
    detail = response.json()["detail"]
    assert detail.startswith("the form has more than one file; send the CSV as")
    assert response.json()["errors"][0]["field"] == "file"


def test_unknown_series_not_found(client: httpx.Client) -> None:
    assert client.get(f"/v1/series/{'a' * 32}").status_code == 404
    malformed = client.get("/v1/series/..%2F..%2Fjobs")
    assert malformed.status_code == 404
    assert malformed.headers["content-type"] == PROBLEM


def test_training_job_from_upload(client: httpx.Client) -> None:
    upload = client.post("/v1/series", content=yahoo_tail(400), headers=CSV).json()
    data = {"source": "upload", "series_id": upload["id"]}
    response = client.post("/v1/training-jobs", json=tiny_job(name="up", data=data))
    assert response.status_code == 202, response.text

    done = wait_for_job(client, response.json()["href"], finished)
    assert done["status"] == "succeeded", done
    meta = client.get("/v1/models/up/versions/1").json()
    assert meta["data"]["source"] == "upload"
    assert meta["data"]["series_id"] == upload["id"]
    assert meta["data"]["rows"] == 400
    assert meta["data"]["sha256"] == upload["sha256"]


def value_csv(values: list[float]) -> bytes:
    """A ``date,value`` CSV with one row per value, on consecutive NYSE
    sessions."""
    sessions = first_sessions(dt.date(2020, 1, 2), len(values))
    days = [
        f"{day.date()},{value}" for day, value in zip(sessions, values, strict=True)
    ]
    return ("date,value\n" + "\n".join(days) + "\n").encode()


def upload_values(client: httpx.Client, values: list[float]) -> str:
    response = client.post("/v1/series", content=value_csv(values), headers=CSV)
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def submit_problem(
    client: httpx.Client, path: str, body: dict[str, object]
) -> tuple[str, str]:
    """Submit ``body`` and return the field and detail of its 422 problem."""
    response = client.post(path, json=body)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == PROBLEM
    problem = response.json()
    return problem["errors"][0]["field"], problem["detail"]


def test_short_upload_rejected_at_submit(client: httpx.Client) -> None:
    series_id = upload_values(client, [1.0, 2.0, 3.0, 4.0, 5.0, 6.0])
    data = {"source": "upload", "series_id": series_id}

    field, detail = submit_problem(
        client, "/v1/training-jobs", tiny_job(name="short", data=data)
    )

    assert field == "data"
    assert detail.startswith("series of 6 rows is too short for lookback=20")
    assert "use a longer series or a smaller lookback or horizon" in detail


def test_short_upload_train_job(client: httpx.Client) -> None:
    series_id = upload_values(client, [1.0, 2.0, 3.0, 4.0, 5.0, 6.0])
    data = {"source": "upload", "series_id": series_id}

    field, detail = submit_problem(
        client,
        "/v1/jobs",
        {"kind": "train", "params": tiny_job(name="short", data=data)},
    )

    assert field == "params.data"
    assert detail.startswith("series of 6 rows is too short for lookback=20")


def test_short_upload_backtest_job(client: httpx.Client) -> None:
    series_id = upload_values(client, [1.0, 2.0, 3.0, 4.0, 5.0, 6.0])
    data = {"source": "upload", "series_id": series_id}
    training = tiny_job(name="short", data=data)

    field, detail = submit_problem(
        client, "/v1/jobs", {"kind": "backtest", "params": {"training": training}}
    )

    assert field == "params.training.horizon"
    assert detail.startswith("the series has 6 prices, fewer than the ")


def test_non_positive_upload_rejected_for_log_returns(client: httpx.Client) -> None:
    series_id = upload_values(client, [1.0, -1.0, 0.0, 2.0] * 10)
    data = {"source": "upload", "series_id": series_id}

    field, detail = submit_problem(
        client, "/v1/jobs", {"kind": "train", "params": tiny_job(name="neg", data=data)}
    )

    assert field == "params.target"
    assert detail == (
        "target log_return needs positive values, but the uploaded series "
        f"{series_id} has 20 values <= 0; use target price or upload a series "
        "of positive values"
    )


# an upload with a Saturday row, as a release before the NYSE session check
# stored it: the CSV byte for byte and its description
EARLIER_UPLOAD_ID = "5eed0123456789abcdef0123456789ab"
EARLIER_UPLOAD_CSV = b"date,value\n2020-01-02,1\n2020-01-04,2\n2020-01-06,3\n"
EARLIER_UPLOAD_INFO = {
    "id": EARLIER_UPLOAD_ID,
    "rows": 3,
    "start": "2020-01-02",
    "end": "2020-01-06",
    "format": "value",
    "kind": "value",
    "columns": ["close"],
    "cleaning": [],
    "sha256": "0" * 64,
    "bytes": len(EARLIER_UPLOAD_CSV),
    "filename": None,
    "created_at": "2026-12-04T16:20:46+00:00",
}


def test_earlier_upload_rejected_with_reupload(
    client: httpx.Client, series_server: tuple[LiveServer, Path]
) -> None:
    folder = series_server[1] / "series"
    folder.mkdir(exist_ok=True)
    (folder / f"{EARLIER_UPLOAD_ID}.csv").write_bytes(EARLIER_UPLOAD_CSV)
    info_path = folder / f"{EARLIER_UPLOAD_ID}.json"
    info_path.write_text(json.dumps(EARLIER_UPLOAD_INFO))
    data = {"source": "upload", "series_id": EARLIER_UPLOAD_ID}

    field, detail = submit_problem(
        client, "/v1/training-jobs", tiny_job(name="earlier", data=data)
    )
    deleted = client.delete(f"/v1/series/{EARLIER_UPLOAD_ID}")

    assert field == "data"
    assert detail == (
        f"uploaded series {EARLIER_UPLOAD_ID}: the date '2020-01-04' in data row "
        "2 (row 1 is the first row after the header) is a Saturday, not an NYSE "
        "trading session; forecasts count one step per NYSE session, so remove "
        "the rows dated on weekends and NYSE holidays. Series "
        f"{EARLIER_UPLOAD_ID} was stored by an earlier release that did not run "
        "this check on uploads, and a stored upload cannot be edited. Correct "
        "the file, upload it again with POST /v1/series and use the id that the "
        f"upload returns. DELETE /v1/series/{EARLIER_UPLOAD_ID} removes the old "
        "upload"
    )
    assert deleted.status_code == 200, deleted.text
    assert not info_path.exists()


def store_earlier_upload(folder: Path, series_id: str, raw: bytes) -> dict[str, Any]:
    """Store ``raw`` as the upload ``series_id`` in ``folder``, with the
    description that a release before the NYSE session check and the row
    checks of dates and prices wrote for it, without ``checks``, and return
    that description."""
    series = parse_csv_bytes(
        raw,
        label="the uploaded CSV",
        source={"source": "upload", "series_id": series_id},
        check_all_columns=True,
        sessions_only=False,
        strict_rows=False,
    )
    info = upload_description(series, series_id, len(raw), None)
    del info["checks"]
    folder.mkdir(exist_ok=True)
    (folder / f"{series_id}.csv").write_bytes(raw)
    (folder / f"{series_id}.json").write_text(json.dumps(info))
    return info


def test_earlier_upload_time_of_day_trains(
    client: httpx.Client, series_server: tuple[LiveServer, Path]
) -> None:
    """Check that an upload stored with a time of day in its dates, which a
    new upload may not have, trains on the dates, rows and cleaning notes
    that its description shows."""
    series_id = "71e0f0d4a3b2c1d0e9f8a7b6c5d4e3f2"
    lines = yahoo_tail(120).splitlines()
    timed = [lines[0]] + [line[:10] + b" 16:00:00" + line[10:] for line in lines[1:]]
    stored = store_earlier_upload(
        series_server[1] / "series", series_id, b"\n".join(timed) + b"\n"
    )
    data = {"source": "upload", "series_id": series_id}

    described = client.get(f"/v1/series/{series_id}")
    listed = client.get("/v1/series", params={"limit": 1000}).json()["series"]
    submitted = client.post("/v1/training-jobs", json=tiny_job(name="timed", data=data))
    assert submitted.status_code == 202, submitted.text
    done = wait_for_job(client, submitted.json()["href"], finished)
    assert done["status"] == "succeeded", done
    version = client.get(f"/v1/models/timed/versions/{done['result']['version']}")
    client.delete(f"/v1/series/{series_id}")

    expected = {**stored, "filename_looks_like": None, "usable": True, "problem": None}
    assert described.status_code == 200
    assert described.json() == expected
    assert expected in listed
    assert stored["cleaning"][0].startswith("Dropped the time of day from 120 dates")
    trained = version.json()["data"]
    for key in ("rows", "start", "end", "cleaning"):
        assert trained[key] == stored[key], key


def earlier_dates(rows: int, rewrite: Callable[[bytes], bytes]) -> bytes:
    """The last ``rows`` rows of the bundled file with each date (the first
    10 bytes of a row) written as ``rewrite`` returns it."""
    lines = yahoo_tail(rows).splitlines()
    rewritten = [lines[0]] + [rewrite(line[:10]) + line[10:] for line in lines[1:]]
    return b"\n".join(rewritten) + b"\n"


# files that releases before the NYSE session check and the row checks of
# dates and prices stored, and the start of the error that a job gets now
EARLIER_BAD_UPLOADS = {
    "utc offset": (
        earlier_dates(30, lambda date: date + b"T16:00:00-05:00"),
        "invalid date '2020-10-30T16:00:00-05:00' in data row 1 ",
    ),
    "compact dates": (
        earlier_dates(30, lambda date: date.replace(b"-", b"")),
        "invalid date '20201030' in data row 1 ",
    ),
    "low above high": (
        with_cell(yahoo_tail(30), 30, 3, b"600"),
        "data row 30 (2020-12-11,",
    ),
    "saturday": (EARLIER_UPLOAD_CSV, "the date '2020-01-04' in data row 2"),
}


@pytest.mark.parametrize("case", list(EARLIER_BAD_UPLOADS))
def test_earlier_bad_upload_shows_problem(
    client: httpx.Client, series_server: tuple[LiveServer, Path], case: str
) -> None:
    """Check that GET and the listing show the error that a job on an
    upload stored with earlier checks gets, check the file once and keep
    the outcome beside the description."""
    raw, error = EARLIER_BAD_UPLOADS[case]
    series_id = f"{list(EARLIER_BAD_UPLOADS).index(case):032x}"
    folder = series_server[1] / "series"
    stored = store_earlier_upload(folder, series_id, raw)
    info_path = folder / f"{series_id}.json"
    info_bytes = info_path.read_bytes()
    checked = folder / f"{series_id}.checked.json"
    data = {"source": "upload", "series_id": series_id}

    first = client.get(f"/v1/series/{series_id}")
    first_stat = checked.stat()
    second = client.get(f"/v1/series/{series_id}")
    listed = client.get("/v1/series", params={"limit": 1000}).json()["series"]
    second_stat = checked.stat()
    info_after = info_path.read_bytes()
    body = tiny_job(name="earlier", data=data)
    _, detail = submit_problem(client, "/v1/training-jobs", body)
    deleted = client.delete(f"/v1/series/{series_id}")

    assert detail.startswith(f"uploaded series {series_id}: {error}"), detail
    assert detail.endswith(f"DELETE /v1/series/{series_id} removes the old upload")
    assert first.status_code == 200, first.text
    expected = {
        **stored,
        "filename_looks_like": None,
        "usable": False,
        "problem": detail,
    }
    assert first.json() == expected
    assert second.json() == expected
    assert expected in listed
    # the second GET and the listing read the stored outcome
    assert (second_stat.st_ino, second_stat.st_mtime_ns) == (
        first_stat.st_ino,
        first_stat.st_mtime_ns,
    )
    assert info_after == info_bytes
    assert deleted.status_code == 200, deleted.text
    assert deleted.json() == expected
    assert not checked.exists()


def test_earlier_good_upload_is_usable(
    client: httpx.Client, series_server: tuple[LiveServer, Path]
) -> None:
    series_id = "600d0123456789abcdef0123456789ab"
    folder = series_server[1] / "series"
    store_earlier_upload(folder, series_id, yahoo_tail(30))

    fetched = client.get(f"/v1/series/{series_id}").json()
    outcome = json.loads((folder / f"{series_id}.checked.json").read_text())
    client.delete(f"/v1/series/{series_id}")

    assert (fetched["usable"], fetched["problem"]) == (True, None)
    assert outcome == {"checks": CHECKS_VERSION, "error": None, "reupload": False}


def test_new_upload_stored_with_current_checks(
    client: httpx.Client, series_server: tuple[LiveServer, Path]
) -> None:
    response = client.post("/v1/series", content=yahoo_tail(30), headers=CSV)
    assert response.status_code == 201, response.text
    series_id = response.json()["id"]
    folder = series_server[1] / "series"

    stored = json.loads((folder / f"{series_id}.json").read_text())
    fetched = client.get(f"/v1/series/{series_id}").json()
    client.delete(f"/v1/series/{series_id}")

    assert stored["checks"] == CHECKS_VERSION
    assert (fetched["usable"], fetched["problem"]) == (True, None)
    assert "checks" not in fetched
    assert "checks" not in response.json()
    # an upload with the current checks is not checked again
    assert not (folder / f"{series_id}.checked.json").exists()


def test_earlier_upload_gets_look_alike_mark(
    client: httpx.Client, series_server: tuple[LiveServer, Path]
) -> None:
    # a description stored before filename_looks_like existed, whose name is
    # written in Cyrillic letters (U+0440, U+0430, U+0443)
    series_id = "5eed0123456789abcdef0123456789ac"
    folder = series_server[1] / "series"
    folder.mkdir(exist_ok=True)
    info = {
        **EARLIER_UPLOAD_INFO,
        "id": series_id,
        "filename": "\u0440\u0430\u0443.csv",
    }
    (folder / f"{series_id}.csv").write_bytes(EARLIER_UPLOAD_CSV)
    (folder / f"{series_id}.json").write_text(json.dumps(info))

    fetched = client.get(f"/v1/series/{series_id}").json()
    listed = client.get("/v1/series", params={"limit": 1000}).json()["series"]
    deleted = client.delete(f"/v1/series/{series_id}")

    assert fetched["filename_looks_like"] == "pay.csv"
    marks = {entry["id"]: entry["filename_looks_like"] for entry in listed}
    assert marks[series_id] == "pay.csv"
    assert deleted.status_code == 200, deleted.text
    assert deleted.json()["filename_looks_like"] == "pay.csv"


def test_missing_column_of_upload_rejected(client: httpx.Client) -> None:
    series_id = upload_values(client, [1.0, 2.0, 3.0, 4.0, 5.0])
    data = {"source": "upload", "series_id": series_id, "column": "adj_close"}

    field, detail = submit_problem(
        client, "/v1/training-jobs", tiny_job(name="adj", target="price", data=data)
    )

    assert field == "data.column"
    assert detail == (
        f"uploaded series {series_id} is a date,value file with a single value "
        "column, so column='adj_close' does not exist; use column='close'"
    )


def test_huge_bad_cell_is_not_echoed_whole(client: httpx.Client) -> None:
    body = yahoo_tail(30).replace(b"2020-12-11", b"x" * 60_000, 1)
    response = client.post("/v1/series", content=body, headers=CSV)
    assert response.status_code == 422
    assert len(response.content) < 5_000
    assert "characters cut" in response.json()["detail"]


def test_long_model_name_is_not_echoed_whole(client: httpx.Client) -> None:
    response = client.get(f"/v1/models/{'a' * 5_000}/versions/1")
    assert response.status_code == 422
    assert len(response.content) < 5_000
    assert "at most 64 characters" in response.json()["detail"]


def test_series_list_and_delete(client: httpx.Client) -> None:
    first = client.post("/v1/series", content=yahoo_tail(200), headers=CSV).json()
    second = client.post("/v1/series", content=yahoo_tail(300), headers=CSV).json()

    listed = client.get("/v1/series", params={"limit": 1000})
    deleted = client.delete(f"/v1/series/{first['id']}")
    again = client.delete(f"/v1/series/{first['id']}")
    after = client.get("/v1/series", params={"limit": 1000}).json()

    assert listed.status_code == 200
    ids = [info["id"] for info in listed.json()["series"]]
    assert {first["id"], second["id"]} <= set(ids)
    assert listed.json()["total"] == len(ids)
    assert deleted.status_code == 200, deleted.text
    assert deleted.json() == first
    assert client.get(f"/v1/series/{first['id']}").status_code == 404
    assert again.status_code == 404
    assert again.headers["content-type"] == PROBLEM
    assert after["total"] == listed.json()["total"] - 1
    assert first["id"] not in [info["id"] for info in after["series"]]
    assert client.get("/v1/series", params={"limit": 0}).status_code == 422


@pytest.mark.parametrize(
    "headers", [{"if-match": '"stale"'}, {"if-none-match": "*"}], ids=str
)
def test_series_delete_failed_precondition(
    client: httpx.Client,
    series_server: tuple[LiveServer, Path],
    headers: dict[str, str],
) -> None:
    series_id = client.post("/v1/series", content=yahoo_tail(50), headers=CSV).json()[
        "id"
    ]

    rejected = client.delete(f"/v1/series/{series_id}", headers=headers)
    remaining = client.get(f"/v1/series/{series_id}")

    assert rejected.status_code == 412, rejected.text
    assert rejected.headers["content-type"] == PROBLEM
    assert remaining.status_code == 200
    assert (series_server[1] / "series" / f"{series_id}.csv").is_file()
    assert rejected.headers["etag"] == remaining.headers["etag"]
    assert remaining.headers["etag"] in rejected.json()["detail"]
    client.delete(f"/v1/series/{series_id}")


def test_series_delete_matching_etag(client: httpx.Client) -> None:
    series_id = client.post("/v1/series", content=yahoo_tail(50), headers=CSV).json()[
        "id"
    ]
    fetched = client.get(f"/v1/series/{series_id}")
    etag = fetched.headers["etag"]

    cached = client.get(f"/v1/series/{series_id}", headers={"if-none-match": etag})
    deleted = client.delete(f"/v1/series/{series_id}", headers={"if-match": etag})
    unknown = client.delete(f"/v1/series/{series_id}", headers={"if-match": etag})

    assert cached.status_code == 304
    assert cached.headers["etag"] == etag
    assert deleted.status_code == 200, deleted.text
    assert deleted.json() == fetched.json()
    assert unknown.status_code == 404


@pytest.mark.parametrize("path", ["/v1/series", "/v1/jobs", "/v1/training-jobs"])
# "١" and "٣" are ARABIC-INDIC DIGIT ONE and THREE, decimal digits to str.isdecimal
@pytest.mark.parametrize("limit", ["3.0", "3e0", " 3", "+3", "١", "٣"])
def test_list_limit_digits_only(client: httpx.Client, path: str, limit: str) -> None:
    response = client.get(path, params={"limit": limit})

    assert response.status_code == 422, response.text
    error = response.json()["errors"][0]
    assert error["field"] == "query.limit"
    assert error["message"] == (
        "Input should be a whole number written with digits only, such as 20, "
        f"not {limit!r}"
    )


def list_ids(client: httpx.Client, **params: object) -> tuple[list[str], str | None]:
    """Return the ids of one page of ``GET /v1/series`` and its cursor."""
    response = client.get("/v1/series", params=params)
    assert response.status_code == 200, response.text
    page = response.json()
    return [info["id"] for info in page["series"]], page["next_cursor"]


def test_series_list_pages_newest_first(client: httpx.Client) -> None:
    uploaded = [
        client.post("/v1/series", content=yahoo_tail(20), headers=CSV).json()["id"]
        for _ in range(5)
    ]
    total = client.get("/v1/series").json()["total"]

    listed, cursor = list_ids(client, limit=2)
    while cursor is not None and len(listed) <= total:
        ids, cursor = list_ids(client, limit=2, cursor=cursor)
        listed += ids
    whole, whole_cursor = list_ids(client, limit=total)

    assert listed[:5] == uploaded[::-1]
    assert len(listed) == total
    assert len(set(listed)) == total
    assert cursor is None
    assert whole == listed
    assert whole_cursor is None


def test_series_cursor_survives_delete(client: httpx.Client) -> None:
    uploaded = [
        client.post("/v1/series", content=yahoo_tail(20), headers=CSV).json()["id"]
        for _ in range(2)
    ]

    first, cursor = list_ids(client, limit=1)
    client.delete(f"/v1/series/{uploaded[1]}")
    second, _ = list_ids(client, limit=1, cursor=cursor)

    assert first == [uploaded[1]]
    assert second == [uploaded[0]]


@pytest.mark.parametrize(
    "cursor",
    [
        "MToy",  # "1:2"
        encode_cursor("nan", "0" * 32),
        encode_cursor("2026-12-04T16:20:46", "0" * 32),  # no time zone
        encode_cursor("2026-12-04T16:20:46+00:00", "x"),
    ],
)
def test_bad_series_cursor_rejected(client: httpx.Client, cursor: str) -> None:
    response = client.get("/v1/series", params={"cursor": cursor})

    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == PROBLEM
    assert response.json()["errors"][0]["field"] == "query.cursor"


def test_second_resolution_upload_times_sort(tmp_path: Path) -> None:
    """Check that descriptions stored with whole seconds sort among those
    with microseconds by time."""
    settings = Settings(data_dir=tmp_path)
    folder = tmp_path / "series"
    folder.mkdir()
    times = {
        "a" * 32: "2026-12-04T16:20:46+00:00",
        "b" * 32: "2026-12-04T16:20:46.000001+00:00",
        "c" * 32: "2026-12-04T16:20:45.999999+00:00",
    }
    for series_id, created_at in times.items():
        info = {"id": series_id, "created_at": created_at, "checks": CHECKS_VERSION}
        (folder / f"{series_id}.json").write_text(json.dumps(info))

    infos, total = list_series(settings, limit=10)

    assert [info["id"] for info in infos] == ["b" * 32, "a" * 32, "c" * 32]
    assert total == 3


def test_series_in_use_is_kept(client: httpx.Client) -> None:
    uploaded = client.post("/v1/series", content=yahoo_tail(600), headers=CSV).json()
    data = {"source": "upload", "series_id": uploaded["id"]}
    submitted = client.post(
        "/v1/training-jobs", json=tiny_job(name="upload-long", data=data, **LONG)
    )
    assert submitted.status_code == 202, submitted.text
    href = submitted.headers["location"]

    rejected = client.delete(f"/v1/series/{uploaded['id']}")
    client.delete(href)
    wait_for_job(client, href, finished)
    allowed = client.delete(f"/v1/series/{uploaded['id']}")

    assert rejected.status_code == 409
    assert rejected.headers["content-type"] == PROBLEM
    assert submitted.json()["id"] in rejected.json()["detail"]
    assert allowed.status_code == 200, allowed.text


@pytest.mark.parametrize(
    ("date", "row"),
    [("20201210", 2), ("2020-12-10T23:00:00-05:00", 2), ("2020-12-10 16:00", 2)],
)
def test_upload_date_not_iso_rejected(
    client: httpx.Client, date: str, row: int
) -> None:
    body = f"date,value\n2020-12-09,1.0\n{date},2.0\n".encode()

    response = client.post("/v1/series", content=body, headers=CSV)

    assert response.status_code == 422, response.text
    detail = response.json()["detail"]
    assert f"invalid date {date!r} in data row {row}" in detail
    assert "write dates as YYYY-MM-DD" in detail


# the bundled file's columns are Date,Open,High,Low,Close,Adj Close,Volume
@pytest.mark.parametrize(
    ("column", "value", "problem"),
    [
        (3, b"600", "has low 600, which is above high"),
        (1, b"510", "has open 510, which is outside low..high"),
        (4, b"490", "has close 490, which is outside low..high"),
    ],
)
def test_upload_inconsistent_prices_rejected(
    client: httpx.Client, column: int, value: bytes, problem: str
) -> None:
    body = with_cell(yahoo_tail(30), 30, column, value)

    response = client.post("/v1/series", content=body, headers=CSV)

    assert response.status_code == 422, response.text
    detail = response.json()["detail"]
    assert detail.startswith("the uploaded CSV: data row 30 (2020-12-11,")
    assert problem in detail


def test_cut_multipart_body_rejected(client: httpx.Client) -> None:
    body = (
        b'--xyz\r\nContent-Disposition: form-data; name="file"; '
        b'filename="a.csv"\r\nContent-Type: text/csv\r\n\r\n' + yahoo_tail(30)
    )

    response = client.post(
        "/v1/series",
        content=body,
        headers={"content-type": "multipart/form-data; boundary=xyz"},
    )

    assert response.status_code == 422, response.text
    detail = response.json()["detail"]
    assert detail.startswith("the body is not a complete multipart/form-data form")
    assert "--xyz--" in detail
    assert "no file field" not in detail


@pytest.mark.parametrize("path", ["/v1/series", "/v1/jobs", "/v1/training-jobs"])
@pytest.mark.parametrize("name", ["limit", "cursor"])
def test_list_repeated_parameter_rejected(
    client: httpx.Client, path: str, name: str
) -> None:
    response = client.get(f"{path}?{name}=2&{name}=3")

    assert response.status_code == 422, response.text
    error = response.json()["errors"][0]
    assert error["field"] == f"query.{name}"
    assert error["message"] == (
        f"query parameter {name!r} is given 2 times ('2', '3'); give it once"
    )


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("/v1/jobs/{}", 404),
        ("/v1/training-jobs/{}", 404),
        ("/v1/series/{}", 404),
        ("/v1/models/{}/versions/1", 422),
        ("/v1/models/nflx/versions/{}", 422),
    ],
)
def test_long_id_quoted_short(client: httpx.Client, path: str, status: int) -> None:
    response = client.get(path.format("a1" * 5_000))

    assert response.status_code == status, response.text
    detail = response.json()["detail"]
    assert f"'{'a1' * 64}'... (10000 characters, the first 128 shown)" in detail
    assert len(detail) < 500
