"""Content negotiation: an ``Accept`` header that rules out every media type
an endpoint sends gets 406 before the route runs, and error responses are
problem+json whatever the header lists."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from service.negotiation import acceptable, parse_accept, quality
from service.routes.diagnostics import prefers_png
from tests.conftest import ROOT, LiveServer

PROBLEM = "application/problem+json"
JSON = "application/json"
# a scraper's Accept header that prefers OpenMetrics to the text format
PROMETHEUS_ACCEPT = (
    "application/openmetrics-text;version=1.0.0;escaping=underscores;q=0.5,"
    "application/openmetrics-text;version=0.0.1;q=0.4,"
    "text/plain;version=1.0.0;escaping=underscores;q=0.3,"
    "text/plain;version=0.0.4;q=0.2,*/*;q=0.1"
)

JSON_ACCEPTED = [
    None,
    "",
    "*/*",
    "application/*",
    "application/json",
    "APPLICATION/JSON",
    "application/problem+json",
    "application/json, text/plain, */*",
    "text/html, application/json;q=0.5",
    "text/html;q=0.9, */*;q=0.001",
    "application/json ; charset=utf-8 ; q=1.0",
    # no valid media range, which counts as no header
    "json",
    "text/html;q=2",
    "*/json",
]
JSON_REJECTED = [
    "text/html",
    "image/png, text/*",
    "*/*;q=0",
    "text/html, application/json;q=0",
    "application/*;q=0, */*",
    "application/json;q=0, application/problem+json",
    "text/html;q=0.5, application/json;q=0.000",
]


@pytest.mark.parametrize("accept", JSON_ACCEPTED)
def test_json_accepted(accept: str | None) -> None:
    assert acceptable(accept, [JSON])


@pytest.mark.parametrize("accept", JSON_REJECTED)
def test_json_rejected(accept: str) -> None:
    assert not acceptable(accept, [JSON])


def test_quality_of_most_specific_range() -> None:
    ranges = parse_accept("text/*;q=0.3, text/plain;q=0.7, */*;q=0.1")

    assert quality(ranges, "text/plain") == 0.7
    assert quality(ranges, "text/plain; version=0.0.4") == 0.7
    assert quality(ranges, "text/html") == 0.3
    assert quality(ranges, "image/png") == 0.1
    assert quality(parse_accept("text/html"), "image/png") == 0.0


def test_invalid_ranges_skipped() -> None:
    ranges = parse_accept("text, */html, image/png;q=1.5, a b/c, text/csv;q=0.25")

    assert [(r.type, r.subtype, r.quality) for r in ranges] == [("text", "csv", 0.25)]


def test_other_media_types_accepted() -> None:
    assert acceptable(PROMETHEUS_ACCEPT, ["text/plain"])
    assert acceptable("image/*", [JSON, "image/png"])
    assert not acceptable(JSON, ["text/plain"])
    assert not acceptable("application/problem+json", ["image/png"])


def test_png_preferred_by_most_specific_range() -> None:
    assert not prefers_png("image/*;q=0.9, image/png;q=0.1, application/json;q=0.5")
    assert prefers_png("image/png, application/problem+json")
    assert prefers_png("application/json;q=0.5, image/*")
    assert not prefers_png("image/png, application/json")
    assert not prefers_png(None)


def documented_operations() -> list[tuple[str, str]]:
    """Return the method and a request path of every operation of the
    committed OpenAPI document."""
    document: dict[str, Any] = json.loads((ROOT / "openapi.json").read_text())
    return [
        (method.upper(), re.sub(r"\{[^}]+\}", "a1", template))
        for template, path_item in document["paths"].items()
        for method in path_item
    ]


@pytest.mark.parametrize(("method", "path"), documented_operations())
def test_html_only_accept_gets_406(
    live_server: LiveServer, method: str, path: str
) -> None:
    response = live_server.client.request(
        method, path, json={}, headers={"Accept": "text/html"}
    )

    assert response.status_code == 406, response.text
    assert response.headers["content-type"] == PROBLEM
    problem = response.json()
    assert problem["title"] == "Not Acceptable"
    assert "Accept 'text/html' allows none of the media types" in problem["detail"]


def job_ids(server: LiveServer) -> list[str]:
    """Return the ids of the server's newest training jobs."""
    page = server.client.get("/v1/training-jobs").json()
    return [job["id"] for job in page["jobs"]]


