"""Listing, health, aliases and forecasts over HTTP next to reused,
corrupt and odd registry entries."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from models.data.synthetic import generate
from models.pipeline import train_and_register
from models.registry import Registry
from models.spec import SyntheticData, TrainingSpec
from tests.conftest import LiveServer, copy_version, tiny_spec

API_KEY = "registry-entries-key-5d1e"
DATA = SyntheticData(generator="ar1", length=300, level=50.0)


def ar_spec(seed: int = 0) -> TrainingSpec:
    return tiny_spec(name="ar", target="price", data=DATA, epochs=1, seed=seed)


def copy_model(registry: Registry, name: str) -> Path:
    """Copy version 1 of ``ar`` to version 1 of ``name``; return its folder."""
    folder = registry.root / name / "versions" / "1"
    return copy_version(registry.root / "ar" / "versions" / "1", folder)


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Registry:
    registry = Registry(tmp_path_factory.mktemp("entries"))
    series = generate(DATA)
    train_and_register(ar_spec(seed=0), registry, series=series)
    train_and_register(ar_spec(seed=1), registry, series=series)
    return registry


@pytest.fixture(scope="module")
def client(registry: Registry) -> Iterator[httpx.Client]:
    server = LiveServer(registry.root, {"RNN_FORECAST_API_KEY": API_KEY})
    yield server.client
    server.stop()


def forecast(client: httpx.Client, name: str, version: object) -> httpx.Response:
    return client.post(
        f"/v1/models/{name}/forecast", json={"version": version, "horizon": 2}
    )


def test_replaced_version_not_served_from_cache(
    registry: Registry, client: httpx.Client
) -> None:
    copy_model(registry, "re")
    versions = registry.root / "re" / "versions"
    copy_version(registry.root / "ar" / "versions" / "2", versions / "2")
    cached = forecast(client, "re", 2).json()["forecast"]
    first = forecast(client, "re", 1).json()["forecast"]
    assert cached != first

    # version 2 is moved away and version 1's folder is put in its place
    shutil.move(versions / "2", registry.root / "re-old-2")
    copy_version(versions / "1", versions / "2")
    replaced = forecast(client, "re", 2)

    assert replaced.status_code == 200
    assert replaced.json()["forecast"] == first


def test_retrained_model_not_served_from_cache(
    registry: Registry, client: httpx.Client
) -> None:
    series = generate(DATA)
    spec = ar_spec(seed=3).model_copy(update={"name": "rt"})
    train_and_register(spec, registry, series=series)
    before = forecast(client, "rt", 1)
    assert before.status_code == 200

    # the whole model folder goes, so version 1 is written again
    shutil.rmtree(registry.root / "rt")
    spec = ar_spec(seed=4).model_copy(update={"name": "rt"})
    version, _, _ = train_and_register(spec, registry, series=series)
    after = forecast(client, "rt", 1)

    assert version == 1
    assert after.status_code == 200
    assert after.json()["forecast"] != before.json()["forecast"]


def test_removed_version_number_not_reused(
    registry: Registry, client: httpx.Client
) -> None:
    for version in ("1", "2"):
        copy_version(
            registry.root / "ar" / "versions" / version,
            registry.root / "nr" / "versions" / version,
        )
    shutil.copy(registry.root / "ar" / "highest_version", registry.root / "nr")
    assert forecast(client, "nr", 2).status_code == 200
    shutil.move(registry.root / "nr" / "versions" / "2", registry.root / "nr-old-2")

    spec = ar_spec(seed=2).model_copy(update={"name": "nr"})
    version, _, _ = train_and_register(spec, registry, series=generate(DATA))

    assert version == 3
    assert forecast(client, "nr", 2).status_code == 404
    assert forecast(client, "nr", "latest").json()["version"] == 3


def test_corrupt_version_listed_with_error(
    registry: Registry, client: httpx.Client
) -> None:
    folder = copy_model(registry, "corrupt")
    (folder / "metadata.json").write_text('{"broken')

    response = client.get("/v1/models")

    assert response.status_code == 200
    models = {model["name"]: model for model in response.json()["models"]}
    assert models["ar"]["error"] is None
    assert models["ar"]["latest"]["version"] == 2
    assert models["corrupt"]["latest"] is None
    assert "metadata of corrupt:1 is corrupt" in models["corrupt"]["error"]

    health = client.get("/v1/health").json()
    assert health["status"] == "degraded"
    assert "metadata of corrupt:1" in health["unreadable"]["corrupt"]
    assert "ar" not in health["unreadable"]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ('{"broken', "metadata of {name}:1 is corrupt"),
        ("[1]", "metadata of {name}:1 is a JSON list, not an object"),
        (
            '{"created_at": 5, "metrics": {"test": []}}',
            "metadata of {name}:1 is invalid",
        ),
    ],
)
def test_corrupt_version_get_explains(
    registry: Registry, client: httpx.Client, content: str, message: str
) -> None:
    name = f"bad{len(content)}"
    folder = copy_model(registry, name)
    (folder / "metadata.json").write_text(content)

    detail = client.get(f"/v1/models/{name}/versions/1")
    listing = client.get("/v1/models")

    assert detail.status_code == 500
    assert message.format(name=name) in detail.json()["detail"]
    assert str(registry.root) not in detail.text
    assert listing.status_code == 200
    models = {model["name"]: model for model in listing.json()["models"]}
    assert message.format(name=name) in models[name]["error"]
    assert models["ar"]["error"] is None


def test_alias_to_corrupt_version_conflicts(
    registry: Registry, client: httpx.Client
) -> None:
    folder = copy_model(registry, "badalias")
    (folder / "metadata.json").write_text('{"broken')

    response = client.put(
        "/v1/models/badalias/aliases/x",
        json={"version": 1},
        headers={"X-API-Key": API_KEY},
    )

    assert response.status_code == 409
    assert "metadata cannot be read" in response.json()["detail"]
    assert not (registry.root / "badalias" / "aliases.json").exists()


def test_invalid_alias_file_keeps_latest(
    registry: Registry, client: httpx.Client
) -> None:
    copy_model(registry, "odd")
    (registry.root / "odd" / "aliases.json").write_text("[1, 2]")

    latest = forecast(client, "odd", "latest")
    by_alias = forecast(client, "odd", "prod")
    listing = client.get("/v1/models").json()["models"]

    assert latest.status_code == 200
    assert latest.json()["version"] == 1
    assert by_alias.status_code == 500
    assert "alias file odd/aliases.json" in by_alias.json()["detail"]
    assert str(registry.root) not in by_alias.text
    odd = next(model for model in listing if model["name"] == "odd")
    assert odd["aliases"] == {"latest": 1}
    assert "odd/aliases.json" in odd["error"]
    assert client.get("/v1/models/odd/versions/latest").status_code == 200


def test_dangling_alias_explained(registry: Registry, client: httpx.Client) -> None:
    copy_model(registry, "dangling")
    (registry.root / "dangling" / "aliases.json").write_text('{"prod": 99}')

    response = forecast(client, "dangling", "prod")

    assert response.status_code == 404
    assert (
        "alias 'prod' of model 'dangling' points at version 99, which does not "
        "exist" in response.json()["detail"]
    )


def test_alias_of_deleted_version_is_conflict(
    registry: Registry, client: httpx.Client
) -> None:
    versions = copy_model(registry, "gone").parent
    copy_version(registry.root / "ar" / "versions" / "2", versions / "2")
    path = "/v1/models/gone/aliases/prod"
    auth = {"X-API-Key": API_KEY}
    assert client.put(path, json={"version": 2}, headers=auth).status_code == 200
    shutil.rmtree(versions / "2")

    read = client.get(path)
    entry = next(
        m for m in client.get("/v1/models").json()["models"] if m["name"] == "gone"
    )

    assert read.status_code == 409
    assert read.json()["detail"] == (
        "alias 'prod' points at version 2, which does not exist any more; "
        'versions are [1]. PUT /v1/models/gone/aliases/prod with {"version": 1} '
        "or another existing version, or DELETE the alias"
    )
    assert entry["aliases"] == {"prod": 2, "latest": 1}
    assert entry["dangling_aliases"] == ["prod"]

    deleted = client.delete(path, headers=auth)
    entry = next(
        m for m in client.get("/v1/models").json()["models"] if m["name"] == "gone"
    )

    assert deleted.status_code == 200
    assert deleted.json()["version"] == 2
    assert client.get(path).status_code == 404
    assert entry["dangling_aliases"] == []


@pytest.mark.parametrize("headers", [{}, {"X-API-Key": API_KEY}])
def test_health_hides_registry_path(
    registry: Registry, client: httpx.Client, headers: dict[str, str]
) -> None:
    response = client.get("/v1/health", headers=headers)

    assert response.status_code == 200
    assert "registry" not in response.json()
    assert str(registry.root) not in response.text


def test_health_lists_dangling_aliases(registry: Registry, tmp_path: Path) -> None:
    """Check that health names the aliases of a deleted version and stays
    200 with status ok, on a registry of its own that has nothing broken."""
    own = Registry(tmp_path / "registry")
    for version in ("1", "2"):
        copy_version(
            registry.root / "ar" / "versions" / version,
            own.root / "stale" / "versions" / version,
        )
    own.set_alias("stale", "prod", 2)
    own.set_alias("stale", "beta", 2)
    own.set_alias("stale", "stable", 1)
    shutil.rmtree(own.root / "stale" / "versions" / "2")
    server = LiveServer(own.root, {"RNN_FORECAST_API_KEY": API_KEY})
    try:
        before = server.client.get("/v1/health")
        path = "/v1/models/stale/aliases/prod"
        deleted = server.client.delete(path, headers={"X-API-Key": API_KEY})
        after = server.client.get("/v1/health")
    finally:
        server.stop()

    assert before.status_code == 200
    assert before.json()["status"] == "ok"
    assert before.json()["unreadable"] == {}
    assert before.json()["dangling_aliases"] == {"stale": ["beta", "prod"]}
    assert deleted.status_code == 200, deleted.text
    assert after.json()["dangling_aliases"] == {"stale": ["beta"]}


def test_health_reports_corrupt_weights(registry: Registry, tmp_path: Path) -> None:
    """Check that health marks a model whose latest weights no longer match
    their sha256 as unreadable, and clears it once the file is restored."""
    own = Registry(tmp_path / "registry")
    source = registry.root / "ar" / "versions" / "1"
    copy_version(source, own.root / "hurt" / "versions" / "1")
    weights = own.root / "hurt" / "versions" / "1" / "weights.safetensors"
    good = weights.read_bytes()
    server = LiveServer(own.root)
    try:
        before = server.client.get("/v1/health").json()
        weights.write_bytes(good[:-8] + b"\0" * 8)
        corrupt = server.client.get("/v1/health").json()
        forecast = server.client.post("/v1/models/hurt/forecast", json={})
        weights.write_bytes(good)
        restored = server.client.get("/v1/health").json()
    finally:
        server.stop()

    assert before["status"] == "ok"
    assert before["unreadable"] == {}
    assert corrupt["status"] == "degraded"
    assert "weights of hurt:1 do not match the sha256" in corrupt["unreadable"]["hurt"]
    assert "retrain this version" in corrupt["unreadable"]["hurt"]
    assert forecast.status_code == 500
    assert "do not match the sha256" in forecast.json()["detail"]
    assert restored["status"] == "ok"
    assert restored["unreadable"] == {}
