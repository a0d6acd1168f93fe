"""Series uploads are parsed by at most ``RNN_FORECAST_UPLOAD_WORKERS`` at
once; one more gets 503 with ``Retry-After`` instead of waiting, before its
body is read."""

from __future__ import annotations

import asyncio
import select
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
from fastapi import HTTPException

from models.cancellation import StopCheck
from service.upload_parsing import DEFAULT_RETRY_SECONDS, UploadParsing
from tests.conftest import ROOT, LiveServer
from tests.service.raw_http import read_reply
from tests.service.test_series import yahoo_tail

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


def test_admitted_place_given_back_unparsed() -> None:
    """Check that a place whose upload never reached its parse is free again
    after ``admitted``, and that a full pool rejects a second place."""
    parsing = UploadParsing(workers=1)
    try:
        with parsing.admitted():
            with pytest.raises(HTTPException) as rejected, parsing.admitted():
                pass
        with parsing.admitted() as place:
            parsed = asyncio.run(parsing.run(lambda _: "parsed", None, place))
        after = asyncio.run(parsing.run(lambda _: "admitted"))
    finally:
        parsing.close()

    assert rejected.value.status_code == 503
    assert parsed == "parsed"
    assert after == "admitted"


def upload_head(port: int, length: int) -> socket.socket:
    """Open a connection and send the head of a text/csv upload of
    ``length`` bytes, without any of its body."""
    sock = socket.create_connection(("127.0.0.1", port))
    sock.settimeout(SECONDS)
    sock.sendall(
        (
            "POST /v1/series HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            f"Content-Type: text/csv\r\nContent-Length: {length}\r\n\r\n"
        ).encode()
    )
    return sock


def test_full_pool_rejects_before_body(
    one_parser_server: tuple[LiveServer, Path],
) -> None:
    """Check that of two uploads that send only their heads, one gets 503 at
    once while the other, admitted, waits for its body and is stored."""
    server, data_dir = one_parser_server
    port = urlsplit(server.url).port
    assert port is not None
    body = yahoo_tail(40)
    first = upload_head(port, len(body))
    second = upload_head(port, len(body))
    try:
        # the body timeout is 30 s, so only a rejection replies within 10 s
        ready, _, _ = select.select([first, second], [], [], 10)
        assert len(ready) == 1, "expected a reply to exactly one upload"
        rejected = ready[0]
        admitted = second if rejected is first else first
        rejection = read_reply(rejected)
        admitted.sendall(body)
        stored = read_reply(admitted)
    finally:
        first.close()
        second.close()

    head, _, problem = rejection.partition("\r\n\r\n")
    assert head.startswith("HTTP/1.1 503"), rejection
    assert "retry-after: " in head.lower()
    assert "content-type: application/problem+json" in head.lower()
    assert "RNN_FORECAST_UPLOAD_WORKERS allows at once" in problem
    assert stored.startswith("HTTP/1.1 201"), stored
    series_id = stored.split('"id":"', 1)[1][:32]
    assert (data_dir / "series" / f"{series_id}.json").is_file()


def test_place_freed_after_failed_body(
    one_parser_server: tuple[LiveServer, Path],
) -> None:
    """Check that an upload whose client leaves during the body, and one
    whose form has no file, free their place for the next upload."""
    server, _ = one_parser_server
    port = urlsplit(server.url).port
    assert port is not None
    body = yahoo_tail(45)
    leaving = upload_head(port, len(body))
    leaving.sendall(body[:100])
    leaving.close()
    deadline = time.monotonic() + SECONDS
    while time.monotonic() < deadline and "POST /v1/series 499" not in server.output():
        time.sleep(0.1)
    no_file = server.client.post(
        "/v1/series",
        content=b"--b\r\nContent-Disposition: form-data; name=x\r\n\r\n1\r\n--b--\r\n",
        headers={"content-type": "multipart/form-data; boundary=b"},
    )

    after = server.client.post(
        "/v1/series", content=body, headers={"content-type": "text/csv"}
    )

    assert "POST /v1/series 499" in server.output()
    assert no_file.status_code == 422, no_file.text
    assert after.status_code == 201, after.text
