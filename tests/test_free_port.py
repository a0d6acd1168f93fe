"""The ports that test and benchmark servers listen on."""

from __future__ import annotations

import socket

import pytest

from bench.ports import PORTS_VARIABLE, free_port


def test_free_port_within_range(monkeypatch: pytest.MonkeyPatch) -> None:
    port = free_port()
    monkeypatch.setenv(PORTS_VARIABLE, f"{port}-{port}")

    assert free_port() == port


def test_free_port_range_in_use(monkeypatch: pytest.MonkeyPatch) -> None:
    port = free_port()
    monkeypatch.setenv(PORTS_VARIABLE, f"{port}-{port}")

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", port))
        with pytest.raises(RuntimeError, match="no free port in the range"):
            free_port()


@pytest.mark.parametrize("ports", ["abc", "18500", "18599-18500", "0-10"])
def test_free_port_invalid_range(monkeypatch: pytest.MonkeyPatch, ports: str) -> None:
    monkeypatch.setenv(PORTS_VARIABLE, ports)

    with pytest.raises(ValueError, match=PORTS_VARIABLE):
        free_port()
