"""An upload whose client disconnects while it is parsed stops at the next
stop check and stores nothing, because the client never learns the id."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from models.cancellation import ComputationCancelled, StopCheck
from service.diagnostics_queue import ClientDisconnectedError
from service.upload_parsing import UploadParsing
from tests.conftest import LiveServer
from tests.service.test_diagnostics_queue import disconnecting_request
from tests.service.test_upload_shutdown import bundled_rows, stored_names

SECONDS = 60
# the start of the access log message of an upload whose client disconnected
ACCESS_LINE = "POST /v1/series 499"


def test_disconnect_stops_parse_and_frees_place() -> None:
    parsing = UploadParsing(workers=1)
    started = threading.Event()
    stopped = threading.Event()

    def until_stopped(should_stop: StopCheck) -> str:
        started.set()
        while not should_stop():
            time.sleep(0.01)
        stopped.set()
        raise ComputationCancelled("stopped")

    async def scenario() -> str:
        disconnect = asyncio.Event()
        running = asyncio.ensure_future(
            parsing.run(until_stopped, disconnecting_request(disconnect))
        )
        assert await asyncio.to_thread(started.wait, SECONDS)
        disconnect.set()
        with pytest.raises(ClientDisconnectedError):
            await asyncio.wait_for(running, SECONDS)
        # the only place: a 503 here if the stopped parse still held it
        stays = disconnecting_request(asyncio.Event())
        return await parsing.run(lambda _: "next", stays)

    try:
        assert asyncio.run(scenario()) == "next"
    finally:
        parsing.close()

    assert stopped.is_set()


@pytest.fixture(scope="module")
def upload_server(tmp_path_factory: pytest.TempPathFactory) -> tuple[LiveServer, Path]:
    data_dir = tmp_path_factory.mktemp("uploads")
    registry = tmp_path_factory.mktemp("registry")
    server = LiveServer(registry, env={"RNN_FORECAST_DATA_DIR": str(data_dir)})
    yield server, data_dir
    server.stop()


def test_upload_of_gone_client_stores_nothing(
    upload_server: tuple[LiveServer, Path],
) -> None:
    server, data_dir = upload_server
    body = bundled_rows(30)
    address = urlsplit(server.url)
    head = (
        "POST /v1/series HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        f"Content-Type: text/csv\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode()

    with socket.create_connection((address.hostname, address.port)) as sock:
        sock.sendall(head + body)
    # the parse of about 9 MB takes seconds; an upload that the disconnect
    # did not stop would be stored by then
    deadline = time.monotonic() + SECONDS
    while time.monotonic() < deadline and ACCESS_LINE not in server.output():
        time.sleep(0.1)

    assert ACCESS_LINE in server.output()
    assert "upload parse stopped: its client disconnected" in server.output()
    assert not any(name.endswith(".json") for name in stored_names(data_dir))


@pytest.mark.parametrize("form", [False, True])
def test_upload_cut_short_logs_no_error(
    upload_server: tuple[LiveServer, Path], form: bool
) -> None:
    server, data_dir = upload_server
    rows = bundled_rows(30)
    if form:
        content_type = "multipart/form-data; boundary=cut"
        body = (
            b'--cut\r\nContent-Disposition: form-data; name="file"; '
            b'filename="a.csv"\r\n\r\n' + rows + b"\r\n--cut--\r\n"
        )
    else:
        content_type, body = "text/csv", rows
    address = urlsplit(server.url)
    head = (
        "POST /v1/series HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        f"Content-Type: {content_type}\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode()
    closed_before = server.output().count(ACCESS_LINE)

    # the client goes away with half of its body sent, while the route reads it
    with socket.create_connection((address.hostname, address.port)) as sock:
        sock.sendall(head + body[: len(body) // 2])
    deadline = time.monotonic() + SECONDS
    while (
        time.monotonic() < deadline
        and server.output().count(ACCESS_LINE) == closed_before
    ):
        time.sleep(0.1)

    output = server.output()
    assert output.count(ACCESS_LINE) == closed_before + 1
    assert "POST /v1/series raised" not in output
    assert "ClientDisconnect" not in output
    assert not any(name.endswith(".json") for name in stored_names(data_dir))
