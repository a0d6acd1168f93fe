"""Domain errors and validation errors as RFC 9457 problem details, in one place.

Every 4xx and 5xx response has ``Content-Type: application/problem+json`` and
the members ``type``, ``title``, ``status`` and ``detail``. 422 responses add
``errors``, a list of ``{"field", "message"}``.
"""

from __future__ import annotations

import logging
from http import HTTPMethod, HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Route, compile_path

from models.errors import (
    CheckpointError,
    ConflictError,
    InvalidInputError,
    LimitExceededError,
    NotFoundError,
    RnnForecastError,
    SourceUnavailableError,
)
from models.json_surrogates import UNPAIRED_SURROGATE_MESSAGE
from models.quoted_ids import shortened
from service.body_examples import body_is_optional, smallest_body
from service.field_errors import field_error, json_limit_message, null_body_message
from service.header_values import quoted_header
from service.horizon_examples import bound_horizon_examples
from service.json_bodies import (
    DuplicateKeyError,
    NullBodyError,
    UnpairedSurrogateError,
)
from service.links import docs_path, root_path_of, route_path
from service.misplaced_fields import add_misplaced_hints
from service.missing_fields import add_missing_fixes
from service.null_fields import add_null_hints
from service.path_params import path_errors
from service.query_lists import add_repeat_fixes
from service.root_prefix import unstripped_prefix_detail
from service.trailing_slashes import path_without_slash

logger = logging.getLogger(__name__)

PROBLEM_TYPE_BASE = "https://rnn-forecast.dev/problems/"
PROBLEM_MEDIA_TYPE = "application/problem+json"
# maximum length of an echoed detail or field message, and maximum field errors
MAX_TEXT_CHARS = 1000
MAX_ERRORS = 50
# RFC 9110 names; Python before 3.13 still has the older phrases for these two
TITLES = {413: "Content Too Large", 422: "Unprocessable Content"}

STATUS_BY_ERROR: list[tuple[type[RnnForecastError], int]] = [
    (LimitExceededError, 422),
    (InvalidInputError, 422),
    (NotFoundError, 404),
    (ConflictError, 409),
    (SourceUnavailableError, 503),
    (CheckpointError, 500),
]


# sent with a response that leaves the rest of a request body unread, which
# the server would otherwise read as the next request, so the server closes
# the connection
CLOSE = {"Connection": "close"}


def close_if_body(headers: Headers) -> dict[str, str]:
    """Return ``CLOSE`` for a request that declares a body, which a response
    sent before the body is read leaves unread, else no headers."""
    length = headers.get("content-length", "0").strip()
    if "transfer-encoding" in headers or length not in ("", "0"):
        return CLOSE
    return {}


class PayloadTooLargeError(RnnForecastError):
    """A request body or upload above its byte limit (HTTP 413)."""


