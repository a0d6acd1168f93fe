"""Alias updates and ETags of the model resources over real HTTP."""

from __future__ import annotations

import contextlib
import json
import os
import threading
import time
from collections.abc import Iterator

import httpx
import pytest

from models.pipeline import train_and_register
from models.registry import Registry
from tests.conftest import LiveServer, tiny_spec
from tests.service.jobs_support import start_job_server

API_KEY = "alias-test-key-71c3"
AUTH = {"X-API-Key": API_KEY}
PROBLEM = "application/problem+json"


@pytest.fixture(scope="module")
def alias_server(
    trained_registry: Registry, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[LiveServer, Registry]]:
    """A server on a copy of the registry where ``nflx`` has versions 1 and 2."""
    server, registry, _ = start_job_server(
        trained_registry.root,
        tmp_path_factory.mktemp("aliases"),
        {"RNN_FORECAST_API_KEY": API_KEY},
    )
    copy = Registry(registry)
    train_and_register(tiny_spec(name="nflx", seed=7), copy)
    yield server, copy
    server.stop()


@pytest.fixture
def client(alias_server: tuple[LiveServer, Registry]) -> httpx.Client:
    return alias_server[0].client


def put_alias(client: httpx.Client, alias: str, body: object) -> httpx.Response:
    return client.put(f"/v1/models/nflx/aliases/{alias}", json=body, headers=AUTH)


def forecast_version(client: httpx.Client, ref: str) -> int:
    response = client.post("/v1/models/nflx/forecast", json={"version": ref})
    assert response.status_code == 200, response.text
    return int(response.json()["version"])


def test_alias_switches_forecasts(client: httpx.Client) -> None:
    response = put_alias(client, "production", {"version": 1})
    assert response.status_code == 200, response.text
    assert response.json()["aliases"] == {"production": 1, "latest": 2}
    assert forecast_version(client, "production") == 1

    assert put_alias(client, "production", {"version": 2}).status_code == 200
    assert forecast_version(client, "production") == 2
    meta = client.get("/v1/models/nflx/versions/production").json()
    assert meta["version"] == 2
    assert meta["aliases"] == ["latest", "production"]


def test_alias_flip_during_forecasts(client: httpx.Client) -> None:
    put_alias(client, "canary", {"version": 1})
    stop = threading.Event()
    flips: list[int] = []

    def flip() -> None:
        with httpx.Client(base_url=str(client.base_url), timeout=30) as own:
            while not stop.is_set():
                version = 2 if len(flips) % 2 == 0 else 1
                own.put(
                    "/v1/models/nflx/aliases/canary",
                    json={"version": version},
                    headers=AUTH,
                )
                flips.append(version)

    thread = threading.Thread(target=flip)
    thread.start()
    seen: set[int] = set()
    deadline = time.monotonic() + 30
    try:
        # at least 40 forecasts, and on until two switches have landed
        count = 0
        while count < 40 or (len(flips) < 2 and time.monotonic() < deadline):
            seen.add(forecast_version(client, "canary"))
            count += 1
    finally:
        stop.set()
        thread.join()

    assert len(flips) >= 2
    assert seen <= {1, 2}


@pytest.mark.parametrize(
    ("alias", "body", "status", "text"),
    [
        ("latest", {"version": 1}, 422, "cannot be set"),
        ("Prod!", {"version": 1}, 422, "alias 'Prod!' is invalid"),
        ("production", {"version": 9}, 404, "has no version 9; versions are [1, 2]"),
        ("production", {"version": 0}, 422, "version 0 is invalid because versions"),
        ("production", {"version": 1, "note": "x"}, 422, "note"),
        ("production", {}, 422, "version"),
        ("production", {"version": True}, 422, "true is a boolean"),
        ("production", {"version": "1"}, 422, "version '1' is a string"),
        ("production", {"version": 1.0}, 422, "1.0 has a decimal point"),
        ("production", {"version": 10**9}, 422, "above the largest version"),
    ],
)
def test_invalid_alias_update_rejected(
    client: httpx.Client, alias: str, body: object, status: int, text: str
) -> None:
    response = put_alias(client, alias, body)
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM
    assert text in response.text


def test_alias_of_unknown_model_not_found(client: httpx.Client) -> None:
    response = client.put(
        "/v1/models/ghost/aliases/production", json={"version": 1}, headers=AUTH
    )
    assert response.status_code == 404
    assert "model 'ghost' not found" in response.json()["detail"]


