"""Jobs as HTTP resources: the response models, ETags, cursors and the
manager dependency shared by ``/v1/jobs`` and ``/v1/training-jobs``."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Annotated, Any, Literal

from fastapi import Depends, HTTPException, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from models.errors import NotFoundError
from models.field_types import QUERY_DIGITS
from service.cursors import decode_cursor, encode_cursor, invalid_cursor
from service.etag import json_with_etag
from service.jobs.manager import JobManager
from service.jobs.store import Job, QueueFullError
from service.links import public_data, public_path, root_path_of
from service.preconditions import Preconditions

JobStatus = Literal["queued", "running", "succeeded", "failed", "cancelled"]
RETRY_AFTER_SECONDS = "10"
MAX_PAGE = 200

StatusFilter = Annotated[list[JobStatus] | None, Query(description="Any of")]
PageLimit = Annotated[
    int, Query(ge=1, le=MAX_PAGE, description="Jobs per page"), QUERY_DIGITS
]


JOB_EXAMPLE: dict[str, Any] = {
    "id": "3f2a9c1e5b7d4e0f8a6b2c4d1e3f5a7b",
    "kind": "train",
    "status": "running",
    "params": {"name": "nflx", "cell": "lstm", "epochs": 30, "hidden_size": 64},
    "progress": {
        "stage": "training",
        "epoch": 3,
        "epochs": 30,
        "train_loss": 0.9812,
        "val_loss": 0.4421,
        "elapsed_seconds": 7.412,
        "eta_seconds": 58.3,
    },
    "history": [
        {"epoch": 1, "train_loss": 1.02, "val_loss": 0.47, "grad_norm": 0.8},
        {"epoch": 2, "train_loss": 0.99, "val_loss": 0.45, "grad_norm": 0.7},
        {"epoch": 3, "train_loss": 0.98, "val_loss": 0.44, "grad_norm": 0.7},
    ],
    "result": None,
    "error": None,
    "cancel_requested": False,
    "created_at": "2026-12-04T16:20:46.137+00:00",
    "started_at": "2026-12-04T16:20:46.149+00:00",
    "finished_at": None,
    "href": "/v1/training-jobs/3f2a9c1e5b7d4e0f8a6b2c4d1e3f5a7b",
}


class JobOut(BaseModel):
    """A job: its params, status, progress, loss history and outcome.

    ``progress`` always has ``stage``: ``queued`` before a runner takes the
    job, ``starting`` until the job's first report, then the stages of its
    kind, and ``finished`` (with ``eta_seconds`` 0) once it has ended.

    - ``train``: ``loading data``, ``training``, ``evaluating``, ``writing
      version``, with ``epoch``, ``epochs``, ``train_loss``, ``val_loss``
      (MSE in scaled units), ``elapsed_seconds`` and ``eta_seconds``.
    - ``backtest``: ``loading data``, then ``backtest`` with ``fold``,
      ``folds``, ``origins_done`` and ``origins``.
    - ``tuning``: ``loading data``, then ``tuning`` with ``trial``,
      ``trials_done`` and ``trials``, then ``writing version``.
    - ``lag_experiment``: ``training`` with ``cell``, ``lag``, ``step``,
      ``steps`` and ``loss`` every 100 steps, and ``run finished`` with
      ``done``, ``total`` and the run's scores after each run.

    A cancel request during ``writing version`` gets 409. ``result`` of a
    training job has the ``name`` and ``version`` of the new version. Times
    are ISO 8601 in UTC.
    """

    model_config = ConfigDict(json_schema_extra={"examples": [JOB_EXAMPLE]})

    id: str
    kind: str
    status: JobStatus
    params: dict[str, Any]
    progress: dict[str, Any] = Field(
        description="The last progress report; its stage is queued, starting, "
        "one of the job kind's stages, or finished"
    )
    history: list[Any] | None = Field(
        default=None, description="Per-epoch losses so far; omitted in lists"
    )
    result: dict[str, Any] | None = None
    error: str | None = None
    cancel_requested: bool
    created_at: str
    started_at: str | None = None
    finished_at: str | None = None
    href: str


class JobPage(BaseModel):
    """One page of jobs, newest first; pass ``next_cursor`` as ``cursor`` to
    get the next page (null on the last one)."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "jobs": [{**JOB_EXAMPLE, "history": None}],
                    "next_cursor": "MTc5NjQwNjA0Ni4xMzc6M2YyYTljMWU1YjdkNGUwZg",
                }
            ]
        }
    )

    jobs: list[JobOut]
    next_cursor: str | None = None


class JobRequest(BaseModel):
    """Body of ``POST /v1/jobs``."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"kind": "train", "params": {"epochs": 5}}]},
    )

    kind: str = Field(examples=["train"], description="A kind from GET /v1/job-kinds")
    params: dict[str, Any] = Field(default_factory=dict)


class JobKindOut(BaseModel):
    name: str
    params_schema: dict[str, Any] = Field(description="JSON schema of params")


class JobKindList(BaseModel):
    """The registered job kinds."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"kinds": [{"name": "train", "params_schema": {"type": "object"}}]}
            ]
        }
    )

    kinds: list[JobKindOut]


