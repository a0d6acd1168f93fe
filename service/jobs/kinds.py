"""The registry of job kinds: what a job's ``kind`` runs and which params it
takes.

Adding a kind takes a module and one line here::

    # service/jobs/backtest_kind.py
    class BacktestParams(BaseModel):
        model_config = ConfigDict(extra="forbid")
        name: str
        folds: int = Field(default=5, ge=1, le=50)

    def run_backtest(params: BacktestParams, ctx: JobContext) -> dict[str, Any]:
        for fold in range(params.folds):
            if ctx.should_stop():
                raise JobCancelled()
            ...
            ctx.report({"fold": fold + 1, "folds": params.folds})
        return {"rmse": ...}

    register_job_kind("backtest", BacktestParams, run_backtest)

and the module's name appended to ``JOB_KIND_MODULES``. The API, the in-host
worker processes and the Celery workers all import these modules, so a kind
is known wherever a job can run. ``POST /v1/jobs`` with
``{"kind": "backtest", "params": {...}}`` then queues it.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from pydantic import BaseModel
from sqlalchemy.engine import Connection

from models.errors import InvalidInputError
from models.quoted_ids import quoted
from models.registry import Registry
from service.jobs.store import UnfinishedJob
from service.settings import Settings

# Modules that call ``register_job_kind`` when imported.
# the kinds that the modules of JOB_KIND_MODULES register, named here so that
# the OpenAPI document can list them without importing those modules
BUILT_IN_KINDS = ("backtest", "lag_experiment", "train", "tuning")
JOB_KIND_MODULES: list[str] = [
    "service.jobs.train_kind",
    "service.jobs.backtest_kind",
    "service.jobs.tuning_kind",
    "service.jobs.lag_experiment_kind",
]


class JobCancelled(Exception):
    """Raised by a job's ``run`` when ``ctx.should_stop()`` returned True;
    the job ends ``cancelled``."""


class JobContext(Protocol):
    """The services a running job uses: the registry, the settings,
    progress reports and the cancel flag."""

    job_id: str
    registry: Registry
    settings: Settings

    def report(
        self, progress: dict[str, Any], history: list[Any] | None = None
    ) -> None:
        """Store JSON-safe progress (and the history so far) for pollers;
        also a heartbeat."""

    def should_stop(self) -> bool:
        """True once a cancel was requested or the job stopped running; cheap
        enough to call before every batch."""

    def begin_write(self, progress: dict[str, Any]) -> None:
        """Store ``progress`` with stage ``"writing version"`` just before the
        job writes its result, after which a cancel request gets 409. Raises
        ``JobCancelled`` when a cancel was requested first, so the job must
        write nothing."""


RunJob = Callable[[Any, JobContext], dict[str, Any]]
CheckParams = Callable[[Any, Settings], None]
CheckUnfinished = Callable[[Any, Sequence[UnfinishedJob]], None]
CheckBasis = Callable[[Any, Connection], object]


@dataclass(frozen=True)
class JobKind:
    """One kind: its params model, the function that runs it, and optional
    checks that run when the job is submitted.

    ``check`` compares the params with the service's limits.
    ``check_unfinished`` compares them with the params of the queued and
    running jobs of the kind, read under the store's submission lock, so
    that no job of the kind is inserted between that check and the insert.
    ``server_fields`` are params that the server sets and that a submitted
    job must leave out.

    ``check_basis`` reads from the job store a value that changes whenever
    what ``check`` read outside the store may have changed, such as the
    number of finished jobs that used a study. The submission reads it
    before ``check`` and again under the submission lock. When the two
    values differ, it runs ``check`` again instead of inserting the job.
    """

    name: str
    params_model: type[BaseModel]
    run: RunJob
    check: CheckParams | None = None
    server_fields: tuple[str, ...] = ()
    check_unfinished: CheckUnfinished | None = None
    check_basis: CheckBasis | None = None


_KINDS: dict[str, JobKind] = {}


def register_job_kind(
    name: str,
    params_model: type[BaseModel],
    run: RunJob,
    *,
    check: CheckParams | None = None,
    server_fields: tuple[str, ...] = (),
    check_unfinished: CheckUnfinished | None = None,
    check_basis: CheckBasis | None = None,
) -> None:
    """Make ``name`` runnable; ``run(params, ctx)`` returns the job's JSON
    result and raises ``JobCancelled`` when ``ctx.should_stop()``."""
    existing = _KINDS.get(name)
    if existing is not None and existing.run is not run:
        raise ValueError(f"job kind {name!r} is already registered by {existing.run}")
    _KINDS[name] = JobKind(
        name, params_model, run, check, server_fields, check_unfinished, check_basis
    )


def load_kind_modules() -> None:
    """Import every module of ``JOB_KIND_MODULES`` (idempotent)."""
    for module_name in JOB_KIND_MODULES:
        importlib.import_module(module_name)


def get_kind(name: str) -> JobKind:
    """Return the kind called ``name``; raise ``InvalidInputError`` listing
    the known kinds when there is none."""
    load_kind_modules()
    kind = _KINDS.get(name)
    if kind is None:
        raise InvalidInputError(
            f"job kind {quoted(name)} is unknown; known kinds are {kind_names()}",
            field="kind",
        )
    return kind


def kind_names() -> list[str]:
    """Names of the registered kinds, sorted."""
    load_kind_modules()
    return sorted(_KINDS)


def declared_kind_names() -> list[str]:
    """Return the names of the built-in kinds and of any kind registered so
    far, sorted, without importing ``JOB_KIND_MODULES``.

    The OpenAPI document lists these. Importing the kind modules would load
    pandas into a server that only forecasts, on its first request.
    """
    return sorted({*BUILT_IN_KINDS, *_KINDS})
