"""``/v1/series``: upload, list and delete daily series that training specs
refer to by id.

The body is either the CSV itself (``Content-Type: text/csv``) or a
``multipart/form-data`` form with the CSV in the field ``file``.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field
from starlette.datastructures import UploadFile
from starlette.requests import ClientDisconnect

from models.errors import InvalidInputError
from models.field_types import QUERY_DIGITS
from service.auth import ApiKeyDep
from service.client_disconnects import CLIENT_CLOSED_REQUEST
from service.deps import SettingsDep, UploadParsingDep
from service.diagnostics_queue import ClientDisconnectedError
from service.errors import PROBLEM_MEDIA_TYPE, PayloadTooLargeError
from service.etag import NOT_MODIFIED, content_etag, json_body, json_with_etag
from service.filename_scripts import check_filename_scripts
from service.filenames import display_filename
from service.header_values import quoted_header
from service.jobs.uploads import delete_unused_series
from service.jobs.views import ManagerDep
from service.links import public_path
from service.multipart import FILE_FIELD, decoded_filename, parse_form
from service.openapi import RETRY_AFTER_HEADER, problem_example
from service.path_params import SeriesIdParam
from service.preconditions import PreconditionsDep
from service.query_params import SinglePageValues
from service.series_store import (
    cursor_position,
    list_series,
    read_series_info,
    save_series,
    series_cursor,
)
from service.settings import Settings

router = APIRouter(tags=["series"])

DEFAULT_LISTED = 100
MAX_LISTED = 1000


SERIES_EXAMPLE = {
    "id": "9b1f0c7e2d3a4b5c6d7e8f9a0b1c2d3e",
    "rows": 1258,
    "start": "2016-01-04",
    "end": "2020-12-31",
    "format": "yahoo",
    "kind": "price",
    "columns": ["open", "high", "low", "close", "adj_close", "volume"],
    "cleaning": ["dropped 2 rows with a missing close"],
    "sha256": "5f0c...",
    "bytes": 81234,
    "filename": "NFLX.csv",
    "filename_looks_like": None,
    "created_at": "2026-12-04T16:20:46.137512+00:00",
    "usable": True,
    "problem": None,
}


class SeriesOut(BaseModel):
    """An uploaded series: its id for ``{"source": "upload", "series_id"}``,
    its size, date range, the cleaning steps applied to the rows, and
    whether a training job can use it."""

    model_config = ConfigDict(json_schema_extra={"examples": [SERIES_EXAMPLE]})

    id: str
    rows: int
    start: str
    end: str
    format: str = Field(description="'yahoo' or 'value'")
    kind: str = Field(description="'price' (positive prices) or 'value'")
    columns: list[str]
    cleaning: list[str]
    sha256: str
    bytes: int
    filename: str | None = Field(
        default=None,
        description="The multipart filename with control, format and "
        "bidirectional characters removed, except a zero-width joiner or "
        "non-joiner between two visible characters of which one is an emoji "
        "or a letter or mark of a script other than Latin, without invisible "
        "marks (U+034F, the Hangul fillers, and variation selectors that "
        "select nothing), whitespace runs as "
        "one space, and at most 255 characters; null for a text/csv body or "
        "an empty name. An upload whose name has a word that mixes scripts, "
        "such as Latin with Cyrillic or Greek look-alikes, gets 422; a micro "
        "sign (U+00B5 or U+03BC) passes beside Latin as the prefix of a unit "
        "symbol, as in 10μm.csv",
    )
    filename_looks_like: str | None = Field(
        default=None,
        description="The all-Latin name that filename can pass for, when "
        "each of its letters of another script looks like a Latin letter, "
        "as Cyrillic 'рау.csv' (U+0440, U+0430, U+0443) passes for "
        "'pay.csv'; null otherwise. Such names are kept, because many are "
        "real words of their script, so a client that shows filename "
        "should mark it when this is set",
    )
    created_at: str
    usable: bool = Field(
        description="Whether the stored file passes the checks of this "
        "release, so that a training job can use it. An upload stored by an "
        "earlier release with fewer checks is checked once when it is first "
        "read, and the outcome is kept"
    )
    problem: str | None = Field(
        default=None,
        description="Why the file is not usable: the 422 detail that a job "
        "training on its close gets, which names the row and, for a file "
        "that an earlier release accepted, ends with how to upload a "
        "corrected file; null when usable is true",
    )


# room for the multipart boundaries and part headers around the file
MULTIPART_OVERHEAD_BYTES = 16_384

UPLOAD_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "text/csv": {"schema": {"type": "string"}},
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "properties": {FILE_FIELD: {"type": "string", "format": "binary"}},
                    "required": [FILE_FIELD],
                }
            },
        },
    }
}


@router.post(
    "/series",
    status_code=201,
    response_model=SeriesOut,
    dependencies=[ApiKeyDep],
    openapi_extra=UPLOAD_BODY,
    responses={
        413: {"description": "Larger than RNN_FORECAST_MAX_UPLOAD_BYTES"},
        415: {
            "description": "Neither text/csv nor multipart/form-data, or a "
            "compressed body (Content-Encoding)"
        },
        422: {
            "description": "Invalid CSV content, such as a date that is not an "
            "NYSE session, too many rows, fewer than 5 rows, an invalid form, "
            "or a filename that is not valid UTF-8 (or not valid in the "
            "charset that the Content-Type names)"
        },
        503: {
            "description": "The RNN_FORECAST_UPLOAD_WORKERS places are taken "
            "by uploads being read or parsed and by checks of uploads that an "
            "earlier release stored, which is checked before the body is "
            "read, or the server is shutting down",
            "headers": {"Retry-After": RETRY_AFTER_HEADER},
            "content": {
                PROBLEM_MEDIA_TYPE: {
                    "example": problem_example(
                        503,
                        "the server is parsing 2 series uploads, the most that "
                        "RNN_FORECAST_UPLOAD_WORKERS allows at once; retry "
                        "after 2 s",
                    )
                }
            },
        },
    },
    summary="Upload a Yahoo Finance or date,value CSV",
)
async def upload_series(
    request: Request, settings: SettingsDep, parsing: UploadParsingDep
) -> Response:
    read = _body_reader(request.headers.get("content-type", ""))
    # parsing and checking a CSV near the 10 MB default limit takes seconds,
    # which on the event loop would stall every other request meanwhile, and
    # about eight times its size in memory, so few uploads are admitted at
    # once, each before its body is read
    with parsing.admitted() as place:
        # a client that goes away while it sends the body or while the upload
        # is parsed never learns the id, so nothing is stored and the 499
        # goes to a closed connection
        try:
            raw, filename, field = await read(request, settings)
            info = await parsing.run(
                functools.partial(
                    save_series, raw, settings, filename=filename, field=field
                ),
                request,
                place,
            )
        except (ClientDisconnect, ClientDisconnectedError):
            return Response(status_code=CLIENT_CLOSED_REQUEST)
    location = public_path(request, f"/v1/series/{info['id']}")
    return JSONResponse(info, status_code=201, headers={"Location": location})


@router.get(
    "/series/{series_id}",
    response_model=SeriesOut,
    responses={404: {"description": "Unknown series"}, **NOT_MODIFIED},
    summary="Rows, date range, cleaning steps and usability of an uploaded series",
)
def get_series(
    series_id: SeriesIdParam,
    request: Request,
    settings: SettingsDep,
    parsing: UploadParsingDep,
) -> Response:
    """Return the description with its `ETag`, which a delete can send in
    `If-Match`."""
    info = read_series_info(settings, series_id, parsing)
    return json_with_etag(request, series_out(info))


def series_out(info: dict[str, Any]) -> dict[str, Any]:
    """Return the stored description ``info`` of an upload as the routes
    send it."""
    return SeriesOut.model_validate(info).model_dump(mode="json")


def series_etag(info: dict[str, Any]) -> str:
    """Return the ETag of the stored description ``info``, the one that
    ``GET /v1/series/{series_id}`` sends."""
    return content_etag(json_body(series_out(info)))


class SeriesList(BaseModel):
    """One page of uploads, newest first, and the number of uploads. Pass
    ``next_cursor`` as ``cursor`` to get the next page, and it is null on the
    last one."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "series": [SERIES_EXAMPLE],
                    "total": 2,
                    "next_cursor": "MjAyNi0xMi0wNFQxNjoyMDo0Ni4xMzc1MTIrMDA6MDA6"
                    "OWIxZjBjN2UyZDNhNGI1YzZkN2U4ZjlhMGIxYzJkM2U",
                }
            ]
        }
    )

    series: list[SeriesOut]
    total: int = Field(description="Number of stored uploads")
    next_cursor: str | None = None


