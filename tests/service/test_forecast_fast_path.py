"""The forecast fast path serves valid requests with the route's bytes and
passes every other request to the app, whose response must be unchanged.

Each request runs twice through one app: once as served, once with the fast
path switched off, and the two responses are compared."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import shutil
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fastapi import FastAPI

from models import forecasting
from models.registry import Registry
from service import fast_forecast, middleware
from service.app import create_app
from service.fast_forecast import ForecastFastPath, may_repeat_key
from service.routes import forecast as forecast_route
from service.routes.forecast import FORECAST_ERROR_SCOPE_KEY
from service.schemas import FORECAST_REQUEST_FIELDS
from service.settings import Settings
from tests.service.test_resolution import age_files

PATH = "/v1/models/nflx/forecast"
ROUTE = "/v1/models/{name}/forecast"
JSON = "application/json"


def history(registry: Registry, rows: int) -> list[dict[str, Any]]:
    loaded = registry.load("nflx", 1)
    dates = list(loaded.tail_dates)[-rows:]
    closes = [float(c) for c in loaded.tail_close[-rows:]]
    return [{"date": d, "close": c} for d, c in zip(dates, closes, strict=True)]


class Answer:
    """Status, headers and body of one ASGI response."""

    def __init__(self, messages: list[dict[str, Any]]) -> None:
        start = messages[0]
        self.status = start["status"]
        self.headers = {
            key.decode().lower(): value.decode() for key, value in start["headers"]
        }
        self.header_list = [
            (key.decode().lower(), value.decode()) for key, value in start["headers"]
        ]
        self.body = b"".join(m.get("body", b"") for m in messages[1:])

    def comparable(self) -> tuple[int, str | None, str | None, bytes]:
        """Everything but the request id, which differs per request."""
        return (
            self.status,
            self.headers.get("content-type"),
            self.headers.get("content-length"),
            self.body,
        )


async def call(
    app: FastAPI,
    body_parts: list[bytes],
    *,
    content_type: str | None = JSON,
    path: str = PATH,
    query_string: bytes = b"",
    declare_length: bool = True,
    part_delay: float = 0.0,
    extra_headers: tuple[tuple[bytes, bytes], ...] = (),
) -> Answer:
    """Send one POST through the app's ASGI callable, the body in parts,
    waiting ``part_delay`` seconds before each part after the first."""
    headers = [(b"host", b"127.0.0.1"), *extra_headers]
    if content_type is not None:
        headers.append((b"content-type", content_type.encode()))
    if declare_length:
        length = sum(len(part) for part in body_parts)
        headers.append((b"content-length", str(length).encode()))
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": query_string,
        "root_path": "",
        "headers": headers,
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8000),
    }
    queue = [
        {"type": "http.request", "body": part, "more_body": i < len(body_parts) - 1}
        for i, part in enumerate(body_parts)
    ]
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        if queue:
            if part_delay and len(queue) < len(body_parts):
                await asyncio.sleep(part_delay)
            return queue.pop(0)
        await asyncio.sleep(60)
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await app(scope, receive, send)
    return Answer(sent)


@asynccontextmanager
async def running(
    registry: Registry, tmp_path: Path, cors_origins: tuple[str, ...] = ()
) -> AsyncIterator[FastAPI]:
    settings = Settings(
        registry=registry.root,
        data_dir=tmp_path,
        max_request_bytes=20_000,
        cors_origins=list(cors_origins),
    )
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        yield app


async def both_ways(
    app: FastAPI, monkeypatch: pytest.MonkeyPatch, *args: Any, **kwargs: Any
) -> tuple[Answer, Answer]:
    served = await call(app, *args, **kwargs)
    with monkeypatch.context() as patch:
        patch.setattr(ForecastFastPath, "target", lambda self, scope: None)
        reference = await call(app, *args, **kwargs)
    return served, reference


def valid_bodies(registry: Registry) -> list[dict[str, Any]]:
    return [
        {},
        {"horizon": 3},
        {"horizon": 2, "version": "latest", "level": 0.9},
        {"horizon": 4, "version": 1, "history": history(registry, 30)},
        {"horizon": 5, "history": history(registry, 61)},
        {"horizon": 2, "history": with_prices(history(registry, 30))},
        {"version": "001", "horizon": None, "level": None, "history": None},
        {"version": "latest", "horizon": 3, "history": history(registry, 30)},
    ]


def with_prices(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Add an open, high, low and volume that agree with each row's close."""
    priced = []
    for row in rows:
        close = row["close"]
        prices = {"open": close, "high": close + 1, "low": close, "volume": 100}
        priced.append({**row, **prices})
    return priced


