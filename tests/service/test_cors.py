"""CORS: closed unless RNN_FORECAST_CORS_ORIGINS lists origins."""

from __future__ import annotations

from tests.conftest import LiveServer
from tests.service.conftest import DASHBOARD_ORIGIN

PROBLEM = "application/problem+json"


def test_cors_closed_by_default(live_server: LiveServer) -> None:
    preflight = live_server.client.options(
        "/v1/models/nflx/forecast",
        headers={
            "Origin": "https://evil.example",
            "Access-Control-Request-Method": "POST",
        },
    )
    simple = live_server.client.get(
        "/v1/health", headers={"Origin": "https://evil.example"}
    )
    assert "access-control-allow-origin" not in preflight.headers
    assert preflight.headers["content-type"] == PROBLEM
    assert "access-control-allow-origin" not in simple.headers


def test_cors_allows_configured_origin(strict_server: LiveServer) -> None:
    preflight = strict_server.client.options(
        "/v1/models/nflx/forecast",
        headers={
            "Origin": DASHBOARD_ORIGIN,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type",
        },
    )
    simple = strict_server.client.get(
        "/v1/health", headers={"Origin": DASHBOARD_ORIGIN}
    )
    assert preflight.status_code == 200
    assert preflight.headers["access-control-allow-origin"] == DASHBOARD_ORIGIN
    assert simple.headers["access-control-allow-origin"] == DASHBOARD_ORIGIN
    assert "X-Request-ID" in simple.headers["access-control-expose-headers"]


def test_cors_rejects_other_origin(strict_server: LiveServer) -> None:
    preflight = strict_server.client.options(
        "/v1/models/nflx/forecast",
        headers={
            "Origin": "https://evil.example",
            "Access-Control-Request-Method": "POST",
        },
    )
    simple = strict_server.client.get(
        "/v1/health", headers={"Origin": "https://evil.example"}
    )
    assert preflight.status_code == 400
    assert preflight.headers["content-type"] == PROBLEM
    assert "origin" in preflight.json()["detail"]
    assert "access-control-allow-origin" not in preflight.headers
    assert "access-control-allow-origin" not in simple.headers


def test_forecast_from_allowed_origin_gets_cors_headers(
    strict_server: LiveServer,
) -> None:
    response = strict_server.client.post(
        "/v1/models/nflx/forecast",
        json={"horizon": 2},
        headers={"Origin": DASHBOARD_ORIGIN},
    )
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == DASHBOARD_ORIGIN
    assert "X-Request-ID" in response.headers["access-control-expose-headers"]
