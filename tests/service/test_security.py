"""Path traversal, pickle-free loading and the API key in logs."""

from __future__ import annotations

import ast
import http.client
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from pydantic import ValidationError

from models.errors import InvalidInputError
from models.registry import Registry, check_alias, check_name
from service.settings import Settings
from tests.conftest import ROOT, LiveServer
from tests.service.conftest import API_KEY

PROBLEM = "application/problem+json"
# modules that deserialize arbitrary Python objects
UNSAFE_MODULES = {"pickle", "cPickle", "_pickle", "dill", "cloudpickle", "joblib"}
UNSAFE_MODULES |= {"shelve", "marshal"}
# endpoints that need the API key, one of each method
GUARDED = [
    ("PUT", "/v1/models/nflx/aliases/candidate"),
    ("POST", "/v1/training-jobs"),
    ("DELETE", f"/v1/jobs/{'0' * 32}"),
    ("POST", "/v1/series"),
]


@pytest.fixture(scope="module")
def decoy_server(
    trained_registry: Registry, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[LiveServer, Path]]:
    """A server whose registry has a complete model folder beside it, outside
    the registry root: any traversal that escapes the root would serve it."""
    base = tmp_path_factory.mktemp("traversal")
    registry = base / "registry"
    shutil.copytree(trained_registry.root, registry)
    shutil.copytree(trained_registry.root / "nflx", base / "outside")
    env = {
        "RNN_FORECAST_API_KEY": API_KEY,
        "RNN_FORECAST_DATA_DIR": str(base / "data"),
    }
    server = LiveServer(registry, env=env)
    yield server, base
    server.stop()


def raw_request(
    server: LiveServer, method: str, path: str, body: bytes | None = None
) -> tuple[int, str, bytes]:
    """Send ``path`` byte for byte: http.client, unlike httpx, does not
    resolve ``..`` segments or re-encode ``%2e`` before sending."""
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    headers = {"X-API-Key": API_KEY, "Content-Type": "application/json"}
    try:
        connection.request(method, path, body=body, headers=headers)
        response = connection.getresponse()
        return response.status, response.getheader("content-type", ""), response.read()
    finally:
        connection.close()


TRAVERSAL_PATHS = [
    ("GET", "/v1/models/../outside/versions/1"),
    ("GET", "/v1/models/..%2Foutside/versions/1"),
    ("GET", "/v1/models/%2e%2e%2foutside/versions/1"),
    ("GET", "/v1/models/%2E%2E/versions/1"),
    ("GET", "/v1/models/%2e%2e%2f%2e%2e%2foutside/versions/1"),
    ("GET", "/v1/models/nflx/versions/..%2F..%2Foutside"),
    ("GET", "/v1/models/nflx/versions/%2e%2e"),
    ("GET", "/v1/models/%2Ftmp%2Foutside/versions/1"),
    ("GET", "/v1/models//etc/versions/1"),
    ("POST", "/v1/models/..%2Foutside/forecast"),
    ("POST", "/v1/models/%2e%2e%2foutside/forecast"),
    ("POST", "/v1/models/%2Fetc%2Fpasswd/forecast"),
    ("PUT", "/v1/models/nflx/aliases/..%2F..%2Fescaped"),
    ("PUT", "/v1/models/nflx/aliases/%2e%2e"),
    ("PUT", "/v1/models/%2e%2e%2foutside/aliases/prod"),
    ("GET", "/v1/series/..%2F..%2Fetc%2Fpasswd"),
    ("GET", "/v1/series/%2e%2e%2fjobs.db"),
    ("GET", "/v1/training-jobs/..%2F..%2Fjobs.db"),
]


@pytest.mark.parametrize(("method", "path"), TRAVERSAL_PATHS)
def test_traversal_never_leaves_registry(
    decoy_server: tuple[LiveServer, Path], method: str, path: str
) -> None:
    server, base = decoy_server
    body = b'{"version": 1}' if method in ("POST", "PUT") else None
    status, content_type, payload = raw_request(server, method, path, body)
    assert status in (400, 404, 422), (status, payload)
    assert content_type == PROBLEM
    # the decoy's metadata never comes back
    assert b'"spec"' not in payload
    # nothing was written next to the registry
    assert sorted(p.name for p in base.iterdir()) == ["data", "outside", "registry"]
    assert not (base / "outside" / "aliases.json").exists()


@pytest.mark.parametrize(
    "name", ["..", "../outside", "/etc/passwd", "a/b", "nflx\x00", ".hidden", ""]
)
def test_check_name_rejects_paths(name: str) -> None:
    with pytest.raises(InvalidInputError):
        check_name(name)


@pytest.mark.parametrize("alias", ["..", "../x", "/abs", "a/b", "1", "Prod"])
def test_check_alias_rejects_paths(alias: str) -> None:
    with pytest.raises(InvalidInputError):
        check_alias(alias)


def test_registry_reads_reject_traversal(trained_registry: Registry) -> None:
    for name in ("../nflx", str(trained_registry.root / "nflx")):
        with pytest.raises(InvalidInputError):
            trained_registry.versions(name)
        with pytest.raises(InvalidInputError):
            trained_registry.resolve(name, 1)


