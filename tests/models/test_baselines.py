"""Baseline forecasts against values computed by hand."""

from __future__ import annotations

import numpy as np
import pytest

from models.baselines import (
    drift_forecast,
    forecast_baselines,
    mean_forecast,
    season_period,
    seasonal_naive_forecast,
)
from models.spec import BundledData, SyntheticData

PRICES = np.array([2.0, 4.0, 3.0, 7.0, 6.0, 8.0, 5.0, 9.0])


def test_drift_by_hand() -> None:
    # origin 3: slope (7 - 2) / 3; origin 5 from start 2: slope (8 - 3) / 3
    result = drift_forecast(PRICES, np.array([3, 5]), 2, np.array([0, 2]))
    np.testing.assert_allclose(result[0], [7 + 5 / 3, 7 + 10 / 3])
    np.testing.assert_allclose(result[1], [8 + 5 / 3, 8 + 10 / 3])


def test_drift_with_one_price_is_flat() -> None:
    result = drift_forecast(PRICES, np.array([2]), 3, np.array([2]))
    np.testing.assert_allclose(result, [[3.0, 3.0, 3.0]])


def test_mean_by_hand() -> None:
    result = mean_forecast(PRICES, np.array([3, 5]), 2, np.array([0, 4]))
    np.testing.assert_allclose(result[0], [4.0, 4.0])  # (2 + 4 + 3 + 7) / 4
    np.testing.assert_allclose(result[1], [7.0, 7.0])  # (6 + 8) / 2


def test_seasonal_naive_by_hand() -> None:
    # period 3 at origin 4: steps 1..4 take indices 2, 3, 4, 2 + 3 = 5 - 3
    result = seasonal_naive_forecast(PRICES, np.array([4]), 4, 3)
    np.testing.assert_allclose(result, [[3.0, 7.0, 6.0, 3.0]])


def test_seasonal_naive_needs_a_full_season() -> None:
    with pytest.raises(ValueError, match="needs 3 prices up to each origin"):
        seasonal_naive_forecast(PRICES, np.array([1]), 2, 3)


def test_forecast_baselines_uses_no_future_price() -> None:
    origins = np.array([3, 4])
    base = forecast_baselines(PRICES, origins, 3, season=2)
    changed = PRICES.copy()
    changed[5:] = 1000.0  # every price after the last origin
    again = forecast_baselines(changed, origins, 3, season=2)
    assert set(base) == {"naive", "drift", "mean", "seasonal_naive"}
    for name, values in base.items():
        np.testing.assert_array_equal(values, again[name], err_msg=name)


def test_seasonal_naive_left_out_without_a_full_season() -> None:
    result = forecast_baselines(PRICES, np.array([1, 5]), 2, season=3)
    assert "seasonal_naive" not in result


def test_season_period_of_data_sources() -> None:
    assert season_period(SyntheticData(generator="noisy_sine", period=24.6)) == 25
    assert season_period(SyntheticData(generator="ar1")) is None
    assert season_period(SyntheticData(generator="mackey_glass")) is None
    assert season_period(BundledData()) is None