class AuthError(RnnForecastError):
    """A missing (401) or wrong (403) API key, and the response headers."""

    def __init__(
        self, message: str, *, status: int, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(message, field="X-API-Key")
        self.status = status
        self.headers = headers


class RetryLaterError(SourceUnavailableError):
    """A service that the request needs is unreachable for now (HTTP 503
    with ``Retry-After``)."""

    def __init__(
        self, message: str, *, retry_after: int, field: str | None = None
    ) -> None:
        super().__init__(message, field=field)
        self.retry_after = retry_after


def problem(
    status: int,
    detail: str,
    *,
    slug: str | None = None,
    errors: list[dict[str, Any]] | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    """Build one problem+json response; long texts are shortened."""
    title = TITLES.get(status) or HTTPStatus(status).phrase
    body: dict[str, Any] = {
        "type": PROBLEM_TYPE_BASE + (slug or title.lower().replace(" ", "-")),
        "title": title,
        "status": status,
        "detail": shorten(detail),
    }
    if errors is not None:
        body["errors"] = [_shorten_error(error) for error in errors[:MAX_ERRORS]]
    return JSONResponse(
        body, status_code=status, media_type=PROBLEM_MEDIA_TYPE, headers=headers
    )


def shorten(text: str, limit: int = MAX_TEXT_CHARS) -> str:
    """Cut the middle out of ``text`` above ``limit`` characters.

    Messages quote the offending value and end with the fix, so the start and
    the end are kept. A multi-megabyte value is never echoed back whole.
    """
    if len(text) <= limit:
        return text
    keep = (limit - 40) // 2
    cut = len(text) - 2 * keep
    return f"{text[:keep]} ...[{cut} characters cut]... {text[-keep:]}"


def _shorten_error(error: dict[str, Any]) -> dict[str, Any]:
    return {
        key: shorten(value) if isinstance(value, str) else value
        for key, value in error.items()
    }


def status_for(exc: RnnForecastError) -> int:
    if isinstance(exc, AuthError):
        return exc.status
    if isinstance(exc, PayloadTooLargeError):
        return 413
    for cls, status in STATUS_BY_ERROR:
        if isinstance(exc, cls):
            return status
    return 500


async def domain_error_handler(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RnnForecastError)
    status = status_for(exc)
    if status >= 500:
        logger.error("%s %s failed: %s", request.method, request.url.path, exc)
    errors = None
    if status == 422:
        kind = "limit_exceeded" if isinstance(exc, LimitExceededError) else "invalid"
        errors = [{"field": exc.field or "body", "message": exc.message, "type": kind}]
    return problem(status, exc.message, errors=errors, headers=_headers(exc))


def _headers(exc: RnnForecastError) -> dict[str, str] | None:
    if isinstance(exc, AuthError):
        return exc.headers
    if isinstance(exc, RetryLaterError):
        return {"Retry-After": str(exc.retry_after)}
    return None


async def validation_error_handler(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    if _body_not_json(exc):
        content_type = request.headers.get("content-type")
        given = (
            "the body has no Content-Type"
            if content_type is None
            else f"Content-Type {quoted_header(content_type)} is not supported "
            "for this body"
        )
        return problem(415, f"{given}; send JSON with Content-Type: application/json")
    docs = docs_path(request)
    example = smallest_body(request)
    raw_errors = await bound_horizon_examples(request, exc.errors(), exc.body)
    root_path = root_path_of(request)
    errors = [
        field_error(err, exc.body, docs, example, root_path) for err in raw_errors
    ]
    add_null_hints(request, errors, raw_errors, exc.body)
    add_missing_fixes(request, errors, raw_errors, exc.body)
    add_misplaced_hints(request, errors, raw_errors, exc.body)
    add_repeat_fixes(request, errors, raw_errors)
    errors = path_errors(request) + errors
    detail = joined_detail(errors[:5])
    return problem(422, detail or "the request is invalid", errors=errors)


def joined_detail(errors: list[dict[str, Any]]) -> str:
    """Return the ``detail`` of a 422 that lists ``errors``: each as
    ``field: message``, separated by "; ", or by a space after a message
    that ends with a full stop."""
    detail = ""
    for error in errors:
        if detail:
            detail += " " if detail.endswith(".") else "; "
        detail += f"{error['field']}: {error['message']}"
    return detail


async def http_error_handler(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    if exc.status_code == 405:
        return _method_not_allowed(request, exc)
    detail = (
        exc.detail
        if isinstance(exc.detail, str)
        else HTTPStatus(exc.status_code).phrase
    )
    if detail == HTTPStatus(exc.status_code).phrase:
        detail = _routing_detail(request, exc) or detail
    cause = exc.__cause__
    if exc.status_code == 400 and isinstance(cause, UnicodeDecodeError):
        # FastAPI raises 400 when a JSON body is not valid in the encoding
        # that json.loads detects: UTF-8 unless the first bytes are those of
        # UTF-16 or UTF-32
        encoding = cause.encoding.upper().removesuffix("-SIG")
        detail = (
            f"the body is not valid {encoding} ({cause.reason} at byte "
            f"{cause.start}); send JSON encoded as UTF-8"
        )
    elif exc.status_code == 400 and isinstance(cause, DuplicateKeyError):
        message = (
            f"the body repeats the key {cause.key!r} in one JSON object, and "
            "only one of the values would be used; send each key once"
        )
        error = {"field": cause.path, "message": message, "type": "duplicate_key"}
        return problem(422, f"{cause.path}: {message}", errors=[error])
    elif exc.status_code == 400 and isinstance(cause, UnpairedSurrogateError):
        error = {
            "field": cause.path,
            "message": UNPAIRED_SURROGATE_MESSAGE,
            "type": "string_unpaired_surrogate",
        }
        detail = f"{cause.path}: {UNPAIRED_SURROGATE_MESSAGE}"
        return problem(422, detail, errors=[error])
    elif exc.status_code == 400 and isinstance(cause, NullBodyError):
        message = null_body_message(
            smallest_body(request), body_is_optional(request), docs_path(request)
        )
        error = {"field": "body", "message": message, "type": "null_body"}
        return problem(422, f"body: {message}", errors=[error])
    elif exc.status_code == 400 and cause is not None:
        # FastAPI raises 400 for any other error of json.loads but the
        # JSONDecodeError, which it reports as a json_invalid field error
        message = json_limit_message(cause, docs_path(request))
        if message is not None:
            error = {"field": "body", "message": message, "type": "json_invalid"}
            return problem(422, message, errors=[error])
    return problem(exc.status_code, detail, headers=getattr(exc, "headers", None))


async def unhandled_error_handler(request: Request, exc: Exception) -> JSONResponse:
    logger.exception("%s %s raised", request.method, request.url.path)
    return problem(500, "internal server error; the server log has the details")


def _body_not_json(exc: RequestValidationError) -> bool:
    """True when FastAPI passed the raw body bytes to a JSON body model, which
    it does when the Content-Type is missing or not JSON."""
    return any(
        tuple(err.get("loc", ())) == ("body",) and isinstance(err.get("input"), bytes)
        for err in exc.errors()
    )


def _routing_detail(request: Request, exc: StarletteHTTPException) -> str | None:
    """Write a message for the router's own 404, which carries no detail."""
    method, path = request.method, request.url.path
    if exc.status_code == 404 and request.scope.get("route") is None:
        routes = request.app.router.routes
        unstripped = unstripped_prefix_detail(
            request.scope, method, routes, docs_path(request)
        )
        if unstripped is not None:
            return unstripped
        fixed = path_without_slash(request.scope, routes)
        if fixed is not None:
            return (
                f"no route matches {method} {shortened(path)}, because the "
                "paths of the API end without a slash; send the request to "
                f"{shortened(fixed)}"
            )
        docs = docs_path(request)
        # a client may send a path of any length, so a long one is cut
        return (
            f"no route matches {method} {shortened(path)}; the API reference "
            f"is at {docs}"
        )
    return None


def _method_not_allowed(request: Request, exc: StarletteHTTPException) -> JSONResponse:
    """Build the 405 response, whose ``Allow`` lists every method of the
    path."""
    # the router's own list, should no route of the app match
    router_allow = (exc.headers or {}).get("Allow", "")
    allow = ", ".join(allowed_methods(request)) or router_allow
    detail = (
        f"method {request.method} is not allowed on {request.url.path}; "
        f"allowed: {allow}"
    )
    return problem(405, detail, headers={**(exc.headers or {}), "Allow": allow})


def allowed_methods(request: Request) -> list[str]:
    """Return the methods of every route whose path matches the request,
    for the ``Allow`` header of a 405 (RFC 9110 section 10.2.1).

    The router sends the methods of the first such route only, although a
    path such as an alias has a GET, a PUT and a DELETE route. The routes
    are read from the OpenAPI paths and the app's plain routes (``/docs``).
    HEAD is listed wherever GET is, because the app serves HEAD as GET.
    """
    path = route_path(request.scope)
    methods: set[str] = set()
    for template, operations in request.app.openapi().get("paths", {}).items():
        if compile_path(template)[0].match(path):
            methods |= {name.upper() for name in operations}
    for route in request.app.routes:
        if isinstance(route, Route) and route.path_regex.match(path):
            methods |= route.methods or set()
    if "GET" in methods:
        methods.add("HEAD")
    return sorted(methods & set(HTTPMethod))


def install_error_handlers(app: FastAPI) -> None:
    """Register every handler on ``app``."""
    app.add_exception_handler(RnnForecastError, domain_error_handler)
    app.add_exception_handler(RequestValidationError, validation_error_handler)
    app.add_exception_handler(StarletteHTTPException, http_error_handler)
    app.add_exception_handler(Exception, unhandled_error_handler)
