"""``/v1/training-jobs``: train a model in the background and watch it.

These are the jobs of kind ``train``; ``/v1/jobs`` serves every kind.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Request, Response

from models.errors import NotFoundError
from models.quoted_ids import quoted
from models.spec import TrainingSpec
from service.auth import ApiKeyDep
from service.errors import PROBLEM_MEDIA_TYPE
from service.etag import ETAG_HEADERS, NOT_MODIFIED, tagged
from service.jobs.manager import JobManager
from service.jobs.store import Job
from service.jobs.train_kind import TRAIN
from service.jobs.views import (
    JobOut,
    JobPage,
    ManagerDep,
    PageLimit,
    StatusFilter,
    cancel_with_preconditions,
    job_response,
    list_page,
    submit,
)
from service.json_bodies import JsonBodyRoute
from service.links import public_path
from service.openapi import RETRY_AFTER_HEADER, problem_example
from service.path_params import JobIdParam
from service.preconditions import PreconditionsDep
from service.query_params import SinglePageValues

router = APIRouter(tags=["training jobs"], route_class=JsonBodyRoute)

BASE = "/v1/training-jobs"
# The path of jobs of every kind. It is defined here because
# service/routes/jobs.py imports this module.
JOBS_BASE = "/v1/jobs"

SUBMIT_RESPONSES: dict[int | str, dict[str, Any]] = {
    **tagged(202),
    401: {"description": "Missing X-API-Key"},
    403: {"description": "Wrong X-API-Key"},
    409: {"description": "An uploaded series of the job was deleted meanwhile"},
    422: {"description": "Invalid spec or a value above a limit"},
    429: {
        "description": "The job queue is full",
        "headers": {"Retry-After": RETRY_AFTER_HEADER},
    },
    503: {
        "description": "The Celery broker is unreachable, or the server is "
        "shutting down while the request body arrives",
        "headers": {"Retry-After": RETRY_AFTER_HEADER},
        "content": {
            PROBLEM_MEDIA_TYPE: {
                "example": problem_example(
                    503,
                    "the job queue at redis://127.0.0.1:6379/0 is unreachable, so "
                    "job 3f2a... failed; retry in 10 s",
                )
            }
        },
    },
}
JOB_RESPONSES: dict[int | str, dict[str, Any]] = {
    **NOT_MODIFIED,
    404: {"description": "Unknown job"},
}
CANCEL_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {
        "model": JobOut,
        "description": "The job was queued and is now cancelled",
        "headers": ETAG_HEADERS,
    },
    202: {"description": "The running job is asked to stop", "headers": ETAG_HEADERS},
    404: {"description": "Unknown job"},
    409: {"description": "The job has already finished, or is writing its version"},
    412: {"description": "If-Match or If-None-Match failed; ETag has the current tag"},
}


@router.post(
    "/training-jobs",
    status_code=202,
    response_model=JobOut,
    responses=SUBMIT_RESPONSES,
    dependencies=[ApiKeyDep],
    summary="Queue a training run",
)
def create_training_job(
    request: Request,
    manager: ManagerDep,
    spec: Annotated[TrainingSpec | None, Body()] = None,
) -> Response:
    """Every spec field is optional, except that `name` is required when
    `data` is not the bundled NFLX series."""
    job = submit(manager, TRAIN, spec or TrainingSpec())
    return job_response(request, job, BASE, status_code=202)


@router.get(
    "/training-jobs",
    response_model=JobPage,
    responses=NOT_MODIFIED,
    dependencies=[SinglePageValues],
    summary="List training jobs, newest first",
)
def list_training_jobs(
    request: Request,
    manager: ManagerDep,
    status: StatusFilter = None,
    limit: PageLimit = 50,
    cursor: str | None = None,
) -> Response:
    return list_page(
        request,
        manager,
        BASE,
        kinds=[TRAIN],
        statuses=status,
        limit=limit,
        cursor=cursor,
    )


@router.get(
    "/training-jobs/{job_id}",
    response_model=JobOut,
    responses=JOB_RESPONSES,
    summary="Status, progress, loss history and result of a training job",
)
def get_training_job(
    job_id: JobIdParam, request: Request, manager: ManagerDep
) -> Response:
    return job_response(request, train_job(request, manager, job_id), BASE)


@router.delete(
    "/training-jobs/{job_id}",
    status_code=202,
    response_model=JobOut,
    responses=CANCEL_RESPONSES,
    dependencies=[ApiKeyDep],
    summary="Cancel a queued or running training job",
)
def cancel_training_job(
    job_id: JobIdParam,
    request: Request,
    manager: ManagerDep,
    conditions: PreconditionsDep,
) -> Response:
    train_job(request, manager, job_id)
    collection = public_path(request, BASE)
    job = cancel_with_preconditions(manager, job_id, conditions, collection)
    return job_response(request, job, BASE, status_code=200 if job.finished else 202)


def train_job(request: Request, manager: JobManager, job_id: str) -> Job:
    """Return the train job ``job_id``; raise ``NotFoundError`` when there
    is none, naming the path of a job of another kind."""
    job = manager.get(job_id, collection=public_path(request, BASE))
    if job.kind != TRAIN:
        jobs_path = public_path(request, f"{JOBS_BASE}/{job_id}")
        raise NotFoundError(
            f"train job {quoted(job_id)} not found; it is a {job.kind} job, which "
            f"{jobs_path} serves",
            field="job_id",
        )
    return job
