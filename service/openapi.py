"""The OpenAPI document: FastAPI's, plus the problem+json error responses.

``install_openapi`` replaces ``app.openapi`` with a function that takes
FastAPI's document and, for every operation:

- declares the errors the service can send for it: 500 always, 406 when
  its success responses have content, 422 when it has parameters or a body
  or rejects undeclared query parameters,
  404 when it has path parameters, 408, 413 and 503 when it takes a body
  (a body sent too slowly, too large, or cut off by a shutdown), 400 and 415
  when that body is JSON, 400, 401 and 403 when it needs the API key, 400
  when it reads ``If-Match`` or ``If-None-Match``,
- gives every 4xx and 5xx response the ``Problem`` schema (``ValidationProblem``
  for 422) under ``application/problem+json`` with an example,
- declares the ``X-Request-ID`` header on every response,
  ``WWW-Authenticate`` on every 401, and ``Location`` on every 201 and 202,
  which name the created resource or the job.

The committed ``openapi.json`` is this document; ``make openapi`` rewrites it.
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from pydantic import BaseModel, ConfigDict, Field

from service.errors import PROBLEM_MEDIA_TYPE, PROBLEM_TYPE_BASE, TITLES
from service.query_params import query_check

API_KEY_HEADER = "x-api-key"
REQUEST_ID_COMPONENT = "RequestId"
FASTAPI_VALIDATION_SCHEMAS = ("HTTPValidationError", "ValidationError")
HTTP_METHODS = ("get", "put", "post", "delete", "patch", "head", "options")
CHALLENGE_HEADER = {
    "description": 'The challenge of a 401: APIKey header="X-API-Key"',
    "schema": {"type": "string"},
}
LOCATION_HEADER = {
    "description": "Path of the created resource, or of the job that runs the request",
    "required": True,
    "schema": {"type": "string"},
}
# the Retry-After header of 429 and 503 responses, for a route's responses=
RETRY_AFTER_HEADER = {
    "description": "Seconds to wait before retrying",
    "schema": {"type": "integer"},
}


class FieldError(BaseModel):
    """One invalid input of a 422 response."""

    field: str = Field(
        description="Path of the input at fault, e.g. 'history[0].close' or "
        "'query.horizon'; 'body' for the body as a whole",
        examples=["history[0].close"],
    )
    message: str = Field(description="What is wrong and how to fix it")
    type: str | None = Field(
        default=None,
        description="Machine-readable kind, e.g. 'missing', 'finite_number', "
        "'limit_exceeded'",
    )


class Problem(BaseModel):
    """An error in RFC 9457 problem details format."""

    model_config = ConfigDict(extra="allow")

    type: str = Field(description="URI naming the kind of problem")
    title: str = Field(description="Short summary of the status code")
    status: int = Field(ge=400, le=599, description="The HTTP status code")
    detail: str = Field(description="What went wrong on this request and the fix")


class ValidationProblem(Problem):
    """A 422 problem that lists every invalid input."""

    errors: list[FieldError]


# example detail per status; the 422 example also lists its field errors
EXAMPLE_DETAILS: dict[int, tuple[str, str]] = {
    400: (
        "Bad Request",
        "the body is not valid UTF-8 (invalid start byte at byte 0); send JSON "
        "encoded as UTF-8",
    ),
    401: (
        "Unauthorized",
        "this endpoint needs an API key; send it in the X-API-Key header",
    ),
    403: ("Forbidden", "the API key in X-API-Key is not valid"),
    404: ("Not Found", "model 'nflx' has no version 7; versions are [1, 2]"),
    406: (
        "Not Acceptable",
        "Accept 'text/html' allows none of the media types this endpoint sends "
        "(application/json); accept application/json or */*, or leave the "
        "Accept header out",
    ),
    408: (
        "Request Timeout",
        "request body was not received within 30 s; send the whole body "
        "promptly or raise RNN_FORECAST_BODY_TIMEOUT_SECONDS",
    ),
    409: ("Conflict", "job 3f2a... has already finished and cannot be cancelled"),
    412: (
        "Precondition Failed",
        'If-Match "version-2" does not match the current ETag "version-3"; GET '
        "the resource for its current ETag, or leave the header out",
    ),
    413: (
        "Content Too Large",
        "request body is 3000000 bytes, above the limit of 2000000 bytes; send "
        "a smaller body or raise RNN_FORECAST_MAX_REQUEST_BYTES",
    ),
    415: (
        "Unsupported Media Type",
        "Content-Type 'text/plain' is not supported for this body; send JSON "
        "with Content-Type: application/json",
    ),
    422: (
        "Unprocessable Content",
        "horizon: Input should be less than or equal to 60; send a value of at most 60",
    ),
    429: ("Too Many Requests", "the job queue is full; retry later"),
    500: (
        "Internal Server Error",
        "internal server error; the server log has the details under request "
        "id 0f1e2d3c4b5a69788796a5b4c3d2e1f0",
    ),
    503: (
        "Service Unavailable",
        "the data source yfinance cannot be reached; use 'bundled' or 'csv:'",
    ),
}

# the 503 of an operation with a body, when the server shuts down while the
# body arrives
STOPPING_EXAMPLE = (
    "the server is shutting down and stopped reading the request body; send "
    "the request again"
)
# the 400 of an operation that needs the API key
KEY_TWICE = "X-API-Key sent more than once"
KEY_TWICE_EXAMPLE = (
    "the X-API-Key header is sent 2 times; send it once, with the service's API key"
)
# the 400 of an operation with If-Match or If-None-Match
PRECONDITION_HEADERS = ("if-match", "if-none-match")
INVALID_TAG_LIST = "If-Match or If-None-Match not * or a list of quoted entity tags"
DEFAULT_DESCRIPTIONS = {
    400: "Body that is not UTF-8",
    401: "Missing API key",
    403: "Invalid API key",
    404: "Unknown model, version or other resource",
    406: "Accept allows none of the media types of the success response",
    408: "Request body not received within RNN_FORECAST_BODY_TIMEOUT_SECONDS",
    413: "Request body above its byte limit",
    415: "Body not sent as application/json",
    422: "Invalid parameters or body, or a value above a limit",
    500: "Internal server error",
    503: "Server shutting down while the request body arrives",
}


def problem_example(status: int, detail: str | None = None) -> dict[str, Any]:
    """Build a problem+json body for ``status``, as the service sends it;
    ``detail`` replaces the example detail of that status."""
    title, example = EXAMPLE_DETAILS.get(status, (TITLES.get(status, "Error"), ""))
    title = TITLES.get(status, title)
    body: dict[str, Any] = {
        "type": PROBLEM_TYPE_BASE + title.lower().replace(" ", "-"),
        "title": title,
        "status": status,
        "detail": detail or example or title,
    }
    if status == 422:
        body["errors"] = [
            {
                "field": "horizon",
                "message": "Input should be less than or equal to 60; send a "
                "value of at most 60",
                "type": "less_than_equal",
            }
        ]
    return body


def build_openapi(app: FastAPI) -> dict[str, Any]:
    """FastAPI's document for ``app`` with the error responses added."""
    schema = get_openapi(
        title=app.title,
        version=app.version,
        description=app.description,
        routes=app.routes,
        tags=app.openapi_tags,
    )
    components = schema.setdefault("components", {})
    _add_components(components)
    checked = query_checked_operations(app, schema.get("paths", {}))
    for path, path_item in schema.get("paths", {}).items():
        for method in HTTP_METHODS:
            if method in path_item:
                checks_query = (path, method) in checked
                _complete_operation(path_item[method], checks_query)
    _drop_unused_schemas(schema)
    return schema


