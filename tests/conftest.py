"""Shared fixtures: tiny trained registries and a real uvicorn server."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from models.registry import Registry
from models.spec import BundledData, SyntheticData, TrainingSpec

ROOT = Path(__file__).resolve().parents[1]

TINY = {
    "hidden_size": 8,
    "num_layers": 1,
    "lookback": 20,
    "horizon": 5,
    "epochs": 2,
    "batch_size": 128,
}


def tiny_spec(**overrides: object) -> TrainingSpec:
    """A spec that trains in about a second on the bundled data."""
    return TrainingSpec.model_validate({**TINY, **overrides})


@pytest.fixture(scope="session")
def trained_registry(tmp_path_factory: pytest.TempPathFactory) -> Registry:
    """A registry with ``nflx`` version 1 (bundled NFLX, LSTM) and ``sine``
    version 1 (synthetic, GRU, price target)."""
    from models.pipeline import train_and_register

    registry = Registry(tmp_path_factory.mktemp("registry"))
    train_and_register(tiny_spec(name="nflx", data=BundledData()), registry)
    train_and_register(
        tiny_spec(
            name="sine",
            cell="gru",
            target="price",
            data=SyntheticData(generator="noisy_sine", length=400),
        ),
        registry,
    )
    return registry


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class LiveServer:
    """A ``rnn-forecast serve`` subprocess on 127.0.0.1 and a client for it."""

    def __init__(self, registry: Path, env: dict[str, str] | None = None) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        full_env = {
            **os.environ,
            "RNN_FORECAST_REGISTRY": str(registry),
            **(env or {}),
        }
        self.process = subprocess.Popen(
            [sys.executable, "-m", "models.cli", "serve", "--port", str(self.port)],
            cwd=ROOT,
            env=full_env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.client = httpx.Client(base_url=self.url, timeout=30)
        self._wait_ready()

    def _wait_ready(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                output = self.process.stdout.read() if self.process.stdout else ""
                raise RuntimeError(f"server exited early:\n{output}")
            try:
                if self.client.get("/v1/health").status_code == 200:
                    return
            except httpx.TransportError:
                time.sleep(0.1)
        raise RuntimeError(f"server on {self.url} did not start in {timeout} s")

    def stop(self) -> str:
        self.client.close()
        self.process.terminate()
        try:
            output, _ = self.process.communicate(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            output, _ = self.process.communicate()
        return output or ""


@pytest.fixture(scope="session")
def live_server(trained_registry: Registry) -> Iterator[LiveServer]:
    server = LiveServer(trained_registry.root)
    yield server
    server.stop()
