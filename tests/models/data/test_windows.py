"""Windowing, the chronological split and scalers fitted on training data."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from models.data.scaling import Scaler, fit_scaler
from models.data.windows import (
    history_rows,
    prepare_windows,
    split_bounds,
    to_prices,
    to_values,
)
from models.errors import DataError


def closes_100_to_124() -> np.ndarray:
    """Training closes 100..109, validation 110..114, test 120..124."""
    return np.concatenate(
        [np.arange(100, 110), np.arange(110, 115), np.arange(120, 125)]
    ).astype(float)


def test_minmax_scaler_sees_training_closes_only() -> None:
    data = prepare_windows(
        closes_100_to_124(),
        target="price",
        scaler_kind="minmax",
        lookback=2,
        horizon=1,
        val_fraction=0.25,
        test_fraction=0.25,
    )
    assert data.scaler.minimum == 100.0
    assert data.scaler.maximum == 109.0
    assert data.scaler.shift == 100.0
    assert data.scaler.scale == 9.0


def test_standard_scaler_sees_training_values_only() -> None:
    prices = closes_100_to_124()
    data = prepare_windows(
        prices,
        target="price",
        scaler_kind="standard",
        lookback=2,
        horizon=1,
        val_fraction=0.25,
        test_fraction=0.25,
    )
    assert data.scaler.shift == pytest.approx(np.mean(prices[:10]))
    assert data.scaler.scale == pytest.approx(np.std(prices[:10]))


def test_no_target_crosses_a_part_boundary() -> None:
    # price i + 1 at index i, so every target reveals its own position
    prices = np.arange(1.0, 301.0)
    lookback, horizon = 12, 4
    data = prepare_windows(
        prices,
        target="price",
        scaler_kind="minmax",
        lookback=lookback,
        horizon=horizon,
        val_fraction=0.2,
        test_fraction=0.2,
    )
    b = data.bounds

    def positions(y: torch.Tensor) -> np.ndarray:
        return np.rint(data.scaler.inverse(y.double().numpy())).astype(int) - 1

    train, val, test = (
        positions(data.y_train),
        positions(data.y_val),
        positions(data.y_test),
    )
    assert train.max() < b.val_start
    assert val.min() >= b.val_start
    assert val.max() < b.test_start
    assert test.min() >= b.test_start
    assert test.max() < b.n_values
    # every admissible window is used: none is lost at a boundary
    assert len(train) + len(val) + len(test) == 300 - lookback - horizon + 1 - 2 * (
        horizon - 1
    )


def test_windows_match_the_series() -> None:
    prices = np.arange(1.0, 41.0)
    data = prepare_windows(
        prices,
        target="price",
        scaler_kind="minmax",
        lookback=3,
        horizon=2,
        val_fraction=0.25,
        test_fraction=0.25,
    )
    inverse = data.scaler.inverse
    first_x = inverse(data.x_train[0, :, 0].double().numpy())
    first_y = inverse(data.y_train[0].double().numpy())
    np.testing.assert_allclose(first_x, [1.0, 2.0, 3.0], atol=1e-4)
    np.testing.assert_allclose(first_y, [4.0, 5.0], atol=1e-4)
    assert data.x_train.shape == (len(data.y_train), 3, 1)
    # the test windows' origins are the last input price of each window
    last_inputs = inverse(data.x_test[:, -1, 0].double().numpy())
    np.testing.assert_allclose(last_inputs, prices[data.test_origin], atol=1e-4)


def test_log_return_round_trip() -> None:
    prices = np.array([10.0, 11.0, 12.1, 11.5])
    values = to_values(prices, "log_return")
    assert values.shape == (3,)
    rebuilt = to_prices(prices[0], values, "log_return")
    np.testing.assert_allclose(rebuilt, prices[1:])
    assert history_rows(60, "log_return") == 61
    assert history_rows(60, "price") == 60


def test_log_return_rejects_non_positive() -> None:
    with pytest.raises(DataError, match="target log_return needs positive values"):
        to_values(np.array([1.0, 0.0, 2.0]), "log_return")


def window_error(values: np.ndarray, target: str) -> str:
    """Return the message of the ``DataError`` that windowing ``values``
    with lookback 20 and horizon 5 raises."""
    with pytest.raises(DataError) as info:
        prepare_windows(
            values,
            target=target,
            scaler_kind="standard",
            lookback=20,
            horizon=5,
            val_fraction=0.15,
            test_fraction=0.15,
        )
    return str(info.value)


def test_too_short_series_names_the_fix() -> None:
    message = window_error(np.arange(1.0, 31.0), "price")

    assert "series of 30 rows is too short for lookback=20, horizon=5" in message
    assert "the train part gets no complete window" in message
    assert "use a longer series or a smaller lookback or horizon" in message


def test_one_row_series_message_is_singular() -> None:
    message = window_error(np.array([100.0]), "log_return")

    assert message.startswith("series of 1 row is too short")
    assert "the train, validation and test parts get no complete window" in message


def test_one_non_positive_value_is_singular() -> None:
    with pytest.raises(DataError, match="the series has 1 value <= 0;"):
        to_values(np.array([1.0, 0.0, 2.0]), "log_return")


def test_split_bounds_are_chronological() -> None:
    bounds = split_bounds(100, 0.15, 0.15)
    assert bounds.val_start == 70
    assert bounds.test_start == 85
    assert bounds.n_values == 100


def test_scaler_round_trip_and_constant_input() -> None:
    scaler = fit_scaler("standard", np.array([1.0, 2.0, 3.0]))
    assert Scaler.from_dict(scaler.to_dict()) == scaler
    x = np.array([0.5, 7.0])
    np.testing.assert_allclose(scaler.inverse(scaler.transform(x)), x)
    constant = fit_scaler("minmax", np.array([5.0, 5.0]))
    assert constant.scale == 1.0
