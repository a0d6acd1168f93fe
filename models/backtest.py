"""Walk-forward backtest: rolling forecast origins, refits and scores.

Every origin o (the index of the last observed price) gets a K-step forecast
from a model fitted on prices up to the first origin of its fold, so no
fitted parameter, scaler or calibration reads a price after o. Origins are
grouped into folds of ``refit_every`` origins and the model is refitted at
the start of each fold; without ``refit_every`` one fit serves every origin.
The training rows of a fold are every price up to its first origin
(``expanding``) or the last ``window_size`` of them (``sliding``).

Inside a fold's training rows, ``fit`` holds out the spec's validation part
for early stopping and interval calibration, plus a test part of only K + 1
values, so the weights use nearly all earlier data.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import logging
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Annotated, Any, Literal

import numpy as np
import torch
from pydantic import (
    AfterValidator,
    ConfigDict,
    Field,
    ValidationInfo,
    ValidatorFunctionWrapHandler,
    WrapValidator,
    field_validator,
)
from pydantic_core import PydanticCustomError

from models.baselines import forecast_baselines, season_period
from models.data.series import Series
from models.data.sources import load_series
from models.data.windows import (
    SeriesTooShortError,
    history_rows,
    name_parts,
    split_bounds,
    to_prices,
    to_values,
    value_offset,
)
from models.date_fields import IsoDate
from models.errors import DataError, LimitExceededError
from models.evaluation import actual_prices, compare
from models.field_types import INTEGER_ONLY, Integer, Number, explain_minimum
from models.input_names import InputNamed, input_name, setting
from models.intervals import (
    LEVEL_GRID,
    REPORT_LEVELS,
    ConformalIntervals,
    level_rows,
    score_intervals,
    unserved_level,
)
from models.limits import DEFAULT_LIMITS
from models.pandas_dates import check_date
from models.plurals import plural
from models.spec import TrainingSpec
from models.training import (
    FitResult,
    StopCheck,
    TrainingCancelled,
    check_trainable,
    fit,
)
from models.word_lists import join_words

logger = logging.getLogger(__name__)

ProgressReport = Callable[[dict[str, Any]], None]

# the bounds of a sliding window's training rows
MIN_WINDOW_SIZE = 50
MAX_WINDOW_SIZE = 200_000


def _check_level(level: float) -> float:
    # An element validator, so that the error names levels[i]. It returns
    # the grid's level, so that a sum such as 0.1 + 0.2 reports as 0.3.
    for stored in LEVEL_GRID:
        if abs(level - stored) < 1e-9:
            return stored
    raise ValueError(
        f"level {level} is not available: intervals are calibrated at "
        f"levels {LEVEL_GRID[0]} to {LEVEL_GRID[-1]} in steps of 0.01; "
        "request one of those levels"
    )


def _explain_refit_null(value: object, handler: ValidatorFunctionWrapHandler) -> object:
    """Append what null does to the error of a ``refit_every`` below 1."""
    return explain_minimum(value, handler, "send null to fit once at the first origin")


class BacktestSpec(InputNamed):
    """A walk-forward backtest of one training spec over a date range."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    training: TrainingSpec = Field(default_factory=TrainingSpec)
    start: IsoDate | None = Field(
        default=None,
        description="First origin date (default: the start of the spec's test "
        "part, the last test_fraction of the series)",
    )
    end: IsoDate | None = Field(
        default=None,
        description="Last origin date (default: the last date that leaves K "
        "actual prices after it)",
    )
    step: Integer = Field(
        default=1, ge=1, le=10_000, description="rows between origins"
    )
    window: Literal["expanding", "sliding"] = "expanding"
    # validate_default runs _check_window_size on a missing window_size too
    window_size: (
        Annotated[int, Field(ge=MIN_WINDOW_SIZE, le=MAX_WINDOW_SIZE), INTEGER_ONLY]
        | None
    ) = Field(
        default=None, validate_default=True, description="training rows when sliding"
    )
    refit_every: Annotated[
        Annotated[int, Field(ge=1, le=100_000), INTEGER_ONLY] | None,
        WrapValidator(_explain_refit_null),
    ] = Field(
        default=None,
        description="origins per refit; None fits once at the first origin",
    )
    levels: list[Annotated[Number, AfterValidator(_check_level)]] = Field(
        default_factory=lambda: list(REPORT_LEVELS),
        min_length=1,
        max_length=10,
        description="prediction interval levels whose coverage is reported "
        "(default 0.8, 0.9 and 0.95)",
    )

    @field_validator("levels", mode="before")
    @classmethod
    def _check_some_levels(cls, levels: Any, info: ValidationInfo) -> Any:
        # an empty list would run every fold and report no interval coverage
        if isinstance(levels, list | tuple) and not levels:
            name = input_name(info, "levels")
            defaults = join_words([str(level) for level in REPORT_LEVELS])
            raise ValueError(
                f"{name} is empty; send at least one level, such as [0.9], or "
                f"leave {name} out for the default levels {defaults}"
            )
        return levels

    @field_validator("levels")
    @classmethod
    def _check_unique_levels(cls, levels: list[float]) -> list[float]:
        # the results hold one entry per level, so a repeated level would
        # be reported once although the spec lists it twice
        seen: list[float] = []
        for level in levels:
            if any(abs(level - other) < 1e-9 for other in seen):
                raise ValueError(
                    f"level {level} is given more than once; send each level once"
                )
            seen.append(level)
        return levels

    @field_validator("start", "end")
    @classmethod
    def _check_date(cls, day: dt.date | None, info: ValidationInfo) -> dt.date | None:
        # pandas raises OutOfBoundsDatetime when it looks such a date up in the
        # series' datetime64[ns] index
        if day is not None:
            check_date(str(info.field_name), day)
        return day

    # Each check across fields is a validator of the later field, whose
    # info.data contains the earlier ones, so that the error names that
    # field. The command line names the fields by its options.
    @field_validator("end")
    @classmethod
    def _check_end_after_start(
        cls, end: dt.date | None, info: ValidationInfo
    ) -> dt.date | None:
        start = info.data.get("start")
        if start is not None and end is not None and start > end:
            start_name, end_name = input_name(info, "start"), input_name(info, "end")
            raise ValueError(
                f"{end_name} {end} is before {start_name} {start}; set "
                f"{end_name} on or after {start_name}"
            )
        return end

    @field_validator("window_size")
    @classmethod
    def _check_window_size(cls, size: int | None, info: ValidationInfo) -> int | None:
        window = info.data.get("window")
        window_name = input_name(info, "window")
        size_name = input_name(info, "window_size")
        if window == "sliding" and size is None:
            # a "missing" error, because a value error on a field that the
            # input leaves out is reported at the object that contains it
            raise PydanticCustomError(
                "missing",
                f"{size_name} is missing, but {window_name} 'sliding' needs it "
                f"(training rows); set {size_name} to a whole number from "
                f"{MIN_WINDOW_SIZE} to {MAX_WINDOW_SIZE}, or set {window_name} to "
                "'expanding'",
            )
        if window == "expanding" and size is not None:
            raise ValueError(
                f"{size_name} applies to {window_name} 'sliding' only; remove "
                f"{size_name} or set {window_name} to 'sliding'"
            )
        return size


