"""Forecast metrics in price units and the naive baseline beside them.

Arrays of forecasts and actuals are (W, K): W forecast origins, K steps.
"""

from __future__ import annotations

from typing import Any

import numpy as np


def rmse(actual: np.ndarray, forecast: np.ndarray) -> float:
    """Root mean squared error, in the units of the series."""
    return float(np.sqrt(np.mean((forecast - actual) ** 2)))


def mae(actual: np.ndarray, forecast: np.ndarray) -> float:
    """Mean absolute error, in the units of the series."""
    return float(np.mean(np.abs(forecast - actual)))


def mape(actual: np.ndarray, forecast: np.ndarray) -> float:
    """Mean absolute percentage error, in percent; needs non-zero actuals."""
    return float(100.0 * np.mean(np.abs((forecast - actual) / actual)))


def naive_scale(train_prices: np.ndarray) -> float:
    """In-sample mean absolute error of the one-step naive forecast, MASE's
    denominator: mean |p_t - p_{t-1}| over the training part."""
    return float(np.mean(np.abs(np.diff(train_prices))))


def mase(actual: np.ndarray, forecast: np.ndarray, scale: float) -> float:
    """Mean absolute scaled error: MAE divided by ``naive_scale``."""
    return mae(actual, forecast) / scale


def score(actual: np.ndarray, forecast: np.ndarray, scale: float) -> dict[str, float]:
    """All point metrics of one forecaster on (W, K) arrays."""
    return {
        "rmse": rmse(actual, forecast),
        "mae": mae(actual, forecast),
        "mape": mape(actual, forecast),
        "mase": mase(actual, forecast, scale),
    }


def naive_forecast(prices: np.ndarray, origins: np.ndarray, horizon: int) -> np.ndarray:
    """The last observed price repeated for K steps at each origin: (W, K)."""
    return np.repeat(prices[origins][:, None], horizon, axis=1)


def actual_prices(prices: np.ndarray, origins: np.ndarray, horizon: int) -> np.ndarray:
    """The K prices after each origin: (W, K)."""
    steps = origins[:, None] + np.arange(1, horizon + 1)[None, :]
    return prices[steps]


def skill(model_error: float, baseline_error: float) -> float:
    """Skill score 1 - model / baseline: 0 equals the baseline, 1 is perfect."""
    if baseline_error == 0:
        return 0.0 if model_error == 0 else float("-inf")
    return 1.0 - model_error / baseline_error


def compare_to_naive(
    prices: np.ndarray,
    origins: np.ndarray,
    forecast: np.ndarray,
    train_end: int,
) -> dict[str, Any]:
    """Score ``forecast`` (W, K) against the naive last value on the same origins.

    ``train_end`` is the index of the first price after the training part;
    MASE is scaled by the naive error on ``prices[:train_end]``.
    """
    horizon = forecast.shape[1]
    actual = actual_prices(prices, origins, horizon)
    naive = naive_forecast(prices, origins, horizon)
    scale = naive_scale(prices[:train_end])

    model_scores = score(actual, forecast, scale)
    naive_scores = score(actual, naive, scale)
    return {
        "model": model_scores,
        "naive": naive_scores,
        "skill_rmse": skill(model_scores["rmse"], naive_scores["rmse"]),
        "windows": int(len(origins)),
        "horizon": int(horizon),
    }
