"""Pure ASGI middleware: request ids, access logs and metrics, and body limits.

``install_middleware`` fixes the order, outermost first: request context (id,
access log, metrics, last-resort 500), ``HEAD`` served as ``GET``, CORS (only
when origins are set), the API key check (``service.auth``), content
negotiation (``service.negotiation``), body size limit, the rejection of
compressed bodies (``service.content_coding``) and that of differing
``Content-Type`` lines (``service.content_type_lines``). CORS answers a preflight
without the key, and the key and ``Accept`` are judged before the body is
read. FastAPI's exception handlers sit inside all of them, so every
problem+json response passes through the request context on its way out.
The forecast fast path (``service.fast_forecast``) runs in front of all of
them and uses the helpers here for the same ids, log lines, metrics and
limits.
"""

from __future__ import annotations

import logging
import os
import random
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass

from fastapi import FastAPI
from starlette.datastructures import Headers, MutableHeaders
from starlette.exceptions import HTTPException
from starlette.middleware.cors import CORSMiddleware
from starlette.responses import Response
from starlette.routing import Route, compile_path
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service.access_log import write_access_line
from service.auth import ApiKeyMiddleware
from service.client_disconnects import BodyWatch
from service.content_coding import ContentCodingMiddleware
from service.content_type_lines import ContentTypeLinesMiddleware
from service.errors import CLOSE, problem
from service.header_values import quoted_header
from service.links import route_path
from service.logging_config import REQUEST_ID
from service.negotiation import AcceptMiddleware
from service.observability import Metrics
from service.operations import Operations
from service.preconditions import PreconditionSyntaxMiddleware
from service.read_deadlines import ReadDeadlines, ServerStoppingError
from service.routes.series import MULTIPART_OVERHEAD_BYTES
from service.settings import Settings

logger = logging.getLogger(__name__)

REQUEST_ID_HEADER = "X-Request-ID"
# ids from clients are kept only when they are short and plain, so a header
# can never inject line breaks or markup into the logs
REQUEST_ID_PATTERN = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
UNMATCHED_ROUTE = "unmatched"
# New request ids: 128 random bits as 32 hex digits, the form of
# uuid4().hex. The ids label log lines and are no secret, so they come from
# a PRNG of their own instead of os.urandom (a system call per request).
# Seeding the global random module for reproducible training leaves it
# alone, and each forked process seeds it anew.
_ID_BITS = random.Random()
os.register_at_fork(after_in_child=_ID_BITS.seed)
# the id the forecast fast path chose for a request that it passes on to
# the app, so the request keeps one id
REQUEST_ID_SCOPE_KEY = "rnn_forecast.request_id"
# the time (time.perf_counter) the fast path started such a request, so its
# logged duration includes the body read and the fast path's attempt
STARTED_SCOPE_KEY = "rnn_forecast.started"


def choose_request_id(client_id: str | None) -> str:
    """Return ``client_id`` (a client's ``X-Request-ID``) when it is valid,
    else a new id."""
    if client_id is not None and REQUEST_ID_PATTERN.fullmatch(client_id):
        return client_id
    return f"{_ID_BITS.getrandbits(128):032x}"


def request_id_for(scope: Scope) -> str:
    """Return the id already chosen for this request, else the client's
    ``X-Request-ID`` when it is valid, else a new id."""
    chosen = scope.get(REQUEST_ID_SCOPE_KEY)
    if chosen is not None:
        return str(chosen)
    return choose_request_id(Headers(scope=scope).get(REQUEST_ID_HEADER))


def record_request(
    metrics: Metrics,
    scope: Scope,
    route: str,
    path_params: Mapping[str, str],
    status: int,
    seconds: float,
) -> None:
    """Count one finished request in ``metrics`` and write its access log
    line. ``route`` is the path template the request matched."""
    metrics.observe_request(scope["method"], route, status, seconds, path_params)
    write_access_line(scope["method"], scope["path"], route, status, seconds)


class RouteTemplates:
    """The path templates of an app, e.g. ``/v1/models/{name}/forecast``,
    matched against request paths in the order the app lists them.

    The templates come from the app's OpenAPI paths plus its plain routes
    (``/docs``, ``/openapi.json``), read on the first request. Matching here
    instead of reading the router's scope keys also labels requests that
    never reach a route, such as a body rejected for its size. Unmatched
    paths share one label, so scanning random URLs cannot grow the number of
    metric series.
    """

    def __init__(self) -> None:
        self._patterns: list[tuple[re.Pattern[str], str]] | None = None

    def match(self, scope: Scope) -> tuple[str, dict[str, str]]:
        """Return the template that ``scope["path"]`` matches, and its path
        parameters."""
        if self._patterns is None:
            self._patterns = _compile_templates(scope["app"])
        path = route_path(scope)
        for pattern, template in self._patterns:
            found = pattern.match(path)
            if found is not None:
                return template, found.groupdict()
        return UNMATCHED_ROUTE, {}


