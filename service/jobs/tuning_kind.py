"""The ``tuning`` job kind: an Optuna study whose best trial is registered
as a new version, exactly as ``rnn-forecast tune`` runs it.

The study database is the server's (``RNN_FORECAST_TUNING_STORAGE``, or the
SQLite file ``optuna.db`` in the data folder), never one named by a client,
so a job cannot make the server connect to another host. The heartbeat
interval of its trials is the server's too
(``RNN_FORECAST_TUNING_HEARTBEAT_SECONDS``), because every process that
shares a study should use the same one.

A job without ``study_name`` runs a study of its own, ``job-<job id>``, so
that jobs on the same model name share no trials. A job with
``study_name`` resumes that study when it exists, with the same settings.
The settings are checked at submission against the stored study and
against the queued and running tuning jobs that use the same study name,
whose study may not exist yet.

The stored study is read before the submission takes the job store's
submission lock, so that no lock is held while the study database opens.
A job that used the study may create it and finish between that read and
the lock, and the check of the unfinished jobs then misses it too. So the
submission counts the finished tuning jobs that used the study before the
read and again under the lock (``finished_study_users``), and reads the
stored study again when the count changed. A process outside the job store,
such as ``rnn-forecast tune``, can still create the study after the check;
the job then fails when it runs.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from pydantic import ValidationError
from sqlalchemy import and_, func, or_, select
from sqlalchemy.engine import Connection
from sqlalchemy.exc import SQLAlchemyError

from models.errors import InvalidInputError, RnnForecastError
from models.limits import check_limit
from models.sql_urls import redact_storage, shown_storage
from models.storage_errors import driver_message
from models.tuning import (
    SEARCHED_FIELDS,
    TuningSpec,
    check_existing_study,
    default_storage,
    listed_differences,
    run_tuning,
    settings_differences,
    study_settings,
)
from models.tuning_budget import check_startup_trials
from service.jobs.data_checks import check_search_data
from service.jobs.kinds import JobContext, register_job_kind
from service.jobs.store import FINISHED, WRITING_STAGE, UnfinishedJob, jobs_table
from service.jobs.train_kind import check_training_spec
from service.series_store import series_dir
from service.settings import Settings

TUNING = "tuning"
# the start of the study name of a job without ``study_name``
JOB_STUDY_PREFIX = "job-"

logger = logging.getLogger(__name__)


def check_tuning(params: TuningSpec, settings: Settings) -> None:
    """Reject a client-chosen storage or heartbeat interval, a missing model
    name, a search space above the limits, a series on this host that a
    trial cannot train, a ``study_name`` whose stored study has other
    settings, and a ``startup_trials`` above the trials of the job and its
    study."""
    if params.storage is not None:
        raise InvalidInputError(
            "storage is chosen by the server (RNN_FORECAST_TUNING_STORAGE) and "
            "cannot be set in a job; remove params.storage",
            field="storage",
        )
    if params.heartbeat_seconds is not None:
        raise InvalidInputError(
            "heartbeat_seconds is chosen by the server "
            "(RNN_FORECAST_TUNING_HEARTBEAT_SECONDS) and cannot be set in a job; "
            "remove params.heartbeat_seconds",
            field="heartbeat_seconds",
        )
    check_training_spec(params.base, settings, path="base.", searched=SEARCHED_FIELDS)
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
    check_study_name(params, settings)


def check_study_name(params: TuningSpec, settings: Settings) -> None:
    """Compare the settings of the study that ``study_name`` names, when it
    exists, with the job's, and check ``startup_trials`` against the trials
    of the job and the study. A job without ``study_name`` creates a study of
    its own. An unreachable storage skips both checks, and the job then
    checks the study's settings when it runs."""
    if params.study_name is None:
        check_startup_trials(params, None, None)
        return
    storage = server_storage(settings)
    try:
        check_existing_study(params, storage)
        check_startup_trials(params, params.study_name, storage)
    except SQLAlchemyError as exc:
        logger.warning(
            "study %s in %s could not be read at submission (%s); the job "
            "checks it when it runs",
            params.study_name,
            redact_storage(storage),
            type(exc).__name__,
        )