def test_406_comes_before_the_route(live_server: LiveServer) -> None:
    before = job_ids(live_server)

    response = live_server.client.post(
        "/v1/training-jobs", json={"epochs": 1}, headers={"Accept": "text/html"}
    )

    assert response.status_code == 406, response.text
    assert job_ids(live_server) == before


@pytest.mark.parametrize("accept", [a for a in JSON_ACCEPTED if a is not None])
def test_json_endpoints_serve_accepted(live_server: LiveServer, accept: str) -> None:
    health = live_server.client.get("/v1/health", headers={"Accept": accept})
    forecast = live_server.client.post(
        "/v1/models/nflx/forecast", json={"horizon": 2}, headers={"Accept": accept}
    )

    assert health.status_code == 200, health.text
    assert forecast.status_code == 200, forecast.text


def test_forecast_fast_path_rejects_html(live_server: LiveServer) -> None:
    response = live_server.client.post(
        "/v1/models/nflx/forecast", json={"horizon": 2}, headers={"Accept": "text/html"}
    )

    assert response.status_code == 406, response.text
    assert "(application/json)" in response.json()["detail"]


def test_repeated_accept_headers_joined(live_server: LiveServer) -> None:
    headers = [("Accept", "text/html"), ("Accept", JSON)]

    health = live_server.client.get("/v1/health", headers=headers)
    forecast = live_server.client.post(
        "/v1/models/nflx/forecast", json={"horizon": 2}, headers=headers
    )

    assert health.status_code == 200, health.text
    assert forecast.status_code == 200, forecast.text


def test_metrics_negotiated_as_text(live_server: LiveServer) -> None:
    scraped = live_server.client.get("/metrics", headers={"Accept": PROMETHEUS_ACCEPT})
    as_json = live_server.client.get("/metrics", headers={"Accept": JSON})

    assert scraped.status_code == 200, scraped.text
    assert scraped.headers["content-type"].startswith("text/plain")
    assert as_json.status_code == 406, as_json.text
    assert "(text/plain)" in as_json.json()["detail"]


def test_png_endpoint_negotiated(live_server: LiveServer) -> None:
    path = "/v1/models/sine/versions/1/gradients.png"

    png = live_server.client.get(path, headers={"Accept": "image/*"})
    as_json = live_server.client.get(path, headers={"Accept": JSON})

    assert png.status_code == 200, png.text
    assert png.headers["content-type"] == "image/png"
    assert as_json.status_code == 406, as_json.text


def test_docs_pages_negotiated(live_server: LiveServer) -> None:
    page = live_server.client.get("/docs", headers={"Accept": "text/html"})
    document = live_server.client.get("/openapi.json", headers={"Accept": JSON})
    page_as_json = live_server.client.get("/docs", headers={"Accept": JSON})

    assert page.status_code == 200
    assert document.status_code == 200
    assert page_as_json.status_code == 406


def test_head_gets_406_without_body(live_server: LiveServer) -> None:
    response = live_server.client.head("/v1/health", headers={"Accept": "text/html"})

    assert response.status_code == 406
    assert response.headers["content-type"] == PROBLEM
    assert response.content == b""


def test_errors_sent_whatever_accept_lists(live_server: LiveServer) -> None:
    unknown_version = live_server.client.get(
        "/v1/models/nflx/versions/99", headers={"Accept": JSON}
    )
    unknown_route = live_server.client.get(
        "/v1/nowhere", headers={"Accept": "text/html"}
    )
    wrong_method = live_server.client.patch(
        "/v1/health", headers={"Accept": "text/html"}
    )

    assert unknown_version.status_code == 404
    assert unknown_version.headers["content-type"] == PROBLEM
    assert unknown_route.status_code == 404
    assert unknown_route.headers["content-type"] == PROBLEM
    assert wrong_method.status_code == 405
    assert wrong_method.headers["content-type"] == PROBLEM
