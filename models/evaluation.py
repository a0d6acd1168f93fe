"""Forecast metrics in price units and on returns, and the comparison of a
model with baselines on the same forecast origins.

Arrays of forecasts and actuals are (W, K): W forecast origins, K steps.
``origin_prices`` (W,) are the last observed prices before each forecast.
"""

from __future__ import annotations

import math
from statistics import NormalDist
from typing import Any

import numpy as np

# Confidence level of the Wilson interval when the caller gives none.
DEFAULT_CONFIDENCE = 0.95


def rmse(actual: np.ndarray, forecast: np.ndarray) -> float:
    """Root mean squared error, in the units of the series."""
    return float(np.sqrt(np.mean((forecast - actual) ** 2)))


def mae(actual: np.ndarray, forecast: np.ndarray) -> float:
    """Mean absolute error, in the units of the series."""
    return float(np.mean(np.abs(forecast - actual)))


def mape(actual: np.ndarray, forecast: np.ndarray) -> float:
    """Mean absolute percentage error, in percent; needs non-zero actuals."""
    return float(100.0 * np.mean(np.abs((forecast - actual) / actual)))


def smape(actual: np.ndarray, forecast: np.ndarray) -> float:
    """Symmetric MAPE in percent, between 0 and 200.

    The mean of 200 |F - A| / (|A| + |F|); a pair with A = F = 0 counts as 0.
    """
    numerator = 2.0 * np.abs(forecast - actual)
    denominator = np.abs(actual) + np.abs(forecast)
    ratios = np.divide(
        numerator, denominator, out=np.zeros_like(numerator), where=denominator > 0
    )
    return float(100.0 * np.mean(ratios))


def naive_scale(train_prices: np.ndarray) -> float:
    """In-sample mean absolute error of the one-step naive forecast, MASE's
    denominator: mean |p_t - p_{t-1}| over the training part."""
    return float(np.mean(np.abs(np.diff(train_prices))))


def mase(actual: np.ndarray, forecast: np.ndarray, scale: float) -> float:
    """Mean absolute scaled error: MAE divided by ``naive_scale``.

    A constant in-sample series has a scale of 0, so MASE is undefined. It
    is then inf, or nan when the MAE is 0 as well.
    """
    error = mae(actual, forecast)
    if scale == 0.0:
        return math.nan if error == 0.0 else math.inf
    return error / scale


def return_errors(
    origin_prices: np.ndarray, actual: np.ndarray, forecast: np.ndarray
) -> dict[str, float]:
    """RMSE and MAE of the simple return from the origin, as fractions.

    The actual return is A / p_0 - 1 and the forecast one F / p_0 - 1, so the
    error is (F - A) / p_0: the price error relative to the last observed
    price. Needs positive ``origin_prices`` (W,).
    """
    errors = (forecast - actual) / origin_prices[:, None]
    return {
        "return_rmse": float(np.sqrt(np.mean(errors**2))),
        "return_mae": float(np.mean(np.abs(errors))),
    }


def wilson_interval(
    hits: int, trials: int, level: float = DEFAULT_CONFIDENCE
) -> tuple[float, float]:
    """Wilson score interval for a binomial proportion ``hits / trials``.

    With z the two-sided normal quantile of ``level`` and p = hits / n, the
    bounds are (p + z^2/2n -/+ z sqrt(p(1-p)/n + z^2/4n^2)) / (1 + z^2/n),
    clipped to [0, 1]. At hits = 0 or hits = trials the exact bound is 0 or
    1, and rounding can move it just outside, such as to 1.0000000000000002
    for 9 hits of 9 at level 0.95.
    """
    if trials <= 0:
        raise ValueError(f"trials={trials} must be positive for a Wilson interval")
    if not 0 <= hits <= trials:
        raise ValueError(f"hits={hits} must lie between 0 and trials={trials}")

    z = NormalDist().inv_cdf(0.5 + level / 2.0)
    p = hits / trials
    denominator = 1.0 + z**2 / trials
    centre = p + z**2 / (2.0 * trials)
    spread = z * math.sqrt(p * (1.0 - p) / trials + z**2 / (4.0 * trials**2))
    low = max((centre - spread) / denominator, 0.0)
    high = min((centre + spread) / denominator, 1.0)
    return low, high


def directional_accuracy(
    origin_prices: np.ndarray,
    actual: np.ndarray,
    forecast: np.ndarray,
    level: float = DEFAULT_CONFIDENCE,
) -> dict[str, float | int] | None:
    """Share of forecasts that move the same way as the actual from the origin.

    Compares sign(F - p_0) with sign(A - p_0) on every (origin, step) pair of
    the (W, K) arrays. Pairs where the actual or the forecast equals p_0 have
    no direction and are left out, so a flat forecast such as the naive one
    returns None. ``low`` and ``high`` are the Wilson interval at ``level``,
    which assumes independent pairs; pass one step, e.g. ``[:, :1]``, so that
    no two pairs share a target.
    """
    actual_move = np.sign(actual - origin_prices[:, None])
    forecast_move = np.sign(forecast - origin_prices[:, None])
    counted = (actual_move != 0) & (forecast_move != 0)
    trials = int(np.sum(counted))
    if trials == 0:
        return None

    hits = int(np.sum(counted & (actual_move == forecast_move)))
    low, high = wilson_interval(hits, trials, level)
    return {
        "accuracy": hits / trials,
        "hits": hits,
        "trials": trials,
        "low": low,
        "high": high,
        "level": level,
    }


def interval_coverage(
    actual: np.ndarray, lower: np.ndarray, upper: np.ndarray
) -> float:
    """Share of actuals inside their closed interval [lower, upper]."""
    inside = (actual >= lower) & (actual <= upper)
    return float(np.mean(inside))