def test_alias_update_needs_key(client: httpx.Client) -> None:
    missing = client.put("/v1/models/nflx/aliases/production", json={"version": 1})
    wrong = client.put(
        "/v1/models/nflx/aliases/production",
        json={"version": 1},
        headers={"X-API-Key": API_KEY + "x"},
    )
    assert missing.status_code == 401
    assert wrong.status_code == 403


def test_model_list_etag_changes_with_alias(client: httpx.Client) -> None:
    first = client.get("/v1/models")
    etag = first.headers["etag"]

    unchanged = client.get("/v1/models", headers={"If-None-Match": etag})
    assert unchanged.status_code == 304
    assert unchanged.content == b""

    put_alias(client, "etag-check", {"version": 1})
    changed = client.get("/v1/models", headers={"If-None-Match": etag})
    assert changed.status_code == 200
    assert changed.headers["etag"] != etag
    assert changed.json()["models"][0]["aliases"]["etag-check"] == 1


def test_version_etag_answers_304(client: httpx.Client) -> None:
    first = client.get("/v1/models/nflx/versions/1")
    etag = first.headers["etag"]

    again = client.get("/v1/models/nflx/versions/1", headers={"If-None-Match": etag})
    other = client.get("/v1/models/nflx/versions/2", headers={"If-None-Match": etag})

    assert again.status_code == 304
    assert again.headers["etag"] == etag
    assert other.status_code == 200
    assert other.headers["etag"] != etag


def alias_path(alias: str) -> str:
    return f"/v1/models/nflx/aliases/{alias}"


def test_alias_read_with_etag(client: httpx.Client) -> None:
    put_alias(client, "reading", {"version": 2})

    found = client.get(alias_path("reading"))
    etag = found.headers["etag"]
    again = client.get(alias_path("reading"), headers={"If-None-Match": etag})
    missing = client.get(alias_path("absent"))

    assert found.status_code == 200
    assert found.json() == {"name": "nflx", "alias": "reading", "version": 2}
    assert etag == '"version-2"'
    assert again.status_code == 304
    assert missing.status_code == 404
    assert missing.headers["content-type"] == PROBLEM
    assert "has no alias 'absent'" in missing.json()["detail"]


def test_alias_if_match_lines_joined(client: httpx.Client) -> None:
    put_alias(client, "lines", {"version": 1})
    seen = client.get(alias_path("lines")).headers["etag"]
    headers = httpx.Headers(AUTH)
    headers.update({"If-Match": '"version-9"'})

    response = client.put(
        alias_path("lines"),
        json={"version": 2},
        headers=[*headers.multi_items(), ("If-Match", seen)],
    )

    assert response.status_code == 200, response.text
    assert client.get(alias_path("lines")).json()["version"] == 2


def test_alias_put_if_match(client: httpx.Client) -> None:
    put_alias(client, "guarded", {"version": 1})
    seen = client.get(alias_path("guarded")).headers["etag"]

    bogus = client.put(
        alias_path("guarded"),
        json={"version": 2},
        headers={**AUTH, "If-Match": '"bogus"'},
    )
    after_bogus = client.get(alias_path("guarded")).json()["version"]
    moved = client.put(
        alias_path("guarded"), json={"version": 2}, headers={**AUTH, "If-Match": seen}
    )
    stale = client.put(
        alias_path("guarded"), json={"version": 1}, headers={**AUTH, "If-Match": seen}
    )
    weak = client.put(
        alias_path("guarded"),
        json={"version": 1},
        headers={**AUTH, "If-Match": 'W/"version-2"'},
    )

    assert bogus.status_code == 412
    assert bogus.headers["content-type"] == PROBLEM
    assert bogus.headers["etag"] == seen
    assert "does not match the current ETag" in bogus.json()["detail"]
    assert after_bogus == 1
    assert moved.status_code == 200, moved.text
    assert moved.json()["version"] == 2
    assert stale.status_code == 412
    assert stale.headers["etag"] == '"version-2"'
    assert weak.status_code == 412
    # the weak form of the current tag gets the strong tag to send
    assert weak.json()["detail"] == (
        'If-Match W/"version-2" lists the current ETag "version-2" only as a '
        "weak tag, but If-Match compares entity tags strongly, so a weak tag "
        'never matches; send If-Match: "version-2", or leave the header out'
    )
    assert client.get(alias_path("guarded")).json()["version"] == 2


