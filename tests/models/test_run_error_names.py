"""Errors that a backtest or a study raises while it runs name the options
of the command line that set the fields, and the fields otherwise."""

from __future__ import annotations

import types
from pathlib import Path
from typing import Any

import pytest

from models.cli import main
from models.cli_evaluation import TUNE_OPTIONS
from models.errors import RnnForecastError
from models.option_errors import validate_options
from models.tuning import TuningSpec, register_best


def backtest_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], *options: str
) -> str:
    """Run ``rnn-forecast backtest`` with ``options``; return its error line
    after checking that it failed with exit status 2."""
    status = main(["--registry", str(tmp_path), "backtest", *options])

    assert status == 2
    return capsys.readouterr().err


def test_fit_limit_names_options(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("RNN_FORECAST_MAX_BACKTEST_FITS", raising=False)

    error = backtest_error(tmp_path, capsys, "--refit-every", "1")

    assert error == (
        "error: the backtest needs 692 fits for 692 origins, above the limit "
        "of 100; raise --refit-every or --step, shorten the date range, or "
        "raise RNN_FORECAST_MAX_BACKTEST_FITS\n"
    )


def test_reversed_dates_name_end_option(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    error = backtest_error(
        tmp_path, capsys, "--start", "2010-01-01", "--end", "2009-01-01"
    )

    assert error == (
        "error: --end: --end 2009-01-01 is before --start 2010-01-01; set "
        "--end on or after --start\n"
    )


def test_sliding_without_size_names_option(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    error = backtest_error(tmp_path, capsys, "--window", "sliding")

    assert error == (
        "error: --window-size: --window-size is missing, but --window 'sliding' "
        "needs it (training rows); set --window-size to a whole number from 50 "
        "to 200000, or set --window to 'expanding'\n"
    )


def test_size_without_sliding_names_option(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    error = backtest_error(tmp_path, capsys, "--window-size", "60")

    assert error == (
        "error: --window-size: --window-size applies to --window 'sliding' only; "
        "remove --window-size or set --window to 'sliding'\n"
    )


def test_empty_date_range_names_options(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    error = backtest_error(
        tmp_path, capsys, "--start", "1990-01-01", "--end", "1991-01-01"
    )

    assert error.startswith("error: no forecast origin between 1990-01-01 and ")
    assert "; choose --start and --end between " in error


def test_short_sliding_fold_names_options(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    error = backtest_error(
        tmp_path,
        capsys,
        *("--window", "sliding", "--window-size", "60", "--start", "2009-01-01"),
        *("--lookback", "50", "--horizon", "20"),
    )

    assert "is too short for --lookback 50, --horizon 20 and val_fraction=0.15" in (
        error
    )
    assert "not on test_fraction=0.15" in error
    assert error.endswith(
        "Use a larger --window-size, or use a smaller --lookback or --horizon\n"
    )


def test_short_fold_keeps_unset_fields(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    error = backtest_error(
        tmp_path,
        capsys,
        *("--window", "sliding", "--window-size", "60", "--start", "2009-01-01"),
    )

    assert "is too short for lookback=60, horizon=10 and val_fraction=0.15" in error
    assert error.endswith(
        "Use a larger --window-size, or use a smaller lookback or horizon\n"
    )


def test_fold_short_for_horizon_names_options(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    error = backtest_error(
        tmp_path,
        capsys,
        *("--start", "2002-06-20", "--lookback", "5", "--horizon", "12"),
        *("--target", "price"),
    )

    assert error == (
        "error: fold 1 (training rows 0..19): a fold with 20 training rows is "
        "too short for --horizon 12; move --start later\n"
    )


def no_trial_error(params: TuningSpec) -> str:
    """Return the error of registering the best trial of a study without a
    completed trial."""
    study: Any = types.SimpleNamespace(study_name="empty")
    with pytest.raises(RnnForecastError) as caught:
        register_best(study, params, objective=None, registry=None, summary={})  # type: ignore[arg-type]
    return caught.value.message


def test_study_without_trials_names_options() -> None:
    params = validate_options(TuningSpec, {"trials": 1}, TUNE_OPTIONS)

    assert no_trial_error(params) == (
        "study empty has no completed trial, so nothing can be registered; "
        "raise --trials or --timeout, or widen the pruning warm-up with "
        "--pruning-warmup"
    )


def test_study_without_trials_names_fields() -> None:
    params = TuningSpec(trials=1)

    assert no_trial_error(params) == (
        "study empty has no completed trial, so nothing can be registered; "
        "raise trials or timeout_seconds, or widen the pruning warm-up with "
        "pruning_warmup_epochs"
    )
