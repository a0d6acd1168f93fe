"""2,000 forecasts from 32 concurrent clients while versions are written and
an alias is switched: no 5xx, and every response comes wholly from the one
version it names.

Each version v of the model ``mix`` is the trained ``sine`` GRU with its head
weights set to zero and its bias set so that every forecast point equals
``100 + v`` dollars. A response that names version v but carries any other
value would have mixed two versions.
"""

from __future__ import annotations

import asyncio
import random
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import torch
from safetensors.torch import load_file

from models.registry import Registry
from tests.conftest import LiveServer

MODEL = "mix"
ALIAS = "production"
REQUESTS = 2000
CLIENTS = 32
FIRST_VERSIONS = 2
NEW_VERSIONS = 10
HORIZON = 3


def version_value(version: int) -> float:
    """The price that every forecast point of ``version`` equals."""
    return 100.0 + version


@dataclass
class VersionWriter:
    """Writes ``mix`` versions whose forecasts are constant, and switches the
    alias; records every version the alias has pointed at."""

    registry: Registry
    state: dict[str, torch.Tensor]
    metadata: dict[str, Any]
    alias_targets: set[int] = field(default_factory=set)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def write(self) -> int:
        version = max(self.registry.versions(MODEL), default=0) + 1
        scaler = self.metadata["scaler"]
        scaled = (version_value(version) - scaler["shift"]) / scaler["scale"]
        state = dict(self.state)
        state["head.weight"] = torch.zeros_like(self.state["head.weight"])
        state["head.bias"] = torch.full_like(self.state["head.bias"], scaled)
        written = self.registry.write(MODEL, state, self.metadata)
        assert written == version
        return written

    def point_alias(self, version: int) -> None:
        with self.lock:
            self.alias_targets.add(version)
        self.registry.set_alias(MODEL, ALIAS, version)


@pytest.fixture(scope="module")
def mix_writer(
    trained_registry: Registry, tmp_path_factory: pytest.TempPathFactory
) -> VersionWriter:
    base = trained_registry.root / "sine" / "versions" / "1"
    metadata = trained_registry.metadata("sine", 1)
    assert metadata["spec"]["target"] == "price"
    for key in ("format", "name", "version", "weights"):
        metadata.pop(key)
    metadata["spec"]["name"] = MODEL

    registry = Registry(tmp_path_factory.mktemp("mix-registry"))
    writer = VersionWriter(
        registry, load_file(str(base / "weights.safetensors")), metadata
    )
    for _ in range(FIRST_VERSIONS):
        writer.write()
    writer.point_alias(1)
    return writer


@pytest.fixture(scope="module")
def mix_server(
    mix_writer: VersionWriter, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveServer]:
    env = {
        "RNN_FORECAST_DATA_DIR": str(tmp_path_factory.mktemp("mix-data")),
        "RNN_FORECAST_LOG_LEVEL": "warning",
        "RNN_FORECAST_MODEL_CACHE_SIZE": "4",
    }
    server = LiveServer(mix_writer.registry.root, env=env)
    yield server
    server.stop()


def churn(writer: VersionWriter, stop: threading.Event) -> list[int]:
    """Write new versions and move the alias until ``stop`` is set."""
    rng = random.Random(7)
    written: list[int] = []
    while not stop.is_set():
        if len(written) < NEW_VERSIONS and rng.random() < 0.3:
            written.append(writer.write())
        writer.point_alias(rng.choice(writer.registry.versions(MODEL)))
        stop.wait(rng.uniform(0.01, 0.05))
    return written


def request_body(index: int) -> dict[str, Any]:
    refs: list[str | int] = [ALIAS, "latest", 1, 2]
    return {"version": refs[index % len(refs)], "horizon": HORIZON}


async def send_all(url: str) -> list[tuple[dict[str, Any], httpx.Response]]:
    """Send ``REQUESTS`` forecasts over ``CLIENTS`` connections at once."""
    results: list[tuple[dict[str, Any], httpx.Response]] = []
    counter = iter(range(REQUESTS))

    async def client_loop() -> None:
        async with httpx.AsyncClient(base_url=url, timeout=60) as client:
            for index in counter:
                body = request_body(index)
                response = await client.post(f"/v1/models/{MODEL}/forecast", json=body)
                results.append((body, response))

    await asyncio.gather(*(client_loop() for _ in range(CLIENTS)))
    return results


def test_forecasts_during_version_churn(
    mix_writer: VersionWriter, mix_server: LiveServer
) -> None:
    stop = threading.Event()
    written: list[int] = []
    thread = threading.Thread(target=lambda: written.extend(churn(mix_writer, stop)))
    started = time.monotonic()
    thread.start()
    try:
        results = asyncio.run(send_all(mix_server.url))
    finally:
        stop.set()
        thread.join(timeout=30)
    elapsed = time.monotonic() - started

    assert len(results) == REQUESTS
    statuses = sorted({response.status_code for _, response in results})
    assert statuses == [200], [r.text for _, r in results if r.status_code != 200][:3]
    assert written, "no version was written while the forecasts ran"
    assert elapsed < 120, f"{REQUESTS} forecasts took {elapsed:.0f} s"

    highest = FIRST_VERSIONS + len(written)
    for body, response in results:
        answer = response.json()
        version = answer["version"]
        values = [point["value"] for point in answer["forecast"]]
        assert values == pytest.approx([version_value(version)] * HORIZON, abs=1e-3)
        if isinstance(body["version"], int):
            assert version == body["version"]
        elif body["version"] == ALIAS:
            assert version in mix_writer.alias_targets
        else:
            assert FIRST_VERSIONS <= version <= highest


def test_every_version_on_disk_is_complete(mix_writer: VersionWriter) -> None:
    registry = mix_writer.registry
    folders = (registry.root / MODEL / "versions").iterdir()
    numbers = sorted(int(folder.name) for folder in folders)
    assert numbers == registry.versions(MODEL)
    assert numbers == list(range(1, len(numbers) + 1))
    for number in numbers:
        assert registry.load(MODEL, number).version == number
    assert list(Path(registry.root / MODEL).glob(".tmp-*")) == []