def _compile_templates(app: FastAPI) -> list[tuple[re.Pattern[str], str]]:
    templates = list(app.openapi().get("paths", {}))
    templates += [r.path for r in app.routes if isinstance(r, Route)]
    return [(compile_path(t)[0], t) for t in dict.fromkeys(templates)]


class RequestContextMiddleware:
    """Tag each request with an id, log it, count it, and turn an unhandled
    exception into a 500 problem response that carries the id.

    A request whose client disconnected in the middle of the body is logged
    and counted with status 499, whatever the app responded.
    """

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics
        self.templates = RouteTemplates()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        request_id = request_id_for(scope)
        token = REQUEST_ID.set(request_id)
        started = scope.get(STARTED_SCOPE_KEY) or time.perf_counter()
        status = 500
        response_started = False
        watch = BodyWatch(receive)

        async def send_with_id(message: Message) -> None:
            nonlocal status, response_started
            if message["type"] == "http.response.start":
                response_started = True
                status = int(message["status"])
                MutableHeaders(scope=message)[REQUEST_ID_HEADER] = request_id
            await send(message)

        try:
            await self.app(scope, watch, send_with_id)
        except Exception:
            logger.exception("%s %s raised", scope["method"], scope["path"])
            if response_started:
                raise
            detail = (
                "internal server error; the server log has the details under "
                f"request id {request_id}"
            )
            await problem(500, detail)(scope, watch, send_with_id)
        finally:
            seconds = time.perf_counter() - started
            self._record(scope, watch.logged_status(status), seconds)
            REQUEST_ID.reset(token)

    def _record(self, scope: Scope, status: int, seconds: float) -> None:
        route, path_params = self.templates.match(scope)
        record_request(self.metrics, scope, route, path_params, status, seconds)


