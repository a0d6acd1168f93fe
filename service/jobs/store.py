"""The durable job store: one SQL table on SQLAlchemy Core.

SQLite (``<data_dir>/jobs.db``) serves one host; any other SQL URL, such as
``postgresql+psycopg://user@db/forecast``, lets API processes and workers on
several hosts share one store. Every status change is one conditional
``UPDATE ... WHERE status IN (...)``, so two processes can never both claim a
job and a finished job never runs again. A worker's writes also require that
the job still records the worker's run (``Run``), so a worker that lost its
job changes nothing. Times are Unix seconds (UTC).

Statuses: ``queued`` -> ``running`` -> ``succeeded`` | ``failed`` |
``cancelled``; a queued job can also go straight to ``cancelled`` or
``failed``.
"""

from __future__ import annotations

import contextlib
import logging
import re
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    Double,
    Engine,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    and_,
    create_engine,
    event,
    func,
    or_,
    select,
    true,
    update,
)
from sqlalchemy.engine import Connection, Row, make_url
from sqlalchemy.exc import IntegrityError
from sqlalchemy.sql.elements import ColumnElement

from models.errors import ConflictError, NotFoundError, RnnForecastError
from models.plurals import plural
from models.quoted_ids import quoted
from models.sql_urls import sqlite_file
from service.jobs.late_results import late_result_note, merge_late_result
from service.jobs.schema import ensure_schema
from service.settings import Settings

logger = logging.getLogger(__name__)

QUEUED = "queued"
RUNNING = "running"
SUCCEEDED = "succeeded"
FAILED = "failed"
CANCELLED = "cancelled"
STATUSES = (QUEUED, RUNNING, SUCCEEDED, FAILED, CANCELLED)
FINISHED = (SUCCEEDED, FAILED, CANCELLED)

# The progress stage of a running job that is writing its result, such as a
# new registry version. A cancel request for a job in this stage is rejected.
WRITING_STAGE = "writing version"

SQLITE_BUSY_TIMEOUT_MS = 30_000

# The revision of a job that a claim which set ``started_at`` changed last:
# ``create`` writes 1 and the claim adds 1. Older releases claimed in-host
# jobs that way before their child process ran them, so such a row with no
# heartbeat since its claim was never begun. This release's claims that
# begin a job at once count as two changes (``claim``), so none of its rows
# looks like that.
LEGACY_CLAIM_REVISION = 2

metadata = MetaData()

# A change to these tables needs a new revision in
# service/jobs/migrations/versions and a new schema.HEAD.
# the id of every job, uuid4().hex as ``submit`` writes it
JOB_ID_PATTERN = r"^[a-f0-9]{32}$"
JOB_ID_RE = re.compile(JOB_ID_PATTERN)

jobs_table = Table(
    "rnn_forecast_jobs",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("kind", String(64), nullable=False),
    Column("status", String(16), nullable=False),
    Column("params", JSON, nullable=False),
    Column("progress", JSON),
    Column("history", JSON, nullable=False),
    Column("result", JSON),
    Column("error", Text),
    Column("cancel_requested", Boolean, nullable=False),
    Column("cancel_requested_at", Double),
    Column("created_at", Double, nullable=False),
    Column("started_at", Double),
    Column("finished_at", Double),
    Column("heartbeat_at", Double),
    Column("worker", String(255)),
    Column("revision", Integer, nullable=False),
    Index("ix_rnn_forecast_jobs_status", "status", "created_at"),
    Index("ix_rnn_forecast_jobs_created", "created_at", "id"),
)


# One row whose update serializes job submissions and the deletes of the
# uploads they name. A transaction that has updated it holds a row lock
# (PostgreSQL) or the write lock (SQLite) until it commits, so the queued
# count and the uploads it checks cannot change before its insert. The column
# counts the transactions that took the lock.
queue_lock_table = Table(
    "rnn_forecast_job_queue_lock",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("submissions", Integer, nullable=False),
)
QUEUE_LOCK_ID = 1


class QueueFullError(RnnForecastError):
    """The queue already contains ``RNN_FORECAST_MAX_QUEUED_JOBS`` jobs
    (HTTP 429)."""


