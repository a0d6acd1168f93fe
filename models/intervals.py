"""Split conformal prediction intervals per horizon step.

Calibration takes the price forecasts (W, K) of the validation windows and
their actuals. For step k the nonconformity score of window i is
s_ik = |A_ik - F_ik| (scale ``absolute``) or s_ik = |log A_ik - log F_ik|
(scale ``log``, used for positive prices, so the width follows the price
level). For a level 1 - alpha and n windows, the half-width q_k is the
ceil((n + 1)(1 - alpha))-th smallest score. Under exchangeable windows the
interval F +/- q_k (or F exp(+/- q_k)) then covers a new actual with
probability at least 1 - alpha. Levels whose rank exceeds n have no finite
half-width and are not served.

NOTE: consecutive windows of a time series share targets and the validation
part also chose the early-stopping epoch, so exchangeability holds only
approximately; the coverage reached on the test part and in backtests is
reported beside each version.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from models.errors import InvalidInputError
from models.evaluation import interval_coverage, interval_width

Scale = Literal["absolute", "log"]

# Half-widths are stored for levels 0.01, 0.02, ..., 0.99.
LEVEL_GRID = tuple(round(0.01 * i, 2) for i in range(1, 100))

# Levels whose test coverage is reported in the metrics.
REPORT_LEVELS = (0.8, 0.9, 0.95)

METHOD = "split_conformal"


def conformal_rank(n: int, level: float) -> int:
    """Return the 1-based rank ceil((n + 1) level) of the conformal quantile."""
    # the rounding guards against (n + 1) * level landing a hair above an integer
    return math.ceil(round((n + 1) * level, 9))


@dataclass(frozen=True)
class ConformalIntervals:
    """Half-widths (V, K) at V levels for K horizon steps, and their scale."""

    scale: Scale
    calibration_windows: int
    levels: tuple[float, ...]
    half_widths: np.ndarray

    def half_width(self, level: float, label: str = "this version") -> np.ndarray:
        """Return the K half-widths at ``level``; raise InvalidInputError for a
        level that was not calibrated."""
        for index, stored in enumerate(self.levels):
            if abs(stored - level) < 1e-9:
                return np.asarray(self.half_widths[index])
        raise InvalidInputError(
            f"level={level} is not available for {label}: its intervals are "
            f"calibrated on {self.calibration_windows} validation windows at "
            f"levels {self.levels[0]} to {self.levels[-1]} in steps of 0.01; "
            "request one of those levels",
            field="level",
        )

    def bounds(
        self, forecast: np.ndarray, level: float, label: str = "this version"
    ) -> tuple[np.ndarray, np.ndarray]:
        """Lower and upper bounds for forecasts (..., K') with K' <= K.

        A bound beyond the float64 range comes back as inf, without a
        warning; callers reject non-finite bounds.
        """
        steps = forecast.shape[-1]
        width = self.half_width(level, label)[:steps]
        with np.errstate(over="ignore"):
            if self.scale == "absolute":
                return forecast - width, forecast + width
            if np.any(forecast <= 0):
                raise InvalidInputError(
                    f"the forecast of {label} is not positive, so its log-scale "
                    "interval is undefined; request no level for this history",
                    field="level",
                )
            return forecast * np.exp(-width), forecast * np.exp(width)

    def to_dict(self) -> dict[str, Any]:
        return {
            "method": METHOD,
            "calibration": "validation windows",
            "scale": self.scale,
            "calibration_windows": self.calibration_windows,
            "levels": list(self.levels),
            "half_widths": [[float(v) for v in row] for row in self.half_widths],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ConformalIntervals:
        return cls(
            scale=data["scale"],
            calibration_windows=int(data["calibration_windows"]),
            levels=tuple(float(v) for v in data["levels"]),
            half_widths=np.asarray(data["half_widths"], dtype=np.float64),
        )


def calibrate(
    actual: np.ndarray, forecast: np.ndarray, *, positive: bool
) -> ConformalIntervals | None:
    """Calibrate intervals from validation actuals and forecasts (W, K).

    The scale is ``log`` when ``positive`` is set and every actual and
    forecast is above zero, else ``absolute``. With n windows only the levels
    up to n / (n + 1) are served, so one window serves 0.5 at most. Returns
    None when no level of the grid gets a finite half-width.
    """
    use_log = positive and bool(np.all(actual > 0) and np.all(forecast > 0))
    if use_log:
        scores = np.abs(np.log(actual) - np.log(forecast))
    else:
        scores = np.abs(actual - forecast)
    ordered = np.sort(scores, axis=0)  # (W, K), ascending per step
    n = len(ordered)

    levels = [lv for lv in LEVEL_GRID if conformal_rank(n, lv) <= n]
    if not levels:
        return None
    rows = [ordered[conformal_rank(n, lv) - 1] for lv in levels]
    return ConformalIntervals(
        scale="log" if use_log else "absolute",
        calibration_windows=n,
        levels=tuple(levels),
        half_widths=np.stack(rows),
    )


def score_intervals(
    actual: np.ndarray,
    forecast: np.ndarray,
    intervals: ConformalIntervals,
    levels: tuple[float, ...] = REPORT_LEVELS,
) -> dict[str, dict[str, float]]:
    """Empirical coverage and mean width on actuals and forecasts (W, K) at
    each calibrated level of ``levels``, keyed by the level as text."""
    result: dict[str, dict[str, float]] = {}
    for level in levels:
        if not any(abs(level - stored) < 1e-9 for stored in intervals.levels):
            continue
        lower, upper = intervals.bounds(forecast, level)
        result[str(level)] = {
            "coverage": interval_coverage(actual, lower, upper),
            "mean_width": interval_width(lower, upper),
        }
    return result


def unserved_level() -> dict[str, Any]:
    """Return the coverage row of a level that has no interval bounds."""
    return {"coverage": None, "mean_width": None, "served": False}


def level_rows(
    scored: dict[str, dict[str, float]], levels: Sequence[float]
) -> dict[str, dict[str, Any]]:
    """Return a coverage row for each of ``levels``, keyed by the level as
    text: the row of ``score_intervals`` with ``served`` true, or
    ``unserved_level()`` for a level that ``scored`` lacks because no
    interval was calibrated at it."""
    rows: dict[str, dict[str, Any]] = {}
    for level in levels:
        row = scored.get(str(level))
        rows[str(level)] = unserved_level() if row is None else {**row, "served": True}
    return rows
