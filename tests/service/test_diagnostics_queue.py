"""Admission control and cancellation of gradient diagnostics, over real
HTTP and on the queue itself.

The server has one diagnostics thread and room for one waiting diagnostic.
``SLOW`` takes about 2 s on one core, long enough for the other requests of
a test to arrive while it runs. ``LARGE``, the largest diagnostic that the
default limits allow, takes about 6 s.
"""

from __future__ import annotations

import asyncio
import re
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from starlette.requests import Request

from models.cancellation import ComputationCancelled, StopCheck
from service.diagnostics_queue import (
    DEFAULT_RETRY_SECONDS,
    ClientDisconnectedError,
    DiagnosticsQueue,
)
from tests.conftest import LiveServer

FLOW = "/v1/diagnostics/gradient-flow"
SLOW = {"cell": "lstm", "hidden_size": 128, "seq_len": 1000}
TINY = {"cell": "rnn", "hidden_size": 4, "seq_len": 10}
LARGE = {"cell": "lstm", "hidden_size": 256, "seq_len": 1000}
SKIPPED = "diagnostic skipped: its client disconnected while it waited"
CANCELLED = "diagnostic cancelled: its client disconnected while it ran"
CLOSED_METRIC = re.compile(
    r'^rnn_forecast_http_requests_total\{method="POST",'
    r'route="/v1/diagnostics/gradient-flow",status="499"\} (\S+)$',
    re.MULTILINE,
)


@pytest.fixture(scope="module")
def queue_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    env = {
        "RNN_FORECAST_DIAGNOSTICS_WORKERS": "1",
        "RNN_FORECAST_MAX_QUEUED_DIAGNOSTICS": "1",
    }
    server = LiveServer(tmp_path_factory.mktemp("empty-registry"), env=env)
    yield server
    server.stop()


def test_full_queue_is_503(queue_server: LiveServer) -> None:
    client = queue_server.client
    with ThreadPoolExecutor(max_workers=4) as pool:
        sent = [pool.submit(client.post, FLOW, json=SLOW, timeout=60) for _ in range(4)]
        responses = [future.result() for future in sent]

    statuses = sorted(response.status_code for response in responses)
    assert statuses == [200, 200, 503, 503]
    for response in responses:
        if response.status_code != 503:
            continue
        assert response.headers["content-type"] == "application/problem+json"
        retry_after = response.headers["retry-after"]
        assert retry_after.isdigit()
        assert 1 <= int(retry_after) <= 60
        detail = response.json()["detail"]
        assert "the diagnostics queue is full" in detail
        assert "RNN_FORECAST_MAX_QUEUED_DIAGNOSTICS" in detail
        assert detail.endswith(f"retry after {retry_after} s")


def test_abandoned_diagnostic_never_runs(queue_server: LiveServer) -> None:
    client = queue_server.client
    with ThreadPoolExecutor(max_workers=1) as pool:
        running = pool.submit(client.post, FLOW, json=SLOW, timeout=60)
        time.sleep(0.3)
        # this one waits behind the running one, and its client gives up
        with pytest.raises(httpx.ReadTimeout):
            client.post(FLOW, json=SLOW, timeout=0.3)
        time.sleep(0.2)
        # admitted only if the abandoned one left the queue
        tiny = client.post(FLOW, json=TINY, timeout=60)
        first = running.result()

    assert first.status_code == 200
    assert tiny.status_code == 200, tiny.text
    assert queue_server.output().count(SKIPPED) == 1


def closed_requests(client: httpx.Client) -> float:
    """Return the count of gradient-flow requests with status 499 in
    ``/metrics``."""
    found = CLOSED_METRIC.search(client.get("/metrics").text)
    return 0.0 if found is None else float(found.group(1))


def test_abandoned_running_diagnostic_stops(queue_server: LiveServer) -> None:
    client = queue_server.client
    whole = client.post(FLOW, json=LARGE, timeout=60)
    assert whole.status_code == 200, whole.text
    closed_before = closed_requests(client)

    with pytest.raises(httpx.ReadTimeout):
        client.post(FLOW, json=LARGE, timeout=0.5)
    left = time.monotonic()
    # admitted at once and run on the only thread only if the large one stopped
    tiny = client.post(FLOW, json=TINY, timeout=60)
    waited = time.monotonic() - left

    assert tiny.status_code == 200, tiny.text
    assert waited < whole.json()["seconds"] / 3
    assert queue_server.output().count(CANCELLED) == 1
    assert closed_requests(client) == closed_before + 1


def disconnecting_request(disconnect: asyncio.Event) -> Request:
    """A request whose client disconnects when ``disconnect`` is set."""

    async def receive() -> dict[str, str]:
        await disconnect.wait()
        return {"type": "http.disconnect"}

    return Request({"type": "http", "method": "POST", "headers": []}, receive)


def test_cancelled_run_frees_place_without_timing() -> None:
    started = threading.Event()

    def until_stopped(should_stop: StopCheck) -> str:
        started.set()
        while not should_stop():
            time.sleep(0.01)
        raise ComputationCancelled("stopped")

    async def abandon_then_run(queue: DiagnosticsQueue) -> tuple[int, str]:
        disconnect = asyncio.Event()
        running = asyncio.ensure_future(
            queue.run(disconnecting_request(disconnect), until_stopped)
        )
        await asyncio.to_thread(started.wait, 10)
        disconnect.set()
        with pytest.raises(ClientDisconnectedError):
            await asyncio.wait_for(running, 10)
        retry_after = queue.retry_after()

        # the only place: a 503 here if the cancelled run still held it
        stays = disconnecting_request(asyncio.Event())
        return retry_after, await queue.run(stays, lambda should_stop: "next")

    with ThreadPoolExecutor(max_workers=1) as executor:
        queue = DiagnosticsQueue(executor, workers=1, max_queued=0)
        retry_after, result = asyncio.run(abandon_then_run(queue))

    assert retry_after == DEFAULT_RETRY_SECONDS
    assert result == "next"