class HeadAsGetMiddleware:
    """Serve ``HEAD`` as ``GET`` without the body, on every GET route.

    FastAPI's routes serve only the methods they declare, so a monitor or
    cache that checks a URL with ``HEAD`` would get 405. The response keeps
    the GET response's status and headers (``Content-Length``, ``ETag``); its
    body bytes are dropped. A path without a GET route still gets 405.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "HEAD":
            await self.app(scope, receive, send)
            return

        async def send_without_body(message: Message) -> None:
            if message["type"] == "http.response.body":
                more = message.get("more_body", False)
                message = {"type": "http.response.body", "body": b"", "more_body": more}
            await send(message)

        await self.app({**scope, "method": "GET"}, receive, send_without_body)


@dataclass(frozen=True)
class BodyLimit:
    """A body size limit in bytes, the setting that raises it, and the bytes
    allowed on top for framing (multipart boundaries and part headers)."""

    limit: int
    setting: str
    framing: int = 0

    @property
    def max_bytes(self) -> int:
        return self.limit + self.framing

    def message(self, size: int, *, complete: bool) -> str:
        amount = f"{size} bytes" if complete else f"more than {size - 1} bytes"
        framing = f" plus {self.framing} bytes of framing" if self.framing else ""
        return (
            f"request body is {amount}, above the limit of {self.limit} bytes"
            f"{framing}; send a smaller body or raise {self.setting}"
        )


class BodySizeLimitMiddleware:
    """Reject a request body above its limit with 413 before the app reads it.

    A declared ``Content-Length`` above the limit is rejected at once. A body
    without one (chunked) is counted as it streams in. The read that crosses
    the limit raises a 413 ``HTTPException``, which the app's handler turns
    into problem+json. ``by_path`` maps path prefixes (e.g. an upload
    endpoint) to their own limit.
    """

    def __init__(
        self,
        app: ASGIApp,
        default: BodyLimit,
        by_path: Mapping[str, BodyLimit] | None = None,
        reads: ReadDeadlines | None = None,
    ) -> None:
        self.app = app
        self.default = default
        self.by_path = dict(by_path or {})
        self.reads = reads

    def limit_for(self, path: str) -> BodyLimit:
        for prefix, limit in self.by_path.items():
            if path == prefix or path.startswith(prefix.rstrip("/") + "/"):
                return limit
        return self.default

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        limit = self.limit_for(scope["path"])
        declared = declared_length(Headers(scope=scope).get("content-length"))
        if declared is not None and declared > limit.max_bytes:
            response = problem(
                413, limit.message(declared, complete=True), headers=CLOSE
            )
            await response(scope, receive, send)
            return

        received = 0
        body_done = False

        async def counting_receive() -> Message:
            nonlocal received, body_done
            message = await self._receive_part(receive, body_done)
            if message["type"] == "http.request":
                body_done = not message.get("more_body", False)
                received += len(message.get("body", b""))
                if received > limit.max_bytes:
                    detail = limit.message(limit.max_bytes + 1, complete=False)
                    raise HTTPException(413, detail=detail, headers=CLOSE)
            return message

        await self.app(scope, counting_receive, send)

    async def _receive_part(self, receive: Receive, body_done: bool) -> Message:
        """Wait for the next body part through ``reads`` while the body is
        incomplete, so a client that stops sending cannot hold a connection
        open: 408 after the body timeout, and 503 at once when the server
        shuts down. Both responses close the connection.

        Once the body is complete, waits are unbounded because a streaming
        response listens for the disconnect.
        """
        if body_done or self.reads is None:
            return await receive()
        try:
            return await self.reads.receive(receive)
        except TimeoutError:
            timeout = self.reads.timeout
            logger.info("request body timed out after %.1f s", timeout)
            detail = (
                f"request body was not received within {timeout:g} s; "
                "send the whole body promptly or raise "
                "RNN_FORECAST_BODY_TIMEOUT_SECONDS"
            )
            raise HTTPException(408, detail=detail, headers=CLOSE) from None
        except ServerStoppingError:
            logger.info("request body read ended because the server is stopping")
            detail = (
                "the server is shutting down and stopped reading the request "
                "body; send the request again"
            )
            raise HTTPException(503, detail=detail, headers=CLOSE) from None


def cors_options(settings: Settings) -> dict[str, list[str]]:
    """Return the keyword arguments of the CORS middleware: the configured
    origins and what browsers may send and read.

    Scripts send ``If-Match`` and ``If-None-Match`` on alias writes, job
    cancels and polls, and read ``Location`` of a 201 or 202 and
    ``Retry-After`` of a 429 or 503.
    """
    return {
        "allow_origins": settings.cors_origins,
        "allow_methods": ["GET", "POST", "PUT", "DELETE"],
        "allow_headers": [
            "Content-Type",
            "X-API-Key",
            REQUEST_ID_HEADER,
            "If-Match",
            "If-None-Match",
        ],
        "expose_headers": [REQUEST_ID_HEADER, "ETag", "Location", "Retry-After"],
    }


class ProblemCORSMiddleware(CORSMiddleware):
    """Starlette's CORS middleware, with rejected preflights sent as
    problem+json like every other 4xx instead of plain text."""

    def preflight_response(self, request_headers: Headers) -> Response:
        response = super().preflight_response(request_headers)
        if response.status_code < 400:
            return response

        rejected = bytes(response.body).decode(errors="replace")
        detail = (
            f"CORS preflight rejected ({rejected}) for origin "
            f"{quoted_header(request_headers.get('origin', ''))}; the allowed "
            "origins, methods and headers are set by RNN_FORECAST_CORS_ORIGINS "
            "and the API"
        )
        headers = {
            key: value
            for key, value in response.headers.items()
            if key.lower() not in ("content-length", "content-type")
        }
        return problem(response.status_code, detail, headers=headers)


def declared_length(value: str | None) -> int | None:
    """Return the body size a ``Content-Length`` header value declares, or
    None when it is missing or not a plain decimal number."""
    # isdigit alone accepts digits such as "²" that int() rejects
    if value is None or not (value.isascii() and value.isdigit()):
        return None
    return int(value)


def install_middleware(
    app: FastAPI,
    settings: Settings,
    metrics: Metrics,
    reads: ReadDeadlines,
    upload_paths: tuple[str, ...] = (),
) -> None:
    """Add the middleware in order; the last one added runs first. ``reads``
    times out and, at shutdown, ends the body reads."""
    # the upload route checks the file against the exact limit itself
    upload = BodyLimit(
        settings.max_upload_bytes,
        "RNN_FORECAST_MAX_UPLOAD_BYTES",
        framing=MULTIPART_OVERHEAD_BYTES,
    )
    app.add_middleware(ContentTypeLinesMiddleware)
    app.add_middleware(ContentCodingMiddleware, csv_paths=upload_paths)
    app.add_middleware(
        BodySizeLimitMiddleware,
        default=BodyLimit(settings.max_request_bytes, "RNN_FORECAST_MAX_REQUEST_BYTES"),
        by_path={path: upload for path in upload_paths},
        reads=reads,
    )
    operations = Operations()
    app.add_middleware(PreconditionSyntaxMiddleware, operations=operations)
    app.add_middleware(AcceptMiddleware, operations=operations)
    app.add_middleware(ApiKeyMiddleware, settings=settings, operations=operations)
    if settings.cors_origins:
        app.add_middleware(ProblemCORSMiddleware, **cors_options(settings))
    app.add_middleware(HeadAsGetMiddleware)
    app.add_middleware(RequestContextMiddleware, metrics=metrics)