@dataclasses.dataclass(frozen=True)
class Fold:
    """Origins (W_f,) that share one fit on prices[train_start : origins[0] + 1]."""

    number: int
    train_start: int
    origins: np.ndarray


def run_backtest(
    params: BacktestSpec,
    report: ProgressReport | None = None,
    should_stop: StopCheck | None = None,
    *,
    series: Series | None = None,
    cache_dir: Path | None = None,
    upload_dir: Path | None = None,
    root_path: str = "",
    max_fits: int = DEFAULT_LIMITS.max_backtest_fits,
) -> dict[str, Any]:
    """Run the backtest and return per-fold and aggregated scores (JSON-safe
    apart from non-finite floats).

    ``report`` receives a progress dict after each fold, and ``should_stop``
    cancels with ``TrainingCancelled`` before each batch and each fold.
    ``max_fits`` is the limit on fits, one per fold. ``root_path`` goes
    before the API paths in the errors of an upload (``load_series``).
    """
    started = time.perf_counter()
    spec = params.training
    if series is None:
        series = load_series(
            spec.data, cache_dir=cache_dir, upload_dir=upload_dir, root_path=root_path
        )
    prices = series.frame["close"].to_numpy(dtype=np.float64)
    folds = plan_folds(params, series, max_fits)
    season = season_period(spec.data)

    fold_rows: list[dict[str, Any]] = []
    forecasts: list[np.ndarray] = []
    bounds: dict[float, list[tuple[np.ndarray, np.ndarray]]] = {}
    for fold in folds:
        if should_stop is not None and should_stop():
            raise TrainingCancelled("backtest was cancelled")
        result = fit_fold(params, series, fold, should_stop)
        forecast = forecast_origins(result, prices, fold.origins, spec)
        forecasts.append(forecast)
        for level, pair in fold_bounds(result.intervals, forecast, params).items():
            bounds.setdefault(level, []).append(pair)

        row = describe_fold(series, fold, result, params)
        row["scores"] = score_block(prices, fold.origins, forecast, params, season)
        row["scores"].pop("by_step")
        row["intervals"] = interval_block(
            result.intervals, prices, fold, forecast, params
        )
        fold_rows.append(row)
        if report is not None:
            report(
                {
                    "stage": "backtest",
                    "fold": fold.number,
                    "folds": len(folds),
                    "origins_done": sum(len(f.origins) for f in folds[: fold.number]),
                    "origins": sum(len(f.origins) for f in folds),
                }
            )

    origins = np.concatenate([fold.origins for fold in folds])
    forecast = np.concatenate(forecasts)
    aggregate = score_block(prices, origins, forecast, params, season)
    aggregate["intervals"] = pooled_coverage(
        prices, origins, bounds, spec.horizon, params.levels
    )
    dates = series.frame.index
    return {
        "backtest": params.model_dump(mode="json"),
        "data": series.describe(),
        "origins": {
            "count": int(len(origins)),
            "first": dates[origins[0]].date().isoformat(),
            "last": dates[origins[-1]].date().isoformat(),
        },
        "season_period": season,
        "folds": fold_rows,
        "aggregate": aggregate,
        "seconds": round(time.perf_counter() - started, 3),
    }


