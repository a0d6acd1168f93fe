"""The ``backtest`` job kind: a walk-forward backtest of a training spec,
exactly as ``rnn-forecast backtest`` runs it; the result is the backtest's
per-fold and aggregated scores."""

from __future__ import annotations

import datetime as dt
from typing import Any

from models.backtest import BacktestSpec, run_backtest
from models.errors import InvalidInputError
from models.spec import DataSpec, SyntheticData, UploadedData
from service.jobs.kinds import JobContext, register_job_kind
from service.jobs.train_kind import check_training_spec
from service.series_store import read_series_info, series_dir
from service.settings import Settings

BACKTEST = "backtest"


def check_backtest(params: BacktestSpec, settings: Settings) -> None:
    """Apply the training job's checks to the spec that every fold fits.

    Also reject a start after the series' last date or an end before its
    first date, for the sources whose dates are known without loading them.
    """
    check_training_spec(params.training, settings, path="training.")
    span = _series_span(params.training.data, settings)
    if span is not None:
        _check_range(params, *span)


def _series_span(data: DataSpec, settings: Settings) -> tuple[dt.date, dt.date] | None:
    """Return the first and last date of an uploaded or synthetic series, or
    None for a source whose dates are known only after loading it."""
    if isinstance(data, UploadedData):
        info = read_series_info(settings, data.series_id)
        return dt.date.fromisoformat(info["start"]), dt.date.fromisoformat(info["end"])
    if isinstance(data, SyntheticData):
        # the data modules import pandas, which the server loads only when needed
        from models.data.synthetic import date_span

        return date_span(data)
    return None


def _check_range(params: BacktestSpec, first: dt.date, last: dt.date) -> None:
    if params.start is not None and params.start > last:
        raise InvalidInputError(
            f"start {params.start} is after the series ends on {last}; choose a "
            f"start between {first} and {last}",
            field="params.start",
        )
    if params.end is not None and params.end < first:
        raise InvalidInputError(
            f"end {params.end} is before the series starts on {first}; choose an "
            f"end between {first} and {last}",
            field="params.end",
        )


def run_backtest_job(params: BacktestSpec, ctx: JobContext) -> dict[str, Any]:
    """Run the backtest, reporting progress after each fold."""
    ctx.report({"stage": "loading data"})
    return run_backtest(
        params,
        ctx.report,
        ctx.should_stop,
        cache_dir=ctx.settings.cache_dir,
        upload_dir=series_dir(ctx.settings),
        max_fits=ctx.settings.max_backtest_fits,
    )


register_job_kind(BACKTEST, BacktestSpec, run_backtest_job, check=check_backtest)