def test_alias_put_if_none_match(client: httpx.Client) -> None:
    star = {**AUTH, "If-None-Match": "*"}
    created = client.put(alias_path("create-only"), json={"version": 1}, headers=star)
    overwrite = client.put(alias_path("create-only"), json={"version": 2}, headers=star)
    absent = client.put(
        alias_path("never-made"), json={"version": 1}, headers={**AUTH, "If-Match": "*"}
    )

    assert created.status_code == 200, created.text
    assert overwrite.status_code == 412
    assert overwrite.headers["etag"] == '"version-1"'
    assert "exists with ETag" in overwrite.json()["detail"]
    assert client.get(alias_path("create-only")).json()["version"] == 1
    assert absent.status_code == 412
    assert "etag" not in absent.headers
    assert absent.json()["detail"].startswith(
        "If-Match '*' requires an existing resource, but there is none"
    )
    assert client.get(alias_path("never-made")).status_code == 404


def test_alias_delete(client: httpx.Client) -> None:
    put_alias(client, "retired", {"version": 1})
    put_alias(client, "kept", {"version": 2})

    deleted = client.delete(alias_path("retired"), headers=AUTH)
    again = client.delete(alias_path("retired"), headers=AUTH)

    assert deleted.status_code == 200, deleted.text
    body = deleted.json()
    assert body["version"] == 1
    assert "retired" not in body["aliases"]
    assert body["aliases"]["kept"] == 2
    assert client.get(alias_path("retired")).status_code == 404
    assert forecast_version(client, "1") == 1
    assert again.status_code == 404
    assert again.headers["content-type"] == PROBLEM
    stored = client.get("/v1/models").json()["models"][0]["aliases"]
    assert again.json()["detail"] == (
        "model 'nflx' has no alias 'retired'; the aliases that can be deleted "
        f"are {sorted(name for name in stored if name != 'latest')}"
    )
    assert "'latest'" not in again.json()["detail"]


def test_alias_put_returns_etag(client: httpx.Client) -> None:
    first = put_alias(client, "chained", {"version": 1})
    second = client.put(
        alias_path("chained"),
        json={"version": 2},
        headers={**AUTH, "If-Match": first.headers["etag"]},
    )

    assert first.status_code == 200, first.text
    assert first.headers["etag"] == '"version-1"'
    assert second.status_code == 200, second.text
    assert second.headers["etag"] == '"version-2"'


START = "is not * or a list of entity tags, which are written in double quotes"


@pytest.mark.parametrize(
    ("name", "value", "fix"),
    [
        (
            "If-Match",
            "version-1",
            'send If-Match: "version-1" (W/"version-1" for a weak tag) or '
            "If-Match: *, or leave the header out",
        ),
        (
            "If-Match",
            '"version-1", W/x',
            'send If-Match: "version-1", W/"x" or If-Match: *, or leave the header out',
        ),
        (
            "If-Match",
            "",
            'as in If-Match: "v1" or W/"v1"; send the ETag of the resource, or '
            "If-Match: *, or leave the header out",
        ),
        (
            "If-None-Match",
            "version-1",
            'send If-None-Match: "version-1" (W/"version-1" for a weak tag) or '
            "If-None-Match: *, or leave the header out",
        ),
    ],
)
@pytest.mark.parametrize("alias", ["quoted", "never-quoted"])
def test_unquoted_precondition_is_bad_request(
    client: httpx.Client, name: str, value: str, fix: str, alias: str
) -> None:
    put_alias(client, "quoted", {"version": 1})

    response = client.put(
        alias_path(alias), json={"version": 2}, headers={**AUTH, name: value}
    )

    assert response.status_code == 400, response.text
    assert response.headers["content-type"] == PROBLEM
    separator = ", " if fix.startswith("as in") else "; "
    assert response.json()["detail"] == f"{name} {value!r} {START}{separator}{fix}"
    assert client.get(alias_path("quoted")).json()["version"] == 1
    assert client.get(alias_path("never-quoted")).status_code == 404