def get_manager(request: Request) -> JobManager:
    return request.app.state.jobs


ManagerDep = Annotated[JobManager, Depends(get_manager)]


def iso(timestamp: float | None) -> str | None:
    if timestamp is None:
        return None
    moment = dt.datetime.fromtimestamp(timestamp, dt.UTC)
    return moment.isoformat(timespec="milliseconds")


def shown_progress(job: Job) -> dict[str, Any]:
    """Return the job's last progress report. Before the first report, the
    stage is ``queued``, or ``starting`` once a runner has taken the job.
    For a finished job, the stage is ``finished`` and ``eta_seconds`` is 0,
    whatever stage the worker reported last."""
    if job.finished:
        return {**(job.progress or {}), "stage": "finished", "eta_seconds": 0.0}
    if job.progress is None:
        return {"stage": "queued" if job.status == "queued" else "starting"}
    return job.progress


def job_out(
    job: Job, base_path: str, root_path: str = "", *, with_history: bool = True
) -> JobOut:
    """Build the response model of ``job``, whose ``href`` is below
    ``base_path`` as the client reaches it. The cleaning notes of its
    result's ``data`` get their API paths under ``root_path``."""
    result = job.result
    if isinstance(result, dict) and "data" in result:
        result = {**result, "data": public_data(result["data"], root_path)}
    return JobOut(
        id=job.id,
        kind=job.kind,
        status=job.status,  # type: ignore[arg-type]
        params=job.params,
        progress=shown_progress(job),
        history=job.history if with_history else None,
        result=result,
        error=job.error,
        cancel_requested=job.cancel_requested,
        created_at=iso(job.created_at) or "",
        started_at=iso(job.started_at),
        finished_at=iso(job.finished_at),
        href=f"{base_path}/{job.id}",
    )


def job_etag(job: Job) -> str:
    """Changes with every visible change of the job (its revision)."""
    return f'"{job.id}.{job.revision}"'


def cancel_with_preconditions(
    manager: JobManager, job_id: str, conditions: Preconditions, collection: str
) -> Job:
    """Cancel the job through ``manager`` unless ``If-Match`` or
    ``If-None-Match`` fails for its ETag (412). ``collection`` is the public
    path of the job list that the request named."""

    def check(job: Job) -> None:
        conditions.check(job_etag(job))

    return manager.cancel(job_id, check, collection=collection)


def job_response(
    request: Request, job: Job, base_path: str, *, status_code: int = 200
) -> Response:
    """Build the job's JSON response with its ETag; a 202 response also
    carries ``Location``. ``base_path`` is the path of the job list, such as
    ``/v1/jobs``."""
    link = public_path(request, f"{base_path}/{job.id}")
    headers = {"Location": link} if status_code == 202 else None
    view = job_out(job, public_path(request, base_path), root_path_of(request))
    return json_with_etag(
        request,
        view.model_dump(mode="json"),
        etag=job_etag(job),
        status_code=status_code,
        headers=headers,
    )


def list_page(
    request: Request,
    manager: JobManager,
    base_path: str,
    *,
    kinds: Sequence[str] | None,
    statuses: Sequence[str] | None,
    limit: int,
    cursor: str | None,
) -> Response:
    """Build one page of the job list, newest first, with its ETag.

    One job more than ``limit`` is read, so the last page, even a full one,
    has no ``next_cursor``.
    """
    public_base = public_path(request, base_path)
    before = None
    if cursor is not None:
        before = job_position(manager, cursor, public_base)
    jobs = manager.list_jobs(
        kinds=kinds, statuses=statuses, limit=limit + 1, before=before
    )
    next_cursor = job_cursor(jobs[limit - 1]) if len(jobs) > limit else None
    root_path = root_path_of(request)
    page = JobPage(
        jobs=[
            job_out(job, public_base, root_path, with_history=False)
            for job in jobs[:limit]
        ],
        next_cursor=next_cursor,
    )
    return json_with_etag(request, page.model_dump(mode="json"))


def job_cursor(job: Job) -> str:
    """Build the cursor of the page that starts after ``job``."""
    return encode_cursor(repr(job.created_at), job.id)


def job_position(
    manager: JobManager, cursor: str, collection: str
) -> tuple[float, str]:
    """Return the (created_at, id) of the job that ``cursor`` names on a
    page of ``collection``, the public path of the job list.

    Jobs are never deleted, so every cursor that a page returned names a
    stored job with that creation time. Any other cursor raises
    ``InvalidInputError`` on ``query.cursor``.
    """
    sort_key, job_id = decode_cursor(cursor)
    try:
        created_at = float(sort_key)
        job = manager.get(job_id, collection=collection)
    except (ValueError, NotFoundError) as exc:
        raise invalid_cursor() from exc
    if job.created_at != created_at:
        raise invalid_cursor()
    return created_at, job_id


def submit(manager: JobManager, kind: str, params: Any) -> Job:
    """Submit through ``manager.submit``; a full queue becomes a 429 response
    with ``Retry-After``."""
    try:
        return manager.submit(kind, params)
    except QueueFullError as exc:
        raise HTTPException(
            status_code=429,
            detail=exc.message,
            headers={"Retry-After": RETRY_AFTER_SECONDS},
        ) from exc