def plan_folds(
    params: BacktestSpec,
    series: Series,
    max_fits: int = DEFAULT_LIMITS.max_backtest_fits,
) -> list[Fold]:
    """Pick the origins in the date range and group them into folds.

    Raises DataError when the range contains no origin with K actual prices
    after it, and LimitExceededError when the folds need more than
    ``max_fits`` fits.
    """
    spec = params.training
    dates = series.frame.index
    n = len(dates)
    check_origin_rows(params, n)
    last_possible = n - 1 - spec.horizon
    default_first = first_test_origin(spec, n)

    first = (
        default_first
        if params.start is None
        else _index_on_or_after(dates, params.start)
    )
    last = (
        last_possible if params.end is None else _index_on_or_before(dates, params.end)
    )
    last = min(last, last_possible)
    minimum = history_rows(spec.lookback, spec.target) - 1
    first = max(first, minimum)
    if first > last:
        # check_origin_rows leaves minimum <= last_possible, so some origin is
        # possible. When the range's first origin is one, the given end alone
        # cuts the range short, so the error names end.
        field = "end" if first <= last_possible else "start"
        raise DataError(
            f"no forecast origin between {params.start or dates[default_first].date()} "
            f"and {params.end or dates[last_possible].date()}: the series covers "
            f"{dates[0].date()}..{dates[-1].date()} and each origin needs "
            f"{minimum + 1} prices up to it and {spec.horizon} after it; choose "
            f"{params.input_name('start')} and {params.input_name('end')} between "
            f"{dates[minimum].date()} and {dates[last_possible].date()}",
            field=field,
        )

    origins = np.arange(first, last + 1, params.step)
    size = params.refit_every or len(origins)
    chunks = [origins[i : i + size] for i in range(0, len(origins), size)]
    if len(chunks) > max_fits:
        raise LimitExceededError(
            f"the backtest needs {plural(len(chunks), 'fit')} for "
            f"{plural(len(origins), 'origin')}, above the limit of {max_fits}; "
            f"raise {params.input_name('refit_every')} or "
            f"{params.input_name('step')}, shorten the date range, or raise "
            "RNN_FORECAST_MAX_BACKTEST_FITS",
            field="refit_every",
        )

    folds = []
    for number, chunk in enumerate(chunks, start=1):
        train_start = 0
        if params.window == "sliding" and params.window_size is not None:
            train_start = max(0, int(chunk[0]) + 1 - params.window_size)
        folds.append(Fold(number, train_start, chunk))
    return folds


