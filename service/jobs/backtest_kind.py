"""The ``backtest`` job kind: a walk-forward backtest of a training spec,
exactly as ``rnn-forecast backtest`` runs it; the result is the backtest's
per-fold and aggregated scores."""

from __future__ import annotations

from typing import Any

from models.backtest import BacktestSpec, run_backtest
from service.jobs.data_checks import check_backtest_data
from service.jobs.kinds import JobContext, register_job_kind
from service.jobs.train_kind import check_training_spec
from service.series_store import series_dir
from service.settings import Settings

BACKTEST = "backtest"


def check_backtest(params: BacktestSpec, settings: Settings) -> None:
    """Apply the training job's checks to the spec that every fold fits, then
    check the date range, the number of fits and the first fold against the
    series when it is on this host."""
    check_training_spec(params.training, settings, path="training.")
    check_backtest_data(params, settings, max_fits=settings.max_backtest_fits)


def run_backtest_job(params: BacktestSpec, ctx: JobContext) -> dict[str, Any]:
    """Run the backtest, reporting progress after each fold."""
    ctx.report({"stage": "loading data"})
    return run_backtest(
        params,
        ctx.report,
        ctx.should_stop,
        cache_dir=ctx.settings.cache_dir,
        upload_dir=series_dir(ctx.settings),
        root_path=ctx.settings.root_path,
        max_fits=ctx.settings.max_backtest_fits,
    )


register_job_kind(BACKTEST, BacktestSpec, run_backtest_job, check=check_backtest)