@dataclass(frozen=True)
class Job:
    """One stored job.

    ``worker`` is ``"<host>:<pid>"`` of the process that runs it.
    ``revision`` grows by one on every change that readers can see (the
    ETag), and by two for a claim that also begins the job (``claim``).
    ``heartbeat_at`` is the last sign of life of a running job.
    ``started_at`` is when a worker process began the job. It is None for a
    running job that the in-host dispatcher claimed and whose worker process
    has not begun it yet (see ``begin_work``), so such a job lost no work.
    ``unbegun`` also recognizes the claims of older releases, which set
    ``started_at`` as they claimed.
    """

    id: str
    kind: str
    status: str
    params: dict[str, Any]
    progress: dict[str, Any] | None
    history: list[Any]
    result: dict[str, Any] | None
    error: str | None
    cancel_requested: bool
    cancel_requested_at: float | None
    created_at: float
    started_at: float | None
    finished_at: float | None
    heartbeat_at: float | None
    worker: str | None
    revision: int

    @property
    def finished(self) -> bool:
        return self.status in FINISHED

    @property
    def unbegun(self) -> bool:
        """True for a running job that no worker process has begun: one
        without ``started_at``, or an older release's claim with no change
        since (``LEGACY_CLAIM_REVISION``: no report, no cancel request) and
        no heartbeat after the claim's own. The Python twin of
        ``_unbegun()``."""
        if self.started_at is None:
            return True
        return (
            self.revision == LEGACY_CLAIM_REVISION
            and self.heartbeat_at == self.started_at
        )

    @property
    def run(self) -> Run | None:
        """The run of this job by its recorded worker process, None while no
        worker process has begun it (``started_at`` is None)."""
        if self.worker is None or self.started_at is None:
            return None
        return Run(self.id, self.worker, self.started_at)


@dataclass(frozen=True)
class Run:
    """One worker process's run of a job: the job's ``worker`` and
    ``started_at`` (Unix seconds) as the claim or ``begin_work`` that began
    the run wrote them.

    A worker passes its run to every write, and each write takes effect only
    while the job still has that worker and start time. The start time
    distinguishes two runs of one worker label. A worker that was paused past the
    heartbeat timeout, and whose job was ended or claimed again meanwhile,
    no longer owns the job, so its writes change nothing (it is fenced out).
    """

    job_id: str
    worker: str
    started_at: float


class RunState(NamedTuple):
    """The state that a worker polls during its run: the job's status, its
    cancel flag, and whether the run still owns the job."""

    status: str
    cancel_requested: bool
    owned: bool


class UnfinishedJob(NamedTuple):
    """The id, status (queued or running) and params of an unfinished job."""

    id: str
    status: str
    params: dict[str, Any]


def sqlite_url(path: Path) -> str:
    """Build the SQLAlchemy URL of a SQLite file."""
    return f"sqlite:///{Path(path).expanduser().resolve()}"


def open_store(settings: Settings) -> JobStore:
    """Open the store at ``settings.job_store``, or SQLite in the data
    folder."""
    url = settings.job_store or sqlite_url(settings.data_dir / "jobs.db")
    return JobStore(url)


