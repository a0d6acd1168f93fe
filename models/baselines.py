"""Baseline forecasts that every model is reported beside.

Each function maps prices (N,), forecast origins (W,) and a horizon K to
forecasts (W, K). An origin o is the index of the last observed price, and a
baseline reads only prices[history_start : o + 1], so no target enters it.
"""

from __future__ import annotations

import numpy as np

from models.evaluation import naive_forecast
from models.spec import DataSpec, SyntheticData

# Synthetic generators whose declared ``period`` is a true season.
SEASONAL_GENERATORS = frozenset({"sine", "noisy_sine", "trend_seasonal"})

BASELINE_NAMES = ("naive", "drift", "mean", "seasonal_naive")


def season_period(data: DataSpec) -> int | None:
    """Return the season length in steps that ``data`` declares, or None.

    Only the seasonal synthetic generators declare one: their ``period``,
    rounded to whole steps. Market prices such as the bundled NFLX closes get
    None because daily stock prices have no stable season.
    """
    if not isinstance(data, SyntheticData) or data.generator not in SEASONAL_GENERATORS:
        return None
    period = round(data.period)
    return period if period >= 2 else None


def drift_forecast(
    prices: np.ndarray, origins: np.ndarray, horizon: int, history_start: np.ndarray
) -> np.ndarray:
    """Extend the line through the first and the last observed price.

    y_{o+k} = p_o + k (p_o - p_s) / (o - s) with s the history start. The
    slope is 0 when the history contains one price.
    """
    span = origins - history_start
    rise = prices[origins] - prices[history_start]
    slope = np.divide(rise, span, out=np.zeros_like(rise), where=span > 0)
    steps = np.arange(1, horizon + 1)[None, :]
    return prices[origins][:, None] + slope[:, None] * steps


def mean_forecast(
    prices: np.ndarray, origins: np.ndarray, horizon: int, history_start: np.ndarray
) -> np.ndarray:
    """Repeat the mean of the observed prices p_s .. p_o for K steps."""
    cumulative = np.concatenate([[0.0], np.cumsum(prices, dtype=np.float64)])
    totals = cumulative[origins + 1] - cumulative[history_start]
    means = totals / (origins - history_start + 1)
    return np.repeat(means[:, None], horizon, axis=1)


def seasonal_naive_forecast(
    prices: np.ndarray, origins: np.ndarray, horizon: int, period: int
) -> np.ndarray:
    """Repeat the last season: y_{o+k} = p_{o+k-m*ceil(k/m)}, m the period.

    Raises ValueError when an origin has fewer than ``period`` prices behind
    it.
    """
    if np.any(origins - period + 1 < 0):
        raise ValueError(
            f"seasonal naive with period {period} needs {period} prices up to "
            f"each origin, but the first origin is index {int(origins.min())}"
        )
    steps = np.arange(1, horizon + 1)
    back = period * np.ceil(steps / period).astype(int)
    return prices[origins[:, None] + (steps - back)[None, :]]


def forecast_baselines(
    prices: np.ndarray,
    origins: np.ndarray,
    horizon: int,
    *,
    season: int | None = None,
    history_start: np.ndarray | int = 0,
) -> dict[str, np.ndarray]:
    """Forecasts (W, K) of every baseline that applies, keyed by name.

    ``history_start`` is the first price index each origin may use, one per
    origin or one for all. ``seasonal_naive`` is included only when
    ``season`` is given and every origin has a full season behind it.
    """
    starts = np.broadcast_to(np.asarray(history_start, dtype=int), origins.shape)
    forecasts = {
        "naive": naive_forecast(prices, origins, horizon),
        "drift": drift_forecast(prices, origins, horizon, starts),
        "mean": mean_forecast(prices, origins, horizon, starts),
    }
    if season is not None and np.all(origins - season + 1 >= starts):
        forecasts["seasonal_naive"] = seasonal_naive_forecast(
            prices, origins, horizon, season
        )
    return forecasts
