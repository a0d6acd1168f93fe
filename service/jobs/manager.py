"""The job API's entry point: validate, queue, cancel and read jobs, and own
the runner chosen by ``RNN_FORECAST_RUNNER``."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any, Protocol

from pydantic import BaseModel
from sqlalchemy.engine import Connection

from models.errors import ConflictError, NotFoundError
from models.quoted_ids import quoted
from service.jobs.kinds import JobKind, get_kind
from service.jobs.runner_state import RunnerState
from service.jobs.store import JOB_ID_RE, Job, JobStore, open_store
from service.jobs.uploads import require_uploads
from service.settings import Settings

logger = logging.getLogger(__name__)


# how many times a submission runs the kind's checks while its
# ``check_basis`` changes under them
CHECK_ATTEMPTS = 3


class _ChecksOutdated(Exception):
    """Raised under the submission lock when the kind's ``check_basis``
    changed since the checks outside the lock, so that nothing is stored."""


class Runner(Protocol):
    """The interface that the manager needs from a runner."""

    def start(self) -> None: ...

    def state(self) -> RunnerState: ...

    def stop(self) -> None: ...

    def submitted(self, job: Job) -> None: ...

    def cancel_requested(self, job: Job) -> None: ...


def check_job_id(job_id: str, collection: str) -> None:
    """Raise ``NotFoundError`` on ``job_id`` when it is not in the form of
    the ids that the store writes, which no stored job can have.

    ``collection`` is the public path of the job list that the request
    named, such as ``/rnn/v1/training-jobs``. The message names a POST to
    it as the request that returns job ids.
    """
    if not JOB_ID_RE.fullmatch(job_id):
        raise NotFoundError(
            f"job {quoted(job_id)} not found; job ids are 32 lowercase hex "
            f"characters as returned by POST {collection}",
            field="job_id",
        )


def make_runner(settings: Settings, store: JobStore) -> Runner:
    """Create the runner that ``settings.runner`` names."""
    if settings.runner == "celery":
        from service.jobs.celery_runner import CeleryRunner

        return CeleryRunner(settings, store)

    from service.jobs.inhost import InHostRunner

    return InHostRunner(settings, store)


class JobManager:
    """The job operations behind the HTTP API."""

    def __init__(self, settings: Settings, store: JobStore, runner: Runner) -> None:
        self.settings = settings
        self.store = store
        self.runner = runner

    @classmethod
    def from_settings(cls, settings: Settings) -> JobManager:
        store = open_store(settings)
        return cls(settings, store, make_runner(settings, store))

    def start(self) -> None:
        self.runner.start()

    def stop(self) -> None:
        self.runner.stop()
        self.store.close()

    def submit(self, kind_name: str, params: BaseModel | dict[str, Any]) -> Job:
        """Validate ``params`` for the kind, check the limits, the queue and
        the kind's unfinished jobs, store the job as queued and hand it to
        the runner.

        Raises ``pydantic.ValidationError`` for invalid params,
        ``InvalidInputError`` for a value the service rejects, including one
        that conflicts with an unfinished job, ``QueueFullError`` when the
        queue is full and ``SeriesDeletedError`` when an upload that the
        params name was deleted meanwhile. When the kind's ``check_basis``
        changed between its checks and the insert, the checks run again, and
        after ``CHECK_ATTEMPTS`` such runs it raises ``ConflictError``.
        """
        kind = get_kind(kind_name)
        model = (
            params
            if isinstance(params, kind.params_model)
            else kind.params_model.model_validate(params)
        )
        for _ in range(CHECK_ATTEMPTS):
            job = self._checked_create(kind, model)
            if job is not None:
                self.runner.submitted(job)
                return job
        raise ConflictError(
            f"the {kind.name} job was not queued: the stored state that its "
            f"params are checked against changed {CHECK_ATTEMPTS} times between "
            "the checks and the insert (for a tuning job, jobs on its "
            "study_name finished meanwhile); retry the request",
            field="params",
        )

    def _checked_create(self, kind: JobKind, model: BaseModel) -> Job | None:
        """Run the kind's checks and insert the job. Return None, with no job
        stored, when the kind's ``check_basis`` changed between the checks
        outside the submission lock and the insert under it."""
        basis = None
        if kind.check_basis is not None:
            with self.store.engine.connect() as conn:
                basis = kind.check_basis(model, conn)
        if kind.check is not None:
            kind.check(model, self.settings)

        stored = model.model_dump(mode="json")

        def guard(conn: Connection) -> None:
            require_uploads(self.settings, stored)
            self._check_unfinished(kind, model, conn)
            if kind.check_basis is not None and kind.check_basis(model, conn) != basis:
                raise _ChecksOutdated

        try:
            return self.store.create(
                kind.name, stored, max_queued=self.settings.max_queued_jobs, guard=guard
            )
        except _ChecksOutdated:
            logger.info(
                "the stored state behind the checks of a %s job changed before "
                "its insert; checking its params again",
                kind.name,
            )
            return None

    def _check_unfinished(
        self, kind: JobKind, model: BaseModel, conn: Connection
    ) -> None:
        """Run the kind's ``check_unfinished`` on the kind's queued and
        running jobs, read on ``conn``, which holds the submission lock."""
        if kind.check_unfinished is not None:
            kind.check_unfinished(model, self.store.unfinished_jobs(conn, kind.name))

    def runner_state(self) -> RunnerState:
        """Return the runner's state as of its last check; never blocks on
        the broker."""
        return self.runner.state()

    def cancel(
        self,
        job_id: str,
        check: Callable[[Job], None] | None = None,
        *,
        collection: str,
    ) -> Job:
        """Cancel a queued job or ask a running one to stop;
        ``ConflictError`` for a finished job. ``check`` is the store's
        ``request_cancel`` hook for preconditions, and ``collection`` the
        job list that the message of a malformed id names (``check_job_id``)."""
        check_job_id(job_id, collection)
        job = self.store.request_cancel(job_id, check)
        self.runner.cancel_requested(job)
        return job

    def get(self, job_id: str, kind: str | None = None, *, collection: str) -> Job:
        """Return the job with ``job_id`` (of ``kind`` when given); raise
        ``NotFoundError`` otherwise. ``collection`` is the job list that the
        message of a malformed id names (``check_job_id``)."""
        check_job_id(job_id, collection)
        job = self.store.get(job_id)
        if kind is not None and job.kind != kind:
            raise NotFoundError(
                f"{kind} job {quoted(job_id)} not found", field="job_id"
            )
        return job

    def list_jobs(
        self,
        *,
        kinds: Sequence[str] | None,
        statuses: Sequence[str] | None,
        limit: int,
        before: tuple[float, str] | None,
    ) -> list[Job]:
        return self.store.list_jobs(
            kinds=kinds, statuses=statuses, limit=limit, before=before
        )
