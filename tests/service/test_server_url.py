"""The URL in the "listening on" line of ``StoppingServer``."""

from __future__ import annotations

import pytest

from service.server import server_url


@pytest.mark.parametrize(
    ("host", "url"),
    [
        ("127.0.0.1", "http://127.0.0.1:8000"),
        ("0.0.0.0", "http://0.0.0.0:8000"),
        ("localhost", "http://localhost:8000"),
        ("::1", "http://[::1]:8000"),
        ("::", "http://[::]:8000"),
        ("fe80::1%eth0", "http://[fe80::1%25eth0]:8000"),
    ],
)
def test_server_url_brackets_ipv6(host: str, url: str) -> None:
    assert server_url(host, 8000) == url
