"""Every 4xx and 5xx is RFC 9457 problem+json, over real HTTP where it can be."""

from __future__ import annotations

import asyncio
import gzip
import json
from collections.abc import Iterator

import httpx
import pytest

from service.app import create_app
from service.settings import Settings
from tests.conftest import LiveServer
from tests.service.conftest import MAX_REQUEST_BYTES

PROBLEM = "application/problem+json"
FORECAST = "/v1/models/nflx/forecast"


def assert_problem(response: httpx.Response, status: int) -> dict[str, object]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM
    body = response.json()
    assert body["status"] == status
    assert str(body["type"]).startswith("https://rnn-forecast.dev/problems/")
    assert body["title"]
    assert body["detail"]
    assert response.headers["x-request-id"]
    return body


def test_unknown_route_is_problem(strict_server: LiveServer) -> None:
    response = strict_server.client.get("/v1/no-such-thing")
    body = assert_problem(response, 404)
    assert "GET /v1/no-such-thing" in str(body["detail"])


def test_unknown_long_route_is_cut(strict_server: LiveServer) -> None:
    path = "/v1/" + "x" * 996

    response = strict_server.client.get(path)

    body = assert_problem(response, 404)
    detail = str(body["detail"])
    assert f"GET {path[:128]}... (1000 characters, the first 128 shown);" in detail
    assert path[:129] not in detail


def test_wrong_method_is_problem(strict_server: LiveServer) -> None:
    response = strict_server.client.delete("/v1/health")
    body = assert_problem(response, 405)
    assert response.headers["allow"] == "GET, HEAD"
    assert "allowed: GET, HEAD" in str(body["detail"])


@pytest.mark.parametrize(
    ("method", "path", "allow"),
    [
        ("POST", "/v1/models/nflx/aliases/production", "DELETE, GET, HEAD, PUT"),
        ("PUT", "/v1/training-jobs", "GET, HEAD, POST"),
        ("PATCH", f"/v1/series/{'0' * 32}", "DELETE, GET, HEAD"),
        ("GET", FORECAST, "POST"),
        ("PUT", "/docs", "GET, HEAD"),
    ],
)
def test_allow_lists_every_method(
    strict_server: LiveServer, method: str, path: str, allow: str
) -> None:
    """Check that ``Allow`` lists the methods of every route of the path,
    not only those of the first route that the router tried."""
    response = strict_server.client.request(method, path)

    body = assert_problem(response, 405)
    assert response.headers["allow"] == allow
    assert str(body["detail"]).endswith(f"allowed: {allow}")


def test_invalid_json_names_position(strict_server: LiveServer) -> None:
    response = strict_server.client.post(
        FORECAST,
        content=b'{"horizon": 3,,}',
        headers={"content-type": "application/json"},
    )
    body = assert_problem(response, 422)
    assert body["errors"] == [
        {
            "field": "body",
            "message": "the body is not valid JSON (Expecting property name "
            "enclosed in double quotes at character 14); send a JSON object as "
            "the examples in the API reference at /docs show",
            "type": "json_invalid",
        }
    ]


def test_non_utf8_body_is_400(strict_server: LiveServer) -> None:
    response = strict_server.client.post(
        FORECAST,
        content=b'{"horizon": \xff}',
        headers={"content-type": "application/json"},
    )
    body = assert_problem(response, 400)
    assert str(body["detail"]).startswith("the body is not valid UTF-8")
    assert "invalid start byte at byte 12" in str(body["detail"])


@pytest.mark.parametrize(
    "encoding", ["utf-8-sig", "utf-16", "utf-16-le", "utf-32", "utf-32-be"]
)
def test_utf16_and_utf32_bodies_read(strict_server: LiveServer, encoding: str) -> None:
    """Check the encodings that Python's json.loads detects from the first
    bytes, as docs/api.md lists them."""
    response = strict_server.client.post(
        FORECAST,
        content='{"horizon": 2}'.encode(encoding),
        headers={"content-type": "application/json"},
    )

    assert response.status_code == 200, response.text
    assert response.json()["horizon"] == 2


def test_truncated_utf16_body_is_400(strict_server: LiveServer) -> None:
    response = strict_server.client.post(
        FORECAST,
        content='{"horizon": 2}'.encode("utf-16-le") + b"\x00",
        headers={"content-type": "application/json"},
    )

    body = assert_problem(response, 400)
    assert str(body["detail"]).startswith("the body is not valid UTF-16-LE")
    assert str(body["detail"]).endswith("send JSON encoded as UTF-8")


def test_compressed_json_is_unsupported_media_type(
    strict_server: LiveServer,
) -> None:
    response = strict_server.client.post(
        FORECAST,
        content=gzip.compress(b'{"horizon": 3}'),
        headers={"content-type": "application/json", "content-encoding": "gzip"},
    )

    body = assert_problem(response, 415)
    assert body["detail"] == (
        "Content-Encoding 'gzip' is not supported; send the JSON uncompressed, "
        "without a Content-Encoding header"
    )
    assert response.headers["accept-encoding"] == "identity"