def check_study_users(params: TuningSpec, jobs: Sequence[UnfinishedJob]) -> None:
    """Raise ``InvalidInputError`` on ``study_name`` when one of ``jobs``, the
    queued and running tuning jobs, uses that study with other settings.

    A queued job has not created its study yet, so ``check_study_name``
    cannot see it. A job with the same settings passes, because both jobs
    then add trials to one study.
    """
    if params.study_name is None:
        return
    requested = study_settings(params)
    for job in jobs:
        other = study_params(job)
        if other is None or other.study_name != params.study_name:
            continue
        differences = settings_differences(study_settings(other), requested)
        if not differences:
            continue
        raise InvalidInputError(
            f"study {params.study_name} is used by tuning job {job.id}, which "
            f"is {job.status}, with other settings than this request "
            f"({listed_differences(differences)}). Jobs that share a study "
            "must share its search space and base spec, so that its trials "
            f"stay comparable. Send the settings of job {job.id} to add trials "
            "to its study, or use another study name: give another "
            "study_name, or leave study_name out so that this job gets a "
            "study of its own",
            field="study_name",
        )


def finished_study_users(params: TuningSpec, conn: Connection) -> int:
    """Count the finished tuning jobs that used the study ``study_name``,
    read on ``conn``: those that name it, and for a name ``job-<id>`` the
    job ``<id>`` when it names no study. Only a running job creates a
    study, so a stored study that a job created after an earlier count
    raises this count once the job has finished."""
    name = params.study_name
    if name is None:
        return 0
    named = jobs_table.c.params["study_name"].as_string()
    uses = named == name
    if name.startswith(JOB_STUDY_PREFIX):
        job_id = name.removeprefix(JOB_STUDY_PREFIX)
        uses = or_(uses, and_(jobs_table.c.id == job_id, named.is_(None)))
    query = select(func.count()).where(
        jobs_table.c.kind == TUNING, jobs_table.c.status.in_(FINISHED), uses
    )
    return int(conn.execute(query).scalar_one())


def study_params(job: UnfinishedJob) -> TuningSpec | None:
    """Return the params of the tuning ``job`` with the name of the study
    that it uses, or None when its stored params no longer validate."""
    try:
        params = TuningSpec.model_validate(job.params)
    except ValidationError as exc:
        logger.warning(
            "the params of tuning job %s do not validate (%d errors), so its "
            "study name is not compared with a new job's",
            job.id,
            exc.error_count(),
        )
        return None
    if params.study_name is not None:
        return params
    return params.model_copy(update={"study_name": job_study_name(job.id)})


def server_storage(settings: Settings) -> str:
    """Return the server's study database URL."""
    return settings.tuning_storage or default_storage(settings.data_dir)


def job_study_name(job_id: str) -> str:
    """Return the name of the study of a job that sets no ``study_name``."""
    return f"{JOB_STUDY_PREFIX}{job_id}"


def run_tuning_job(params: TuningSpec, ctx: JobContext) -> dict[str, Any]:
    """Run the study in the server's storage, with the server's heartbeat
    interval, and register its best trial once ``ctx.begin_write`` has
    passed, so a job whose cancel was accepted writes no version."""
    storage = server_storage(ctx.settings)
    update = {
        "storage": storage,
        "heartbeat_seconds": ctx.settings.tuning_heartbeat_seconds,
        "study_name": params.study_name or job_study_name(ctx.job_id),
    }
    last_progress: dict[str, Any] = {}

    def report(progress: dict[str, Any]) -> None:
        last_progress.update(progress)
        ctx.report(progress)

    def begin_write() -> None:
        ctx.begin_write({**last_progress, "stage": WRITING_STAGE})

    report({"stage": "loading data"})
    try:
        return run_tuning(
            params.model_copy(update=update),
            report,
            ctx.should_stop,
            registry=ctx.registry,
            cache_dir=ctx.settings.cache_dir,
            data_dir=ctx.settings.data_dir,
            upload_dir=series_dir(ctx.settings),
            root_path=ctx.settings.root_path,
            before_write=begin_write,
        )
    except SQLAlchemyError as exc:
        raise study_database_error(ctx.settings, storage, exc) from exc


def study_database_error(
    settings: Settings, storage: str, exc: SQLAlchemyError
) -> RnnForecastError:
    """Return the job error for the server's study database ``storage``
    that failed with ``exc``. It names the setting to fix and shows the URL
    as ``shown_storage`` does, so that clients do not see the server's
    folders."""
    setting = (
        "RNN_FORECAST_TUNING_STORAGE"
        if settings.tuning_storage
        else "RNN_FORECAST_DATA_DIR"
    )
    return RnnForecastError(
        f"the study database {shown_storage(storage, settings.data_dir)} failed "
        f"({driver_message(exc)}); the server's {setting} sets it, so ask its "
        "operator to fix the setting or the database, then submit the job again"
    )


register_job_kind(
    TUNING,
    TuningSpec,
    run_tuning_job,
    check=check_tuning,
    server_fields=("storage", "heartbeat_seconds"),
    check_unfinished=check_study_users,
    check_basis=finished_study_users,
)
