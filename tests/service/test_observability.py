"""Request ids, JSON logs and Prometheus metrics of a live server."""

from __future__ import annotations

import json
import logging
import random
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from models.registry import Registry
from service.app import create_app
from service.logging_config import REQUEST_ID, JsonFormatter, RequestIdFilter
from service.middleware import choose_request_id
from service.observability import JobEpochs, Metrics
from service.settings import Settings
from tests.conftest import ROOT, TINY, LiveServer
from tests.service.conftest import API_KEY, DASHBOARD_ORIGIN
from tests.service.jobs_support import finished, start_job_server, wait_for_job

FORECAST_ROUTE = "/v1/models/{name}/forecast"
JOB_KEY = "metrics-key-2d7a"


def samples(server: LiveServer) -> dict[tuple[str, frozenset[Any]], float]:
    """Every sample of ``/metrics`` keyed by name and label set."""
    response = server.client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    found = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            found[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return found


def log_lines(server: LiveServer, timeout: float = 5.0) -> list[dict[str, Any]]:
    """The server's log so far, one parsed JSON object per line; waits for
    the access line of the last request to be flushed."""
    deadline = time.monotonic() + timeout
    while True:
        text = server.output()
        if text.endswith("\n") or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def wait_for_access_line(server: LiveServer, request_id: str) -> dict[str, Any]:
    deadline = time.monotonic() + 5.0
    while time.monotonic() < deadline:
        for entry in log_lines(server):
            if entry.get("request_id") == request_id and "duration_ms" in entry:
                return entry
        time.sleep(0.05)
    raise AssertionError(f"no access log line for request id {request_id}")


def test_request_id_is_echoed(strict_server: LiveServer) -> None:
    response = strict_server.client.get(
        "/v1/health", headers={"X-Request-ID": "trace-42.a:b_c"}
    )
    assert response.headers["x-request-id"] == "trace-42.a:b_c"


def test_invalid_request_id_is_replaced(strict_server: LiveServer) -> None:
    response = strict_server.client.get(
        "/v1/health", headers={"X-Request-ID": "has spaces <script>"}
    )
    assert re.fullmatch(r"[0-9a-f]{32}", response.headers["x-request-id"])


def test_forecast_request_ids(strict_server: LiveServer) -> None:
    """Served and rejected forecasts carry the id as other routes do."""
    path = "/v1/models/nflx/forecast"
    served = strict_server.client.post(
        path, json={"horizon": 2}, headers={"X-Request-ID": "forecast-7"}
    )
    rejected = strict_server.client.post(
        path, json={"horizon": 0}, headers={"X-Request-ID": "forecast-8"}
    )
    replaced = strict_server.client.post(
        path, json={"horizon": 2}, headers={"X-Request-ID": "bad id"}
    )

    assert served.status_code == 200
    assert served.headers["x-request-id"] == "forecast-7"
    assert rejected.status_code == 422
    assert rejected.headers["x-request-id"] == "forecast-8"
    assert re.fullmatch(r"[0-9a-f]{32}", replaced.headers["x-request-id"])


def test_rejected_forecast_logs_one_line_with_its_id(
    strict_server: LiveServer,
) -> None:
    """A request the fast path passes on keeps the id it chose, and only the
    app's middleware logs it."""
    response = strict_server.client.post(
        "/v1/models/nflx/forecast", json={"horizon": "2"}
    )
    request_id = response.headers["x-request-id"]
    entry = wait_for_access_line(strict_server, request_id)
    lines = [
        e
        for e in log_lines(strict_server)
        if e.get("request_id") == request_id and "duration_ms" in e
    ]

    assert response.status_code == 422
    assert entry["status"] == 422
    assert len(lines) == 1


def test_generated_request_ids_differ(strict_server: LiveServer) -> None:
    first = strict_server.client.get("/v1/health").headers["x-request-id"]
    second = strict_server.client.get("/v1/health").headers["x-request-id"]
    assert first != second


def test_every_log_line_is_json(strict_server: LiveServer) -> None:
    strict_server.client.get("/v1/health")
    entries = log_lines(strict_server)
    assert entries
    for entry in entries:
        assert {"time", "level", "logger", "message", "request_id"} <= set(entry)


def test_overflowing_interval_logs_only_json(
    strict_server: LiveServer, trained_registry: Registry
) -> None:
    # closes near the float64 limit lie beyond the range that training scales
    loaded = trained_registry.load("nflx", 1)
    dates = list(loaded.tail_dates)[-40:]
    history = [{"date": d, "close": 1.7e308} for d in dates]
    response = strict_server.client.post(
        "/v1/models/nflx/forecast",
        json={"history": history, "level": 0.9},
        headers={"X-Request-ID": "overflow-5"},
    )
    wait_for_access_line(strict_server, "overflow-5")

    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    for line in strict_server.output().splitlines():
        assert line.startswith("{"), line


def test_access_log_has_request_fields(strict_server: LiveServer) -> None:
    strict_server.client.post(
        "/v1/models/nflx/forecast",
        json={"horizon": 2},
        headers={"X-Request-ID": "access-log-check"},
    )
    entry = wait_for_access_line(strict_server, "access-log-check")
    assert entry["logger"] == "service.access"
    assert entry["level"] == "INFO"
    assert entry["method"] == "POST"
    assert entry["path"] == "/v1/models/nflx/forecast"
    assert entry["route"] == FORECAST_ROUTE
    assert entry["status"] == 200
    assert entry["duration_ms"] > 0


def test_startup_logs_registry_and_models(
    strict_server: LiveServer, trained_registry: Registry
) -> None:
    startup = [e for e in log_lines(strict_server) if "registry" in e]
    assert startup, "no start-up line with the registry"
    assert startup[0]["registry"] == str(trained_registry.root)
    assert startup[0]["models"] == ["nflx", "sine"]
    assert startup[0]["request_id"] is None


def test_pool_thread_logs_keep_request_id(trained_registry: Registry) -> None:
    # with room for one version, the second model's first forecast evicts the
    # first model on a pool thread, inside that request's cache load
    server = LiveServer(
        trained_registry.root, env={"RNN_FORECAST_MODEL_CACHE_SIZE": "1"}
    )
    try:
        first = server.client.post("/v1/models/nflx/forecast", json={})
        second = server.client.post(
            "/v1/models/sine/forecast", json={}, headers={"X-Request-ID": "evict-3"}
        )
        wait_for_access_line(server, "evict-3")
        evictions = [
            entry
            for entry in log_lines(server)
            if entry["message"].startswith("evicted nflx:1")
        ]
    finally:
        server.stop()

    assert first.status_code == 200
    assert second.status_code == 200
    assert len(evictions) == 1
    assert evictions[0]["request_id"] == "evict-3"


def test_request_metrics_by_route_template(strict_server: LiveServer) -> None:
    before = samples(strict_server)
    key = (
        "rnn_forecast_http_requests_total",
        frozenset({"method": "POST", "route": FORECAST_ROUTE, "status": "200"}.items()),
    )
    strict_server.client.post("/v1/models/sine/forecast", json={"horizon": 1})
    strict_server.client.get("/v1/random/path/9f8e")
    after = samples(strict_server)

    assert after[key] == before.get(key, 0) + 1
    unmatched = (
        "rnn_forecast_http_requests_total",
        frozenset({"method": "GET", "route": "unmatched", "status": "404"}.items()),
    )
    assert after[unmatched] >= 1
    assert not any("9f8e" in str(labels) for _, labels in after)


def test_latency_histograms(strict_server: LiveServer) -> None:
    strict_server.client.post("/v1/models/sine/forecast", json={"horizon": 1})
    after = samples(strict_server)
    forecast_count = after[
        (
            "rnn_forecast_forecast_duration_seconds_count",
            frozenset({"model": "sine"}.items()),
        )
    ]
    assert forecast_count >= 1
    request_count = after[
        (
            "rnn_forecast_http_request_duration_seconds_count",
            frozenset(
                {"method": "POST", "route": FORECAST_ROUTE, "status": "200"}.items()
            ),
        )
    ]
    assert request_count >= forecast_count


def test_model_cache_metrics(strict_server: LiveServer) -> None:
    strict_server.client.post("/v1/models/nflx/forecast", json={"horizon": 1})
    before = samples(strict_server)
    strict_server.client.post("/v1/models/nflx/forecast", json={"horizon": 1})
    after = samples(strict_server)

    hits = ("rnn_forecast_model_cache_hits_total", frozenset())
    assert after[hits] == before[hits] + 1
    assert after[("rnn_forecast_model_cache_size", frozenset())] >= 1
    assert after[("rnn_forecast_model_cache_capacity", frozenset())] == 8


def test_apps_have_separate_registries(tmp_path: object) -> None:
    first = create_app(Settings(registry=str(tmp_path)))
    second = create_app(Settings(registry=str(tmp_path)))
    first.state.metrics.observe_request("GET", "/v1/health", 200, 0.01, {})
    assert first.state.metrics.registry is not second.state.metrics.registry
    value = second.state.metrics.registry.get_sample_value(
        "rnn_forecast_http_requests_total",
        {"method": "GET", "route": "/v1/health", "status": "200"},
    )
    assert value is None


def test_json_formatter_fields_and_extra() -> None:
    record = logging.LogRecord(
        "service.test", logging.WARNING, __file__, 1, "job %s failed", ("j1",), None
    )
    record.job_id = "j1"
    token = REQUEST_ID.set("rid-7")
    try:
        RequestIdFilter().filter(record)
    finally:
        REQUEST_ID.reset(token)
    entry = json.loads(JsonFormatter().format(record))
    assert entry["level"] == "WARNING"
    assert entry["logger"] == "service.test"
    assert entry["message"] == "job j1 failed"
    assert entry["request_id"] == "rid-7"
    assert entry["job_id"] == "j1"
    assert entry["time"].endswith("+00:00")


@pytest.fixture(scope="module")
def job_server(
    trained_registry: Registry, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveServer]:
    server, _, _ = start_job_server(
        trained_registry.root,
        tmp_path_factory.mktemp("job-metrics"),
        env={"RNN_FORECAST_API_KEY": JOB_KEY},
    )
    yield server
    server.stop()


def test_job_and_epoch_metrics(job_server: LiveServer) -> None:
    spec = {
        **TINY,
        "name": "metered",
        "epochs": 3,
        "patience": None,
        "target": "price",
        "data": {"source": "synthetic", "generator": "noisy_sine", "length": 400},
    }
    response = job_server.client.post(
        "/v1/training-jobs", json=spec, headers={"X-API-Key": JOB_KEY}
    )
    assert response.status_code == 202, response.text
    done = wait_for_job(job_server.client, response.json()["href"], finished)
    assert done["status"] == "succeeded", done["error"]

    first = samples(job_server)
    second = samples(job_server)
    succeeded = ("rnn_forecast_jobs", frozenset({"state": "succeeded"}.items()))
    running = ("rnn_forecast_jobs", frozenset({"state": "running"}.items()))
    epochs = (
        "rnn_forecast_training_epoch_seconds_count",
        frozenset({"kind": "train"}.items()),
    )
    epoch_sum = (
        "rnn_forecast_training_epoch_seconds_sum",
        frozenset({"kind": "train"}.items()),
    )
    assert first[succeeded] == 1
    assert first[running] == 0
    assert first[epochs] == 3
    assert first[epoch_sum] == pytest.approx(
        sum(row["seconds"] for row in done["history"]), rel=1e-6
    )
    assert second[epochs] == 3

    # the worker process logs JSON lines too, e.g. the registry's write
    loggers = {entry["logger"] for entry in log_lines(job_server)}
    assert "models.registry" in loggers


def test_epoch_tracker_observes_each_epoch_once() -> None:
    metrics = Metrics()
    tracker = metrics.epochs
    tracker.update([JobEpochs("a", "train", [0.5])])
    tracker.update([JobEpochs("a", "train", [0.5, 1.5]), JobEpochs("b", "tune", [])])
    tracker.update([JobEpochs("a", "train", [0.5, 1.5, None])])

    registry = metrics.registry
    labels = {"kind": "train"}
    count = registry.get_sample_value(
        "rnn_forecast_training_epoch_seconds_count", labels
    )
    total = registry.get_sample_value("rnn_forecast_training_epoch_seconds_sum", labels)
    assert count == 2
    assert total == 2.0


LOG_SCRIPT = """
import logging, logging.config
from service.logging_config import REQUEST_ID, log_config
logging.config.dictConfig(log_config({fmt!r}, "INFO"))
logging.getLogger("uvicorn.access").warning("dropped access line")
REQUEST_ID.set("rid-9")
logging.getLogger("service.demo").info("model %s loaded", "nflx", extra={{"n": 2}})
logging.getLogger("service.demo").debug("below the level")
"""


@pytest.mark.parametrize("fmt", ["json", "text"])
def test_log_config_formats(fmt: str) -> None:
    result = subprocess.run(
        [sys.executable, "-c", LOG_SCRIPT.format(fmt=fmt)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    if fmt == "json":
        entry = json.loads(lines[0])
        assert entry["message"] == "model nflx loaded"
        assert entry["request_id"] == "rid-9"
        assert entry["n"] == 2
    else:
        assert re.fullmatch(
            r"\S+ \S+ INFO service\.demo \[rid-9\] model nflx loaded", lines[0]
        ), lines[0]


def test_batch_and_fast_path_metrics(strict_server: LiveServer) -> None:
    """strict_server allows DASHBOARD_ORIGIN, so the fast path serves with
    CORS on."""
    before = samples(strict_server)
    served = strict_server.client.post(
        "/v1/models/nflx/forecast",
        json={"horizon": 1},
        headers={"Origin": DASHBOARD_ORIGIN},
    )
    strict_server.client.post("/v1/models/nflx/forecast", json={"horizon": 0})
    after = samples(strict_server)

    def grew(name: str, **labels: str) -> float:
        key = (name, frozenset(labels.items()))
        return after[key] - before.get(key, 0)

    assert grew("rnn_forecast_forecast_batches_total") == 1
    assert grew("rnn_forecast_forecast_batch_items_total") == 1
    assert after[("rnn_forecast_forecast_batch_largest", frozenset())] >= 1
    assert grew("rnn_forecast_forecast_fast_path_total", outcome="served") == 1
    assert grew("rnn_forecast_forecast_fast_path_total", outcome="passed_on") == 1
    assert served.headers["access-control-allow-origin"] == DASHBOARD_ORIGIN
    help_line = next(
        line
        for line in strict_server.client.get("/metrics").text.splitlines()
        if line.startswith("# HELP rnn_forecast_forecast_fast_path_total ")
    )
    assert "with CORS on or off" in help_line


def test_new_request_ids_ignore_global_seed() -> None:
    """Training seeds the global random module; new ids must not repeat
    after it does."""
    random.seed(0)
    first = choose_request_id(None)
    random.seed(0)
    second = choose_request_id(None)

    assert first != second
    assert re.fullmatch(r"[0-9a-f]{32}", first)
    assert choose_request_id("trace-1") == "trace-1"


def send_half_body(server: LiveServer, method_path: str, request_id: str) -> None:
    """Send a request with the API key that declares a 100-byte JSON body,
    send 11 bytes of it, and close the connection."""
    head = (
        f"{method_path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        f"Content-Length: 100\r\nX-Request-ID: {request_id}\r\n"
        f"X-API-Key: {API_KEY}\r\n\r\n"
    )
    with socket.create_connection(("127.0.0.1", server.port)) as connection:
        connection.sendall(head.encode() + b'{"version":')
        time.sleep(0.2)


@pytest.mark.parametrize(
    ("method_path", "route"),
    [
        ("POST /v1/models/nflx/forecast", FORECAST_ROUTE),
        ("POST /v1/training-jobs", "/v1/training-jobs"),
    ],
)
def test_half_sent_body_counts_as_499(
    strict_server: LiveServer, method_path: str, route: str
) -> None:
    request_id = f"half-{random.getrandbits(32):08x}"
    key = (
        "rnn_forecast_http_requests_total",
        frozenset({"method": "POST", "route": route, "status": "499"}.items()),
    )
    before = samples(strict_server)

    send_half_body(strict_server, method_path, request_id)
    entry = wait_for_access_line(strict_server, request_id)
    after = samples(strict_server)

    assert entry["status"] == 499
    assert entry["route"] == route
    assert after[key] == before.get(key, 0) + 1