@router.get(
    "/series",
    response_model=SeriesList,
    dependencies=[SinglePageValues],
    summary="List the uploaded series, newest first",
)
def list_uploads(
    settings: SettingsDep,
    parsing: UploadParsingDep,
    limit: Annotated[
        int,
        Query(ge=1, le=MAX_LISTED, description="Uploads per page"),
        QUERY_DIGITS,
    ] = DEFAULT_LISTED,
    cursor: str | None = None,
) -> dict[str, Any]:
    """Pass a page's `next_cursor` as `cursor` to get the next page. The
    last page has none."""
    before = cursor_position(cursor) if cursor is not None else None
    # one upload more than the limit is read, so a full last page has no
    # next_cursor
    infos, total = list_series(settings, limit + 1, before, parsing)
    next_cursor = series_cursor(infos[limit - 1]) if len(infos) > limit else None
    return {"series": infos[:limit], "total": total, "next_cursor": next_cursor}


@router.delete(
    "/series/{series_id}",
    response_model=SeriesOut,
    dependencies=[ApiKeyDep],
    responses={
        401: {"description": "Missing X-API-Key"},
        403: {"description": "Wrong X-API-Key"},
        404: {"description": "Unknown series"},
        409: {"description": "A queued or running job uses the series"},
        412: {
            "description": "If-Match or If-None-Match failed; ETag has the "
            "series' current tag"
        },
    },
    summary="Delete an uploaded series that no unfinished job uses",
)
def delete_upload(
    series_id: SeriesIdParam,
    settings: SettingsDep,
    manager: ManagerDep,
    parsing: UploadParsingDep,
    conditions: PreconditionsDep,
) -> dict[str, Any]:
    """An unknown series gets 404 whatever the preconditions. An upload
    never changes, so the ETag checked here stays that of the upload until
    it is deleted."""
    conditions.check(series_etag(read_series_info(settings, series_id, parsing)))
    return delete_unused_series(settings, manager.store, series_id, parsing)


