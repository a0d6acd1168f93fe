"""The ``tuning`` job kind: an Optuna study whose best trial is registered
as a new version, exactly as ``rnn-forecast tune`` runs it.

The study database is the server's (``RNN_FORECAST_TUNING_STORAGE``, or the
SQLite file ``optuna.db`` in the data folder), never one named by a client,
so a job cannot make the server connect to another host.
"""

from __future__ import annotations

from typing import Any

from models.errors import InvalidInputError
from models.limits import check_limit
from models.tuning import TuningSpec, default_storage, run_tuning
from service.jobs.data_checks import check_search_data
from service.jobs.kinds import JobContext, register_job_kind
from service.jobs.train_kind import check_training_spec
from service.series_store import series_dir
from service.settings import Settings

TUNING = "tuning"


def check_tuning(params: TuningSpec, settings: Settings) -> None:
    """Reject a client-chosen storage, a missing model name, a search space
    above the limits, and a series on this host that a trial cannot train."""
    if params.storage is not None:
        raise InvalidInputError(
            "storage is chosen by the server (RNN_FORECAST_TUNING_STORAGE) and "
            "cannot be set in a job; remove params.storage",
            field="storage",
        )
    check_training_spec(params.base, settings, path="base.")
    params.check_name()
    space = params.space
    check_limit(
        "space.hidden_size",
        space.hidden_size[1],
        settings.max_hidden_size,
        "RNN_FORECAST_MAX_HIDDEN_SIZE",
    )
    check_limit(
        "space.num_layers",
        space.num_layers[1],
        settings.max_num_layers,
        "RNN_FORECAST_MAX_NUM_LAYERS",
    )
    check_limit(
        "space.lookback",
        space.lookback[1],
        settings.max_lookback,
        "RNN_FORECAST_MAX_LOOKBACK",
    )
    check_search_data(params, settings)


def run_tuning_job(params: TuningSpec, ctx: JobContext) -> dict[str, Any]:
    """Run the study in the server's storage and register its best trial."""
    storage = ctx.settings.tuning_storage or default_storage(ctx.settings.data_dir)
    ctx.report({"stage": "loading data"})
    return run_tuning(
        params.model_copy(update={"storage": storage}),
        ctx.report,
        ctx.should_stop,
        registry=ctx.registry,
        cache_dir=ctx.settings.cache_dir,
        upload_dir=series_dir(ctx.settings),
    )


register_job_kind(TUNING, TuningSpec, run_tuning_job, check=check_tuning)
