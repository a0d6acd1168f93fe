"""A forecast from a version's stored tail against one from a history that
sends the same rows: the same dates and float64 closes give the same bits."""

from __future__ import annotations

import datetime as dt

import pytest

from models.forecasting import Forecast, build_input, run_batch
from models.nn import infer_kernel
from models.registry import Registry
from tests.conftest import CELL_MODELS
from tests.models.torch_threads import one_torch_thread  # noqa: F401

LEVELS = (None, 0.9)


def stored_rows(registry: Registry, name: str) -> tuple[list[dt.date], list[float]]:
    """The dates and closes of version 1's tail as ``metadata.json`` stores
    them, with the dates parsed as the HTTP decoders parse them."""
    tail = registry.metadata(name, 1)["tail"]
    return [dt.date.fromisoformat(day) for day in tail["dates"]], tail["close"]


def assert_same_bits(by_tail: Forecast, by_history: Forecast) -> None:
    assert by_history.dates == by_tail.dates
    assert by_history.values == by_tail.values
    assert by_history.lower == by_tail.lower
    assert by_history.upper == by_tail.upper


@pytest.mark.parametrize("operator", ["kernel", "torch"])
@pytest.mark.parametrize("name", CELL_MODELS)
def test_sent_tail_gives_stored_tail_bits(
    cell_registry: Registry, monkeypatch: pytest.MonkeyPatch, name: str, operator: str
) -> None:
    assert infer_kernel.load()
    if operator == "torch":
        monkeypatch.setenv(infer_kernel.SWITCH, "0")
    loaded = cell_registry.load(name)
    assert (loaded.model.kernel_weights() is not None) == (operator == "kernel")
    assert loaded.metadata["intervals"]
    dates, closes = stored_rows(cell_registry, name)

    for horizon in range(1, loaded.horizon + 1):
        for level in LEVELS:
            stored = build_input(loaded, horizon, level=level)
            sent = build_input(loaded, horizon, dates, closes, level=level)
            assert not stored.from_request
            assert sent.from_request
            [by_tail] = run_batch(loaded, [stored])
            [by_history] = run_batch(loaded, [sent])
            assert_same_bits(by_tail, by_history)
            assert (by_tail.lower is None) == (level is None)


@pytest.mark.parametrize("name", CELL_MODELS)
def test_longer_history_gives_tail_bits(cell_registry: Registry, name: str) -> None:
    loaded = cell_registry.load(name)
    dates, closes = stored_rows(cell_registry, name)
    # earlier rows that the model does not read
    earlier = [dates[0] - dt.timedelta(days=back) for back in range(10, 0, -1)]
    longer = build_input(
        loaded, loaded.horizon, earlier + dates, [2 * closes[0]] * 10 + closes
    )

    [by_tail] = run_batch(loaded, [build_input(loaded, loaded.horizon)])
    [by_history] = run_batch(loaded, [longer])

    assert_same_bits(by_tail, by_history)


@pytest.mark.parametrize("name", CELL_MODELS)
def test_batched_tail_gives_lone_history_bits(
    cell_registry: Registry, name: str
) -> None:
    assert infer_kernel.load()
    loaded = cell_registry.load(name)
    dates, closes = stored_rows(cell_registry, name)
    higher = [1.1 * close for close in closes]

    for horizon in range(1, loaded.horizon + 1):
        batch = [
            build_input(loaded, loaded.horizon, dates, higher, level=0.8),
            build_input(loaded, horizon, level=0.9),
            build_input(loaded, 1),
        ]
        by_tail = run_batch(loaded, batch)[1]
        sent = build_input(loaded, horizon, dates, closes, level=0.9)
        [by_history] = run_batch(loaded, [sent])
        assert_same_bits(by_tail, by_history)