def make_engine(url: str) -> Engine:
    """Create an engine; SQLite gets WAL mode and a busy timeout so that the
    API and its worker processes can write to one file."""
    if not url.startswith("sqlite"):
        return create_engine(url, pool_pre_ping=True)

    engine = create_engine(
        url,
        connect_args={
            "timeout": SQLITE_BUSY_TIMEOUT_MS / 1000,
            "check_same_thread": False,
        },
    )

    @event.listens_for(engine, "connect")
    def _set_pragmas(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.close()

    return engine


class JobStore:
    """Jobs in one SQL table; safe to share between processes and hosts."""

    def __init__(self, url: str) -> None:
        parsed = make_url(url)
        path = sqlite_file(parsed) if parsed.get_backend_name() == "sqlite" else None
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
        self.url = url
        self.engine = make_engine(url)
        self._create_table()

    def _create_table(self) -> None:
        ensure_schema(self.engine)
        self._create_queue_lock()

    def _create_queue_lock(self) -> None:
        """Insert the queue lock row unless it exists. A process that loses
        the race to insert it finds the row there."""
        exists = select(queue_lock_table.c.id).where(
            queue_lock_table.c.id == QUEUE_LOCK_ID
        )
        try:
            with self.engine.begin() as conn:
                if conn.execute(exists).first() is None:
                    conn.execute(
                        queue_lock_table.insert().values(
                            id=QUEUE_LOCK_ID, submissions=0
                        )
                    )
        except IntegrityError:
            logger.debug("another process created the job queue lock row")

    def close(self) -> None:
        self.engine.dispose()

    # ---- reading -----------------------------------------------------------

    def get(self, job_id: str) -> Job:
        """Return the job with ``job_id``; raise ``NotFoundError`` when there
        is none."""
        with self.engine.connect() as conn:
            row = conn.execute(
                select(jobs_table).where(jobs_table.c.id == job_id)
            ).first()
        if row is None:
            raise NotFoundError(f"job {quoted(job_id)} not found", field="job_id")
        return _to_job(row)

    def list_jobs(
        self,
        *,
        kinds: Sequence[str] | None = None,
        statuses: Sequence[str] | None = None,
        limit: int = 50,
        before: tuple[float, str] | None = None,
    ) -> list[Job]:
        """Jobs newest first; ``before`` is the (created_at, id) of the last
        job of the previous page (keyset pagination)."""
        query = select(jobs_table)
        if kinds:
            query = query.where(jobs_table.c.kind.in_(kinds))
        if statuses:
            query = query.where(jobs_table.c.status.in_(statuses))
        if before is not None:
            created_at, job_id = before
            query = query.where(
                or_(
                    jobs_table.c.created_at < created_at,
                    and_(
                        jobs_table.c.created_at == created_at,
                        jobs_table.c.id < job_id,
                    ),
                )
            )
        query = query.order_by(
            jobs_table.c.created_at.desc(), jobs_table.c.id.desc()
        ).limit(limit)
        with self.engine.connect() as conn:
            return [_to_job(row) for row in conn.execute(query)]

    def count(self, status: str) -> int:
        """Number of jobs in ``status``."""
        query = select(func.count()).where(jobs_table.c.status == status)
        with self.engine.connect() as conn:
            return int(conn.execute(query).scalar_one())

    def ids_with_status(self, status: str) -> list[str]:
        """Ids of the jobs in ``status``, oldest first."""
        query = (
            select(jobs_table.c.id)
            .where(jobs_table.c.status == status)
            .order_by(jobs_table.c.created_at, jobs_table.c.id)
        )
        with self.engine.connect() as conn:
            return [row.id for row in conn.execute(query)]

    def running(self) -> list[Job]:
        """Return every running job."""
        query = select(jobs_table).where(jobs_table.c.status == RUNNING)
        with self.engine.connect() as conn:
            return [_to_job(row) for row in conn.execute(query)]

    @staticmethod
    def unfinished_params(conn: Connection) -> list[tuple[str, dict[str, Any]]]:
        """Return (id, params) of every queued or running job, read on
        ``conn``, such as the connection of ``submission_lock``."""
        query = select(jobs_table.c.id, jobs_table.c.params).where(
            jobs_table.c.status.in_((QUEUED, RUNNING))
        )
        return [(row.id, row.params) for row in conn.execute(query)]

    @staticmethod
    def unfinished_jobs(conn: Connection, kind: str) -> list[UnfinishedJob]:
        """Return every queued or running job of ``kind``, oldest first, read
        on ``conn``, such as the connection of ``submission_lock``."""
        query = (
            select(jobs_table.c.id, jobs_table.c.status, jobs_table.c.params)
            .where(
                jobs_table.c.kind == kind,
                jobs_table.c.status.in_((QUEUED, RUNNING)),
            )
            .order_by(jobs_table.c.created_at, jobs_table.c.id)
        )
        return [
            UnfinishedJob(row.id, row.status, row.params) for row in conn.execute(query)
        ]

    # ---- writing -----------------------------------------------------------

    @contextlib.contextmanager
    def submission_lock(self) -> Iterator[Connection]:
        """Yield a connection in a transaction that holds the queue lock row
        until it commits or rolls back.

        Job submissions run under this lock, from any process or host. A
        block that also runs under it reads every job inserted before it,
        and no submission checks its state until the block has finished.
        """
        with self.engine.begin() as conn:
            conn.execute(
                update(queue_lock_table)
                .where(queue_lock_table.c.id == QUEUE_LOCK_ID)
                .values(submissions=queue_lock_table.c.submissions + 1)
            )
            yield conn

    def create(
        self,
        kind: str,
        params: dict[str, Any],
        max_queued: int | None = None,
        guard: Callable[[Connection], None] | None = None,
    ) -> Job:
        """Insert a queued job and return it.

        The insert runs in a transaction that holds the queue lock row (see
        ``submission_lock``), so concurrent submissions, from any number of
        API processes, take turns. With ``max_queued``, raise
        ``QueueFullError`` instead when that many jobs are queued. ``guard``,
        when given, runs under the lock before the insert with the
        connection of the transaction, and an exception that it raises
        stores no job.
        """
        job_id = uuid.uuid4().hex
        with self.submission_lock() as conn:
            if max_queued is not None:
                _check_queue_room(conn, max_queued)
            if guard is not None:
                guard(conn)
            conn.execute(
                jobs_table.insert().values(
                    id=job_id,
                    kind=kind,
                    status=QUEUED,
                    params=params,
                    history=[],
                    cancel_requested=False,
                    created_at=time.time(),
                    revision=1,
                )
            )
        logger.info("queued %s job %s", kind, job_id)
        return self.get(job_id)

    def claim(self, job_id: str, worker: str, *, started: bool = True) -> Job | None:
        """Move a queued job to running for ``worker``; None when another
        process claimed or cancelled it first.

        ``started=False`` is for a claim whose job another process begins
        later: ``started_at`` stays None until that process calls
        ``begin_work``. A claim with ``started=True`` is the claim and the
        begin in one update, so it adds 2 to the revision, and recovery
        tells its job from an older release's unbegun claim (see
        ``LEGACY_CLAIM_REVISION``).
        """
        now = time.time()
        claimed = self._transition(
            job_id,
            (QUEUED,),
            revision_step=2 if started else 1,
            status=RUNNING,
            worker=worker,
            started_at=now if started else None,
            heartbeat_at=now,
        )
        return self.get(job_id) if claimed else None

    def claim_next(self, worker: str, *, started: bool = True) -> Job | None:
        """Claim the oldest queued job as ``claim`` does; None when the queue
        is empty."""
        for job_id in self.ids_with_status(QUEUED):
            job = self.claim(job_id, worker, started=started)
            if job is not None:
                return job
        return None

    def begin_work(
        self,
        job_id: str,
        claimed_by: str,
        worker: str,
        claimed_at: float | None = None,
    ) -> bool:
        """Record ``worker`` as the process that runs the job ``claimed_by``
        claimed, and the time it began as ``started_at`` and as a heartbeat,
        so the stale heartbeat sweep does not fail a job that just began
        after a slow start. False when the job is no longer running or
        another worker is recorded, such as after ``requeue_unstarted``;
        ``worker`` must then not run it.

        ``claimed_at`` is the ``heartbeat_at`` that the claim wrote (Unix
        seconds). Given, the job must also still be unbegun with that
        heartbeat, so a claim that was requeued and then claimed again by
        the same ``claimed_by`` is not begun by the first claim's process.
        No write touches the heartbeat of an unbegun job between its claim
        and ``begin_work`` except a requeue or a new claim.
        """
        now = time.time()
        condition = jobs_table.c.worker == claimed_by
        if claimed_at is not None:
            condition = and_(
                condition,
                jobs_table.c.started_at.is_(None),
                jobs_table.c.heartbeat_at == claimed_at,
            )
        return self._transition(
            job_id,
            (RUNNING,),
            extra_condition=condition,
            worker=worker,
            started_at=now,
            heartbeat_at=now,
        )

    def requeue_unstarted(
        self, job_id: str, claimed_by: str, heartbeat_before: float | None = None
    ) -> bool:
        """Move a running job back to queued while its worker is still
        ``claimed_by``, the process that claimed it, and no worker process
        has begun it (``Job.unbegun``). A job with a cancel request stays
        running, and so does a job with a heartbeat at or after
        ``heartbeat_before`` when that is given. Returns whether the job was
        requeued; ``begin_work`` fails for it after that."""
        condition = (
            (jobs_table.c.worker == claimed_by)
            & _unbegun()
            & jobs_table.c.cancel_requested.is_(False)
        )
        if heartbeat_before is not None:
            condition = condition & (jobs_table.c.heartbeat_at < heartbeat_before)
        return self._transition(
            job_id,
            (RUNNING,),
            extra_condition=condition,
            status=QUEUED,
            worker=None,
            started_at=None,
            heartbeat_at=None,
        )

    def report(
        self,
        job_id: str,
        progress: dict[str, Any],
        history: list[Any] | None = None,
        *,
        run: Run | None = None,
    ) -> bool:
        """Store the progress (and history) of a running job; this is also a
        heartbeat. False when the job is no longer running or, with
        ``run``, no longer owned by that run (see ``Run``)."""
        values: dict[str, Any] = {"progress": progress, "heartbeat_at": time.time()}
        if history is not None:
            values["history"] = history
        return self._transition(
            job_id, (RUNNING,), extra_condition=_owned_by(run), **values
        )

    def begin_write(
        self, job_id: str, progress: dict[str, Any], *, run: Run | None = None
    ) -> bool:
        """Store ``progress``, whose stage is ``WRITING_STAGE``, for a running
        job without a cancel request. False when the job is no longer
        running, a cancel was requested or, with ``run``, the run no longer
        owns the job, so the job must write nothing.

        This UPDATE requires that the cancel flag is not set, and the UPDATE
        of ``request_cancel`` requires that the stage is not
        ``WRITING_STAGE``, so only the first of the two takes effect.
        """
        stage = progress.get("stage")
        if stage != WRITING_STAGE:
            raise ValueError(f"progress stage must be {WRITING_STAGE!r}, got {stage!r}")
        statement = (
            update(jobs_table)
            .where(
                jobs_table.c.id == job_id,
                jobs_table.c.status == RUNNING,
                jobs_table.c.cancel_requested.is_(False),
                _owned_by(run),
            )
            .values(
                progress=progress,
                heartbeat_at=time.time(),
                revision=jobs_table.c.revision + 1,
            )
        )
        with self.engine.begin() as conn:
            return conn.execute(statement).rowcount == 1

    def heartbeat(self, job_id: str, *, run: Run | None = None) -> bool:
        """Record that a running job's worker is alive; the revision stays,
        because readers see no change. False when the job is no longer
        running or, with ``run``, no longer owned by that run."""
        statement = (
            update(jobs_table)
            .where(
                jobs_table.c.id == job_id,
                jobs_table.c.status == RUNNING,
                _owned_by(run),
            )
            .values(heartbeat_at=time.time())
        )
        with self.engine.begin() as conn:
            return conn.execute(statement).rowcount == 1

    def finish(
        self,
        job_id: str,
        status: str,
        *,
        result: dict[str, Any] | None = None,
        error: str | None = None,
        from_statuses: Iterable[str] = (RUNNING,),
        run: Run | None = None,
    ) -> bool:
        """Move a job to a final status; False when it was not in one of
        ``from_statuses`` (for example already finished) or, with ``run``,
        the run no longer owns it."""
        if status not in FINISHED:
            raise ValueError(f"status must be one of {FINISHED}, got {status!r}")
        done = self._transition(
            job_id,
            tuple(from_statuses),
            extra_condition=_owned_by(run),
            status=status,
            result=result,
            error=error,
            finished_at=time.time(),
        )
        if done:
            logger.info("job %s %s%s", job_id, status, f": {error}" if error else "")
        return done

    def request_cancel(
        self, job_id: str, check: Callable[[Job], None] | None = None
    ) -> Job:
        """Cancel a queued job at once, or flag a running one so that its
        worker stops; ``ConflictError`` when the job has finished or is
        writing its result (progress stage ``WRITING_STAGE``).

        ``check``, when given, is called with the job as read before the
        write, and the write then happens only while the job keeps that
        revision. An exception it raises leaves the job unchanged.
        """
        now = time.time()
        for _ in range(3):
            job = self.get(job_id)
            revision = None
            if check is not None:
                check(job)
                revision = job.revision
            if job.finished:
                raise ConflictError(
                    f"job {job_id} has already finished with status "
                    f"{job.status}; only queued or running jobs can be cancelled",
                    field="job_id",
                )
            if job.status == QUEUED and self._transition(
                job_id,
                (QUEUED,),
                expected_revision=revision,
                status=CANCELLED,
                cancel_requested=True,
                cancel_requested_at=now,
                finished_at=now,
            ):
                logger.info("job %s cancelled while queued", job_id)
                return self.get(job_id)
            if job.status == RUNNING and job.cancel_requested:
                return job
            if job.status == RUNNING and _writing(job):
                raise ConflictError(
                    f"job {job_id} has finished training and is writing its "
                    "version to the registry, so it can no longer be "
                    "cancelled; wait for it to finish with the new version",
                    field="job_id",
                )
            if job.status == RUNNING and self._transition(
                job_id,
                (RUNNING,),
                expected_revision=revision,
                extra_condition=_not_writing(),
                cancel_requested=True,
                cancel_requested_at=now,
            ):
                logger.info("cancel requested for running job %s", job_id)
                return self.get(job_id)
        # the status changed between each read and write three times
        return self.get(job_id)

    def cancel_state(self, job_id: str) -> tuple[str, bool]:
        """(status, cancel_requested) of a job, one cheap query."""
        query = select(jobs_table.c.status, jobs_table.c.cancel_requested).where(
            jobs_table.c.id == job_id
        )
        with self.engine.connect() as conn:
            row = conn.execute(query).first()
        if row is None:
            raise NotFoundError(f"job {quoted(job_id)} not found", field="job_id")
        return str(row.status), bool(row.cancel_requested)

    def run_state(self, run: Run) -> RunState:
        """Read the status and cancel flag of the job of ``run`` and whether
        ``run`` still owns it, in one cheap query."""
        query = select(
            jobs_table.c.status,
            jobs_table.c.cancel_requested,
            jobs_table.c.worker,
            jobs_table.c.started_at,
        ).where(jobs_table.c.id == run.job_id)
        with self.engine.connect() as conn:
            row = conn.execute(query).first()
        if row is None:
            raise NotFoundError(f"job {quoted(run.job_id)} not found", field="job_id")
        owned = row.worker == run.worker and row.started_at == run.started_at
        return RunState(str(row.status), bool(row.cancel_requested), owned)

    def stale(self, older_than: float) -> list[Job]:
        """Return the running jobs whose last heartbeat is before
        ``older_than``."""
        query = select(jobs_table).where(
            jobs_table.c.status == RUNNING, jobs_table.c.heartbeat_at < older_than
        )
        with self.engine.connect() as conn:
            return [_to_job(row) for row in conn.execute(query)]

    def end_interrupted(
        self,
        job: Job,
        error: str,
        result: dict[str, Any] | None = None,
        heartbeat_before: float | None = None,
    ) -> str | None:
        """End the running ``job``, whose worker is gone, in one conditional
        UPDATE and return its new status: ``cancelled`` when a cancel was
        requested, else ``failed`` with ``error`` and ``result`` (such as the
        version that the job wrote) stored together.

        The UPDATE requires the cancel flag, and whether the stage is
        ``WRITING_STAGE``, to be as in ``job``, because the caller built
        ``error`` and ``result`` from them, and the worker and start time to
        be as in ``job``, so that a run which began since is not ended. With
        ``heartbeat_before`` it also requires a last heartbeat before that
        time. None when a condition failed or the job is no longer running.
        """
        stage = _writing_stage() if _writing(job) else _not_writing()
        condition = and_(
            jobs_table.c.cancel_requested.is_(job.cancel_requested),
            stage,
            _same_run(job.worker, job.started_at),
        )
        if heartbeat_before is not None:
            condition = and_(condition, jobs_table.c.heartbeat_at < heartbeat_before)
        if job.cancel_requested:
            values: dict[str, Any] = {"status": CANCELLED}
        else:
            values = {"status": FAILED, "error": error, "result": result}
        if not self._transition(
            job.id,
            (RUNNING,),
            extra_condition=condition,
            finished_at=time.time(),
            **values,
        ):
            return None
        status = str(values["status"])
        detail = "" if job.cancel_requested else f": {error}"
        logger.info("job %s %s%s", job.id, status, detail)
        return status

    def record_late_result(
        self, job_id: str, result: dict[str, Any], *, run: Run | None = None
    ) -> bool:
        """Store ``result``, the output of a worker that kept running and then
        finished, on its job that was failed as interrupted, such as a job
        that the stale heartbeat sweep failed during a slow registry write.

        The status stays ``failed``, because clients may have acted on it.
        When the failure already recorded the version that the job wrote,
        ``result`` is merged into that result (see ``merge_late_result``).
        The error gets a sentence that names the version or states that the
        worker finished. Returns False when the job is not such a job, its
        result already contains ``result``, the two disagree on a field or,
        with ``run``, the failed run was not ``run``.
        """
        job = self.get(job_id)
        interrupted = job.error is not None and job.error.startswith("interrupted:")
        if job.status != FAILED or not interrupted:
            return False
        if run is not None and job.run != run:
            return False
        merged = merge_late_result(job.result, result)
        if merged is None:
            logger.warning(
                "job %s: the result of its worker %s adds nothing to or "
                "disagrees with its stored result %s; keeping the stored one",
                job_id,
                result,
                job.result,
            )
            return False
        error = f"{job.error}. {late_result_note(job.result, result)}"
        done = self._transition(
            job_id,
            (FAILED,),
            expected_revision=job.revision,
            result=merged,
            error=error,
        )
        if done:
            logger.warning("job %s finished after it was failed: %s", job_id, merged)
        return done

    def _transition(
        self,
        job_id: str,
        from_statuses: tuple[str, ...],
        expected_revision: int | None = None,
        extra_condition: ColumnElement[bool] | None = None,
        revision_step: int = 1,
        **values: Any,
    ) -> bool:
        """Run one conditional UPDATE that also adds ``revision_step`` to the
        revision. A given ``expected_revision`` must be the job's current one
        too, and a given ``extra_condition`` must hold."""
        condition = [jobs_table.c.id == job_id, jobs_table.c.status.in_(from_statuses)]
        if expected_revision is not None:
            condition.append(jobs_table.c.revision == expected_revision)
        if extra_condition is not None:
            condition.append(extra_condition)
        statement = (
            update(jobs_table)
            .where(*condition)
            .values(revision=jobs_table.c.revision + revision_step, **values)
        )
        with self.engine.begin() as conn:
            return conn.execute(statement).rowcount == 1


def _same_run(worker: str | None, started_at: float | None) -> ColumnElement[bool]:
    """Build the condition that a job has ``worker`` and ``started_at``;
    None matches NULL."""
    return and_(
        jobs_table.c.worker.is_(None)
        if worker is None
        else jobs_table.c.worker == worker,
        jobs_table.c.started_at.is_(None)
        if started_at is None
        else jobs_table.c.started_at == started_at,
    )


def _owned_by(run: Run | None) -> ColumnElement[bool]:
    """Build the condition that ``run`` owns its job, true for no run."""
    if run is None:
        return true()
    return _same_run(run.worker, run.started_at)


def _unbegun() -> ColumnElement[bool]:
    """Build the condition that no worker process has begun a running job,
    the SQL twin of ``Job.unbegun``. The claim of an older release wrote
    ``started_at`` and ``heartbeat_at`` from one clock reading, so they are
    equal until a heartbeat or a report."""
    legacy_claim = and_(
        jobs_table.c.revision == LEGACY_CLAIM_REVISION,
        jobs_table.c.heartbeat_at == jobs_table.c.started_at,
    )
    return or_(jobs_table.c.started_at.is_(None), legacy_claim)


def _writing(job: Job) -> bool:
    """True when the job's last progress has the stage ``WRITING_STAGE``."""
    return job.progress is not None and job.progress.get("stage") == WRITING_STAGE


def _stage() -> ColumnElement[str]:
    """Build the expression of a job's progress stage, empty without one."""
    return func.coalesce(jobs_table.c.progress["stage"].as_string(), "")


def _not_writing() -> ColumnElement[bool]:
    """Build the condition that a job's progress stage is not
    ``WRITING_STAGE``, which holds for a job without progress."""
    return _stage() != WRITING_STAGE


def _writing_stage() -> ColumnElement[bool]:
    """Build the condition that a job's progress stage is ``WRITING_STAGE``."""
    return _stage() == WRITING_STAGE


def _to_job(row: Row[Any]) -> Job:
    data = row._mapping
    return Job(
        id=data["id"],
        kind=data["kind"],
        status=data["status"],
        params=data["params"],
        progress=data["progress"],
        history=data["history"] or [],
        result=data["result"],
        error=data["error"],
        cancel_requested=bool(data["cancel_requested"]),
        cancel_requested_at=data["cancel_requested_at"],
        created_at=data["created_at"],
        started_at=data["started_at"],
        finished_at=data["finished_at"],
        heartbeat_at=data["heartbeat_at"],
        worker=data["worker"],
        revision=data["revision"],
    )


def _check_queue_room(conn: Connection, max_queued: int) -> None:
    """Raise ``QueueFullError`` when ``max_queued`` jobs are queued. The
    transaction of ``conn`` holds the queue lock."""
    count = select(func.count()).where(jobs_table.c.status == QUEUED)
    queued = int(conn.execute(count).scalar_one())
    if queued >= max_queued:
        raise QueueFullError(
            f"the job queue is full with {plural(queued, 'queued job')} (the "
            f"limit is {max_queued}); retry later or raise "
            "RNN_FORECAST_MAX_QUEUED_JOBS",
            field="queue",
        )