def python_sources() -> list[Path]:
    return sorted((ROOT / "models").rglob("*.py")) + sorted(
        (ROOT / "service").rglob("*.py")
    )


def unsafe_loads(path: Path) -> list[str]:
    """Imports of object-deserializing modules, ``torch.load`` calls,
    ``allow_pickle`` arguments and ``"pickle"`` serializer names in one file;
    comments and docstrings do not count."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import | ast.ImportFrom):
            modules = [a.name for a in node.names]
            if isinstance(node, ast.ImportFrom) and node.module:
                modules.append(node.module)
            found += [m for m in modules if m.split(".")[0] in UNSAFE_MODULES]
        elif isinstance(node, ast.Attribute) and node.attr == "load":
            if isinstance(node.value, ast.Name) and node.value.id == "torch":
                found.append("torch.load")
        elif isinstance(node, ast.keyword) and node.arg == "allow_pickle":
            found.append("allow_pickle=")
        elif isinstance(node, ast.Constant) and node.value in ("pickle", "dill"):
            found.append(f"{node.value!r} string")
    return [f"{path.relative_to(ROOT)}: {item}" for item in found]


def test_no_pickle_in_sources() -> None:
    sources = python_sources()
    assert len(sources) > 20
    found = [item for path in sources for item in unsafe_loads(path)]
    assert found == []


def test_weights_load_only_with_safetensors() -> None:
    text = (ROOT / "models" / "registry.py").read_text()
    assert "from safetensors.torch import load_file" in text
    assert "torch.load" not in text


def test_api_key_compared_in_constant_time() -> None:
    tree = ast.parse((ROOT / "service" / "auth.py").read_text())
    calls = [
        node.func.attr
        for node in ast.walk(tree)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
    ]
    assert "compare_digest" in calls
    comparisons = [
        node
        for node in ast.walk(tree)
        if isinstance(node, ast.Compare)
        and any(isinstance(op, ast.Eq | ast.NotEq) for op in node.ops)
    ]
    assert comparisons == []


@pytest.mark.parametrize(
    ("key", "problem"),
    [
        ("clé", "contains a character that is not printable ASCII"),
        ("tab\tkey", "contains a character that is not printable ASCII"),
        ("line\nkey", "contains a character that is not printable ASCII"),
        (" padded-key", "starts or ends with a space"),
        ("padded-key ", "starts or ends with a space"),
    ],
)
def test_unsendable_api_key_rejected(key: str, problem: str) -> None:
    with pytest.raises(ValidationError) as caught:
        Settings(api_key=key)

    message = str(caught.value)
    assert f"RNN_FORECAST_API_KEY {problem}" in message
    assert "secrets.token_urlsafe" in message
    assert key not in message


@pytest.mark.parametrize("key", ["", "k3y with inner spaces", "~!@#$%^&*()_+"])
def test_sendable_api_key_kept(key: str) -> None:
    settings = Settings(api_key=key)

    assert settings.api_key is not None
    assert settings.api_key.get_secret_value() == key


def test_api_key_never_logged(strict_server: LiveServer) -> None:
    wrong = "wrong-key-0f9e8d7c6b5a"
    for key in (API_KEY, wrong, None):
        headers = {"X-Request-ID": "key-log-check"}
        if key is not None:
            headers["X-API-Key"] = key
        strict_server.client.put(
            "/v1/models/nflx/aliases/candidate", json={"version": 99}, headers=headers
        )
    metrics = strict_server.client.get("/metrics").text
    output = strict_server.output()

    assert "key-log-check" in output
    assert API_KEY not in output
    assert wrong not in output
    assert API_KEY not in metrics


@pytest.mark.parametrize(("method", "path"), GUARDED)
def test_missing_key_gets_challenge(
    strict_server: LiveServer, method: str, path: str
) -> None:
    missing = strict_server.client.request(method, path, json={"version": 1})
    wrong = strict_server.client.request(
        method, path, json={"version": 1}, headers={"X-API-Key": "wrong-key"}
    )

    assert missing.status_code == 401
    assert missing.headers["www-authenticate"] == 'APIKey header="X-API-Key"'
    assert missing.headers["content-type"] == PROBLEM
    assert wrong.status_code == 403
    assert "www-authenticate" not in wrong.headers


@pytest.mark.parametrize(("method", "path"), GUARDED)
@pytest.mark.parametrize("keys", [(API_KEY, "wrong-key"), (API_KEY, API_KEY)])
def test_repeated_key_rejected(
    strict_server: LiveServer, method: str, path: str, keys: tuple[str, str]
) -> None:
    headers = [("X-API-Key", key) for key in keys]

    response = strict_server.client.request(
        method, path, json={"version": 1}, headers=headers
    )

    assert response.status_code == 400, response.text
    assert response.headers["content-type"] == PROBLEM
    assert response.json()["detail"] == (
        "the X-API-Key header is sent 2 times; send it once, with the service's API key"
    )
    assert API_KEY not in response.text
