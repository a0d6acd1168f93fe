"""Access log lines written directly equal those that go through logging.

The tests build a logger tree of their own (a root, ``service`` and
``service.access``), because pytest adds its capture handlers to the
process's root logger, which sends the app's access lines through
``logging``. The last tests start real servers in text format and at
level WARNING, where the lines must take the ``logging`` path.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import logging
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from models.registry import Registry
from service.access_log import direct_handler, utc_milliseconds, write_access_line
from service.logging_config import REQUEST_ID, JsonFormatter, RequestIdFilter
from tests.conftest import LiveServer

NOW = 1_764_900_000.123456
ROUTE = "/v1/models/{name}/forecast"


class PassAll(logging.Filter):
    """A filter that keeps every record; its presence alone sends access
    lines through ``logging``."""

    def filter(self, record: logging.LogRecord) -> bool:
        return True


@dataclass
class Tree:
    """A root logger with the server's JSON handler on ``stream``, and the
    ``service`` and ``service.access`` loggers below it."""

    root: logging.Logger
    service: logging.Logger
    access: logging.Logger
    stream: io.StringIO

    def lines(self) -> list[str]:
        return self.stream.getvalue().splitlines()


def server_handler(stream: io.StringIO) -> logging.StreamHandler:  # type: ignore[type-arg]
    """The handler that ``log_config("json", ...)`` builds, on ``stream``."""
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(RequestIdFilter())
    return handler


@pytest.fixture
def tree(monkeypatch: pytest.MonkeyPatch) -> Iterator[Tree]:
    """A fresh logger tree at INFO, with the clock fixed at ``NOW`` and the
    request id ``req-1``."""
    stream = io.StringIO()
    root = logging.RootLogger(logging.INFO)
    root.addHandler(server_handler(stream))
    service = logging.Logger("service")
    service.parent = root
    access = logging.Logger("service.access")
    access.parent = service
    monkeypatch.setattr(time, "time", lambda: NOW)
    token = REQUEST_ID.set("req-1")
    yield Tree(root, service, access, stream)
    REQUEST_ID.reset(token)


def write(tree: Tree, path: str = "/v1/health", status: int = 200) -> None:
    write_access_line("GET", path, ROUTE, status, 0.0015, logger=tree.access)


@pytest.mark.parametrize(
    ("method", "path", "status", "seconds"),
    [
        ("POST", "/v1/models/nflx/forecast", 200, 0.000586),
        ("GET", '/v1/models/"quoted"\\name', 404, 12.5),
        ("DELETE", "/v1/models/n\u00e9e/aliases/x\u2028", 409, 0.0),
    ],
)
def test_direct_line_equals_the_logging_line(
    tree: Tree, method: str, path: str, status: int, seconds: float
) -> None:
    assert direct_handler(tree.access) is tree.root.handlers[0]
    write_access_line(method, path, ROUTE, status, seconds, logger=tree.access)

    tree.access.addFilter(PassAll())
    assert direct_handler(tree.access) is None
    write_access_line(method, path, ROUTE, status, seconds, logger=tree.access)

    direct, through_logging = tree.lines()
    assert direct == through_logging
    entry = json.loads(direct)
    assert entry["logger"] == "service.access"
    assert entry["request_id"] == "req-1"
    assert entry["status"] == status
    assert entry["path"] == path
    assert entry["duration_ms"] == round(seconds * 1000, 3)
    assert entry["time"] == "2025-12-05T02:00:00.123+00:00"


def test_access_line_reaches_second_root_handler(tree: Tree) -> None:
    other = io.StringIO()
    tree.root.addHandler(server_handler(other))

    write(tree)

    assert direct_handler(tree.access) is None
    assert len(other.getvalue().splitlines()) == 1
    assert tree.lines() == other.getvalue().splitlines()


def test_access_line_with_middle_handler_uses_logging(tree: Tree) -> None:
    extra = io.StringIO()
    tree.service.addHandler(server_handler(extra))

    write(tree)

    assert direct_handler(tree.access) is None
    assert len(extra.getvalue().splitlines()) == 1
    assert tree.lines() == extra.getvalue().splitlines()


def test_text_format_takes_the_logging_path(tree: Tree) -> None:
    tree.root.handlers[0].setFormatter(logging.Formatter("%(levelname)s %(message)s"))

    write(tree)

    assert direct_handler(tree.access) is None
    assert tree.lines() == ["INFO GET /v1/health 200 1.5 ms"]


@pytest.mark.parametrize("setting", ["level", "handler level", "disabled", "propagate"])
def test_silenced_access_logger_writes_nothing(tree: Tree, setting: str) -> None:
    if setting == "level":
        tree.access.setLevel(logging.WARNING)
    elif setting == "handler level":
        tree.root.handlers[0].setLevel(logging.WARNING)
    elif setting == "disabled":
        tree.access.disabled = True
    else:
        tree.access.propagate = False

    write(tree)

    assert direct_handler(tree.access) is None
    assert tree.lines() == []


def test_failed_access_write_reported_by_handler(
    tree: Tree, monkeypatch: pytest.MonkeyPatch
) -> None:
    handler = tree.root.handlers[0]
    reported: list[logging.LogRecord] = []
    monkeypatch.setattr(handler, "handleError", reported.append)
    tree.stream.close()

    write(tree, status=503)

    [record] = reported
    assert record.getMessage() == "GET /v1/health 503 1.5 ms"


def test_caplog_sees_access_lines(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="service.access"):
        write_access_line("POST", "/v1/models/a/forecast", ROUTE, 422, 0.002)

    [record] = [r for r in caplog.records if r.name == "service.access"]
    assert record.getMessage() == "POST /v1/models/a/forecast 422 2.0 ms"
    assert record.__dict__["status"] == 422


def forecast_log(registry: Registry, env: dict[str, str]) -> str:
    """Start a server with ``env``, serve one forecast with request id
    ``access-9``, stop the server and return its whole output."""
    server = LiveServer(registry.root, env=env)
    try:
        response = server.client.post(
            "/v1/models/nflx/forecast",
            json={"horizon": 2},
            headers={"X-Request-ID": "access-9"},
        )
    finally:
        output = server.stop()
    assert response.status_code == 200, response.text
    return output


def test_text_server_writes_plain_access_lines(trained_registry: Registry) -> None:
    output = forecast_log(trained_registry, {"RNN_FORECAST_LOG_FORMAT": "text"})

    lines = output.splitlines()
    [line] = [line for line in lines if "service.access [access-9]" in line]
    assert re.fullmatch(
        r"\S+ \S+ INFO service\.access \[access-9\] "
        r"POST /v1/models/nflx/forecast 200 \d+\.\d ms",
        line,
    )
    assert not any(line.startswith("{") for line in lines)


def test_warning_level_server_writes_no_access_lines(
    trained_registry: Registry,
) -> None:
    output = forecast_log(trained_registry, {"RNN_FORECAST_LOG_LEVEL": "WARNING"})

    assert "access-9" not in output
    assert "service.access" not in output


@settings(max_examples=300, deadline=None)
@given(
    method=st.text(min_size=1, max_size=8),
    path=st.text(max_size=40),
    status=st.integers(min_value=100, max_value=599),
    seconds=st.floats(min_value=0.0, max_value=1e4, allow_nan=False),
    request_id=st.one_of(st.none(), st.text(max_size=40)),
)
def test_any_direct_line_equals_the_logging_line(
    method: str, path: str, status: int, seconds: float, request_id: str | None
) -> None:
    stream = io.StringIO()
    root = logging.RootLogger(logging.INFO)
    root.addHandler(server_handler(stream))
    access = logging.Logger("service.access")
    access.parent = root
    token = REQUEST_ID.set(request_id)
    clock = time.time
    try:
        time.time = lambda: NOW  # type: ignore[assignment]
        write_access_line(method, path, ROUTE, status, seconds, logger=access)
        access.addFilter(PassAll())
        write_access_line(method, path, ROUTE, status, seconds, logger=access)
    finally:
        time.time = clock  # type: ignore[assignment]
        REQUEST_ID.reset(token)

    direct, through_logging = stream.getvalue().split("\n")[:2]
    assert direct == through_logging


@given(
    created=st.one_of(
        st.floats(min_value=-1e9, max_value=4e9, allow_nan=False),
        # fractions next to a whole second or a millisecond, which round up
        st.integers(min_value=0, max_value=4 * 10**9).map(lambda s: s + 0.9999995),
        st.integers(min_value=0, max_value=4 * 10**12).map(lambda m: m / 1000),
    )
)
def test_time_stamp_equals_isoformat(created: float) -> None:
    """The kept text of the second, and the milliseconds after it, give the
    bytes of ``fromtimestamp(...).isoformat(timespec="milliseconds")``."""
    expected = dt.datetime.fromtimestamp(created, dt.UTC).isoformat(
        timespec="milliseconds"
    )
    assert utc_milliseconds(created) == expected
