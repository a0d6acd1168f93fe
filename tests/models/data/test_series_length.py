"""The fewest rows that a training spec can train on: ``min_series_rows``
over every split, and ``fewest_rows`` for given fractions."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from models.data.windows import fewest_rows, min_series_rows, split_values
from models.errors import DataError
from models.spec import MIN_HORIZON, MIN_LOOKBACK, TrainingSpec

# fractions from 0.005 to 0.495: the spec accepts any in (0, 0.5)
FRACTIONS = [step / 200 for step in range(1, 100)]


def trains(n_prices: int, spec: dict[str, object]) -> bool:
    """True when ``split_values`` gives every part a window."""
    prices = np.linspace(1.0, 2.0, n_prices)
    try:
        split_values(prices, **spec)  # type: ignore[arg-type]
    except DataError:
        return False
    return True


@pytest.mark.parametrize(
    ("lookback", "horizon", "target"),
    [(2, 1, "price"), (2, 1, "log_return"), (5, 3, "price"), (20, 1, "log_return")],
)
def test_min_series_rows_over_all_splits(
    lookback: int, horizon: int, target: str
) -> None:
    least = min_series_rows(lookback, horizon, target)

    def any_split(n_prices: int) -> bool:
        return any(
            trains(
                n_prices,
                {
                    "target": target,
                    "lookback": lookback,
                    "horizon": horizon,
                    "val_fraction": val,
                    "test_fraction": test,
                },
            )
            for val, test in itertools.product(FRACTIONS, FRACTIONS)
        )

    assert any_split(least)
    assert not any_split(least - 1)


def test_smallest_spec_needs_five_rows() -> None:
    assert min_series_rows(MIN_LOOKBACK, MIN_HORIZON, "price") == 5


@pytest.mark.parametrize(
    ("lookback", "horizon", "target", "val", "test"),
    [
        (60, 10, "log_return", 0.15, 0.15),
        (20, 1, "log_return", 0.15, 0.15),
        (2, 1, "price", 0.3, 0.1),
        (7, 4, "price", 0.05, 0.45),
    ],
)
def test_fewest_rows_for_fractions(
    lookback: int, horizon: int, target: str, val: float, test: float
) -> None:
    spec = {
        "target": target,
        "lookback": lookback,
        "horizon": horizon,
        "val_fraction": val,
        "test_fraction": test,
    }

    least = fewest_rows(lookback, horizon, target, val, test)

    assert trains(least, spec)
    assert not any(trains(n_prices, spec) for n_prices in range(2, least))


def test_default_spec_needs_101_rows() -> None:
    spec = TrainingSpec()

    least = fewest_rows(
        spec.lookback,
        spec.horizon,
        spec.target,
        spec.val_fraction,
        spec.test_fraction,
    )

    assert least == 101
