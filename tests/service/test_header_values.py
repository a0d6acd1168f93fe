"""Header values in error messages: the bytes a client sent, decoded as
UTF-8 where they are valid and written as \\xNN escapes where they are
not, in every message that shows a header value."""

from __future__ import annotations

import json
import socket

import pytest
from starlette.datastructures import Headers

from service.header_values import header_text, quoted_header
from service.middleware import ProblemCORSMiddleware
from tests.conftest import LiveServer
from tests.service.raw_http import read_reply

# the UTF-8 bytes of "é", which Starlette's Latin-1 decoding reads as "Ã©"
E_ACUTE = "é".encode()


@pytest.mark.parametrize(
    ("raw", "shown"),
    [
        (b"gzip", "gzip"),
        (E_ACUTE, "é"),
        (b"caf\xe9", "caf\\xe9"),
        (b"a\\xe9", "a\\\\xe9"),
        (b"it's", "it\\'s"),
        (b"tab\there", "tab\\x09here"),
        ("\u00a0".encode(), "\\xc2\\xa0"),
        (b"\xc3", "\\xc3"),
    ],
)
def test_header_text_cases(raw: bytes, shown: str) -> None:
    assert header_text(raw) == shown
    assert header_text(raw.decode("latin-1")) == shown


def test_quoted_header_cut() -> None:
    value = E_ACUTE * 5

    assert quoted_header(value) == "'ééééé'"
    assert quoted_header(value, limit=2) == (
        "'éé'... (5 characters, the first 2 shown)"
    )


def send_raw(server: LiveServer, head: bytes, body: bytes = b"") -> tuple[int, str]:
    """Send one request written byte by byte and return its status and the
    problem's detail."""
    with socket.create_connection(("127.0.0.1", server.port)) as sock:
        sock.sendall(head + b"\r\n" + body)
        reply = read_reply(sock)
    head_text, _, payload = reply.partition("\r\n\r\n")
    status = int(head_text.split(" ", 2)[1])
    return status, json.loads(payload)["detail"]


def request_head(method: str, path: str, *lines: bytes) -> bytes:
    start = f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n".encode()
    return start + b"".join(line + b"\r\n" for line in lines)


JSON_BODY = b'{"version": 1}'
JSON_LENGTH = f"Content-Length: {len(JSON_BODY)}".encode()


@pytest.mark.parametrize(
    ("head", "status", "start"),
    [
        (
            request_head(
                "POST",
                "/v1/jobs",
                b"Content-Type: application/json",
                b"Content-Encoding: " + E_ACUTE,
                JSON_LENGTH,
            ),
            415,
            "Content-Encoding 'é' is not supported",
        ),
        (
            request_head(
                "POST",
                "/v1/jobs",
                b"Content-Type: text/" + E_ACUTE,
                JSON_LENGTH,
            ),
            415,
            "Content-Type 'text/é' is not supported for this body",
        ),
        (
            request_head(
                "POST", "/v1/series", b"Content-Type: text/caf\xe9", JSON_LENGTH
            ),
            415,
            "Content-Type 'text/caf\\xe9' is not accepted",
        ),
        (
            request_head(
                "PUT",
                "/v1/models/nflx/aliases/prod",
                b"Content-Type: application/json",
                b"If-Match: " + E_ACUTE,
                JSON_LENGTH,
            ),
            400,
            "If-Match 'é' is not * or a list of entity tags, which are written "
            'in double quotes; send If-Match: "é" (W/"é" for a weak tag)',
        ),
        (
            request_head(
                "PUT",
                "/v1/models/nflx/aliases/never-made",
                b"Content-Type: application/json",
                b'If-Match: "' + E_ACUTE + b'"',
                JSON_LENGTH,
            ),
            412,
            "If-Match '\"é\"' requires an existing resource",
        ),
        (
            request_head("GET", "/v1/models", b"Accept: text/html, text/" + E_ACUTE),
            406,
            "Accept 'text/html, text/é' allows none of the media types",
        ),
    ],
)
def test_header_shown_as_sent(
    live_server: LiveServer, head: bytes, status: int, start: str
) -> None:
    body = JSON_BODY if b"Content-Length" in head else b""

    got_status, detail = send_raw(live_server, head, body)

    assert got_status == status, detail
    assert detail.startswith(start), detail
    assert "Ã" not in detail


def test_multipart_boundary_shown_as_sent(live_server: LiveServer) -> None:
    body = b'--b\xc3\xa9\r\nContent-Disposition: form-data; name="x"\r\n\r\n1\r\n'
    head = request_head(
        "POST",
        "/v1/series",
        b"Content-Type: multipart/form-data; boundary=b" + E_ACUTE,
        f"Content-Length: {len(body)}".encode(),
    )

    status, detail = send_raw(live_server, head, body)

    assert status == 422, detail
    assert "the closing boundary line --bé--" in detail


def test_cors_origin_shown_as_sent() -> None:
    cors = ProblemCORSMiddleware(
        app=lambda scope, receive, send: None,  # type: ignore[arg-type,return-value]
        allow_origins=["https://dashboard.example"],
        allow_methods=["GET"],
    )
    headers = Headers(
        raw=[
            (b"origin", b"https://caf" + E_ACUTE + b".example"),
            (b"access-control-request-method", b"GET"),
        ]
    )

    response = cors.preflight_response(headers)

    detail = json.loads(bytes(response.body))["detail"]
    assert response.status_code == 400
    assert "for origin 'https://café.example'" in detail