# the body of an upload, the name of its file (None without one) and the
# field that errors of its CSV name
UploadBody = tuple[bytes, str | None, str]


def _body_reader(
    content_type: str,
) -> Callable[[Request, Settings], Awaitable[UploadBody]]:
    """Return the reader of an upload sent as ``content_type``; raise
    ``HTTPException`` (415) for a type that is no CSV or form."""
    # media types are case-insensitive (RFC 9110, section 8.3.1)
    media_type = content_type.split(";")[0].strip().lower()
    if media_type == "multipart/form-data":
        return _read_form
    if media_type in ("text/csv", "text/plain", "application/csv"):
        return _read_csv
    declared = content_type.split(";")[0].strip() or "(none)"
    raise HTTPException(
        status_code=415,
        detail=f"Content-Type {quoted_header(declared)} is not accepted; send "
        "the CSV as text/csv or as the field 'file' of a multipart/form-data "
        "form",
    )


async def _read_csv(request: Request, settings: Settings) -> UploadBody:
    raw = await _read_capped(request, settings.max_upload_bytes, settings)
    return raw, None, "body"


async def _read_form(request: Request, settings: Settings) -> UploadBody:
    raw, filename = await _read_multipart(request, settings)
    return raw, filename, FILE_FIELD


async def _read_capped(request: Request, limit: int, settings: Settings) -> bytes:
    """Read the body, but no more than ``limit`` bytes; a longer body raises
    ``PayloadTooLargeError`` (413)."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise _too_large(settings)

    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise _too_large(settings)
        chunks.append(chunk)
    return b"".join(chunks)


async def _read_multipart(
    request: Request, settings: Settings
) -> tuple[bytes, str | None]:
    limit = settings.max_upload_bytes
    body = await _read_capped(request, limit + MULTIPART_OVERHEAD_BYTES, settings)
    form = await parse_form(request.headers, body)
    try:
        upload = form.get(FILE_FIELD)
        if not isinstance(upload, UploadFile):
            raise _no_file_error(upload)
        raw = await upload.read()
        if len(raw) > limit:
            raise _too_large(settings)
        filename = display_filename(decoded_filename(request.headers, upload))
        check_filename_scripts(filename, FILE_FIELD)
        return raw, filename
    finally:
        await form.close()


def _no_file_error(field: str | None) -> InvalidInputError:
    """Return the error of a form whose field ``file`` is missing (None) or
    is a text field, whose part has no ``filename`` parameter, such as the
    part that ``curl -F 'file=<series.csv'`` or a lone ``filename*`` sends."""
    fix = f"send the CSV as {FILE_FIELD}=@series.csv"
    if field is None:
        return InvalidInputError(
            f"the form has no file field {FILE_FIELD!r}; {fix}", field=FILE_FIELD
        )
    return InvalidInputError(
        f"the form field {FILE_FIELD!r} is a text field, because its part has "
        f"no filename parameter; {fix}, which sends the file with its name",
        field=FILE_FIELD,
    )


def _too_large(settings: Settings) -> PayloadTooLargeError:
    return PayloadTooLargeError(
        f"the upload is larger than the limit of {settings.max_upload_bytes} "
        "bytes; send a shorter series or raise RNN_FORECAST_MAX_UPLOAD_BYTES",
        field="body",
    )
