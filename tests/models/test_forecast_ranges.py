"""Forecast histories outside the range that training can scale."""

from __future__ import annotations

import pytest

from models.errors import InvalidInputError
from models.forecasting import build_input, horizon_fix, run_batch
from models.registry import Registry


def history(registry: Registry, name: str) -> tuple[list[str], list[float]]:
    loaded = registry.load(name)
    return list(loaded.tail_dates), [float(c) for c in loaded.tail_close]


# a close just beyond the bound is printed in full, so that it never reads
# as the bound itself
@pytest.mark.parametrize(
    ("close", "printed"), [(1.7e308, "1.7e+308"), (1.0000001e150, "1.0000001e+150")]
)
def test_close_beyond_the_bound_is_named(
    trained_registry: Registry, close: float, printed: str
) -> None:
    loaded = trained_registry.load("nflx")
    dates, closes = history(trained_registry, "nflx")
    closes[-1] = close

    with pytest.raises(InvalidInputError) as caught:
        build_input(loaded, 3, dates, closes)

    field = f"history[{len(closes) - 1}].close"
    assert caught.value.field == field
    assert caught.value.message == (
        f"{field} is {printed}, too large to scale; send closes between -1e+150 "
        "and 1e+150"
    )


def test_unused_history_rows_are_unchecked(
    trained_registry: Registry,
) -> None:
    loaded = trained_registry.load("nflx")
    dates, closes = history(trained_registry, "nflx")
    early = ["2020-01-02", "2020-01-03"]

    item = build_input(loaded, 3, early + dates, [1e200, 1e200] + closes)

    assert (
        run_batch(loaded, [item])[0].values
        == run_batch(loaded, [build_input(loaded, 3, dates, closes)])[0].values
    )


def test_history_far_from_the_training_part_is_rejected(
    trained_registry: Registry,
) -> None:
    loaded = trained_registry.load("sine")
    dates, closes = history(trained_registry, "sine")
    closes[-2] = 1e9
    scaler = loaded.scaler

    with pytest.raises(InvalidInputError) as caught:
        build_input(loaded, 2, dates, closes)

    row = len(closes) - 2
    assert caught.value.field == f"history[{row}].close"
    assert caught.value.message == (
        f"history[{row}].close is 1000000000.0, whose value 1000000000.0 the "
        f"scaler of sine:1 (shift {scaler.shift:g}, scale {scaler.scale:g}) maps "
        f"to {(1e9 - scaler.shift) / scaler.scale!r}, beyond 16,777,216 (2^24) "
        "scales, where float32 cannot tell values one scale apart; send a "
        f"history whose values lie nearer the {scaler.minimum:g} to "
        f"{scaler.maximum:g} of the version's training part"
    )


def test_tiny_positive_closes_forecast_tiny_prices(trained_registry: Registry) -> None:
    loaded = trained_registry.load("nflx")
    dates, closes = history(trained_registry, "nflx")

    item = build_input(loaded, 2, dates, [1e-300] * len(closes))

    for value in run_batch(loaded, [item])[0].values:
        assert 0.5e-300 < value < 2e-300


@pytest.mark.parametrize(
    ("steps", "fix"),
    [
        (1, "which forecasts 1 step; request a horizon of 1"),
        (5, "which forecasts 1 to 5 steps; request a horizon between 1 and 5"),
    ],
)
def test_horizon_fix_counts_steps(steps: int, fix: str) -> None:
    assert horizon_fix(steps) == fix
