"""A server with small limits, an API key and CORS, shared by the HTTP tests
of errors, limits, security and observability, and a server with CORS and
no key."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from models.registry import Registry
from tests.conftest import LiveServer

API_KEY = "k3y-for-tests-8c1d0f6e2b"
DASHBOARD_ORIGIN = "https://dashboard.example"
MAX_REQUEST_BYTES = 4096
MAX_HISTORY_ROWS = 100
MAX_HORIZON = 4


@pytest.fixture(scope="session")
def strict_server(
    trained_registry: Registry, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveServer]:
    """``rnn-forecast serve`` on the shared registry with JSON logs at DEBUG,
    which allows ``DASHBOARD_ORIGIN``."""
    env = {
        "RNN_FORECAST_API_KEY": API_KEY,
        "RNN_FORECAST_CORS_ORIGINS": DASHBOARD_ORIGIN,
        "RNN_FORECAST_MAX_REQUEST_BYTES": str(MAX_REQUEST_BYTES),
        "RNN_FORECAST_MAX_HISTORY_ROWS": str(MAX_HISTORY_ROWS),
        "RNN_FORECAST_MAX_HORIZON": str(MAX_HORIZON),
        "RNN_FORECAST_DATA_DIR": str(tmp_path_factory.mktemp("strict-data")),
        "RNN_FORECAST_LOG_FORMAT": "json",
        "RNN_FORECAST_LOG_LEVEL": "debug",
    }
    server = LiveServer(trained_registry.root, env=env)
    yield server
    server.stop()


@pytest.fixture(scope="session")
def cors_server(trained_registry: Registry) -> Iterator[LiveServer]:
    """``rnn-forecast serve`` that allows two origins."""
    env = {"RNN_FORECAST_CORS_ORIGINS": f"{DASHBOARD_ORIGIN}, https://other.example"}
    server = LiveServer(trained_registry.root, env=env)
    yield server
    server.stop()
