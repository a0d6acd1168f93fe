"""Walk-forward backtests on a short synthetic series with tiny models."""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
import pandas as pd
import pytest
import torch
from pydantic import ValidationError

from models.backtest import (
    BacktestSpec,
    check_backtest,
    fit_fold,
    forecast_origins,
    plan_folds,
    run_backtest,
    score_block,
)
from models.data.sources import load_series
from models.errors import DataError, LimitExceededError
from models.input_names import naming_context
from models.pandas_dates import FIRST_DATE, LAST_DATE
from models.spec import SyntheticData, TrainingSpec
from models.training import spec_windows


def tiny_training(**overrides: object) -> TrainingSpec:
    fields: dict[str, object] = {
        "name": "bt",
        "hidden_size": 4,
        "num_layers": 1,
        "lookback": 10,
        "horizon": 3,
        "epochs": 1,
        "batch_size": 128,
        "target": "price",
        "data": SyntheticData(generator="noisy_sine", length=400, period=20),
    }
    fields.update(overrides)
    return TrainingSpec.model_validate(fields)


def test_backtest_scores_folds_and_aggregate() -> None:
    params = BacktestSpec(training=tiny_training(), refit_every=20, step=2)
    reports: list[dict[str, object]] = []
    result = run_backtest(params, reports.append)

    origins = result["origins"]["count"]
    folds = result["folds"]
    assert len(folds) == -(-origins // 20)
    assert sum(fold["origins"] for fold in folds) == origins
    assert [r["fold"] for r in reports] == list(range(1, len(folds) + 1))
    assert reports[-1]["origins_done"] == origins

    aggregate = result["aggregate"]
    assert aggregate["windows"] == origins
    assert set(aggregate["baselines"]) == {"naive", "drift", "mean", "seasonal_naive"}
    assert aggregate["skill_rmse"] == pytest.approx(
        1 - aggregate["model"]["rmse"] / aggregate["naive"]["rmse"]
    )
    # the seasonal naive forecast repeats a noisy sine of period 20
    assert aggregate["best_baseline"] == "seasonal_naive"
    for level in ("0.8", "0.9", "0.95"):
        coverage = aggregate["intervals"][level]
        assert coverage["served"]
        assert 0.0 <= coverage["coverage"] <= 1.0
        assert len(coverage["coverage_by_step"]) == 3
    assert folds[0]["intervals"]["0.9"]["mean_width"] > 0


def test_backtest_origins_follow_the_date_range() -> None:
    series = load_series(tiny_training().data)
    dates = series.frame.index
    params = BacktestSpec(
        training=tiny_training(),
        start=dates[300].date(),
        end=dates[309].date(),
        step=3,
    )
    folds = plan_folds(params, series)
    assert len(folds) == 1
    np.testing.assert_array_equal(folds[0].origins, [300, 303, 306, 309])
    assert folds[0].train_start == 0


@pytest.mark.parametrize("target", ["price", "log_return"])
@pytest.mark.parametrize("length", [400, 401])
def test_default_origins_are_the_test_windows(target: str, length: int) -> None:
    # 401 prices give 400 log returns, whose test part has 60 values,
    # although 15 % of 401 prices rounds up to 61
    training = tiny_training(
        target=target,
        data=SyntheticData(generator="noisy_sine", length=length, period=20, level=10),
    )
    series = load_series(training.data)
    folds = plan_folds(BacktestSpec(training=training), series)
    origins = np.concatenate([fold.origins for fold in folds])

    test_origins = spec_windows(training, series).test_origin
    assert origins[0] == test_origins[0]
    assert origins[-1] == test_origins[-1]
    assert len(origins) == len(test_origins)


def test_sliding_window_moves_the_training_start() -> None:
    series = load_series(tiny_training().data)
    params = BacktestSpec(
        training=tiny_training(), window="sliding", window_size=200, refit_every=10
    )
    folds = plan_folds(params, series)
    for fold in folds:
        assert fold.train_start == int(fold.origins[0]) + 1 - 200


def test_fold_fit_sees_no_price_after_its_origin() -> None:
    training = tiny_training()
    series = load_series(training.data)
    params = BacktestSpec(training=training, refit_every=10)
    fold = plan_folds(params, series)[0]
    origin = int(fold.origins[0])

    changed_frame = series.frame.copy()
    changed_frame.iloc[origin + 1 :, 0] = 1000.0
    changed = dataclasses.replace(series, frame=changed_frame)

    first = fit_fold(params, series, fold, None)
    second = fit_fold(params, changed, fold, None)
    for key, value in first.model.state_dict().items():
        assert torch.equal(value, second.model.state_dict()[key]), key
    assert first.scaler == second.scaler

    prices = series.frame["close"].to_numpy()
    changed_prices = changed_frame["close"].to_numpy()
    np.testing.assert_array_equal(
        forecast_origins(first, prices, fold.origins[:1], training),
        forecast_origins(second, changed_prices, fold.origins[:1], training),
    )


def test_backtest_is_deterministic() -> None:
    params = BacktestSpec(training=tiny_training(), refit_every=40, step=4)
    first = run_backtest(params)
    second = run_backtest(params)
    assert first["aggregate"] == second["aggregate"]
    assert first["folds"][0]["scores"] == second["folds"][0]["scores"]


def test_range_without_origins_is_rejected() -> None:
    series = load_series(tiny_training().data)
    late = series.frame.index[-1].date()
    params = BacktestSpec(training=tiny_training(), start=late)
    with pytest.raises(DataError, match="no forecast origin between") as caught:
        plan_folds(params, series)
    assert caught.value.field == "start"


@pytest.mark.parametrize("start", [None, 0])
def test_range_cut_by_end_names_end(start: int | None) -> None:
    # the first origin needs 10 prices up to it, so an end at the fifth
    # date leaves no origin, whether the range starts at the default start
    # or at the first date
    series = load_series(tiny_training().data)
    dates = series.frame.index
    first = None if start is None else dates[start].date()
    params = BacktestSpec(training=tiny_training(), start=first, end=dates[4].date())

    with pytest.raises(DataError) as caught:
        plan_folds(params, series)

    assert caught.value.field == "end"
    assert caught.value.message.startswith("no forecast origin between ")
    assert f" and {dates[4].date()}: " in caught.value.message


def test_default_range_without_origins_names_dates() -> None:
    # horizon 30 leaves no origin in the default range, the last 5 % of the
    # 400 prices, because the last origin needs 30 later prices
    series = load_series(tiny_training().data)
    params = BacktestSpec(training=tiny_training(horizon=30, test_fraction=0.05))
    dates = series.frame.index

    with pytest.raises(DataError) as caught:
        plan_folds(params, series)

    assert caught.value.field == "start"
    assert caught.value.message.endswith(
        "each origin needs 10 prices up to it and 30 after it; choose start and "
        f"end between {dates[9].date()} and {dates[369].date()}"
    )


@pytest.mark.parametrize(
    ("rows", "prices"), [(1, "1 price"), (3, "3 prices"), (12, "12 prices")]
)
def test_series_shorter_than_one_origin(rows: int, prices: str) -> None:
    # Lookback 10 and horizon 3 need 13 prices for one origin. Up to 3
    # prices leave no row that could be an origin at all.
    series = load_series(tiny_training().data)
    short = dataclasses.replace(series, frame=series.frame.iloc[:rows])
    params = BacktestSpec(training=tiny_training())

    with pytest.raises(DataError) as caught:
        plan_folds(params, short)

    assert caught.value.field == "training.horizon"
    assert caught.value.message == (
        f"the series has {prices}, fewer than the 13 that one forecast "
        "origin needs: 10 up to the origin for lookback=10 and 3 after it for "
        "horizon=3; use a longer series or a smaller lookback or horizon"
    )


def test_too_many_fits_are_rejected() -> None:
    series = load_series(tiny_training().data)
    params = BacktestSpec(
        training=tiny_training(), start=series.frame.index[50].date(), refit_every=1
    )
    with pytest.raises(LimitExceededError) as caught:
        plan_folds(params, series)

    assert caught.value.field == "refit_every"
    assert caught.value.message == (
        "the backtest needs 347 fits for 347 origins, above the limit of 100; "
        "raise refit_every or step, shorten the date range, or raise "
        "RNN_FORECAST_MAX_BACKTEST_FITS"
    )


def test_fit_limit_is_a_parameter() -> None:
    series = load_series(tiny_training().data)
    params = BacktestSpec(training=tiny_training(), refit_every=20)

    with pytest.raises(LimitExceededError, match="needs 3 fits for 58 origins"):
        plan_folds(params, series, max_fits=2)
    assert len(plan_folds(params, series, max_fits=3)) == 3


def test_short_first_fold_names_the_fold() -> None:
    series = load_series(tiny_training().data)
    params = BacktestSpec(training=tiny_training(), start=series.frame.index[15].date())
    with pytest.raises(
        DataError,
        match=r"^fold 1 \(training rows 0\.\.15\): series of 16 rows is too short",
    ):
        run_backtest(params, series=series)


def test_check_names_short_first_fold() -> None:
    series = load_series(tiny_training().data)
    start = series.frame.index[15].date()
    expanding = BacktestSpec(training=tiny_training(), start=start)
    sliding = BacktestSpec(
        training=tiny_training(), start=start, window="sliding", window_size=50
    )

    with pytest.raises(DataError) as caught:
        check_backtest(expanding, series)
    assert caught.value.field == "start"
    assert caught.value.message.startswith(
        "fold 1 (training rows 0..15): series of 16 rows is too short"
    )

    # the series start cuts this sliding window, so only a later start helps
    with pytest.raises(DataError) as caught:
        check_backtest(sliding, series)
    assert caught.value.field == "start"
    assert "Move start later, or use a smaller lookback" in caught.value.message


def test_short_sliding_window_names_window_size() -> None:
    series = load_series(tiny_training().data)
    params = BacktestSpec(
        training=tiny_training(lookback=45),
        start=series.frame.index[300].date(),
        window="sliding",
        window_size=50,
    )

    with pytest.raises(DataError) as caught:
        check_backtest(params, series)

    assert caught.value.field == "window_size"
    assert caught.value.message.startswith("fold 1 (training rows 251..300): ")
    assert "Use a larger window_size, or use a smaller lookback" in (
        caught.value.message
    )
    assert "start" not in caught.value.message


def test_short_fold_error_names_spec_fractions() -> None:
    series = load_series(tiny_training().data)
    training = tiny_training(test_fraction=0.15)
    params = BacktestSpec(training=training, start=series.frame.index[15].date())

    with pytest.raises(DataError) as caught:
        check_backtest(params, series)

    message = caught.value.message
    assert "val_fraction=0.15" in message
    assert "A fold tests on its last 4 values, not on test_fraction=0.15" in message
    assert "test_fraction=0.2" not in message
    assert "Move start later, or use a smaller lookback or horizon" in message
    assert "window_size" not in message


def test_check_reads_modelled_rows_only() -> None:
    series = load_series(tiny_training().data)
    prices = np.linspace(10.0, 20.0, len(series.frame))
    prices[-1] = -1.0
    frame = series.frame.assign(close=prices)
    tail_negative = dataclasses.replace(series, frame=frame)
    params = BacktestSpec(training=tiny_training(target="log_return"))

    # the last price is an actual value only, never a model input
    check_backtest(params, tail_negative)

    prices[300] = -1.0
    frame = series.frame.assign(close=prices)
    with pytest.raises(DataError) as caught:
        check_backtest(params, dataclasses.replace(series, frame=frame))
    assert caught.value.field == "training.target"


def test_check_passes_a_valid_backtest() -> None:
    series = load_series(tiny_training().data)
    check_backtest(BacktestSpec(training=tiny_training(), refit_every=20), series)


@pytest.mark.parametrize(
    ("fields", "loc", "error_type", "message"),
    [
        (
            {"window": "sliding"},
            ("window_size",),
            "missing",
            "window_size is missing, but window 'sliding' needs it (training "
            "rows); set window_size to a whole number from 50 to 200000, or set "
            "window to 'expanding'",
        ),
        (
            {"window_size": 100},
            ("window_size",),
            "value_error",
            "Value error, window_size applies to window 'sliding' only; remove "
            "window_size or set window to 'sliding'",
        ),
        (
            {"start": "2019-06-01", "end": "2019-05-01"},
            ("end",),
            "value_error",
            "Value error, end 2019-05-01 is before start 2019-06-01; set end on "
            "or after start",
        ),
        (
            {"training": {"dropout": 0.2, "num_layers": 1}},
            ("training", "dropout"),
            "value_error",
            "Value error, dropout=0.2 has no effect with num_layers=1 because "
            "dropout is applied between recurrent layers; set num_layers=2 or "
            "more, or dropout=0",
        ),
    ],
)
def test_cross_field_errors_name_field(
    fields: dict[str, Any], loc: tuple[str, ...], error_type: str, message: str
) -> None:
    with pytest.raises(ValidationError) as caught:
        BacktestSpec.model_validate(fields)

    errors = caught.value.errors()
    assert len(errors) == 1
    assert errors[0]["loc"] == loc
    assert errors[0]["type"] == error_type
    assert errors[0]["msg"] == message


@pytest.mark.parametrize(
    "fields",
    [
        {"window": "sliding", "window_size": 100},
        {"window": "expanding"},
        {"start": "2019-06-01", "end": "2019-06-01"},
        {"start": "2019-06-01"},
        {"end": "2019-06-01"},
    ],
)
def test_consistent_fields_pass(fields: dict[str, Any]) -> None:
    spec = BacktestSpec.model_validate(fields)

    assert spec.model_dump(include=set(fields), mode="json") == fields


def test_window_check_names_fields_from_context() -> None:
    names = naming_context({"window": "--window", "window_size": "--window-size"})

    with pytest.raises(ValidationError) as caught:
        BacktestSpec.model_validate({"window": "sliding"}, context=names)

    assert caught.value.errors()[0]["msg"] == (
        "--window-size is missing, but --window 'sliding' needs it (training "
        "rows); set --window-size to a whole number from 50 to 200000, or set "
        "--window to 'expanding'"
    )


@pytest.mark.parametrize("level", [0.905, 0.999, 1.0, 0.0, -0.5])
def test_levels_off_the_calibrated_grid_rejected(level: float) -> None:
    with pytest.raises(ValidationError) as caught:
        BacktestSpec(levels=[0.9, level])

    error = caught.value.errors()[0]
    assert error["loc"] == ("levels", 1)
    assert error["msg"] == (
        f"Value error, level {level} is not available: intervals are "
        "calibrated at levels 0.01 to 0.99 in steps of 0.01; request one of "
        "those levels"
    )


def test_repeated_level_rejected() -> None:
    with pytest.raises(ValidationError) as caught:
        BacktestSpec(levels=[0.8, 0.9, 0.9])

    error = caught.value.errors()[0]
    assert error["loc"] == ("levels",)
    assert error["msg"] == (
        "Value error, level 0.9 is given more than once; send each level once"
    )


def test_levels_on_the_calibrated_grid_accepted() -> None:
    params = BacktestSpec(levels=[0.01, 0.5, 0.99])
    assert params.levels == [0.01, 0.5, 0.99]


def test_level_near_grid_reads_as_grid() -> None:
    params = BacktestSpec(levels=[0.1 + 0.2, 0.9])

    assert params.levels == [0.3, 0.9]
    assert [str(level) for level in params.levels] == ["0.3", "0.9"]


@pytest.mark.parametrize(
    ("field", "day"),
    [("start", "2262-05-01"), ("end", "2300-01-01"), ("start", "1600-01-01")],
)
def test_dates_outside_pandas_range_are_rejected(field: str, day: str) -> None:
    with pytest.raises(ValidationError) as caught:
        BacktestSpec.model_validate({field: day})

    error = caught.value.errors()[0]
    assert error["loc"] == (field,)
    assert error["msg"] == (
        f"Value error, {field} {day} lies outside 1677-09-22..2262-04-11, the "
        "range of dates that pandas datetime64[ns] can store; choose a date "
        "inside that range and inside the series"
    )


def test_dates_at_pandas_range_ends_are_accepted() -> None:
    params = BacktestSpec(start=FIRST_DATE, end=LAST_DATE)
    assert (params.start, params.end) == (FIRST_DATE, LAST_DATE)


def test_pandas_date_range_matches_timestamp_bounds() -> None:
    assert FIRST_DATE == pd.Timestamp.min.ceil("D").date()
    assert LAST_DATE == pd.Timestamp.max.floor("D").date()


def test_sliding_mase_scale_reads_the_window_only() -> None:
    # small steps before the window, steps of 2 inside it
    prices = np.concatenate([np.arange(100.0) * 0.01, 1.0 + 2.0 * np.arange(1, 101)])
    params = BacktestSpec(
        training=tiny_training(), window="sliding", window_size=60, refit_every=10
    )
    origins = np.arange(170, 180)
    horizon = params.training.horizon
    forecast = np.repeat(prices[origins][:, None], horizon, axis=1) + 1.0
    scores = score_block(prices, origins, forecast, params, None)

    window = prices[origins[0] + 1 - 60 : origins[0] + 1]
    scale = np.mean(np.abs(np.diff(window)))
    actual = prices[origins[:, None] + np.arange(1, horizon + 1)]
    expected = np.mean(np.abs(forecast - actual)) / scale
    assert scale == pytest.approx(2.0)
    assert scores["model"]["mase"] == pytest.approx(expected)

    changed = prices.copy()
    changed[: origins[0] + 1 - 60] = 50.0
    rescored = score_block(changed, origins, forecast, params, None)
    assert rescored["model"]["mase"] == scores["model"]["mase"]
    assert rescored["baselines"] == scores["baselines"]


def test_expanding_mase_scale_reads_all_prices() -> None:
    prices = np.concatenate([np.arange(100.0) * 0.01, 1.0 + 2.0 * np.arange(1, 101)])
    params = BacktestSpec(training=tiny_training(), refit_every=10)
    origins = np.arange(170, 180)
    horizon = params.training.horizon
    forecast = np.repeat(prices[origins][:, None], horizon, axis=1) + 1.0
    scores = score_block(prices, origins, forecast, params, None)

    scale = np.mean(np.abs(np.diff(prices[: origins[0] + 1])))
    actual = prices[origins[:, None] + np.arange(1, horizon + 1)]
    expected = np.mean(np.abs(forecast - actual)) / scale
    assert scores["model"]["mase"] == pytest.approx(expected)


def test_uncalibrated_level_is_reported_unserved() -> None:
    # a sliding window of 100 rows leaves too few validation windows for 0.99
    params = BacktestSpec(
        training=tiny_training(),
        window="sliding",
        window_size=100,
        refit_every=30,
        levels=[0.5, 0.99],
    )
    result = run_backtest(params)

    unserved = {"coverage": None, "mean_width": None, "served": False}
    for fold in result["folds"]:
        assert fold["intervals"]["0.99"] == unserved
        assert fold["intervals"]["0.5"]["served"] is True
    pooled = result["aggregate"]["intervals"]
    assert pooled["0.99"] == unserved
    assert pooled["0.5"]["served"] is True
    assert 0.0 <= pooled["0.5"]["coverage"] <= 1.0