def test_valid_requests_get_the_route_bytes(
    trained_registry: Registry, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def scenario() -> None:
        async with running(trained_registry, tmp_path) as app:
            for body in valid_bodies(trained_registry):
                served, reference = await both_ways(
                    app, monkeypatch, [json.dumps(body).encode()]
                )
                assert served.status == 200, served.body
                assert served.comparable() == reference.comparable(), body
            assert app.state.fast_path.served == len(valid_bodies(trained_registry))
            assert app.state.fast_path.passed_on == 0

    asyncio.run(scenario())


def test_rows_of_date_and_close_skip_price_check(
    trained_registry: Registry, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    checked: list[list[Any]] = []
    monkeypatch.setattr(
        forecast_route, "check_row_prices", lambda rows: checked.append(list(rows))
    )
    plain = {"horizon": 2, "history": history(trained_registry, 30)}
    priced = {"horizon": 2, "history": with_prices(history(trained_registry, 30))}

    async def scenario() -> None:
        async with running(trained_registry, tmp_path) as app:
            answer = await call(app, [json.dumps(plain).encode()])
            assert answer.status == 200, answer.body
            assert checked == []

            answer = await call(app, [json.dumps(priced).encode()])
            assert answer.status == 200, answer.body
            assert len(checked) == 1
            assert len(checked[0]) == len(priced["history"])
            assert app.state.fast_path.served == 2

    asyncio.run(scenario())


def test_versions_and_nulls_skip_pydantic(
    trained_registry: Registry, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Check that bodies with a version or explicit nulls are decoded by
    msgspec, without pydantic, and get the route's bytes."""
    validated: list[bytes] = []

    class CountingFields:
        """``FORECAST_REQUEST_FIELDS``, recording each body it validates."""

        def validate_json(self, body: bytes) -> Any:
            validated.append(body)
            return FORECAST_REQUEST_FIELDS.validate_json(body)

    monkeypatch.setattr(fast_forecast, "FORECAST_REQUEST_FIELDS", CountingFields())
    bodies = [
        {"version": 1, "horizon": 2},
        {"version": "1", "level": None},
        {"version": "000000001", "history": history(trained_registry, 30)},
        {"version": "latest", "horizon": None, "history": None, "level": None},
    ]

    async def scenario() -> None:
        async with running(trained_registry, tmp_path) as app:
            for body in bodies:
                served, reference = await both_ways(
                    app, monkeypatch, [json.dumps(body).encode()]
                )
                assert served.status == 200, served.body
                assert served.comparable() == reference.comparable(), body
            assert validated == []
            assert app.state.fast_path.served == len(bodies)

    asyncio.run(scenario())


ALLOWED_ORIGIN = "https://dashboard.example"
ORIGIN_CASES: list[tuple[tuple[bytes, bytes], ...]] = [
    (),
    ((b"origin", ALLOWED_ORIGIN.encode()),),
    ((b"origin", b"https://other.example"),),
    ((b"origin", ALLOWED_ORIGIN.encode()), (b"x-request-id", b"dash-7")),
]


@pytest.mark.parametrize("origin", ORIGIN_CASES, ids=range(len(ORIGIN_CASES)))
def test_cors_headers_match_normal_path(
    trained_registry: Registry,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    origin: tuple[tuple[bytes, bytes], ...],
) -> None:
    """Check that a forecast served while CORS is on gets the CORS
    middleware's headers in the normal path's order, the request id last."""

    async def scenario() -> None:
        async with running(
            trained_registry, tmp_path, cors_origins=(ALLOWED_ORIGIN,)
        ) as app:
            body = json.dumps({"horizon": 2}).encode()
            served, reference = await both_ways(
                app, monkeypatch, [body], extra_headers=origin
            )

            assert served.status == 200, served.body
            assert served.comparable() == reference.comparable()
            assert [k for k, _ in served.header_list][-1] == "x-request-id"
            without_id = [h for h in served.header_list if h[0] != "x-request-id"]
            reference_without_id = [
                h for h in reference.header_list if h[0] != "x-request-id"
            ]
            assert without_id == reference_without_id
            client_id = dict(origin).get(b"x-request-id")
            if client_id is not None:
                assert served.headers["x-request-id"] == client_id.decode()
            assert app.state.fast_path.served == 1

    asyncio.run(scenario())


INVALID_BODIES: list[bytes] = [
    b"",
    b"not json",
    b"[1, 2]",
    b'{"horizon": true}',
    b'{"horizon": 0}',
    b'{"horizon": 9999}',
    b'{"horizon": "3"}',
    b'{"version": 99}',
    b'{"version": "no-such-alias"}',
    b'{"version": null}',
    b'{"version": 0}',
    b'{"version": -1}',
    b'{"version": "0"}',
    b'{"version": "-1"}',
    b'{"version": 1.0}',
    b'{"version": true}',
    b'{"version": 1000000000}',
    b'{"version": "1000000000"}',
    b'{"version": ' + b"9" * 400 + b"}",
    b'{"version": "Latest"}',
    b'{"version": "l\xc3\xa4test"}',
    b'{"version": ""}',
    b'{"version": [1]}',
    b'{"level": 0.123}',
    b'{"history": []}',
    b'{"history": [{"date": "2020-01-02", "close": NaN}]}',
    b'{"unexpected": 1}',
    b'{"horizon": 3' + b" " * 30_000 + b"}",
]


@pytest.mark.parametrize("body", INVALID_BODIES, ids=range(len(INVALID_BODIES)))
def test_rejected_requests_get_the_app_error(
    trained_registry: Registry,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    body: bytes,
) -> None:
    async def scenario() -> None:
        async with running(trained_registry, tmp_path) as app:
            served, reference = await both_ways(app, monkeypatch, [body])
            assert reference.status >= 400
            assert served.comparable() == reference.comparable()
            assert app.state.fast_path.served == 0

    asyncio.run(scenario())


@pytest.mark.parametrize(
    ("body", "repeats"),
    [
        (b"{}", False),
        (b'{"version": "close", "horizon": 2, "level": null}', False),
        (b'{"version": 3, "history": null}', False),
        (
            b'{"history": [{"date": "2020-12-10", "close": 1, "open": null},'
            b' {"date": "2020-12-11", "close": 2, "volume": 5}]}',
            False,
        ),
        (b'{"horizon": 2, "horizon": 2}', True),
        (b'{"history": [{"date": "2020-12-11", "close": 1, "close": 1}]}', True),
        (b'{"version": "l\\u0061test"}', True),
    ],
)
def test_may_repeat_key(body: bytes, repeats: bool) -> None:
    fields = FORECAST_REQUEST_FIELDS.validate_json(body)

    assert may_repeat_key(body, fields) is repeats


PASSED_ON_BODIES: list[tuple[bytes, int]] = [
    (b'{"horizon": 2, "horizon": 3}', 422),
    (b'{"horizon": 2, "level": 0.9, "level": 0.8}', 422),
    (b'{"history": [{"date": "2020-12-11", "close": 1, "close": 2}]}', 422),
    (b'{"h\\u006frizon": 2, "horizon": 3}', 422),
    # valid, but the colon count cannot judge an escaped key
    (b'{"h\\u006frizon": 2, "version": "latest"}', 200),
]


@pytest.mark.parametrize(
    ("body", "status"), PASSED_ON_BODIES, ids=range(len(PASSED_ON_BODIES))
)
def test_repeated_keys_pass_on(
    trained_registry: Registry,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    body: bytes,
    status: int,
) -> None:
    async def scenario() -> None:
        async with running(trained_registry, tmp_path) as app:
            served, reference = await both_ways(app, monkeypatch, [body])
            assert served.status == status, served.body
            assert served.comparable() == reference.comparable()
            assert app.state.fast_path.passed_on == 1

    asyncio.run(scenario())


def test_repeated_key_problem(trained_registry: Registry, tmp_path: Path) -> None:
    async def scenario() -> None:
        async with running(trained_registry, tmp_path) as app:
            answer = await call(app, [b'{"horizon": 2, "horizon": 3}'])
            errors = json.loads(answer.body)["errors"]
            assert [error["field"] for error in errors] == ["horizon"]
            assert [error["type"] for error in errors] == ["duplicate_key"]

    asyncio.run(scenario())


def test_query_string_skips_the_fast_path(
    trained_registry: Registry, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def scenario() -> None:
        async with running(trained_registry, tmp_path) as app:
            served, reference = await both_ways(
                app, monkeypatch, [b'{"horizon": 2}'], query_string=b"horizon=3"
            )
            assert served.status == 422, served.body
            assert served.comparable() == reference.comparable()
            assert app.state.fast_path.served == 0
            assert app.state.fast_path.passed_on == 0

    asyncio.run(scenario())


def test_history_errors_and_unknown_models_pass_through(
    trained_registry: Registry, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    rows = history(trained_registry, 40)
    swapped = [rows[1], rows[0], *rows[2:]]
    high_low = with_prices(rows)
    high_low[7]["low"] = high_low[7]["high"] + 1
    close_above = [*rows[:7], {**rows[7], "high": rows[7]["close"] - 1}, *rows[8:]]
    cases: list[tuple[str, dict[str, Any], int]] = [
        (PATH, {"history": swapped}, 422),
        (PATH, {"history": rows[:5]}, 422),
        (PATH, {"history": high_low}, 422),
        (PATH, {"history": close_above}, 422),
        ("/v1/models/unknown/forecast", {}, 404),
        ("/v1/models/bad..name/forecast", {}, 422),
    ]

    async def scenario() -> None:
        async with running(trained_registry, tmp_path) as app:
            for path, body, status in cases:
                served, reference = await both_ways(
                    app, monkeypatch, [json.dumps(body).encode()], path=path
                )
                assert served.status == status, served.body
                assert served.comparable() == reference.comparable()
            assert app.state.fast_path.passed_on == len(cases)

    asyncio.run(scenario())


@pytest.mark.parametrize(
    "content_type", [None, "text/plain", "application/merge-patch+json"]
)
def test_other_content_types_skip_the_fast_path(
    trained_registry: Registry,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    content_type: str | None,
) -> None:
    async def scenario() -> None:
        async with running(trained_registry, tmp_path) as app:
            served, reference = await both_ways(
                app, monkeypatch, [b'{"horizon": 2}'], content_type=content_type
            )
            assert served.comparable() == reference.comparable()
            assert app.state.fast_path.served == 0
            assert app.state.fast_path.passed_on == 0

    asyncio.run(scenario())


@pytest.mark.parametrize(
    "codings",
    [
        ((b"content-encoding", b"gzip"),),
        ((b"content-encoding", b"identity"), (b"content-encoding", b"gzip")),
        ((b"content-encoding", b"identity, br"),),
    ],
)
def test_encoded_bodies_skip_the_fast_path(
    trained_registry: Registry,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    codings: tuple[tuple[bytes, bytes], ...],
) -> None:
    async def scenario() -> None:
        async with running(trained_registry, tmp_path) as app:
            served, reference = await both_ways(
                app, monkeypatch, [b'{"horizon": 2}'], extra_headers=codings
            )
            assert served.status == 415
            assert served.headers["accept-encoding"] == "identity"
            assert served.comparable() == reference.comparable()
            assert app.state.fast_path.served == 0
            assert app.state.fast_path.passed_on == 0

    asyncio.run(scenario())


ACCEPT_CASES = [
    (b"text/html", 406, 0),
    (b"application/json;q=0, */*", 406, 0),
    (b"application/json, text/plain, */*", 200, 1),
    (b"text/html, application/problem+json", 200, 1),
]


@pytest.mark.parametrize(("accept", "status", "served"), ACCEPT_CASES)
def test_accept_decides_fast_path(
    trained_registry: Registry,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    accept: bytes,
    status: int,
    served: int,
) -> None:
    """Check that a forecast whose Accept rules out JSON goes to the app,
    which responds with 406, and that other Accept values are served."""

    async def scenario() -> None:
        async with running(trained_registry, tmp_path) as app:
            headers = ((b"accept", accept),)
            answer, reference = await both_ways(
                app, monkeypatch, [b'{"horizon": 2}'], extra_headers=headers
            )
            assert answer.status == status, answer.body
            assert answer.comparable() == reference.comparable()
            assert app.state.fast_path.served == served
            assert app.state.fast_path.passed_on == 0

    asyncio.run(scenario())


def test_body_in_parts_with_charset_is_served(
    trained_registry: Registry, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    body = json.dumps({"horizon": 3, "history": history(trained_registry, 61)})
    parts = [body[:100].encode(), body[100:700].encode(), body[700:].encode()]

    async def scenario() -> None:
        async with running(trained_registry, tmp_path) as app:
            served, reference = await both_ways(
                app, monkeypatch, parts, content_type="application/json; charset=utf-8"
            )
            assert served.status == 200
            assert served.comparable() == reference.comparable()
            assert app.state.fast_path.served == 1

    asyncio.run(scenario())


def test_streamed_body_over_limit_gets_413(
    trained_registry: Registry, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without a Content-Length the limit is found while reading, inside the
    fast path; the app must still respond with its 413 problem."""
    parts = [b'{"horizon": 3, "pad": "', b"x" * 15_000, b"x" * 15_000, b'"}']

    async def scenario() -> None:
        async with running(trained_registry, tmp_path) as app:
            served, reference = await both_ways(
                app, monkeypatch, parts, declare_length=False
            )
            assert served.status == 413
            assert served.comparable() == reference.comparable()
            assert b"RNN_FORECAST_MAX_REQUEST_BYTES" in served.body

    asyncio.run(scenario())


def test_passed_on_request_keeps_its_id(
    trained_registry: Registry, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The id the fast path chose is the one the app's middleware uses, so
    a passed-on request is logged and served under one id."""
    generated: list[str] = []

    def counted_bits(bits: int) -> int:
        generated.append(f"{len(generated) + 1:032x}")
        return len(generated)

    monkeypatch.setattr(middleware._ID_BITS, "getrandbits", counted_bits)

    async def scenario() -> None:
        async with running(trained_registry, tmp_path) as app:
            rejected = await call(app, [b'{"horizon": 0}'])
            served = await call(app, [b'{"horizon": 2}'])

            assert rejected.status == 422
            assert served.status == 200
            assert generated == [f"{1:032x}", f"{2:032x}"]
            assert rejected.headers["x-request-id"] == generated[0]
            assert served.headers["x-request-id"] == generated[1]

    asyncio.run(scenario())


def test_served_and_passed_on_requests_counted_once(
    trained_registry: Registry, tmp_path: Path
) -> None:
    async def scenario() -> None:
        async with running(trained_registry, tmp_path) as app:
            await call(app, [b'{"horizon": 2}'])
            await call(app, [b'{"horizon": 0}'])
            registry = app.state.metrics.registry

            for status in ("200", "422"):
                labels = {"method": "POST", "route": ROUTE, "status": status}
                count = registry.get_sample_value(
                    "rnn_forecast_http_requests_total", labels
                )
                assert count == 1, status

    asyncio.run(scenario())


# bodies where decoding the JSON bytes in pydantic could differ from
# json.loads followed by validation, which the route does
EDGE_BODIES: list[bytes] = [
    b'{"horizon": 2, "horizon": 3}',
    b'{"horizon": 3.0}',
    b'{"horizon": 2e0}',
    b'{"horizon": 3, "level": 1}',
    b'{"horizon": 3, "level": 0.90000000000000002}',
    b'{"horizon": 3, "version": "1"}',
    b'{"horizon": 3, "version": 1.0}',
    b'\xef\xbb\xbf{"horizon": 3}',
    '{"horizon": 3}'.encode("utf-16"),
    '{"horizon": 3}'.encode("utf-32-le"),
    b'{"horizon": 3, "version": "\\u006catest"}',
    b'{"horizon": 3, "version": "\\ud800"}',
    b'{"horizon": 3}\n\t ',
    b'{"horizon": 3} x',
    b'{"horizon": 3, "level": 1e400}',
    b'{"horizon": 3, "level": -0.0}',
    b'{"horizon": ' + b"9" * 400 + b"}",
]


def edge_history_bodies(registry: Registry) -> list[bytes]:
    rows = history(registry, 40)
    dates = [row["date"] for row in rows]
    closes = ", ".join(f'{{"date": "{d}", "close": 1{i}}}' for i, d in enumerate(dates))
    timestamps = ", ".join(
        f'{{"date": {int(dt.datetime.fromisoformat(d).timestamp())}, "close": 5.5}}'
        for d in dates
    )
    return [
        f'{{"history": [{closes}]}}'.encode(),
        f'{{"history": [{timestamps}]}}'.encode(),
        json.dumps({"history": [{**r, "close": 1e308} for r in rows]}).encode(),
        json.dumps({"history": [{**r, "close": 2**64 + 1} for r in rows]}).encode(),
        json.dumps(
            {"history": [{**r, "close": 123.45678901234567890123} for r in rows]}
        ).encode(),
        json.dumps({"history": [{**r, "volume": 1e3} for r in rows]}).encode(),
        json.dumps(
            {"history": [{**r, "date": r["date"] + "T00:00:00"} for r in rows]}
        ).encode(),
    ]


def plain_utf8(body: bytes) -> bool:
    """Return whether ``body`` is UTF-8 without a byte order mark and without
    backslash escapes, which the fast path's repeated-key check passes on."""
    return body.startswith(b"{") and b"\x00" not in body and b"\\" not in body


def test_edge_bodies_get_the_route_response(
    trained_registry: Registry, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bodies = EDGE_BODIES + edge_history_bodies(trained_registry)

    async def scenario() -> None:
        answered = 0
        async with running(trained_registry, tmp_path) as app:
            for body in bodies:
                served, reference = await both_ways(app, monkeypatch, [body])
                assert served.comparable() == reference.comparable(), body[:80]
                if served.status == 200 and plain_utf8(body):
                    answered += 1

            # the valid UTF-8 bodies without a byte order mark or an escape
            # take the fast path, the others the app
            assert answered >= 7
            assert app.state.fast_path.served == answered
            assert app.state.fast_path.passed_on == len(bodies) - answered

    asyncio.run(scenario())


def overflowing_history(registry: Registry) -> bytes:
    """A body whose closes lie beyond the range that training can scale."""
    rows = [{**row, "close": 1.7e308} for row in history(registry, 40)]
    return json.dumps({"history": rows, "level": 0.9}).encode()


def test_failed_forecast_runs_once(
    trained_registry: Registry, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A valid body whose forecast fails in its batch reaches the app with
    its error, and the route raises it instead of running the forecast again."""
    body = json.dumps({"history": history(trained_registry, 40)}).encode()
    # every forecast price overflows, so run_batch raises its overflow error
    monkeypatch.setattr(
        forecasting, "to_prices", lambda last, values, target: values * np.inf
    )

    async def scenario() -> None:
        async with running(trained_registry, tmp_path) as app:
            stats = app.state.batcher.stats
            before = stats.items
            served = await call(app, [body])
            items_served = stats.items - before

            with monkeypatch.context() as patch:
                patch.setattr(ForecastFastPath, "target", lambda self, scope: None)
                before = stats.items
                reference = await call(app, [body])
                items_reference = stats.items - before

            assert served.status == 422
            assert served.comparable() == reference.comparable()
            assert items_reference == 1
            assert items_served == 1
            assert app.state.fast_path.passed_on == 1

    asyncio.run(scenario())


def test_passed_on_request_duration_covers_body_read(
    trained_registry: Registry, tmp_path: Path
) -> None:
    """The logged latency of a passed-on request starts when the fast path
    took it, so a slow invalid body counts in full."""
    labels = {"method": "POST", "route": ROUTE, "status": "422"}

    async def scenario() -> None:
        async with running(trained_registry, tmp_path) as app:
            parts = [b'{"horizon": ', b"0}"]
            answer = await call(app, parts, part_delay=0.3)
            registry = app.state.metrics.registry
            seconds = registry.get_sample_value(
                "rnn_forecast_http_request_duration_seconds_sum", labels
            )

            assert answer.status == 422
            assert seconds is not None
            assert seconds >= 0.3

    asyncio.run(scenario())


@pytest.mark.parametrize("horizon", [3, 0])
def test_body_in_many_small_parts(
    trained_registry: Registry,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    horizon: int,
) -> None:
    """A body in hundreds of 4-byte parts is served, or replayed to the app
    as one part, with the same response either way."""
    body = json.dumps({"horizon": horizon, "history": history(trained_registry, 40)})
    data = body.encode()
    parts = [data[i : i + 4] for i in range(0, len(data), 4)]

    async def scenario() -> None:
        async with running(trained_registry, tmp_path) as app:
            served, reference = await both_ways(app, monkeypatch, parts)
            assert served.status == (200 if horizon else 422)
            assert served.comparable() == reference.comparable()

    asyncio.run(scenario())


def test_passed_on_error_keeps_no_frame_locals(
    trained_registry: Registry, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The error handed to the app contains no locals of the fast path's
    finished frames, so the body is not kept twice while the app reads it."""
    body = overflowing_history(trained_registry)
    frames: dict[str, dict[str, Any]] = {}
    app_call = FastAPI.__call__

    async def inspecting_call(self: Any, scope: Any, receive: Any, send: Any) -> None:
        error = scope.get(FORECAST_ERROR_SCOPE_KEY)
        tb = None if error is None else error.__traceback__
        while tb is not None:
            frames[tb.tb_frame.f_code.co_name] = dict(tb.tb_frame.f_locals)
            tb = tb.tb_next
        await app_call(self, scope, receive, send)

    monkeypatch.setattr(FastAPI, "__call__", inspecting_call)

    async def scenario() -> None:
        async with running(trained_registry, tmp_path) as app:
            answer = await call(app, [body])
            assert answer.status == 422

    asyncio.run(scenario())

    assert "_answer" in frames
    assert "forecast_json" in frames
    for name, local_names in frames.items():
        assert local_names == {}, name


def test_cached_forecast_stats_metadata_once(
    trained_registry: Registry, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Version resolution stats the resolved version's metadata file, and
    the model cache checks its cached version by that stat."""
    registry = Registry(tmp_path / "registry")
    shutil.copytree(trained_registry.root, registry.root)
    # folders written in the last 2 s are read again, which stats more
    age_files(registry, "nflx")
    stats: list[str] = []
    real_stat = os.stat

    def counted(path: Any, *args: Any, **kwargs: Any) -> os.stat_result:
        stats.append(os.fspath(path))
        return real_stat(path, *args, **kwargs)

    async def scenario() -> None:
        async with running(registry, tmp_path) as app:
            body = json.dumps({"horizon": 3}).encode()
            first = await call(app, [body])
            monkeypatch.setattr(os, "stat", counted)
            again = await call(app, [body])
            monkeypatch.undo()
            assert first.status == again.status == 200
            assert again.body == first.body

    asyncio.run(scenario())
    metadata = [path for path in stats if path.endswith("metadata.json")]
    assert len(metadata) == 1, stats