def first_test_origin(spec: TrainingSpec, rows: int) -> int:
    """Return the price index of the first origin of the spec's test part
    on a series of ``rows`` prices, as ``train`` splits it.

    ``train`` splits the modelled values, and a log-return target has one
    value fewer than prices. So the test part is computed on the values,
    and its first origin is the price just before its first target.
    """
    offset = value_offset(spec.target)
    bounds = split_bounds(rows - offset, spec.val_fraction, spec.test_fraction)
    return bounds.test_start - 1 + offset


def check_origin_rows(params: BacktestSpec, rows: int) -> None:
    """Raise ``DataError`` on ``training.horizon`` when a series of ``rows``
    prices is too short for one forecast origin: T prices up to it (T + 1
    for log returns) and K after it."""
    spec = params.training
    before = history_rows(spec.lookback, spec.target)
    needed = before + spec.horizon
    if rows >= needed:
        return
    lookback = params.input_name("lookback")
    horizon = params.input_name("horizon")
    raise DataError(
        f"the series has {plural(rows, 'price')}, fewer than the {needed} that "
        f"one forecast origin needs: {before} up to the origin for "
        f"{setting(lookback, spec.lookback)} and {spec.horizon} after it for "
        f"{setting(horizon, spec.horizon)}; use a longer series or a smaller "
        f"{lookback} or {horizon}",
        field="training.horizon",
    )


def _index_on_or_after(dates: Any, day: dt.date) -> int:
    return int(dates.searchsorted(np.datetime64(day), side="left"))


def _index_on_or_before(dates: Any, day: dt.date) -> int:
    return int(dates.searchsorted(np.datetime64(day), side="right")) - 1


def fold_spec(params: BacktestSpec, rows: int, fix: str) -> TrainingSpec:
    """Return the training spec with its test part cut to K + 1 of ``rows``
    prices. ``fix`` tells the user how to give the fold more rows."""
    spec = params.training
    values = rows - value_offset(spec.target)
    fraction = (spec.horizon + 0.5) / max(values, 1)
    if fraction >= 0.5:
        horizon = setting(params.input_name("horizon"), spec.horizon)
        raise DataError(
            f"a fold with {rows} training rows is too short for {horizon}; {fix}",
            field="start",
        )
    return spec.model_copy(update={"test_fraction": fraction})


def fit_fold(
    params: BacktestSpec, series: Series, fold: Fold, should_stop: StopCheck | None
) -> FitResult:
    """Fit the spec on the fold's training rows; errors name the fold."""
    part = fold_rows(series, fold)
    rows = len(part.frame)
    with fold_errors(fold, params):
        spec = fold_spec(params, rows, more_rows(params, fold)[1])
        result = fit(spec, part, should_stop=should_stop)
    logger.info(
        "backtest fold %d: fitted on %d rows in %.1f s",
        fold.number,
        rows,
        result.seconds,
    )
    return result


def fold_rows(series: Series, fold: Fold) -> Series:
    """Return the fold's training rows, prices[train_start : origins[0] + 1]."""
    end = int(fold.origins[0]) + 1
    return dataclasses.replace(series, frame=series.frame.iloc[fold.train_start : end])