@pytest.mark.parametrize(
    ("body", "headers"),
    [
        (b'{"version": ', {}),
        (b'{"version": 1, "version": 2}', {}),
        (b"null", {}),
        (b'{"version": "two"}', {}),
        (b'{"version": 2}', {"Content-Encoding": "gzip"}),
        (b'{"version": 2}', {"Content-Type": "text/plain"}),
    ],
)
@pytest.mark.parametrize("name", ["If-Match", "If-None-Match"])
def test_precondition_checked_before_body(
    client: httpx.Client, body: bytes, headers: dict[str, str], name: str
) -> None:
    put_alias(client, "early", {"version": 1})

    response = client.put(
        alias_path("early"),
        content=body,
        headers={
            **AUTH,
            "Content-Type": "application/json",
            **headers,
            name: "version-1",
        },
    )

    assert response.status_code == 400, response.text
    assert response.headers["content-type"] == PROBLEM
    assert response.headers["connection"] == "close"
    assert response.json()["detail"].startswith(f"{name} 'version-1' {START}")
    assert client.get(alias_path("early")).json()["version"] == 1


def test_alias_delete_checks(client: httpx.Client) -> None:
    put_alias(client, "protected", {"version": 1})

    no_key = client.delete(alias_path("protected"))
    latest = client.delete(alias_path("latest"), headers=AUTH)
    stale = client.delete(
        alias_path("protected"), headers={**AUTH, "If-Match": '"version-2"'}
    )
    unknown_model = client.delete("/v1/models/absent/aliases/protected", headers=AUTH)
    matched = client.delete(
        alias_path("protected"), headers={**AUTH, "If-Match": '"version-1"'}
    )

    assert no_key.status_code == 401
    assert latest.status_code == 422
    assert (
        "'latest' always means the highest version and cannot be deleted"
        in (latest.json()["detail"])
    )
    assert stale.status_code == 412
    assert stale.headers["etag"] == '"version-1"'
    assert unknown_model.status_code == 404
    assert matched.status_code == 200, matched.text


@pytest.mark.parametrize("header", ["If-Match", "If-None-Match"])
def test_alias_delete_absent_with_precondition(
    client: httpx.Client, header: str
) -> None:
    response = client.delete(alias_path("never-set"), headers={**AUTH, header: "*"})

    assert response.status_code == 404, response.text
    assert response.json()["detail"].startswith("model 'nflx' has no alias 'never-set'")
    assert client.get(alias_path("protected")).status_code == 404


@contextlib.contextmanager
def alias_churn(registry: Registry, alias: str) -> Iterator[list[int]]:
    """Point ``alias`` of ``nflx`` at versions 1 and 2 in turn until the
    block ends, and yield the list of versions set so far.

    The alias file is replaced directly, without the registry's lock and
    as fast as the loop runs, so another writer's change always lands
    right after the lock of a request's own change is released.
    """
    stop = threading.Event()
    flips: list[int] = []
    path = registry.root / "nflx" / "aliases.json"
    staged = path.with_name("aliases.json.churn")
    before = path.read_bytes() if path.exists() else None

    def flip() -> None:
        while not stop.is_set():
            version = 1 + len(flips) % 2
            staged.write_text(json.dumps({alias: version}))
            os.replace(staged, path)
            flips.append(version)

    thread = threading.Thread(target=flip)
    thread.start()
    try:
        yield flips
    finally:
        stop.set()
        thread.join()
        if before is None:
            path.unlink()
        else:
            path.write_bytes(before)


def test_alias_put_reports_own_change(
    alias_server: tuple[LiveServer, Registry],
) -> None:
    """Each PUT's ``aliases`` contains the version that this PUT set, even
    while another writer moves the same alias."""
    server, registry = alias_server
    answers: list[tuple[int, int]] = []
    with alias_churn(registry, "contested") as flips:
        for index in range(60):
            response = put_alias(server.client, "contested", {"version": 2 - index % 2})
            assert response.status_code == 200, response.text
            body = response.json()
            answers.append((body["version"], body["aliases"]["contested"]))

    assert len(flips) > 60
    assert [listed for _, listed in answers] == [sent for sent, _ in answers]


def test_alias_delete_reports_own_change(
    alias_server: tuple[LiveServer, Registry],
) -> None:
    """A DELETE's ``aliases`` lacks the deleted alias, even while another
    writer sets it again at once."""
    server, registry = alias_server
    listed: list[dict[str, int]] = []
    with alias_churn(registry, "revolving"):
        for _ in range(600):
            if len(listed) == 60:
                break
            response = server.client.delete(alias_path("revolving"), headers=AUTH)
            if response.status_code == 404:
                continue
            assert response.status_code == 200, response.text
            listed.append(response.json()["aliases"])

    assert len(listed) == 60
    assert [aliases for aliases in listed if "revolving" in aliases] == []
