"""Targets, sliding windows and the chronological train/validation/test split.

A series of N prices p_0 .. p_{N-1} becomes N modelled values: the prices
themselves (target ``price``) or the N - 1 log returns
r_t = log(p_t / p_{t-1}) (target ``log_return``). A window starting at i takes
the T values v[i : i+T] as input and the K values v[i+T : i+T+K] as target.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from models.data.scaling import Scaler, ScalerKind, fit_scaler
from models.data.value_range import check_scaled, check_training_spread
from models.errors import DataError
from models.plurals import plural

MIN_WINDOWS_PER_PART = 1


def value_offset(target: str) -> int:
    """Return the number of prices before the first modelled value: 1 for a
    log-return target, whose first value needs two prices, else 0."""
    return 1 if target == "log_return" else 0


def to_values(prices: np.ndarray, target: str) -> np.ndarray:
    """Map prices (N,) to modelled values: (N,) prices or (N-1,) log returns."""
    if target == "price":
        return prices.astype(np.float64)
    if np.any(prices <= 0):
        count = int(np.sum(prices <= 0))
        raise DataError(
            "target log_return needs positive values, but the series has "
            f"{plural(count, 'value')} <= 0; use target price",
            field="target",
        )
    return np.diff(np.log(prices.astype(np.float64)))


def to_prices(last_price: float, values: np.ndarray, target: str) -> np.ndarray:
    """Turn forecast values (..., K) back into prices after ``last_price``."""
    if target == "price":
        return values
    return last_price * np.exp(values.cumsum(axis=-1))


def history_rows(lookback: int, target: str) -> int:
    """Return how many prices one forecast needs: T, plus one for returns."""
    return lookback + value_offset(target)


def min_series_rows(lookback: int, horizon: int, target: str) -> int:
    """Return the fewest prices that some ``val_fraction`` and
    ``test_fraction`` split into three parts of ``MIN_WINDOWS_PER_PART``
    complete windows each.

    W windows whose K targets all lie in a part need K + W - 1 values of
    the validation or the test part. The training part needs T + K + W - 1,
    because its first T values are inputs only. So N >= T + 3 (K + W - 1)
    values, and a log-return target needs one price more than values.
    """
    part = horizon + MIN_WINDOWS_PER_PART - 1
    return lookback + 3 * part + value_offset(target)


def window_starts(first_target: int, end: int, lookback: int, horizon: int) -> range:
    """Starts i of the windows whose targets all lie in [first_target, end)."""
    return range(max(first_target - lookback, 0), end - lookback - horizon + 1)


def make_windows(
    scaled: np.ndarray, starts: range, lookback: int, horizon: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Cut windows from scaled values (N,): inputs (B, T, 1), targets (B, K).

    The windows are views into one array built with numpy striding, so no
    Python work per window.
    """
    if len(starts) == 0:
        return torch.zeros(0, lookback, 1), torch.zeros(0, horizon)
    view = np.lib.stride_tricks.sliding_window_view(scaled, lookback + horizon)
    block = view[starts.start : starts.stop].astype(np.float32)
    x = torch.from_numpy(np.ascontiguousarray(block[:, :lookback, None]))
    y = torch.from_numpy(np.ascontiguousarray(block[:, lookback:]))
    return x, y


@dataclass(frozen=True)
class SplitBounds:
    """Value indices where the validation part and the test part begin."""

    val_start: int
    test_start: int
    n_values: int


def split_bounds(
    n_values: int, val_fraction: float, test_fraction: float
) -> SplitBounds:
    """Split N values chronologically: train [0, a), val [a, b), test [b, N)."""
    test_start = n_values - math.ceil(n_values * test_fraction)
    val_start = test_start - math.ceil(n_values * val_fraction)
    return SplitBounds(val_start, test_start, n_values)


@dataclass(frozen=True)
class WindowedData:
    """Scaled windows of the three parts plus what is needed to undo them.

    ``test_origin`` (W,) holds, per test window, the index into ``prices`` of
    the last price observed before the window's first target, so forecasts
    can be turned back into prices and set against the naive last-value
    forecast.
    """

    prices: np.ndarray
    values: np.ndarray
    scaler: Scaler
    bounds: SplitBounds
    x_train: torch.Tensor
    y_train: torch.Tensor
    x_val: torch.Tensor
    y_val: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    test_origin: np.ndarray
    offset: int


class SeriesTooShortError(DataError):
    """A series of ``rows`` prices whose split leaves a part without a
    complete window; ``short_parts`` names those parts (train, validation,
    test)."""

    def __init__(
        self, message: str, *, field: str | None, rows: int, short_parts: list[str]
    ) -> None:
        super().__init__(message, field=field)
        self.rows = rows
        self.short_parts = short_parts


