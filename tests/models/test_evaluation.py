"""Metrics against values computed by hand."""

from __future__ import annotations

import numpy as np
import pytest

from models.evaluation import (
    compare_to_naive,
    mae,
    mape,
    mase,
    naive_scale,
    rmse,
    skill,
)

ACTUAL = np.array([[100.0, 110.0], [120.0, 90.0]])
FORECAST = np.array([[102.0, 107.0], [120.0, 94.0]])


def test_rmse_by_hand() -> None:
    # errors 2, -3, 0, 4: squares 4, 9, 0, 16 -> mean 7.25
    assert rmse(ACTUAL, FORECAST) == pytest.approx(np.sqrt(7.25))


def test_mae_by_hand() -> None:
    assert mae(ACTUAL, FORECAST) == pytest.approx(9 / 4)


def test_mape_by_hand() -> None:
    expected = 100 * (2 / 100 + 3 / 110 + 0 / 120 + 4 / 90) / 4
    assert mape(ACTUAL, FORECAST) == pytest.approx(expected)


def test_mase_by_hand() -> None:
    train = np.array([10.0, 12.0, 11.0, 15.0])  # steps 2, 1, 4 -> scale 7/3
    assert naive_scale(train) == pytest.approx(7 / 3)
    assert mase(ACTUAL, FORECAST, 7 / 3) == pytest.approx((9 / 4) / (7 / 3))


def test_last_value_forecast_has_zero_skill() -> None:
    prices = np.array([1.0, 2.0, 4.0, 3.0, 5.0, 6.0, 5.5, 7.0])
    origins = np.array([3, 4, 5])
    naive = np.repeat(prices[origins][:, None], 2, axis=1)
    result = compare_to_naive(prices, origins, naive, train_end=4)
    assert result["skill_rmse"] == 0.0
    assert result["model"] == result["naive"]


def test_skill_sign() -> None:
    assert skill(1.0, 2.0) == 0.5
    assert skill(3.0, 2.0) == -0.5