def query_checked_operations(
    app: FastAPI, paths: dict[str, Any]
) -> set[tuple[str, str]]:
    """Return the (path, method) of every operation in the OpenAPI ``paths``
    whose route rejects undeclared query parameters with 422."""
    check = query_check(app.router.dependencies)
    if check is None:
        return set()
    return {
        (path, method)
        for path, path_item in paths.items()
        for method in HTTP_METHODS
        if method in path_item
        and check.checks(path, "requestBody" in path_item[method])
    }


def install_openapi(app: FastAPI) -> None:
    """Make ``app.openapi()`` (and ``/openapi.json``) return ``build_openapi``."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = build_openapi(app)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def render(schema: dict[str, Any]) -> str:
    """Render the document as the text stored in ``openapi.json``."""
    return json.dumps(schema, indent=2, ensure_ascii=False) + "\n"


def _add_components(components: dict[str, Any]) -> None:
    schemas = components.setdefault("schemas", {})
    for model in (FieldError, Problem, ValidationProblem):
        found = model.model_json_schema(ref_template="#/components/schemas/{model}")
        for name, definition in found.pop("$defs", {}).items():
            schemas.setdefault(name, definition)
        schemas[model.__name__] = found
    components.setdefault("headers", {})[REQUEST_ID_COMPONENT] = {
        "description": "The request id: the client's X-Request-ID when it is "
        "1-128 characters of A-Z, a-z, 0-9, '.', '_', ':' and '-', else a new "
        "one; every log line of the request carries it",
        "schema": {"type": "string"},
    }


def _complete_operation(operation: dict[str, Any], checks_query: bool) -> None:
    responses: dict[str, Any] = operation.setdefault("responses", {})
    for status in _implied_statuses(operation, checks_query):
        responses.setdefault(str(status), _implied_response(status, operation))

    for code, response in responses.items():
        if code.isdigit() and int(code) >= 400:
            _make_problem_response(int(code), response)
        headers = response.setdefault("headers", {})
        headers["X-Request-ID"] = {
            "$ref": f"#/components/headers/{REQUEST_ID_COMPONENT}"
        }
        if code == "401":
            headers["WWW-Authenticate"] = CHALLENGE_HEADER
        if code in ("201", "202"):
            headers["Location"] = LOCATION_HEADER
    operation["responses"] = dict(sorted(responses.items()))


def _implied_statuses(operation: dict[str, Any], checks_query: bool) -> list[int]:
    parameters = operation.get("parameters", [])
    body = operation.get("requestBody")
    statuses = [500]
    if success_media_types(operation):
        statuses.append(406)
    if parameters or body or checks_query:
        statuses.append(422)
    if any(p.get("in") == "path" for p in parameters):
        statuses.append(404)
    if body is not None:
        statuses += [408, 413, 503]
        if _json_body(operation):
            statuses += [400, 415]
    if needs_key(operation):
        statuses += [400, 401, 403]
    if takes_preconditions(operation):
        statuses.append(400)
    return sorted(set(statuses))


def _implied_response(status: int, operation: dict[str, Any]) -> dict[str, Any]:
    """Return the response of an implied ``status``. A 400 of an operation
    that needs the API key names the repeated header, and the body that is
    not UTF-8 too when the operation takes JSON."""
    if status == 503:
        return {
            "description": DEFAULT_DESCRIPTIONS[503],
            "content": {
                PROBLEM_MEDIA_TYPE: {"example": problem_example(503, STOPPING_EXAMPLE)}
            },
        }
    if status != 400:
        return {"description": DEFAULT_DESCRIPTIONS[status]}
    causes = []
    if _json_body(operation):
        causes.append(DEFAULT_DESCRIPTIONS[400])
    if needs_key(operation):
        causes.append(KEY_TWICE)
    if takes_preconditions(operation):
        causes.append(INVALID_TAG_LIST)
    response: dict[str, Any] = {"description": ", or ".join(causes)}
    if not _json_body(operation) and needs_key(operation):
        example = problem_example(400, KEY_TWICE_EXAMPLE)
        response["content"] = {PROBLEM_MEDIA_TYPE: {"example": example}}
    return response


def success_media_types(operation: dict[str, Any]) -> tuple[str, ...]:
    """Return the media types of the operation's success (2xx) responses,
    or none when one of them has no content, which an ``Accept`` header
    cannot rule out."""
    media_types: list[str] = []
    for code, response in operation.get("responses", {}).items():
        if not code.startswith("2"):
            continue
        content = response.get("content")
        if not content:
            return ()
        media_types += [name for name in content if name not in media_types]
    return tuple(media_types)


def _json_body(operation: dict[str, Any]) -> bool:
    """Return whether the operation takes a JSON request body."""
    body = operation.get("requestBody") or {}
    return "application/json" in body.get("content", {})


def takes_preconditions(operation: dict[str, Any]) -> bool:
    """Return whether the operation reads ``If-Match`` or ``If-None-Match``
    as a precondition header (``service.preconditions``)."""
    return any(
        p.get("in") == "header" and p.get("name", "").lower() in PRECONDITION_HEADERS
        for p in operation.get("parameters", [])
    )


def needs_key(operation: dict[str, Any]) -> bool:
    """Return whether the operation requires the ``X-API-Key`` header."""
    parameters = operation.get("parameters", [])
    return bool(operation.get("security")) or any(
        p.get("in") == "header" and p.get("name", "").lower() == API_KEY_HEADER
        for p in parameters
    )


def _make_problem_response(status: int, response: dict[str, Any]) -> None:
    """Give ``response`` the problem schema, and an example unless the route
    declared one with ``problem_example``."""
    model = ValidationProblem if status == 422 else Problem
    declared = response.get("content", {}).get(PROBLEM_MEDIA_TYPE, {})
    response["content"] = {
        PROBLEM_MEDIA_TYPE: {
            "schema": {"$ref": f"#/components/schemas/{model.__name__}"},
            "example": declared.get("example") or problem_example(status),
        }
    }
    if response.get("description") in (None, "", "Validation Error"):
        response["description"] = DEFAULT_DESCRIPTIONS.get(status, "Error")


def _drop_unused_schemas(schema: dict[str, Any]) -> None:
    """Remove FastAPI's 422 schemas once no reference to them is left."""
    schemas = schema["components"]["schemas"]
    for name in FASTAPI_VALIDATION_SCHEMAS:
        definition = schemas.pop(name, None)
        if definition is not None and f'/schemas/{name}"' in json.dumps(schema):
            schemas[name] = definition


def current_openapi_text() -> str:
    """Build an app with default settings and render its document."""
    from service.app import create_app
    from service.settings import Settings

    return render(create_app(Settings()).openapi())