def interval_width(lower: np.ndarray, upper: np.ndarray) -> float:
    """Mean width upper - lower of prediction intervals, in series units."""
    return float(np.mean(upper - lower))


def score(
    actual: np.ndarray,
    forecast: np.ndarray,
    scale: float,
    origin_prices: np.ndarray | None = None,
) -> dict[str, Any]:
    """Compute every point metric of one forecaster on (W, K) arrays.

    MAPE, sMAPE and the return metrics are None unless every actual and
    every origin price is positive, because percentages of values near or
    below zero mean nothing. ``direction`` is the step-1 directional accuracy
    (None without origin prices or for a flat forecast).
    """
    scores: dict[str, Any] = {
        "rmse": rmse(actual, forecast),
        "mae": mae(actual, forecast),
        "mape": None,
        "smape": None,
        "mase": mase(actual, forecast, scale),
    }
    positive = bool(np.all(actual > 0))
    if origin_prices is not None:
        positive = positive and bool(np.all(origin_prices > 0))
    if positive:
        scores["mape"] = mape(actual, forecast)
        scores["smape"] = smape(actual, forecast)
    if origin_prices is None:
        return scores

    if positive:
        scores.update(return_errors(origin_prices, actual, forecast))
    else:
        scores.update({"return_rmse": None, "return_mae": None})
    scores["direction"] = directional_accuracy(
        origin_prices, actual[:, :1], forecast[:, :1]
    )
    return scores


def errors_by_step(actual: np.ndarray, forecast: np.ndarray) -> dict[str, list[float]]:
    """RMSE and MAE of each of the K steps over the W origins."""
    errors = forecast - actual
    return {
        "rmse": [float(v) for v in np.sqrt(np.mean(errors**2, axis=0))],
        "mae": [float(v) for v in np.mean(np.abs(errors), axis=0)],
    }


def naive_forecast(prices: np.ndarray, origins: np.ndarray, horizon: int) -> np.ndarray:
    """Repeat the last observed price for K steps at each origin: (W, K)."""
    return np.repeat(prices[origins][:, None], horizon, axis=1)


def actual_prices(prices: np.ndarray, origins: np.ndarray, horizon: int) -> np.ndarray:
    """Return the K prices after each origin: (W, K)."""
    steps = origins[:, None] + np.arange(1, horizon + 1)[None, :]
    return prices[steps]


def skill(model_error: float, baseline_error: float) -> float:
    """Skill score 1 - model / baseline: 0 equals the baseline, 1 is perfect."""
    if baseline_error == 0:
        return 0.0 if model_error == 0 else float("-inf")
    return 1.0 - model_error / baseline_error


def compare(
    prices: np.ndarray,
    origins: np.ndarray,
    forecast: np.ndarray,
    train_end: int,
    baselines: dict[str, np.ndarray],
    train_start: int = 0,
) -> dict[str, Any]:
    """Score ``forecast`` (W, K) beside baseline forecasts on the same origins.

    ``baselines`` maps a name to its (W, K) forecasts and must contain
    ``naive``, against which ``skill_rmse`` and ``skill_mae`` are computed.
    ``train_start`` and ``train_end`` are the index of the first training
    price and of the first price after the training part; MASE is scaled by
    the naive error on ``prices[train_start:train_end]``.
    """
    if "naive" not in baselines:
        raise ValueError(
            f"baselines {sorted(baselines)} lack 'naive', which every skill "
            "score is measured against; add the naive forecast"
        )
    horizon = forecast.shape[1]
    actual = actual_prices(prices, origins, horizon)
    origin_prices = prices[origins]
    scale = naive_scale(prices[train_start:train_end])

    model_scores = score(actual, forecast, scale, origin_prices)
    baseline_scores = {
        name: score(actual, values, scale, origin_prices)
        for name, values in baselines.items()
    }
    naive = baseline_scores["naive"]
    by_step = {"model": errors_by_step(actual, forecast)}
    by_step.update({n: errors_by_step(actual, v) for n, v in baselines.items()})
    return {
        "model": model_scores,
        "naive": naive,
        "baselines": baseline_scores,
        "skill_rmse": skill(model_scores["rmse"], naive["rmse"]),
        "skill_mae": skill(model_scores["mae"], naive["mae"]),
        "skill_rmse_by_baseline": {
            name: skill(model_scores["rmse"], row["rmse"])
            for name, row in baseline_scores.items()
        },
        "best_baseline": min(baseline_scores, key=lambda n: baseline_scores[n]["rmse"]),
        "by_step": by_step,
        "windows": int(len(origins)),
        "horizon": int(horizon),
    }


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
    naive = naive_forecast(prices, origins, forecast.shape[1])
    return compare(prices, origins, forecast, train_end, {"naive": naive})


def skill_summary(test_metrics: dict[str, Any]) -> dict[str, float | None]:
    """Skill against naive by metric, read from stored test metrics; a value
    is None where the version stored none."""
    return {
        "rmse": test_metrics.get("skill_rmse"),
        "mae": test_metrics.get("skill_mae"),
    }


def error_table(test_metrics: dict[str, Any]) -> dict[str, dict[str, float | None]]:
    """RMSE and MAE of the model and of every stored baseline, read from
    stored test metrics (versions from before the baselines have naive only)."""
    rows = {"model": test_metrics.get("model", {})}
    baselines = test_metrics.get("baselines") or {"naive": test_metrics.get("naive")}
    rows.update({name: row or {} for name, row in baselines.items()})
    return {
        name: {"rmse": row.get("rmse"), "mae": row.get("mae")}
        for name, row in rows.items()
    }
