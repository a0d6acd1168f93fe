"""The ports that test and benchmark servers listen on."""

from __future__ import annotations

import socket

import pytest

from bench.ports import PORTS_VARIABLE, free_port, worker_range


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


def test_worker_ranges_split_the_range_without_overlap() -> None:
    parts = [worker_range("18500-18599", worker, 3) for worker in range(3)]

    assert parts == ["18500-18532", "18533-18565", "18566-18598"]


def test_worker_range_narrower_than_workers_is_rejected() -> None:
    with pytest.raises(ValueError, match="fewer ports than the 3 test processes"):
        worker_range("18500-18501", 0, 3)
