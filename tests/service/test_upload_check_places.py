"""Uploads that an earlier release stored are checked again on the places of
the upload parses, so that checks and parses together never exceed
``RNN_FORECAST_UPLOAD_WORKERS``.

The server test stores each such upload's CSV as a named pipe. A check
that opens it waits until the test writes the file. A pipe has a reader
exactly while a check reads it, so the test can tell which checks run at
once.
"""

from __future__ import annotations

import errno
import os
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from fastapi import HTTPException

from service.upload_parsing import DEFAULT_RETRY_SECONDS, UploadParsing
from tests.conftest import LiveServer
from tests.service.test_series import CSV, store_earlier_upload, yahoo_tail

WORKERS = 2
SECONDS = 60
# the uploads of the server test, oldest first. A list page of one upload
# describes the two newest, and it checks them one after the other.
EARLIER_IDS = [f"{index:032x}" for index in range(0xC1, 0xC5)]


def test_check_takes_upload_place() -> None:
    parsing = UploadParsing(workers=2)
    try:
        with parsing.checking(), parsing.admitted():
            with pytest.raises(HTTPException) as mixed, parsing.admitted():
                pass
        with parsing.checking(), parsing.checking():
            with pytest.raises(HTTPException) as checks, parsing.admitted():
                pass
        with parsing.admitted():
            pass
    finally:
        parsing.close()

    assert mixed.value.status_code == 503
    assert mixed.value.detail == (
        "the server is parsing 1 series upload and checking 1 upload that an "
        "earlier release stored, the most that RNN_FORECAST_UPLOAD_WORKERS "
        f"allows at once; retry after {DEFAULT_RETRY_SECONDS} s"
    )
    assert checks.value.detail == (
        "the server is checking 2 uploads that an earlier release stored, the "
        "most that RNN_FORECAST_UPLOAD_WORKERS allows at once; retry after "
        f"{DEFAULT_RETRY_SECONDS} s"
    )


@pytest.fixture
def two_place_server(tmp_path: Path) -> Iterator[tuple[LiveServer, Path]]:
    data_dir = tmp_path / "data"
    registry = tmp_path / "registry"
    registry.mkdir()
    env = {
        "RNN_FORECAST_UPLOAD_WORKERS": str(WORKERS),
        "RNN_FORECAST_DATA_DIR": str(data_dir),
    }
    server = LiveServer(registry, env=env)
    yield server, data_dir
    server.stop()


def store_piped_uploads(folder: Path) -> bytes:
    """Store the uploads ``EARLIER_IDS`` as an earlier release did, each with
    a named pipe in place of its CSV, and return the CSV to write to each."""
    raw = yahoo_tail(30)
    folder.mkdir(parents=True, exist_ok=True)
    for series_id in EARLIER_IDS:
        store_earlier_upload(folder, series_id, raw)
        csv_path = folder / f"{series_id}.csv"
        csv_path.unlink()
        os.mkfifo(csv_path)
    return raw


def open_read_pipes(pipes: dict[str, Path], held: dict[str, int]) -> None:
    """Open for writing each pipe of ``pipes`` that a check reads now and
    that is not in ``held``, and add its descriptor to ``held``.

    A pipe without a reader fails to open with ENXIO. A reader whose pipe
    is open for writing waits for the data, so it keeps its place.
    """
    for series_id, path in pipes.items():
        if series_id in held:
            continue
        try:
            held[series_id] = os.open(path, os.O_WRONLY | os.O_NONBLOCK)
        except OSError as exc:
            if exc.errno != errno.ENXIO:
                raise


def wait_for_readers(pipes: dict[str, Path], held: dict[str, int], count: int) -> None:
    """Open pipes of ``pipes`` into ``held`` as their checks read them,
    until ``held`` has ``count`` of them."""
    deadline = time.monotonic() + SECONDS
    open_read_pipes(pipes, held)
    while len(held) < count and time.monotonic() < deadline:
        time.sleep(0.05)
        open_read_pipes(pipes, held)


def feed(held: dict[str, int], raw: bytes) -> list[str]:
    """Write ``raw`` to the pipes of ``held`` and close them, so that their
    checks read it whole; return their series ids and empty ``held``."""
    fed = list(held)
    for descriptor in held.values():
        os.write(descriptor, raw)
        os.close(descriptor)
    held.clear()
    return fed


def release_checks(pipes: dict[str, Path], held: dict[str, int], raw: bytes) -> None:
    """Feed the checks that read a pipe now and put regular files in place
    of the pipes, so that no request of a failed test waits for data."""
    open_read_pipes(pipes, held)
    feed(held, raw)
    for path in pipes.values():
        replacement = path.with_suffix(".tmp")
        replacement.write_bytes(raw)
        replacement.replace(path)


def test_list_and_gets_share_upload_places(
    two_place_server: tuple[LiveServer, Path],
) -> None:
    """Check that a list page and two GETs, which need four checks of
    uploads that an earlier release stored, run at most two of them at once,
    and that an upload gets 503 while two checks hold the places."""
    server, data_dir = two_place_server
    folder = data_dir / "series"
    raw = store_piped_uploads(folder)
    pipes = {series_id: folder / f"{series_id}.csv" for series_id in EARLIER_IDS}
    paths = ["/v1/series?limit=1"]
    paths += [f"/v1/series/{series_id}" for series_id in EARLIER_IDS[:2]]
    held: dict[str, int] = {}
    rounds = []

    def get(path: str) -> httpx.Response:
        with httpx.Client(base_url=server.url, timeout=SECONDS) as client:
            return client.get(path)

    with ThreadPoolExecutor(len(paths)) as pool:
        pending = [pool.submit(get, path) for path in paths]
        try:
            wait_for_readers(pipes, held, WORKERS)
            upload = server.client.post("/v1/series", content=raw, headers=CSV)
            # the pipe of any third check that started meanwhile is opened too
            open_read_pipes(pipes, held)
            rounds.append(feed(held, raw))
            unread = {key: path for key, path in pipes.items() if key not in rounds[0]}
            while unread:
                wait_for_readers(unread, held, 1)
                assert held, f"no check read {sorted(unread)}"
                rounds.append(feed(held, raw))
                unread = {key: unread[key] for key in unread if key not in rounds[-1]}
        except BaseException:
            release_checks(pipes, held, raw)
            raise
        responses = [future.result() for future in pending]

    assert len(rounds[0]) == WORKERS, rounds
    for fed in rounds[1:]:
        assert len(fed) <= WORKERS, rounds
    assert upload.status_code == 503, upload.text
    assert "checking 2 uploads that an earlier release stored" in upload.text
    for response in responses:
        assert response.status_code == 200, response.text
    listed = responses[0].json()["series"]
    assert [info["id"] for info in listed] == [EARLIER_IDS[-1]]
    assert listed[0]["usable"] is True
    for response in responses[1:]:
        assert response.json()["usable"] is True
    for series_id in EARLIER_IDS:
        assert (folder / f"{series_id}.checked.json").is_file(), series_id
