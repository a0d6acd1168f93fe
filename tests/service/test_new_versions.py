"""Versions written while the server runs are served without a restart."""

from __future__ import annotations

from pathlib import Path

from models.data.synthetic import generate
from models.pipeline import train_and_register
from models.registry import Registry
from models.spec import SyntheticData
from tests.conftest import LiveServer, tiny_spec


def test_new_version_is_served_without_restart(tmp_path: Path) -> None:
    registry = Registry(tmp_path)
    data = SyntheticData(generator="ar1", length=300, level=50.0)
    series = generate(data)
    spec = tiny_spec(name="ar", target="price", data=data, epochs=1)
    train_and_register(spec, registry, series=series)

    server = LiveServer(registry.root)
    try:
        first = server.client.post("/v1/models/ar/forecast", json={"horizon": 2})
        assert first.status_code == 200
        assert first.json()["version"] == 1

        train_and_register(spec.model_copy(update={"seed": 7}), registry, series=series)
        second = server.client.post("/v1/models/ar/forecast", json={"horizon": 2})
        assert second.status_code == 200
        assert second.json()["version"] == 2
        assert second.json()["forecast"] != first.json()["forecast"]

        pinned = server.client.post(
            "/v1/models/ar/forecast", json={"version": 1, "horizon": 2}
        )
        assert pinned.json()["forecast"] == first.json()["forecast"]
    finally:
        server.stop()
