"""CORS: closed unless RNN_FORECAST_CORS_ORIGINS lists origins."""

from __future__ import annotations

import httpx
import pytest

from tests.conftest import LiveServer
from tests.service.conftest import DASHBOARD_ORIGIN

PROBLEM = "application/problem+json"
OTHER_ORIGIN = "https://evil.example"


def send_preflight(
    server: LiveServer,
    path: str,
    method: str,
    request_headers: str | None = None,
    origin: str = DASHBOARD_ORIGIN,
) -> httpx.Response:
    """Send the CORS preflight that a browser at ``origin`` sends before a
    ``method`` request to ``path`` with ``request_headers``."""
    headers = {"Origin": origin, "Access-Control-Request-Method": method}
    if request_headers is not None:
        headers["Access-Control-Request-Headers"] = request_headers
    return server.client.options(path, headers=headers)


def test_cors_closed_by_default(live_server: LiveServer) -> None:
    preflight = send_preflight(
        live_server, "/v1/models/nflx/forecast", "POST", origin=OTHER_ORIGIN
    )
    simple = live_server.client.get("/v1/health", headers={"Origin": OTHER_ORIGIN})
    assert "access-control-allow-origin" not in preflight.headers
    assert preflight.headers["content-type"] == PROBLEM
    assert "access-control-allow-origin" not in simple.headers


def test_cors_allows_configured_origin(cors_server: LiveServer) -> None:
    preflight = send_preflight(
        cors_server, "/v1/models/nflx/forecast", "POST", "content-type"
    )
    simple = cors_server.client.get("/v1/health", headers={"Origin": DASHBOARD_ORIGIN})
    assert preflight.status_code == 200
    assert preflight.headers["access-control-allow-origin"] == DASHBOARD_ORIGIN
    assert simple.headers["access-control-allow-origin"] == DASHBOARD_ORIGIN
    assert "X-Request-ID" in simple.headers["access-control-expose-headers"]


def test_cors_rejects_other_origin(cors_server: LiveServer) -> None:
    preflight = send_preflight(
        cors_server, "/v1/models/nflx/forecast", "POST", origin=OTHER_ORIGIN
    )
    simple = cors_server.client.get("/v1/health", headers={"Origin": OTHER_ORIGIN})
    assert preflight.status_code == 400
    assert preflight.headers["content-type"] == PROBLEM
    assert "origin" in preflight.json()["detail"]
    assert "access-control-allow-origin" not in preflight.headers
    assert "access-control-allow-origin" not in simple.headers


def test_forecast_from_allowed_origin_gets_cors_headers(
    cors_server: LiveServer,
) -> None:
    response = cors_server.client.post(
        "/v1/models/nflx/forecast",
        json={"horizon": 2},
        headers={"Origin": DASHBOARD_ORIGIN},
    )
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == DASHBOARD_ORIGIN
    assert "X-Request-ID" in response.headers["access-control-expose-headers"]


def test_forecast_without_origin_varies_on_origin(cors_server: LiveServer) -> None:
    """With CORS on, every response carries ``Vary: Origin``, valid
    forecasts included, so caches keep one copy per origin."""
    served = cors_server.client.post("/v1/models/nflx/forecast", json={"horizon": 2})
    rejected = cors_server.client.post("/v1/models/nflx/forecast", json={"horizon": 0})
    assert served.status_code == 200
    assert "Origin" in served.headers["vary"]
    assert rejected.status_code == 422
    assert "Origin" in rejected.headers["vary"]


@pytest.mark.parametrize(
    ("method", "path", "header"),
    [
        ("PUT", "/v1/models/nflx/aliases/production", "if-match"),
        ("PUT", "/v1/models/nflx/aliases/production", "if-none-match"),
        ("DELETE", "/v1/models/nflx/aliases/production", "if-match"),
        ("DELETE", "/v1/jobs/0123456789abcdef0123456789abcdef", "if-match"),
    ],
)
def test_preflight_allows_precondition_headers(
    cors_server: LiveServer, method: str, path: str, header: str
) -> None:
    preflight = send_preflight(
        cors_server, path, method, f"content-type,x-api-key,{header}"
    )

    assert preflight.status_code == 200, preflight.text
    allowed = preflight.headers["access-control-allow-headers"].lower()
    assert header in allowed.split(", ")


def test_fast_and_app_paths_expose_same_headers(cors_server: LiveServer) -> None:
    origin = {"Origin": DASHBOARD_ORIGIN}
    fast = cors_server.client.post(
        "/v1/models/nflx/forecast", json={"horizon": 2}, headers=origin
    )
    app = cors_server.client.get("/v1/health", headers=origin)

    assert fast.status_code == 200
    assert app.status_code == 200
    exposed = app.headers["access-control-expose-headers"]
    assert fast.headers["access-control-expose-headers"] == exposed
    for header in ("X-Request-ID", "ETag", "Location", "Retry-After"):
        assert header in exposed.split(", ")


def test_preflight_needs_no_api_key(strict_server: LiveServer) -> None:
    preflight = send_preflight(
        strict_server, "/v1/training-jobs", "POST", "content-type, x-api-key"
    )

    assert preflight.status_code == 200, preflight.text
    assert preflight.headers["access-control-allow-origin"] == DASHBOARD_ORIGIN
    assert "x-api-key" in preflight.headers["access-control-allow-headers"].lower()


def test_401_readable_from_allowed_origin(strict_server: LiveServer) -> None:
    response = strict_server.client.post(
        "/v1/training-jobs", content=b"not json", headers={"Origin": DASHBOARD_ORIGIN}
    )

    assert response.status_code == 401, response.text
    assert response.headers["access-control-allow-origin"] == DASHBOARD_ORIGIN