@contextlib.contextmanager
def fold_errors(
    fold: Fold, params: BacktestSpec, field: str | None = None
) -> Iterator[None]:
    """Put the fold and its training rows before the message of a
    ``DataError`` raised inside, and replace its field with ``field`` when
    given.

    A fold too short for the training spec is described by the spec's
    fields, because ``fold_spec`` replaces its test_fraction.
    """
    try:
        yield
    except DataError as exc:
        message = exc.message
        if isinstance(exc, SeriesTooShortError):
            fix = more_rows(params, fold)[1]
            message = short_fold_message(exc, params, fix)
        raise DataError(
            f"fold {fold.number} (training rows {fold.train_start}.."
            f"{int(fold.origins[0])}): {message}",
            field=field or exc.field,
        ) from exc


def more_rows(params: BacktestSpec, fold: Fold) -> tuple[str, str]:
    """Return the field that gives ``fold`` more training rows and the fix
    in words.

    A fold's training rows end at its first origin. A sliding window that
    the series start does not cut gets more rows from a larger window_size
    only; any other fold gets them from a later start.
    """
    if params.window == "sliding" and fold.train_start > 0:
        return "window_size", f"use a larger {params.input_name('window_size')}"
    return "start", f"move {params.input_name('start')} later"


def short_fold_message(exc: SeriesTooShortError, params: BacktestSpec, fix: str) -> str:
    """Describe a fold whose split leaves ``exc.short_parts`` without a
    complete window; ``fix`` is the way to give the fold more rows."""
    spec = params.training
    lookback = params.input_name("lookback")
    horizon = params.input_name("horizon")
    val_fraction = params.input_name("val_fraction")
    test_fraction = params.input_name("test_fraction")
    return (
        f"series of {plural(exc.rows, 'row')} is too short for "
        f"{setting(lookback, spec.lookback)}, {setting(horizon, spec.horizon)} "
        f"and {setting(val_fraction, spec.val_fraction)}: "
        f"{name_parts(exc.short_parts)} no complete window. A fold tests on "
        f"its last {spec.horizon + 1} values, not on "
        f"{setting(test_fraction, spec.test_fraction)}. {fix[0].upper()}{fix[1:]}, "
        f"or use a smaller {lookback} or {horizon}"
    )


def check_backtest(
    params: BacktestSpec,
    series: Series,
    max_fits: int = DEFAULT_LIMITS.max_backtest_fits,
) -> None:
    """Raise the errors that ``run_backtest`` would raise on ``series`` up to
    its first fit, without fitting.

    These are the errors of ``plan_folds``, a target that cannot model the
    prices from the first fold's training rows to the last origin, and a
    first fold too short to train. The first fold has the fewest training
    rows, so the later folds are long enough too.
    """
    folds = plan_folds(params, series, max_fits)
    first, last = folds[0], folds[-1]
    prices = series.frame["close"].to_numpy()
    modelled = prices[first.train_start : int(last.origins[-1]) + 1]
    try:
        to_values(modelled, params.training.target)
    except DataError as exc:
        raise DataError(exc.message, field="training.target") from exc

    rows_field, fix = more_rows(params, first)
    part = fold_rows(series, first)
    with fold_errors(first, params, field=rows_field):
        spec = fold_spec(params, len(part.frame), fix)
        check_trainable(spec, part)


@torch.inference_mode()
def forecast_origins(
    result: FitResult, prices: np.ndarray, origins: np.ndarray, spec: TrainingSpec
) -> np.ndarray:
    """Price forecasts (W, K) of a fitted model at ``origins`` (W,).

    The input of origin o is the T modelled values that end at p_o.
    """
    rows = history_rows(spec.lookback, spec.target)
    # (W, R): the R prices up to and including each origin
    history = prices[origins[:, None] + np.arange(1 - rows, 1)[None, :]]
    values = np.stack([to_values(row, spec.target) for row in history])
    scaled = result.scaler.transform(values).astype(np.float32)
    x = torch.from_numpy(scaled).unsqueeze(-1)  # (W, T, 1)

    result.model.eval()
    out = result.model(x).double().numpy()  # (W, K)
    return to_prices(prices[origins][:, None], result.scaler.inverse(out), spec.target)


