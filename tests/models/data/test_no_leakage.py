"""Nothing fitted before the test part reads a test price: scalers, windows,
weights, validation losses and interval calibration."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from models.data.series import Series
from models.data.windows import prepare_windows
from models.spec import TrainingSpec
from models.training import fit

ROWS = 400


def series_of(values: np.ndarray) -> Series:
    dates = pd.bdate_range("2010-01-04", periods=len(values), name="date")
    frame = pd.DataFrame({"close": values}, index=dates)
    return Series(frame, {"source": "test"}, "0")


def base_prices() -> np.ndarray:
    steps = np.arange(ROWS)
    return 50.0 + 5.0 * np.sin(steps * 2 * np.pi / 30) + 0.02 * steps


def with_changed_test_part(prices: np.ndarray, test_start: int) -> np.ndarray:
    """Multiply every price from ``test_start`` on by 3 (far outside the
    training range, so a leak would shift the scaler and the windows)."""
    changed = prices.copy()
    changed[test_start:] *= 3.0
    return changed


@pytest.mark.parametrize("target", ["price", "log_return"])
@pytest.mark.parametrize("scaler", ["standard", "minmax"])
def test_train_and_validation_windows_ignore_test_prices(
    target: str, scaler: str
) -> None:
    settings = {
        "target": target,
        "scaler_kind": scaler,
        "lookback": 12,
        "horizon": 4,
        "val_fraction": 0.15,
        "test_fraction": 0.15,
    }
    prices = base_prices()
    first = prepare_windows(prices, **settings)
    # the first test target is value index test_start, price index + offset
    test_price = first.bounds.test_start + first.offset
    second = prepare_windows(with_changed_test_part(prices, test_price), **settings)

    assert first.scaler == second.scaler
    for part in ("x_train", "y_train", "x_val", "y_val"):
        assert torch.equal(getattr(first, part), getattr(second, part)), part
    assert not torch.equal(first.y_test, second.y_test)


@pytest.mark.parametrize("target", ["price", "log_return"])
def test_fit_ignores_test_prices(target: str) -> None:
    spec = TrainingSpec(
        name="leak",
        hidden_size=6,
        num_layers=1,
        lookback=12,
        horizon=4,
        epochs=3,
        batch_size=64,
        target=target,
        patience=None,
    )
    prices = base_prices()
    series = series_of(prices)
    first = fit(spec, series)
    # change every price from the first test target on
    test_start = pd.Timestamp(first.split["test"]["start"])
    test_price = series.frame.index.get_loc(test_start)
    assert series.frame.index[test_price - 1] == pd.Timestamp(
        first.split["validation"]["end"]
    )
    second = fit(spec, series_of(with_changed_test_part(prices, test_price)))

    for key, value in first.model.state_dict().items():
        assert torch.equal(value, second.model.state_dict()[key]), key
    assert [r.val_loss for r in first.history] == [r.val_loss for r in second.history]
    assert first.intervals is not None
    assert second.intervals is not None
    np.testing.assert_array_equal(
        first.intervals.half_widths, second.intervals.half_widths
    )
    # the test metrics do change: they are the only place test prices enter
    assert first.metrics["model"]["rmse"] != second.metrics["model"]["rmse"]
