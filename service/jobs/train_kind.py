"""The built-in ``train`` job kind: a ``TrainingSpec`` trained and written to
the registry as a new version, exactly as ``rnn-forecast train`` does."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from models.errors import InvalidInputError
from models.generator_fields import check_generator_fields
from models.limits import check_limit
from models.spec import SyntheticData, TrainingSpec, UploadedData, check_model_name
from service.data_sources import check_http_source
from service.jobs.data_checks import check_training_data
from service.jobs.kinds import JobContext, register_job_kind
from service.jobs.progress import EpochProgress
from service.series_store import series_dir, series_exists
from service.settings import Settings

TRAIN = "train"


def check_training_spec(
    spec: TrainingSpec,
    settings: Settings,
    *,
    path: str = "",
    searched: Collection[str] = (),
) -> None:
    """Reject a spec that a client may not run on this service: a server-side
    CSV path, a synthetic field that the generator does not use, a size
    above the configured limits, or an unknown upload. These checks read no
    series.

    ``path`` goes before every field name in the errors: ``"base."`` for the
    spec inside a tuning job's params. The limits skip the fields in
    ``searched``, which each trial of a tuning job replaces.
    """
    check_http_source(
        spec.data.source, field=f"{path}data.source", root_path=settings.root_path
    )
    if isinstance(spec.data, SyntheticData):
        check_generator_fields(spec.data, path=path)
    limits = [
        ("epochs", spec.epochs, settings.max_epochs, "RNN_FORECAST_MAX_EPOCHS"),
        (
            "hidden_size",
            spec.hidden_size,
            settings.max_hidden_size,
            "RNN_FORECAST_MAX_HIDDEN_SIZE",
        ),
        (
            "num_layers",
            spec.num_layers,
            settings.max_num_layers,
            "RNN_FORECAST_MAX_NUM_LAYERS",
        ),
        ("lookback", spec.lookback, settings.max_lookback, "RNN_FORECAST_MAX_LOOKBACK"),
        ("horizon", spec.horizon, settings.max_horizon, "RNN_FORECAST_MAX_HORIZON"),
    ]
    for field, value, limit, variable in limits:
        if field not in searched:
            check_limit(f"{path}{field}", value, limit, variable)

    if isinstance(spec.data, SyntheticData):
        check_limit(
            f"{path}data.length",
            spec.data.length,
            settings.max_series_rows,
            "RNN_FORECAST_MAX_SERIES_ROWS",
        )
    if isinstance(spec.data, UploadedData) and not series_exists(
        settings, spec.data.series_id
    ):
        raise InvalidInputError(
            f"series {spec.data.series_id} not found; upload it with "
            f"POST {settings.root_path}/v1/series and use the id that the "
            "upload returns",
            field=f"{path}data.series_id",
        )


def check_train_job(spec: TrainingSpec, settings: Settings) -> None:
    """Check a train job at submission: ``check_training_spec``, a name for
    any data other than the bundled series, and the series on this host."""
    check_training_spec(spec, settings)
    check_model_name(spec)
    check_training_data(spec, settings)


def run_training(spec: TrainingSpec, ctx: JobContext) -> dict[str, Any]:
    """Train ``spec``, reporting every epoch and the stages ``evaluating``
    and ``writing version``. The registry is written only after
    ``ctx.begin_write`` has passed, so a run whose cancel was accepted
    leaves no version behind."""
    from models.pipeline import train_and_register

    progress = EpochProgress(ctx, spec.epochs)
    progress.stage("loading data")
    version, result, _ = train_and_register(
        spec,
        ctx.registry,
        cache_dir=ctx.settings.cache_dir,
        upload_dir=series_dir(ctx.settings),
        root_path=ctx.settings.root_path,
        on_epoch=progress,
        should_stop=ctx.should_stop,
        on_stage=progress.stage,
        before_write=progress.begin_write,
    )
    return {
        "name": spec.name,
        "version": version,
        "epochs_run": len(result.history),
        "best_epoch": result.best_epoch,
        "stopped_early": result.stopped_early,
    }


register_job_kind(TRAIN, TrainingSpec, run_training, check=check_train_job)