def split_values(
    prices: np.ndarray,
    *,
    target: str,
    lookback: int,
    horizon: int,
    val_fraction: float,
    test_fraction: float,
) -> tuple[np.ndarray, SplitBounds]:
    """Map prices (N,) to modelled values and split them, building no windows.

    Raises ``DataError`` when ``target`` cannot model the prices or when a
    part of the split gets no complete window.
    """
    values = to_values(prices, target)
    bounds = split_bounds(len(values), val_fraction, test_fraction)
    _check_length(len(prices), bounds, lookback, horizon, val_fraction, test_fraction)
    return values, bounds


def prepare_windows(
    prices: np.ndarray,
    *,
    target: str,
    scaler_kind: ScalerKind,
    lookback: int,
    horizon: int,
    val_fraction: float,
    test_fraction: float,
) -> WindowedData:
    """Build scaled train, validation and test windows from prices (N,).

    No target of one part falls in another: a window belongs to a part only
    when all K of its targets do, and its inputs may reach back into the
    earlier part. The scaler is fitted on the training values alone, and
    ``scale_values`` raises ``DataError`` for values that it cannot scale.
    """
    values, bounds = split_values(
        prices,
        target=target,
        lookback=lookback,
        horizon=horizon,
        val_fraction=val_fraction,
        test_fraction=test_fraction,
    )
    offset = len(prices) - len(values)
    scaler, scaled = scale_values(values, bounds, scaler_kind, target)

    train = window_starts(0, bounds.val_start, lookback, horizon)
    val = window_starts(bounds.val_start, bounds.test_start, lookback, horizon)
    test = window_starts(bounds.test_start, bounds.n_values, lookback, horizon)

    x_train, y_train = make_windows(scaled, train, lookback, horizon)
    x_val, y_val = make_windows(scaled, val, lookback, horizon)
    x_test, y_test = make_windows(scaled, test, lookback, horizon)

    # the last observed price of window i is p at value index i + T - 1
    test_origin = np.arange(test.start, test.stop) + lookback - 1 + offset
    return WindowedData(
        prices=prices.astype(np.float64),
        values=values,
        scaler=scaler,
        bounds=bounds,
        x_train=x_train,
        y_train=y_train,
        x_val=x_val,
        y_val=y_val,
        x_test=x_test,
        y_test=y_test,
        test_origin=test_origin,
        offset=offset,
    )


def scale_values(
    values: np.ndarray, bounds: SplitBounds, scaler_kind: ScalerKind, target: str
) -> tuple[Scaler, np.ndarray]:
    """Fit the scaler on the training part of the modelled ``values`` (N,)
    and return it with every value scaled (N,).

    Raises ``DataError`` when the training part varies too little to scale,
    or when a scaled value lies beyond the range that float32 resolves (see
    ``models.data.value_range``).
    """
    train = values[: bounds.val_start]
    check_training_spread(train, scaler_kind, target)
    scaler = fit_scaler(scaler_kind, train)
    scaled = scaler.transform(values)
    check_scaled(scaled, values, scaler, test_start=bounds.test_start, target=target)
    return scaler, scaled


def short_parts(bounds: SplitBounds, lookback: int, horizon: int) -> list[str]:
    """Return the parts of a split (train, validation, test) that get fewer
    than ``MIN_WINDOWS_PER_PART`` complete windows."""
    parts = {
        "train": len(window_starts(0, bounds.val_start, lookback, horizon)),
        "validation": len(
            window_starts(bounds.val_start, bounds.test_start, lookback, horizon)
        ),
        "test": len(
            window_starts(bounds.test_start, bounds.n_values, lookback, horizon)
        ),
    }
    return [name for name, count in parts.items() if count < MIN_WINDOWS_PER_PART]


def fewest_rows(
    lookback: int,
    horizon: int,
    target: str,
    val_fraction: float,
    test_fraction: float,
) -> int:
    """Return the fewest prices that a spec with these fields can train on:
    the first length from ``min_series_rows`` on whose split leaves no part
    short of windows."""
    offset = value_offset(target)
    n_prices = min_series_rows(lookback, horizon, target)
    while short_parts(
        split_bounds(n_prices - offset, val_fraction, test_fraction),
        lookback,
        horizon,
    ):
        n_prices += 1
    return n_prices


def _check_length(
    n_prices: int,
    bounds: SplitBounds,
    lookback: int,
    horizon: int,
    val_fraction: float,
    test_fraction: float,
) -> None:
    short = short_parts(bounds, lookback, horizon)
    if short:
        raise SeriesTooShortError(
            f"series of {plural(n_prices, 'row')} is too short for "
            f"lookback={lookback}, horizon={horizon}, val_fraction={val_fraction} "
            f"and test_fraction={test_fraction}: {name_parts(short)} no complete "
            "window; use a longer series or a smaller lookback or horizon",
            field="data",
            rows=n_prices,
            short_parts=short,
        )


def name_parts(parts: list[str]) -> str:
    """Return ``"the test part gets"`` or ``"the train and test parts get"``."""
    if len(parts) == 1:
        return f"the {parts[0]} part gets"
    return f"the {', '.join(parts[:-1])} and {parts[-1]} parts get"
