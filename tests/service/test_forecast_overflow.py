"""A version whose forward pass overflows: its forecasts get a 422 over
HTTP, alone and in a batch of concurrent requests, with the inference
kernel on and off. The error names ``history`` when the request sent one,
and ``version`` when the version's own training data gave the overflow."""

from __future__ import annotations

import math
import shutil
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from models.registry import Registry
from tests.conftest import LiveServer

# a float32 head whose outputs pass the largest float32, about 3.4e38
HUGE = 3e38
OVERFLOW_DETAIL = (
    "the forecast overflowed to a non-finite price; the history is far "
    "outside the range the model was trained on"
)


def write_overflowing(trained_registry: Registry, root: Path) -> None:
    """Copy the registry to ``root`` and add ``blowup``: the weights of
    nflx:1 with a head whose every output is beyond the float32 range."""
    shutil.copytree(trained_registry.root, root)
    registry = Registry(root)
    state = registry.load("nflx", 1).model.state_dict()
    weights = {name: value.clone() for name, value in state.items()}
    for name, value in weights.items():
        if name.startswith("head."):
            value.fill_(HUGE)
    metadata = registry.metadata("nflx", 1)
    registry.write("blowup", weights, {**metadata, "name": "blowup"})


@pytest.fixture(scope="module", params=["1", "0"], ids=["kernel", "torch"])
def server(
    request: pytest.FixtureRequest,
    trained_registry: Registry,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[LiveServer]:
    root = tmp_path_factory.mktemp("overflow") / "registry"
    write_overflowing(trained_registry, root)
    live = LiveServer(root, env={"RNN_FORECAST_INFER_KERNEL": request.param})
    yield live
    live.stop()


VERSION_DETAIL = (
    "blowup:1 cannot forecast: its forecast from the tail of its own "
    "training data overflowed to a non-finite price; use another version, or "
    "train a new one"
)


def assert_overflow_422(response: httpx.Response, field: str, detail: str) -> None:
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["errors"][0]["field"] == field
    assert problem["detail"] == detail


def stored_history(server: LiveServer) -> list[dict[str, object]]:
    """Return the tail of blowup:1's training data as history rows."""
    metadata = server.client.get("/v1/models/blowup/versions/1").json()
    tail = metadata["tail"]
    return [
        {"date": date, "close": close}
        for date, close in zip(tail["dates"], tail["close"], strict=True)
    ]


def test_lone_overflowing_forecast_names_version(server: LiveServer) -> None:
    response = server.client.post("/v1/models/blowup/forecast", json={"horizon": 3})

    assert_overflow_422(response, "version", VERSION_DETAIL)


def test_overflow_from_sent_history_names_history(server: LiveServer) -> None:
    body = {"horizon": 3, "history": stored_history(server)}

    response = server.client.post("/v1/models/blowup/forecast", json=body)

    assert_overflow_422(response, "history", OVERFLOW_DETAIL)


def test_concurrent_overflowing_forecasts_are_422(server: LiveServer) -> None:
    history = stored_history(server)
    bodies: list[dict[str, object]] = [{"horizon": 1 + index % 4} for index in range(8)]
    bodies[3]["level"] = 0.9
    for body in bodies[4:]:
        body["history"] = history

    def send(body: dict[str, object]) -> httpx.Response:
        with httpx.Client(base_url=server.url, timeout=30) as client:
            return client.post("/v1/models/blowup/forecast", json=body)

    with ThreadPoolExecutor(max_workers=8) as pool:
        responses = list(pool.map(send, bodies))

    for response in responses[:4]:
        assert_overflow_422(response, "version", VERSION_DETAIL)
    for response in responses[4:]:
        assert_overflow_422(response, "history", OVERFLOW_DETAIL)
    healthy = server.client.post("/v1/models/nflx/forecast", json={"horizon": 3})
    assert healthy.status_code == 200, healthy.text
    values = [point["value"] for point in healthy.json()["forecast"]]
    assert all(math.isfinite(value) for value in values)
