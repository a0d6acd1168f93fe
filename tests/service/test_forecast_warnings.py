"""The ``warnings`` of a forecast response over HTTP: empty for a history
within the training range, one ``outside_training_range`` item for a history
outside it, the same whichever decoder reads the body."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from models.registry import Registry
from tests.conftest import LiveServer


def history_rows(
    registry: Registry, name: str, level: float | None = None, **extra: float
) -> list[dict[str, Any]]:
    """The stored tail of ``name``:1 as history rows, with closes replaced
    by closes near ``level`` when it is given, and ``extra`` keys in every
    row."""
    loaded = registry.load(name, 1)
    closes = [float(close) for close in loaded.tail_close]
    if level is not None:
        closes = list(level * (1 + 0.005 * np.sin(np.arange(len(closes)))))
    return [
        {"date": date, "close": close, **extra}
        for date, close in zip(loaded.tail_dates, closes, strict=True)
    ]


def forecast(server: LiveServer, name: str, body: dict[str, Any]) -> dict[str, Any]:
    response = server.client.post(f"/v1/models/{name}/forecast", json=body)
    assert response.status_code == 200, response.text
    return response.json()


@pytest.mark.parametrize("body", [{}, {"level": 0.9}, {"horizon": 2, "version": 1}])
def test_stored_history_has_no_warnings(
    live_server: LiveServer, body: dict[str, Any]
) -> None:
    for name in ("nflx", "sine"):
        assert forecast(live_server, name, body)["warnings"] == []


def test_far_history_warns_on_both_decoders(
    live_server: LiveServer, trained_registry: Registry
) -> None:
    # rows with a volume are outside the msgspec decoder's subset, so the
    # second body goes through pydantic
    plain = history_rows(trained_registry, "sine", 1e6)
    with_volume = history_rows(trained_registry, "sine", 1e6, volume=10.0)

    fast = forecast(live_server, "sine", {"history": plain})
    validated = forecast(live_server, "sine", {"history": with_volume})

    [warning] = fast["warnings"]
    assert warning["field"] == "history"
    assert warning["type"] == "outside_training_range"
    assert "outside the range of sine:1's training part" in warning["message"]
    assert validated["warnings"] == fast["warnings"]
    assert validated["forecast"] == fast["forecast"]


def test_history_within_range_has_no_warnings(
    live_server: LiveServer, trained_registry: Registry
) -> None:
    rows = history_rows(trained_registry, "sine")

    body = forecast(live_server, "sine", {"history": rows, "level": 0.9})
    stored = forecast(live_server, "sine", {"level": 0.9})

    assert body["warnings"] == []
    assert body["forecast"] == stored["forecast"]


@pytest.mark.parametrize("level", [1e-300, 1e100])
def test_log_return_history_keeps_own_level(
    live_server: LiveServer, trained_registry: Registry, level: float
) -> None:
    rows = history_rows(trained_registry, "nflx", level)

    body = forecast(live_server, "nflx", {"history": rows})

    assert body["warnings"] == []
    for point in body["forecast"]:
        assert 0.5 * level < point["value"] < 2 * level


def test_huge_close_still_rejected(
    live_server: LiveServer, trained_registry: Registry
) -> None:
    rows = history_rows(trained_registry, "nflx", 1e300)

    response = live_server.client.post(
        "/v1/models/nflx/forecast", json={"history": rows}
    )

    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "history[0].close"