def score_block(
    prices: np.ndarray,
    origins: np.ndarray,
    forecast: np.ndarray,
    params: BacktestSpec,
    season: int | None,
) -> dict[str, Any]:
    """Model and baseline scores on ``origins`` (W,), in price units.

    The baselines at origin o read the prices the model could be fitted on:
    all prices up to o (``expanding``), or the last ``window_size`` of them
    (``sliding``). MASE is scaled by the one-step naive error on that history
    at the first origin, which for a fold is its training window. Prices
    before a sliding window enter neither the model nor the baselines, and
    their volatility can differ from the window's: the mean absolute daily
    change of the bundled NFLX closes is about 0.07 in 2003 and 9.3 in 2020.
    A scale that read them would describe data that no forecaster in the
    comparison was fitted on.
    """
    spec = params.training
    starts = np.zeros_like(origins)
    if params.window == "sliding" and params.window_size is not None:
        starts = np.maximum(0, origins + 1 - params.window_size)
    baselines = forecast_baselines(
        prices, origins, spec.horizon, season=season, history_start=starts
    )
    first = int(origins[0])
    return compare(prices, origins, forecast, first + 1, baselines, int(starts[0]))


def fold_bounds(
    intervals: ConformalIntervals | None, forecast: np.ndarray, params: BacktestSpec
) -> dict[float, tuple[np.ndarray, np.ndarray]]:
    """Interval bounds (W, K) at each requested level the fold can serve."""
    if intervals is None:
        return {}
    served = {}
    for level in params.levels:
        if any(abs(level - stored) < 1e-9 for stored in intervals.levels):
            served[level] = intervals.bounds(forecast, level)
    return served


def interval_block(
    intervals: ConformalIntervals | None,
    prices: np.ndarray,
    fold: Fold,
    forecast: np.ndarray,
    params: BacktestSpec,
) -> dict[str, Any]:
    """Coverage and width of the fold's intervals at each requested level.

    A level that the fold's validation windows are too few to calibrate gets
    ``served`` false and null figures, so that no requested level is left
    out of the result.
    """
    scored: dict[str, dict[str, float]] = {}
    if intervals is not None:
        actual = actual_prices(prices, fold.origins, forecast.shape[1])
        scored = score_intervals(actual, forecast, intervals, tuple(params.levels))
    return level_rows(scored, params.levels)


def pooled_coverage(
    prices: np.ndarray,
    origins: np.ndarray,
    bounds: dict[float, list[tuple[np.ndarray, np.ndarray]]],
    horizon: int,
    levels: list[float],
) -> dict[str, dict[str, Any]]:
    """Coverage and mean width over every origin, per requested level.

    A level counts only when every fold served it, so the pooled figure
    covers all origins. Any other requested level gets ``served`` false.
    """
    actual = actual_prices(prices, origins, horizon)
    result = {}
    for level in sorted(set(levels)):
        pairs = bounds.get(level, [])
        if sum(len(pair[0]) for pair in pairs) != len(actual):
            result[str(level)] = unserved_level()
            continue
        lower = np.concatenate([pair[0] for pair in pairs])
        upper = np.concatenate([pair[1] for pair in pairs])
        inside = (actual >= lower) & (actual <= upper)
        result[str(level)] = {
            "coverage": float(np.mean(inside)),
            "coverage_by_step": [float(v) for v in np.mean(inside, axis=0)],
            "mean_width": float(np.mean(upper - lower)),
            "served": True,
        }
    return result


def describe_fold(
    series: Series, fold: Fold, result: FitResult, params: BacktestSpec
) -> dict[str, Any]:
    """Dates, sizes and training summary of one fold."""
    dates = series.frame.index
    first, last = int(fold.origins[0]), int(fold.origins[-1])
    return {
        "fold": fold.number,
        "train_start": dates[fold.train_start].date().isoformat(),
        "train_end": dates[first].date().isoformat(),
        "train_rows": first + 1 - fold.train_start,
        "first_origin": dates[first].date().isoformat(),
        "last_origin": dates[last].date().isoformat(),
        "origins": int(len(fold.origins)),
        "epochs_run": len(result.history),
        "best_epoch": result.best_epoch,
        "fit_seconds": round(result.seconds, 3),
    }
