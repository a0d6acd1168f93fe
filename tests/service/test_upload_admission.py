"""Series uploads are parsed by at most ``RNN_FORECAST_UPLOAD_WORKERS`` at
once; one more gets 503 with ``Retry-After`` instead of waiting."""

from __future__ import annotations

import asyncio
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from fastapi import HTTPException

from models.cancellation import StopCheck
from service.upload_parsing import DEFAULT_RETRY_SECONDS, UploadParsing
from tests.conftest import ROOT, LiveServer

PROBLEM = "application/problem+json"
SECONDS = 60
CONCURRENT_UPLOADS = 6


def test_parse_beyond_workers_refused_at_once() -> None:
    parsing = UploadParsing(workers=2)
    release = threading.Event()
    started = threading.Semaphore(0)

    def blocked(_: StopCheck) -> str:
        started.release()
        release.wait(SECONDS)
        return "parsed"

    async def scenario() -> tuple[list[str], HTTPException, str]:
        running = [asyncio.ensure_future(parsing.run(blocked)) for _ in range(2)]
        for _ in range(2):
            assert await asyncio.to_thread(started.acquire, timeout=SECONDS)
        with pytest.raises(HTTPException) as refused:
            await parsing.run(lambda _: "never")
        release.set()
        results = list(await asyncio.gather(*running))
        # the places are free again once the parses have ended
        after = await parsing.run(lambda _: "admitted")
        return results, refused.value, after

    try:
        results, refused, after = asyncio.run(scenario())
    finally:
        release.set()
        parsing.close()

    assert results == ["parsed", "parsed"]
    assert after == "admitted"
    assert refused.status_code == 503
    assert refused.headers == {"Retry-After": str(DEFAULT_RETRY_SECONDS)}
    assert refused.detail == (
        "the server is parsing 2 series uploads, the most that "
        "RNN_FORECAST_UPLOAD_WORKERS allows at once; retry after "
        f"{DEFAULT_RETRY_SECONDS} s"
    )


def test_closed_parsing_refuses() -> None:
    parsing = UploadParsing(workers=1)
    parsing.close()

    with pytest.raises(HTTPException, match="the server is shutting down"):
        asyncio.run(parsing.run(lambda _: "never"))


def large_upload() -> bytes:
    """The bundled NFLX file with its rows written ten times (about 3 MB),
    which takes a large part of a second to parse; the repeated dates are
    dropped as duplicates."""
    lines = (ROOT / "models" / "data" / "bundled" / "NFLX.csv").read_bytes()
    header, rows = lines.rstrip(b"\n").split(b"\n", 1)
    return header + b"\n" + (rows + b"\n") * 10


@pytest.fixture(scope="module")
def one_parser_server(
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[LiveServer, Path]:
    data_dir = tmp_path_factory.mktemp("uploads")
    registry = tmp_path_factory.mktemp("registry")
    env = {"RNN_FORECAST_UPLOAD_WORKERS": "1", "RNN_FORECAST_DATA_DIR": str(data_dir)}
    server = LiveServer(registry, env=env)
    yield server, data_dir
    server.stop()


def test_concurrent_uploads_beyond_workers_get_503(
    one_parser_server: tuple[LiveServer, Path],
) -> None:
    server, data_dir = one_parser_server
    body = large_upload()

    def upload(_: int) -> httpx.Response:
        with httpx.Client(base_url=server.url, timeout=SECONDS) as client:
            return client.post(
                "/v1/series", content=body, headers={"content-type": "text/csv"}
            )

    with ThreadPoolExecutor(CONCURRENT_UPLOADS) as pool:
        responses = list(pool.map(upload, range(CONCURRENT_UPLOADS)))

    statuses = sorted(response.status_code for response in responses)
    assert set(statuses) == {201, 503}, [r.text for r in responses]
    refused = [r for r in responses if r.status_code == 503]
    for response in refused:
        assert response.headers["content-type"] == PROBLEM
        assert int(response.headers["retry-after"]) >= 1
        problem = response.json()
        assert problem["status"] == 503
        assert "RNN_FORECAST_UPLOAD_WORKERS allows at once" in problem["detail"]
    stored = sorted(path.stem for path in (data_dir / "series").glob("*.json"))
    created = sorted(r.json()["id"] for r in responses if r.status_code == 201)
    assert stored == created
