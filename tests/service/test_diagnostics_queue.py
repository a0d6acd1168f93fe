"""Admission control of gradient diagnostics, over real HTTP.

The server has one diagnostics thread and room for one waiting diagnostic.
``SLOW`` takes about 2 s on one core, long enough for the other requests of
a test to arrive while it runs.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from tests.conftest import LiveServer

FLOW = "/v1/diagnostics/gradient-flow"
SLOW = {"cell": "lstm", "hidden_size": 128, "seq_len": 1000}
TINY = {"cell": "rnn", "hidden_size": 4, "seq_len": 10}
SKIPPED = "diagnostic skipped: its client disconnected while it waited"


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
