"""Metrics against values computed by hand."""

from __future__ import annotations

import numpy as np
import pytest

from models.evaluation import (
    actual_prices,
    compare,
    compare_to_naive,
    directional_accuracy,
    interval_coverage,
    interval_width,
    mae,
    mape,
    mase,
    naive_forecast,
    naive_scale,
    return_errors,
    rmse,
    score,
    skill,
    smape,
    wilson_interval,
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


def test_mase_of_constant_training_series() -> None:
    scale = naive_scale(np.full(5, 3.0))
    exact = np.array([[3.0, 3.0]])

    assert scale == 0.0
    assert mase(exact + 1.0, exact, scale) == np.inf
    assert np.isnan(mase(exact, exact, scale))


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


def test_smape_by_hand() -> None:
    # 200 |F - A| / (|A| + |F|): 4/202, 6/217, 0/240, 8/184
    expected = 100 * (4 / 202 + 6 / 217 + 0 + 8 / 184) / 4
    assert smape(ACTUAL, FORECAST) == pytest.approx(expected)


def test_smape_counts_zero_pair_as_zero() -> None:
    actual = np.array([[0.0, 2.0]])
    forecast = np.array([[0.0, 1.0]])
    # pair 1 is 0/0 -> 0, pair 2 is 2 * 1 / 3
    assert smape(actual, forecast) == pytest.approx(100 * (0 + 2 / 3) / 2)


def test_return_errors_by_hand() -> None:
    origin = np.array([100.0, 120.0])
    # errors (F - A) / p0: 2/100, -3/100, 0/120, 4/120
    errors = np.array([0.02, -0.03, 0.0, 4 / 120])
    result = return_errors(origin, ACTUAL, FORECAST)
    assert result["return_rmse"] == pytest.approx(np.sqrt(np.mean(errors**2)))
    assert result["return_mae"] == pytest.approx(np.mean(np.abs(errors)))


def test_wilson_interval_matches_published_value() -> None:
    # 8 of 10 at 95 %: (0.4902, 0.9433), z = 1.959964
    low, high = wilson_interval(8, 10, 0.95)
    assert low == pytest.approx(0.49016, abs=1e-5)
    assert high == pytest.approx(0.94332, abs=1e-5)


def test_wilson_interval_by_formula() -> None:
    z = 1.959963984540054
    p, n = 3 / 4, 4
    centre = p + z**2 / (2 * n)
    spread = z * np.sqrt(p * (1 - p) / n + z**2 / (4 * n**2))
    low, high = wilson_interval(3, 4)
    assert low == pytest.approx((centre - spread) / (1 + z**2 / n))
    assert high == pytest.approx((centre + spread) / (1 + z**2 / n))


def test_wilson_interval_stays_in_unit_range() -> None:
    outside = [
        (hits, trials)
        for trials in range(1, 400)
        for hits in (0, trials)
        if not 0.0 <= wilson_interval(hits, trials)[0] <= 1.0
        or not 0.0 <= wilson_interval(hits, trials)[1] <= 1.0
    ]
    assert outside == []


def test_wilson_interval_bounds_at_edges() -> None:
    # 9 of 9 rounds above 1 and 0 of 9 below 0 without clipping
    assert wilson_interval(9, 9)[1] == 1.0
    assert wilson_interval(0, 9)[0] == 0.0


def test_wilson_interval_rejects_bad_counts() -> None:
    with pytest.raises(ValueError, match="trials=0 must be positive"):
        wilson_interval(0, 0)
    with pytest.raises(ValueError, match="hits=5 must lie between 0 and trials=4"):
        wilson_interval(5, 4)


def test_directional_accuracy_by_hand() -> None:
    origin = np.array([10.0, 10.0, 10.0, 10.0, 10.0])
    actual = np.array([[11.0], [9.0], [12.0], [10.0], [8.0]])
    forecast = np.array([[12.0], [8.0], [9.0], [11.0], [10.0]])
    # up/up hit, down/down hit, up/down miss, flat actual and flat forecast
    # are left out: 2 hits of 3
    result = directional_accuracy(origin, actual, forecast)
    assert result is not None
    assert result["hits"] == 2
    assert result["trials"] == 3
    assert result["accuracy"] == pytest.approx(2 / 3)
    low, high = wilson_interval(2, 3)
    assert result["low"] == pytest.approx(low)
    assert result["high"] == pytest.approx(high)


def test_directional_accuracy_of_flat_forecast_is_none() -> None:
    origin = np.array([10.0, 11.0])
    actual = np.array([[12.0], [10.0]])
    assert directional_accuracy(origin, actual, origin[:, None]) is None


def test_interval_coverage_and_width_by_hand() -> None:
    actual = np.array([[1.0, 5.0], [3.0, 2.0]])
    lower = np.array([[0.0, 5.0], [3.5, 0.0]])
    upper = np.array([[2.0, 6.0], [4.0, 1.0]])
    # inside: 1 in [0, 2], 5 in [5, 6] (closed); outside: 3, 2
    assert interval_coverage(actual, lower, upper) == 0.5
    assert interval_width(lower, upper) == pytest.approx((2 + 1 + 0.5 + 1) / 4)


def test_score_leaves_percentages_out_for_non_positive_values() -> None:
    actual = np.array([[-1.0, 2.0]])
    forecast = np.array([[0.0, 1.0]])
    origin = np.array([0.5])
    result = score(actual, forecast, 1.0, origin)
    assert result["mape"] is None
    assert result["smape"] is None
    assert result["return_rmse"] is None
    assert result["rmse"] == pytest.approx(1.0)


def test_compare_reports_every_baseline_and_skill() -> None:
    prices = np.array([1.0, 2.0, 4.0, 3.0, 5.0, 6.0, 5.5, 7.0])
    origins = np.array([3, 4, 5])
    naive = naive_forecast(prices, origins, 2)
    drift = naive - 1.0
    perfect = actual_prices(prices, origins, 2)
    result = compare(prices, origins, perfect, 4, {"naive": naive, "drift": drift})
    assert set(result["baselines"]) == {"naive", "drift"}
    assert result["skill_rmse"] == 1.0
    assert result["skill_mae"] == 1.0
    assert result["skill_rmse_by_baseline"]["drift"] == 1.0
    # naive errors by origin: (2, 3), (1, 0.5), (0.5, 1) -> MAE 8 / 6
    assert result["naive"]["mae"] == pytest.approx(8 / 6)
    assert result["by_step"]["naive"]["mae"] == pytest.approx([3.5 / 3, 4.5 / 3])
    assert result["best_baseline"] == "naive"


def test_compare_needs_the_naive_baseline() -> None:
    prices = np.arange(1.0, 9.0)
    origins = np.array([3, 4])
    forecast = naive_forecast(prices, origins, 2)
    with pytest.raises(ValueError, match="lack 'naive'"):
        compare(prices, origins, forecast, 4, {"drift": forecast})
