"""``/v1/jobs``: background jobs of every kind (``train`` and the kinds
registered in ``service/jobs/kinds.py``)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from pydantic import Field, ValidationError

from models.errors import InvalidInputError
from service.auth import ApiKeyDep
from service.etag import NOT_MODIFIED
from service.jobs.kind_schemas import http_params_schema
from service.jobs.kinds import declared_kind_names, get_kind, kind_names
from service.jobs.uploads import SeriesDeletedError
from service.jobs.views import (
    JobKindList,
    JobKindOut,
    JobOut,
    JobPage,
    JobRequest,
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
from service.null_fields import BODY_PART_TYPES_SCOPE_KEY
from service.path_params import JobIdParam
from service.preconditions import PreconditionsDep
from service.query_lists import repeat_fix
from service.query_params import SinglePageValues
from service.routes.training_jobs import (
    CANCEL_RESPONSES,
    JOB_RESPONSES,
    JOBS_BASE,
    SUBMIT_RESPONSES,
)

router = APIRouter(tags=["jobs"], route_class=JsonBodyRoute)


def _declare_kind_names(schema: dict[str, Any]) -> None:
    """Give a JSON schema the job kinds as its ``enum``. It runs when the
    OpenAPI document is built, which a server does on its first request."""
    schema["enum"] = declared_kind_names()


# A job kind in a query. The enum is only declared: ``check_kind_filter``
# rejects another value with a message that lists the kinds.
KindName = Annotated[str, Field(json_schema_extra=_declare_kind_names)]

BASE = JOBS_BASE

JOB_SUBMIT_RESPONSES: dict[int | str, dict[str, Any]] = {
    **SUBMIT_RESPONSES,
    409: {
        "description": "An uploaded series of the job was deleted meanwhile, "
        "or tuning jobs that used the job's study_name kept finishing while "
        "it was checked; retry the request"
    },
    422: {
        "description": "Invalid params, a value above a limit, or a tuning "
        "job's study_name that the stored study or a queued or running tuning "
        "job uses with other settings"
    },
}


@router.get(
    "/job-kinds",
    response_model=JobKindList,
    summary="Job kinds and the JSON schema of their params",
)
def list_job_kinds() -> JobKindList:
    kinds = [get_kind(name) for name in kind_names()]
    return JobKindList(
        kinds=[
            JobKindOut(name=kind.name, params_schema=http_params_schema(kind))
            for kind in kinds
        ]
    )


@router.post(
    "/jobs",
    status_code=202,
    response_model=JobOut,
    responses=JOB_SUBMIT_RESPONSES,
    dependencies=[ApiKeyDep],
    summary="Queue a job of any kind",
)
def create_job(body: JobRequest, request: Request, manager: ManagerDep) -> Response:
    kind = get_kind(body.kind)
    try:
        job = submit(manager, kind.name, body.params)
    except ValidationError as exc:
        # report the fields as body.params.<field>, like FastAPI's own errors
        errors = [
            {**err, "loc": ("body", "params", *err["loc"])} for err in exc.errors()
        ]
        raw = {"kind": body.kind, "params": body.params}
        request.scope[BODY_PART_TYPES_SCOPE_KEY] = {("params",): kind.params_model}
        raise RequestValidationError(errors, body=raw) from exc
    except InvalidInputError as exc:
        # the kind's check names a field inside params
        raise exc.with_field(params_field(exc.field)) from exc
    except SeriesDeletedError as exc:
        raise SeriesDeletedError(
            exc.series_id, params_field(exc.field), exc.root_path
        ) from exc
    return job_response(request, job, BASE, status_code=202)


def params_field(field: str | None) -> str:
    """Prefix ``field``, a field inside a job's params, with ``params.``.

    A field that already starts with ``params.`` is returned unchanged.
    """
    if field is None or field == "params":
        return "params"
    if field.startswith("params."):
        return field
    return f"params.{field}"


@router.get(
    "/jobs",
    response_model=JobPage,
    responses=NOT_MODIFIED,
    dependencies=[SinglePageValues],
    summary="List jobs, newest first",
)
def list_jobs(
    request: Request,
    manager: ManagerDep,
    kind: Annotated[list[KindName] | None, Query(description="Any of")] = None,
    status: StatusFilter = None,
    limit: PageLimit = 50,
    cursor: str | None = None,
) -> Response:
    check_kind_filter(kind)
    return list_page(
        request,
        manager,
        BASE,
        kinds=kind,
        statuses=status,
        limit=limit,
        cursor=cursor,
    )


def check_kind_filter(kinds: list[str] | None) -> None:
    """Raise ``InvalidInputError`` on ``query.kind`` for a kind that is not
    registered, which would otherwise match no job."""
    for name in kinds or []:
        try:
            get_kind(name)
        except InvalidInputError as exc:
            fix = repeat_fix("kind", name, kind_names())
            raise InvalidInputError(
                f"{exc.message}; filter by one of them, and {fix}, or leave "
                "kind out to list jobs of every kind",
                field="query.kind",
            ) from exc


@router.get(
    "/jobs/{job_id}",
    response_model=JobOut,
    responses=JOB_RESPONSES,
    summary="Status, progress, history and result of a job",
)
def get_job(job_id: JobIdParam, request: Request, manager: ManagerDep) -> Response:
    job = manager.get(job_id, collection=public_path(request, BASE))
    return job_response(request, job, BASE)


@router.delete(
    "/jobs/{job_id}",
    status_code=202,
    response_model=JobOut,
    responses=CANCEL_RESPONSES,
    dependencies=[ApiKeyDep],
    summary="Cancel a queued or running job",
)
def cancel_job(
    job_id: JobIdParam,
    request: Request,
    manager: ManagerDep,
    conditions: PreconditionsDep,
) -> Response:
    collection = public_path(request, BASE)
    job = cancel_with_preconditions(manager, job_id, conditions, collection)
    return job_response(request, job, BASE, status_code=200 if job.finished else 202)
