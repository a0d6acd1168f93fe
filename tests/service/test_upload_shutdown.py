"""A server shutdown stops the upload parses in progress instead of waiting
for them, and a stopped parse stores nothing."""

from __future__ import annotations

import asyncio
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from fastapi import HTTPException

from models.cancellation import ComputationCancelled, StopCheck
from models.data.csv_source import STOP_CHECK_ROWS, parse_csv_bytes
from service.series_store import save_series
from service.settings import Settings
from service.upload_parsing import UploadParsing
from tests.conftest import ROOT, LiveServer
from tests.service.test_series import yahoo_tail

SECONDS = 60
CSV = {"content-type": "text/csv"}


def bundled_rows(copies: int) -> bytes:
    """The bundled NFLX file with its rows written ``copies`` times; the
    repeated dates are dropped as duplicates."""
    text = (ROOT / "models" / "data" / "bundled" / "NFLX.csv").read_bytes()
    header, rows = text.rstrip(b"\n").split(b"\n", 1)
    return header + b"\n" + (rows + b"\n") * copies


def stored_names(data_dir: Path) -> set[str]:
    """Names of the files in the upload folder, temporary ones included."""
    folder = data_dir / "series"
    return {path.name for path in folder.iterdir()} if folder.is_dir() else set()


def stop_after(calls: int) -> tuple[StopCheck, list[int]]:
    """A stop check that returns True from its ``calls``-th call on, and the
    list of its call count."""
    count = [0]

    def should_stop() -> bool:
        count[0] += 1
        return count[0] >= calls

    return should_stop, count


def test_parse_stops_inside_the_row_check() -> None:
    raw = bundled_rows(10)
    rows = raw.count(b"\n")
    should_stop, count = stop_after(2)

    with pytest.raises(ComputationCancelled, match="the parse of upload"):
        parse_csv_bytes(raw, label="upload", source={}, should_stop=should_stop)

    # the second check comes after 2 * STOP_CHECK_ROWS rows, before the end
    assert rows > 2 * STOP_CHECK_ROWS
    assert count[0] == 2


def test_parse_checks_between_steps() -> None:
    calls = [0]

    def count_only() -> bool:
        calls[0] += 1
        return False

    series = parse_csv_bytes(
        yahoo_tail(50), label="upload", source={}, should_stop=count_only
    )

    assert len(series.frame) == 50
    # after the table is read, before each of the six columns is parsed,
    # before the dates and before the cleaning steps
    assert calls[0] == 9


def test_cancelled_save_stores_nothing(tmp_path: Path) -> None:
    settings = Settings(registry=tmp_path / "registry", data_dir=tmp_path / "data")
    # every check before the last one, just before the files are written,
    # lets the parse go on
    checks = [0]

    def count_only() -> bool:
        checks[0] += 1
        return False

    save_series(yahoo_tail(50), settings, count_only)
    stored = sorted(p.name for p in (tmp_path / "data" / "series").iterdir())
    should_stop, _ = stop_after(checks[0])

    with pytest.raises(ComputationCancelled):
        save_series(yahoo_tail(50), settings, should_stop)

    assert sorted(p.name for p in (tmp_path / "data" / "series").iterdir()) == stored


def test_cancel_running_ends_parse_with_503() -> None:
    parsing = UploadParsing(workers=1)
    started = threading.Event()

    def until_stopped(should_stop: StopCheck) -> str:
        started.set()
        deadline = time.monotonic() + SECONDS
        while time.monotonic() < deadline:
            if should_stop():
                raise ComputationCancelled("the parse was cancelled")
            time.sleep(0.01)
        return "never stopped"

    async def scenario() -> None:
        running = asyncio.ensure_future(parsing.run(until_stopped))
        await asyncio.to_thread(started.wait, SECONDS)
        parsing.cancel_running()
        await running

    try:
        with pytest.raises(HTTPException) as refused:
            asyncio.run(scenario())
        # a parse that arrives after the cancel is refused too
        with pytest.raises(HTTPException):
            asyncio.run(parsing.run(until_stopped))
    finally:
        parsing.close()

    assert refused.value.detail.startswith("the server is shutting down")
    assert refused.value.headers["Retry-After"] == "5"


def test_shutdown_stops_upload_parse(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    env = {"RNN_FORECAST_UPLOAD_WORKERS": "1", "RNN_FORECAST_DATA_DIR": str(data_dir)}
    server = LiveServer(tmp_path / "registry", env=env)
    # about 9.6 MB, under the default upload limit; it takes seconds to parse
    large = bundled_rows(30)
    pool = ThreadPoolExecutor(1)
    try:
        with httpx.Client(base_url=server.url, timeout=SECONDS) as client:
            pending = pool.submit(client.post, "/v1/series", content=large, headers=CSV)
            time.sleep(0.5)
            # a small upload gets 503 while the large one is being parsed,
            # because the server parses one upload at once
            deadline = time.monotonic() + SECONDS
            probe = client.post("/v1/series", content=yahoo_tail(50), headers=CSV)
            while probe.status_code != 503 and time.monotonic() < deadline:
                assert not pending.done(), pending.result().text
                probe = client.post("/v1/series", content=yahoo_tail(50), headers=CSV)
            assert "RNN_FORECAST_UPLOAD_WORKERS" in probe.json()["detail"]
            stored = stored_names(data_dir)

            server.process.terminate()
            response = pending.result(timeout=SECONDS)
            # the server exits 0 once its shutdown is complete
            exit_code = server.process.wait(timeout=SECONDS)
    finally:
        pool.shutdown()
        output = server.stop()

    assert response.status_code == 503, response.text
    assert response.headers["retry-after"].isdigit()
    assert response.json()["detail"].startswith("the server is shutting down"), output
    assert exit_code == 0, output
    assert stored_names(data_dir) == stored
