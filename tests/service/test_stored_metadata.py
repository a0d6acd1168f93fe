"""Versions whose metadata.json parses but breaks the schema, and registry
files that change under a running server: the listing, health, the version
route, forecasts and the gradient-flow diagnostic report them alike."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from models.registry import Registry
from service.resolution import RACY_SECONDS
from tests.conftest import copy_version

# ``ar`` versions 1 and 2, tiny LSTMs trained for one epoch, and a server
from tests.service.test_registry_entries import API_KEY, client, registry

__all__ = ["client", "registry"]

FLOW_INPUT = {"source": "bundled", "end": "2019-06-28"}

Edit = Callable[[dict[str, Any]], None]


def set_path(path: str, value: object) -> Edit:
    """Return an edit that sets the dotted ``path`` of the metadata."""
    *parents, last = path.split(".")

    def edit(meta: dict[str, Any]) -> None:
        parent: Any = meta
        for key in parents:
            parent = parent[int(key)] if isinstance(parent, list) else parent[key]
        if isinstance(parent, list):
            parent[int(last)] = value
        else:
            parent[last] = value

    return edit


def keep_only(*keys: str) -> Edit:
    def edit(meta: dict[str, Any]) -> None:
        for key in list(meta):
            if key not in keys:
                del meta[key]

    return edit


def shorten_tail(meta: dict[str, Any]) -> None:
    meta["tail"] = {key: rows[1:] for key, rows in meta["tail"].items()}


def set_width(value: float) -> Edit:
    """Return an edit that sets the first interval half-width to ``value``."""

    def edit(meta: dict[str, Any]) -> None:
        meta["intervals"]["half_widths"][0][0] = value

    return edit


def negative_log_close(meta: dict[str, Any]) -> None:
    meta["spec"]["target"] = "log_return"
    meta["tail"]["close"][0] = -5.0


def swap_tail_dates(meta: dict[str, Any]) -> None:
    dates = meta["tail"]["dates"]
    dates[0], dates[1] = dates[1], dates[0]


# (model name, edit, start of the reason in parentheses that every route reports)
CASES: list[tuple[str, Edit, str]] = [
    ("spec", set_path("spec", "x"), "spec: Input should be a JSON object"),
    ("scaler", set_path("scaler", 5), "scaler: Input should be a JSON object"),
    ("tailnum", set_path("tail", 5), "tail: Input should be a JSON object"),
    ("tailempty", set_path("tail", {}), "tail.dates: Field required"),
    ("tailshort", shorten_tail, "tail has 19 rows but lookback 20 needs 20"),
    ("intervals", set_path("intervals", 5), "intervals: Input should be a JSON"),
    (
        "widths",
        set_path("intervals.half_widths", [[1]]),
        "intervals: half_widths has 1 rows for 97 levels",
    ),
    ("bare", keep_only("name", "version"), "created_at: Field required"),
    (
        "testlist",
        set_path("metrics", {"test": [1]}),
        "metrics.test: Input should be a JSON object",
    ),
    (
        "scalestr",
        set_path("scaler.scale", "x"),
        "scaler.scale: Input should be a valid number",
    ),
    ("target", set_path("spec.target", "close"), "spec.target: Input should be"),
    ("hidden", set_path("model.hidden_size", "8"), "model.hidden_size: Input"),
    ("epochs", set_path("history", [{"loss": 1}]), "history.0.epoch: Field"),
    (
        "moved",
        set_path("name", "ar"),
        "it belongs to version 1 of model 'ar', so the folder",
    ),
    ("notadate", set_path("tail.dates.0", "notadate"), "tail: dates[0]"),
    ("unsorted", swap_tail_dates, "tail: dates[1] is"),
    ("huge", set_path("model.hidden_size", 10**9), "model.hidden_size: Input should"),
    ("layers", set_path("model.num_layers", 50), "model.num_layers: Input should"),
    ("inputs", set_path("model.input_size", 2), "model.input_size: Input should"),
    ("lookback", set_path("spec.lookback", 10**6), "spec.lookback: Input should"),
    ("cell", set_path("model.cell", "tcn"), "model.cell: Input should be"),
    ("speccell", set_path("spec.cell", "tcn"), "spec.cell: Input should be"),
    ("cells", set_path("spec.cell", "gru"), "spec.cell is 'gru' but model.cell"),
    ("lookback1", set_path("spec.lookback", 1), "spec.lookback: Input should be"),
    ("dropout", set_path("model.dropout", 1.0), "model.dropout: Input should be"),
    ("negwidth", set_width(-1.0), "intervals: half_widths[0][0] is -1"),
    ("infwidth", set_width(float("inf")), "intervals: half_widths[0]"),
    ("zeroscale", set_path("scaler.scale", 0.0), "scaler: scale is 0"),
    ("robust", set_path("scaler.kind", "robust"), "scaler.kind: Input should be"),
    ("level", set_path("intervals.levels.0", 1.5), "intervals: levels"),
    ("twice", set_path("intervals.levels.1", 0.01), "intervals: levels"),
    ("bigclose", set_path("tail.close.0", 1e300), "tail: close[0] is"),
    ("negclose", negative_log_close, "tail.close[0] is -5.0 but target"),
    ("wfile", set_path("weights.file", "w.pt"), "weights.file: Input should be"),
]


def copy_ar(registry: Registry, name: str, versions: tuple[int, ...] = (1,)) -> Path:
    """Copy versions of ``ar`` to model ``name``; return its folder."""
    for version in versions:
        copy_version(
            registry.root / "ar" / "versions" / str(version),
            registry.root / name / "versions" / str(version),
        )
    return registry.root / name


def forecast(client: httpx.Client, name: str, version: object) -> httpx.Response:
    return client.post(
        f"/v1/models/{name}/forecast", json={"version": version, "horizon": 2}
    )


def version_responses(client: httpx.Client, name: str) -> list[httpx.Response]:
    """Return the forecast, version and gradient-flow responses for version 1
    of ``name``."""
    flow_body = {"model": {"name": name, "version": 1}, "input": FLOW_INPUT}
    return [
        forecast(client, name, "latest"),
        client.get(f"/v1/models/{name}/versions/1"),
        client.post("/v1/diagnostics/gradient-flow", json=flow_body),
    ]


def listed(client: httpx.Client, name: str) -> dict[str, Any]:
    models = client.get("/v1/models").json()["models"]
    return next(model for model in models if model["name"] == name)


@pytest.mark.parametrize(("name", "edit", "reason"), CASES)
def test_invalid_metadata_reported_alike(
    registry: Registry, client: httpx.Client, name: str, edit: Edit, reason: str
) -> None:
    path = copy_ar(registry, name) / "versions" / "1" / "metadata.json"
    meta = json.loads(path.read_text())
    edit(meta)
    path.write_text(json.dumps(meta))
    expected = f"metadata of {name}:1 is invalid ({reason}"

    responses = version_responses(client, name)
    entry = listed(client, name)
    health = client.get("/v1/health").json()

    for response in responses:
        assert response.status_code == 500, response.text
        assert expected in response.json()["detail"]
        assert f"delete {name}/versions/1 in the registry" in response.text
        assert "diverged" not in response.text
        assert str(registry.root) not in response.text
    assert entry["latest"] is None
    assert expected in entry["error"]
    assert health["status"] == "degraded"
    assert expected in health["unreadable"][name]
    assert listed(client, "ar")["error"] is None


def test_null_scaler_still_called_diverged(
    registry: Registry, client: httpx.Client
) -> None:
    path = copy_ar(registry, "nullscale") / "versions" / "1" / "metadata.json"
    meta = json.loads(path.read_text())
    meta["scaler"]["scale"] = None
    path.write_text(json.dumps(meta))

    response = forecast(client, "nullscale", 1)

    assert response.status_code == 422
    assert "diverged and left scaler.scale not finite" in response.json()["detail"]
    assert listed(client, "nullscale")["error"] is None


def test_removed_latest_metadata_moves_latest(
    registry: Registry, client: httpx.Client
) -> None:
    folder = copy_ar(registry, "gone", versions=(1, 2))
    # a folder changed in the last RACY_SECONDS is read again on every
    # request, so it is dated back to let the resolver cache it
    past = time.time() - 10 * RACY_SECONDS
    os.utime(folder / "versions", (past, past))
    assert forecast(client, "gone", "latest").json()["version"] == 2

    (folder / "versions" / "2" / "metadata.json").unlink()
    after = forecast(client, "gone", "latest")
    again = forecast(client, "gone", "latest")

    assert after.status_code == 200, after.text
    assert after.json()["version"] == 1
    assert again.json()["version"] == 1
    assert forecast(client, "gone", 2).status_code == 404
    assert listed(client, "gone")["latest"]["version"] == 1


def make_alias_folder(path: Path) -> None:
    path.mkdir()


def write_deep_alias_file(path: Path) -> None:
    path.write_text("[" * 5000)


def _file_state(path: Path) -> str | None:
    """Return the text of the file ``path``, or None for a folder."""
    return None if path.is_dir() else path.read_text()


# (model name, how aliases.json breaks, the message every reader gives)
ALIAS_CASES = [
    ("aliasdir", make_alias_folder, "aliases.json in the registry cannot be read"),
    ("aliasdeep", write_deep_alias_file, "aliases.json in the registry is invalid"),
]


@pytest.mark.parametrize(("name", "damage", "message"), ALIAS_CASES)
def test_broken_alias_file_reported(
    registry: Registry,
    client: httpx.Client,
    name: str,
    damage: Callable[[Path], None],
    message: str,
) -> None:
    folder = copy_ar(registry, name)
    damage(folder / "aliases.json")
    damaged = _file_state(folder / "aliases.json")
    message = f"alias file {name}/{message}"

    by_alias = forecast(client, name, "prod")
    put = client.put(
        f"/v1/models/{name}/aliases/prod",
        json={"version": 1},
        headers={"X-API-Key": API_KEY},
    )
    entry = listed(client, name)
    health = client.get("/v1/health")

    assert forecast(client, name, "latest").status_code == 200
    assert forecast(client, name, 1).status_code == 200
    assert by_alias.status_code == 500
    assert message in by_alias.json()["detail"]
    assert put.status_code == 500
    assert message in put.json()["detail"]
    assert _file_state(folder / "aliases.json") == damaged
    assert message in entry["error"]
    assert entry["aliases"] == {"latest": 1}
    assert health.status_code == 200, health.text
    assert message in health.json()["unreadable"][name]


def test_invalid_highest_version_reported(
    registry: Registry, client: httpx.Client
) -> None:
    folder = copy_ar(registry, "highest")
    (folder / "highest_version").write_text("abc\n")
    message = (
        "file highest/highest_version in the registry is invalid: 'abc' is not "
        "a version number"
    )

    entry = listed(client, "highest")
    health = client.get("/v1/health").json()

    assert message in entry["error"]
    assert entry["latest"]["version"] == 1
    assert message in health["unreadable"]["highest"]
    assert forecast(client, "highest", "latest").status_code == 200


# (model name, text of metadata.json, start of the reason in parentheses)
UNPARSABLE = [
    ("deep", "[" * 100_000 + "]" * 100_000, "arrays or objects are nested more"),
    ("nested", "[" * 40 + "]" * 40, "arrays or objects are nested more than 32"),
    ("digits", '{"version": ' + "9" * 5000 + "}", "a number has more than 4300"),
]


@pytest.mark.parametrize(("name", "text", "reason"), UNPARSABLE)
def test_unparsable_metadata_reported_alike(
    registry: Registry, client: httpx.Client, name: str, text: str, reason: str
) -> None:
    path = copy_ar(registry, name) / "versions" / "1" / "metadata.json"
    path.write_text(text)
    expected = f"metadata of {name}:1 is corrupt ({reason}"

    responses = version_responses(client, name)
    models = client.get("/v1/models")
    health = client.get("/v1/health")

    for response in responses:
        assert response.status_code == 500, response.text
        assert expected in response.json()["detail"]
    assert models.status_code == 200, models.text
    assert expected in listed(client, name)["error"]
    assert listed(client, "ar")["error"] is None
    assert health.status_code == 200, health.text
    assert health.json()["status"] == "degraded"
    assert expected in health.json()["unreadable"][name]


def test_long_highest_version_reported(
    registry: Registry, client: httpx.Client
) -> None:
    folder = copy_ar(registry, "highlong")
    (folder / "highest_version").write_text("9" * 5000)
    message = "file highlong/highest_version in the registry is invalid: '999"

    health = client.get("/v1/health")

    assert health.status_code == 200, health.text
    assert message in health.json()["unreadable"]["highlong"]
    assert message in listed(client, "highlong")["error"]
    assert forecast(client, "highlong", "latest").status_code == 200