# the Content-Encoding lines of a request, and whether its body is gzip
@pytest.mark.parametrize(
    ("path", "body"),
    [
        (FORECAST, b'{"horizon": 3}'),
        ("/v1/diagnostics/gradient-flow", b'{"seq_len": 5}'),
    ],
)
@pytest.mark.parametrize(
    ("codings", "compressed", "named"),
    [
        (["identity", "gzip"], True, "gzip"),
        (["identity", "gzip"], False, "gzip"),
        (["IDENTITY", "x-gzip, identity"], False, "x-gzip"),
        (["gzip"], False, "gzip"),
        (["deflate", "br"], False, "deflate, br"),
    ],
)
def test_every_coding_line_is_read(
    strict_server: LiveServer,
    path: str,
    body: bytes,
    codings: list[str],
    compressed: bool,
    named: str,
) -> None:
    headers = [("content-type", "application/json")]
    headers += [("content-encoding", line) for line in codings]

    response = strict_server.client.post(
        path, content=gzip.compress(body) if compressed else body, headers=headers
    )

    body_json = assert_problem(response, 415)
    assert body_json["detail"] == (
        f"Content-Encoding {named!r} is not supported; send the JSON "
        "uncompressed, without a Content-Encoding header"
    )
    assert response.headers["accept-encoding"] == "identity"


@pytest.mark.parametrize("codings", [["identity"], ["identity", ", IDENTITY ,"]])
def test_identity_coding_is_read(strict_server: LiveServer, codings: list[str]) -> None:
    headers = [("content-type", "application/json")]
    headers += [("content-encoding", line) for line in codings]

    response = strict_server.client.post(
        FORECAST, content=b'{"horizon": 3}', headers=headers
    )

    assert response.status_code == 200, response.text


def test_text_body_is_unsupported_media_type(strict_server: LiveServer) -> None:
    response = strict_server.client.post(
        FORECAST, content=b'{"horizon": 3}', headers={"content-type": "text/plain"}
    )
    body = assert_problem(response, 415)
    assert "'text/plain'" in str(body["detail"])
    assert "application/json" in str(body["detail"])


def test_body_without_content_type_is_415(strict_server: LiveServer) -> None:
    response = strict_server.client.post(FORECAST, content=b'{"horizon": 3}')
    body = assert_problem(response, 415)
    assert "the body has no Content-Type" in str(body["detail"])


def test_validation_lists_every_field(strict_server: LiveServer) -> None:
    history = [{"date": "2020-01-02", "close": float("nan")}]
    # json.dumps writes the NaN token that Python's parser reads back
    content = json.dumps({"horizon": 0, "history": history, "colour": "red"})
    response = strict_server.client.post(
        FORECAST, content=content, headers={"content-type": "application/json"}
    )
    body = assert_problem(response, 422)
    fields = {error["field"]: error for error in body["errors"]}  # type: ignore[union-attr]
    assert set(fields) == {"horizon", "history[0].close", "colour"}
    assert fields["horizon"]["type"] == "greater_than_equal"
    assert "the value sent is NaN" in fields["history[0].close"]["message"]
    assert fields["colour"]["type"] == "extra_forbidden"


def test_domain_not_found_is_problem(strict_server: LiveServer) -> None:
    response = strict_server.client.post(FORECAST, json={"version": 99})
    body = assert_problem(response, 404)
    assert "no version 99" in str(body["detail"])


def test_declared_oversize_body_is_413(strict_server: LiveServer) -> None:
    content = b'{"horizon": 3' + b" " * MAX_REQUEST_BYTES + b"}"
    response = strict_server.client.post(
        FORECAST, content=content, headers={"content-type": "application/json"}
    )
    body = assert_problem(response, 413)
    assert f"{len(content)} bytes" in str(body["detail"])
    assert f"limit of {MAX_REQUEST_BYTES} bytes" in str(body["detail"])
    assert "RNN_FORECAST_MAX_REQUEST_BYTES" in str(body["detail"])
    assert response.headers["connection"] == "close"


def test_streamed_oversize_body_is_413(strict_server: LiveServer) -> None:
    def chunks() -> Iterator[bytes]:
        yield b'{"horizon": 3'
        for _ in range(8):
            yield b" " * 1024
        yield b"}"

    # a generator body goes out with Transfer-Encoding: chunked, no length
    response = strict_server.client.post(
        FORECAST, content=chunks(), headers={"content-type": "application/json"}
    )
    body = assert_problem(response, 413)
    assert f"limit of {MAX_REQUEST_BYTES} bytes" in str(body["detail"])
    assert response.headers["connection"] == "close"


def test_body_at_limit_is_accepted(strict_server: LiveServer) -> None:
    prefix = b'{"horizon": 3'
    content = prefix + b" " * (MAX_REQUEST_BYTES - len(prefix) - 1) + b"}"
    assert len(content) == MAX_REQUEST_BYTES
    response = strict_server.client.post(
        FORECAST, content=content, headers={"content-type": "application/json"}
    )
    assert response.status_code == 200, response.text


def test_unhandled_exception_is_problem_500(tmp_path: object) -> None:
    app = create_app(Settings(registry=str(tmp_path)))

    async def boom() -> None:
        raise RuntimeError("deliberate failure in a test route")

    app.add_api_route("/boom", boom)

    async def call() -> httpx.Response:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
            return await c.get("/boom", headers={"X-Request-ID": "req-500"})

    response = asyncio.run(call())
    body = assert_problem(response, 500)
    assert response.headers["x-request-id"] == "req-500"
    assert "request id req-500" in str(body["detail"])
    assert "deliberate failure" not in str(body["detail"])
