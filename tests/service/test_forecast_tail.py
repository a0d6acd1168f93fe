"""Forecasts over real HTTP from a version's stored tail and from a history
that sends the same rows, through each decoder of the body: msgspec and
pydantic on the fast path, and the app's route."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from models.registry import Registry
from service.body_decoder import decode_common
from tests.conftest import CELL_MODELS, LiveServer
from tests.service.test_paths import metric

FAST_PATH = "rnn_forecast_forecast_fast_path_total"
LEVELS = (None, 0.9)


@pytest.fixture(scope="module")
def cell_server(cell_registry: Registry) -> Iterator[LiveServer]:
    server = LiveServer(cell_registry.root, env={"RNN_FORECAST_INFER_KERNEL": "1"})
    yield server
    server.stop()


def tail_rows(registry: Registry, name: str) -> list[dict[str, Any]]:
    """Version 1's stored tail as history rows, with the closes that
    ``metadata.json`` stores."""
    tail = registry.metadata(name, 1)["tail"]
    return [
        {"date": day, "close": close}
        for day, close in zip(tail["dates"], tail["close"], strict=True)
    ]


def history_bodies(fields: dict[str, Any], rows: list[dict[str, Any]]) -> list[bytes]:
    """Build three bodies of ``fields`` and the history ``rows``. msgspec
    decodes the first. The second has a volume per row, which only pydantic
    takes. The third writes its ``history`` key with an escape, so the fast
    path passes it on to the app, because such a body may repeat a key."""
    common = json.dumps({**fields, "history": rows}).encode()
    with_volume = [{**row, "volume": 1000} for row in rows]
    pydantic_only = json.dumps({**fields, "history": with_volume}).encode()
    escaped = common.replace(b'"history"', b'"\\u0068istory"', 1)
    assert decode_common(common) is not None
    assert decode_common(pydantic_only) is None
    assert escaped != common
    return [common, pydantic_only, escaped]


def post(server: LiveServer, name: str, body: bytes) -> dict[str, Any]:
    response = server.client.post(
        f"/v1/models/{name}/forecast",
        content=body,
        headers={"content-type": "application/json"},
    )
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


@pytest.mark.parametrize("name", CELL_MODELS)
def test_sent_tail_gives_stored_tail_bits(
    cell_server: LiveServer, cell_registry: Registry, name: str
) -> None:
    rows = tail_rows(cell_registry, name)
    horizons = range(1, cell_registry.load(name).horizon + 1)
    served = metric(cell_server, FAST_PATH, outcome="served")
    passed_on = metric(cell_server, FAST_PATH, outcome="passed_on")

    for horizon in horizons:
        for level in LEVELS:
            fields = {"horizon": horizon, "level": level}
            by_tail = post(cell_server, name, json.dumps(fields).encode())
            assert by_tail["history_source"] == "model"
            assert len(by_tail["forecast"]) == horizon
            assert (by_tail["forecast"][0]["lower"] is None) == (level is None)
            for body in history_bodies(fields, rows):
                by_history = post(cell_server, name, body)
                assert by_history["history_source"] == "request"
                assert by_history["last_history_date"] == by_tail["last_history_date"]
                assert by_history["forecast"] == by_tail["forecast"]

    requests = len(horizons) * len(LEVELS)
    assert metric(cell_server, FAST_PATH, outcome="served") == served + 3 * requests
    assert metric(cell_server, FAST_PATH, outcome="passed_on") == passed_on + requests


async def concurrent_forecasts(
    url: str, name: str, bodies: list[dict[str, Any]]
) -> list[list[dict[str, Any]]]:
    """Send ``bodies`` at once and return each response's forecast."""
    async with httpx.AsyncClient(base_url=url, timeout=30) as client:
        responses = await asyncio.gather(
            *[client.post(f"/v1/models/{name}/forecast", json=b) for b in bodies]
        )
    for response in responses:
        assert response.status_code == 200, response.text
    return [response.json()["forecast"] for response in responses]


@pytest.mark.parametrize("name", CELL_MODELS)
def test_concurrent_tail_and_history_agree(
    cell_server: LiveServer, cell_registry: Registry, name: str
) -> None:
    """Requests that arrive together may share batched forward passes, and on
    the inference kernel a window's bits do not depend on its batch."""
    rows = tail_rows(cell_registry, name)
    fields = {"horizon": 5, "level": 0.9}
    bodies = [fields if i % 2 else {**fields, "history": rows} for i in range(16)]
    lone = post(cell_server, name, json.dumps(fields).encode())["forecast"]

    forecasts = asyncio.run(concurrent_forecasts(cell_server.url, name, bodies))

    for forecast in forecasts:
        assert forecast == lone
