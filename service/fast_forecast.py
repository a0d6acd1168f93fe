"""A fast path for valid forecast requests, in front of the whole app.

A forecast is small work for the event loop next to what the layers around
it cost: FastAPI's entry and exception middleware, this service's request
context, ``HEAD``, CORS and body limit middleware, then FastAPI 0.165's
nested-router matching and parameter solving. ``FastPathApp`` offers each
request to a ``ForecastFastPath`` first. The fast path takes
``POST /v1/models/{name}/forecast`` with an ``application/json`` body and
does for it what those layers would do for a valid request, with the same
helpers:

- the request id (the client's ``X-Request-ID`` when valid, else a new one)
  in the log context and in the response header;
- the body size limit (``RNN_FORECAST_MAX_REQUEST_BYTES``) and the body
  timeout between parts (``RNN_FORECAST_BODY_TIMEOUT_SECONDS``), with the
  app's ``ReadDeadlines``, which also ends the read at a server shutdown;
- validation against ``ForecastRequest``'s fields and checks. The
  commonest bodies (a version, a horizon, a level, rows of date and close,
  and nulls where the schema allows them) are decoded by msgspec
  (``service.body_decoder``). Pydantic validates the
  others on the JSON bytes directly (instead of on the objects
  ``json.loads`` builds) and into dicts (``ForecastRequestFields``)
  instead of a model object per history row. A count of the body's colons
  finds a body which may repeat a key (``may_repeat_key``);
- the route's own ``forecast_json``;
- the CORS headers, from an instance of the app's CORS middleware with the
  same options, while CORS is on;
- the access log line and the request metrics.

Anything else goes through the app as if the fast path were not there, such
as a request with a query string, a declared ``Content-Length`` above the
limit, two ``Content-Type`` lines that differ, a ``Content-Encoding``
other than ``identity`` or a ``Transfer-Encoding`` other than ``chunked``
on any of its lines, or an
``Accept`` header that rules out ``application/json``. So does any
request that fails on the way, with the body parts read so far replayed: a body that is
not valid JSON, fails validation or may repeat a key, a body over its limit,
a client that stops sending, a server that shuts down while the body
arrives. A valid body whose forecast fails (an unknown model, a history that
fails its checks, a forecast that overflows) is passed on with its error,
which the route raises instead of computing the forecast again.
Error responses are therefore the app's, unchanged, and valid requests get
the bytes the route would send. A request passed on keeps its request id
and its start time, so its access log line and latency cover the fast
path's part too.
"""

from __future__ import annotations

import re
import time
import traceback
from dataclasses import dataclass
from typing import NamedTuple

from fastapi import FastAPI
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service.body_decoder import decode_common
from service.content_coding import (
    unsupported_codings,
    unsupported_transfer_codings,
)
from service.encoded_slashes import keep_encoded_slashes
from service.logging_config import REQUEST_ID
from service.middleware import (
    REQUEST_ID_SCOPE_KEY,
    STARTED_SCOPE_KEY,
    ProblemCORSMiddleware,
    choose_request_id,
    cors_options,
    declared_length,
    record_request,
    route_path,
)
from service.negotiation import accepts_json
from service.observability import Metrics
from service.read_deadlines import ReadDeadlines, ServerStoppingError
from service.routes.forecast import (
    FORECAST_ERROR_SCOPE_KEY,
    ForecastQuery,
    forecast_json,
)
from service.schemas import FORECAST_REQUEST_FIELDS, ForecastRequestFields
from service.settings import Settings
from service.websocket_requests import reject_websocket

# the request headers the fast path reads, lower case as ASGI gives them
CONTENT_TYPE = b"content-type"
CONTENT_LENGTH = b"content-length"
REQUEST_ID_HEADER = b"x-request-id"
ACCEPT = b"accept"
CONTENT_ENCODING = b"content-encoding"
TRANSFER_ENCODING = b"transfer-encoding"
READ_HEADERS = frozenset(
    {
        CONTENT_TYPE,
        CONTENT_LENGTH,
        REQUEST_ID_HEADER,
        ACCEPT,
        CONTENT_ENCODING,
        TRANSFER_ENCODING,
    }
)
# Route patterns end in "$", which also matches before a final newline, so
# "/v1/health%0A" would reach the health route. Control characters in a
# path are put back in their percent-encoded form, which no route matches.
CONTROL_CHARACTERS = re.compile(r"[\x00-\x1f\x7f]")


@dataclass
class FastPathStats:
    """Counts of forecast requests served by the fast path and of those
    passed on to the app."""

    served: int = 0
    passed_on: int = 0


class Target(NamedTuple):
    """A request the fast path takes: the model name from its path and the
    id chosen for it."""

    name: str
    request_id: str


class BodyRead:
    """The body parts read so far, and the message that ended the read
    early (a disconnect), if one did."""

    def __init__(self) -> None:
        self.parts: list[bytes] = []
        self.size = 0
        self.more_body = True
        self.last: Message | None = None

    def add(self, part: bytes, more_body: bool) -> None:
        self.parts.append(part)
        self.size += len(part)
        self.more_body = more_body

    def body(self) -> bytes:
        return self.parts[0] if len(self.parts) == 1 else b"".join(self.parts)

    def messages(self) -> list[Message]:
        """Return the messages that give the app the same body: the parts
        joined into one, then the message that ended the read. The app
        counts the same size limit over them. A body in thousands of small
        parts is kept as bytes instead of one message dict per part."""
        messages: list[Message] = []
        if self.parts:
            messages.append(
                {
                    "type": "http.request",
                    "body": self.body(),
                    "more_body": self.more_body,
                }
            )
        if self.last is not None:
            messages.append(self.last)
        return messages


class ForecastFastPath:
    """Handler that serves valid forecast requests without the app's
    middleware and router. ``FastPathApp`` calls it."""

    def __init__(
        self,
        prefix: str,
        settings: Settings,
        metrics: Metrics,
        stats: FastPathStats,
        reads: ReadDeadlines,
    ) -> None:
        self.pattern = re.compile(
            rf"^{re.escape(prefix)}/models/(?P<name>[^/]+)/forecast\Z"
        )
        self.route = f"{prefix}/models/{{name}}/forecast"
        self.max_bytes = settings.max_request_bytes
        self.deadlines = reads
        # a copy of the app's CORS middleware, for the responses sent here
        self.cors: ProblemCORSMiddleware | None = None
        if settings.cors_origins:
            self.cors = ProblemCORSMiddleware(_no_app, **cors_options(settings))
        self.metrics = metrics
        self.stats = stats

    def target(self, scope: Scope) -> Target | None:
        """Return the target of a forecast request with a JSON body that
        the fast path may take, else None."""
        if scope["type"] != "http" or scope["method"] != "POST":
            return None
        # the route declares no query parameter, so the app rejects any
        if scope.get("query_string"):
            return None
        found = self.pattern.match(route_path(scope))
        if found is None:
            return None

        headers = _first_headers(scope)
        content_type = headers.get(CONTENT_TYPE, b"").decode("latin-1")
        if content_type.split(";")[0].strip().lower() != "application/json":
            return None
        length = headers.get(CONTENT_LENGTH)
        declared = None if length is None else declared_length(length.decode("latin-1"))
        if declared is not None and declared > self.max_bytes:
            return None
        # the app rejects a body with a content coding on any line with 415,
        # and one with a transfer coding other than chunked with 400
        if CONTENT_ENCODING in headers and unsupported_codings(Headers(scope=scope)):
            return None
        if TRANSFER_ENCODING in headers and unsupported_transfer_codings(
            Headers(scope=scope)
        ):
            return None
        # and returns 406 when Accept rules out JSON
        if not accepts_json(headers.get(ACCEPT)):
            return None

        client_id = headers.get(REQUEST_ID_HEADER)
        request_id = choose_request_id(
            None if client_id is None else client_id.decode("latin-1")
        )
        return Target(found["name"], request_id)

    async def serve(
        self, target: Target, scope: Scope, receive: Receive, send: Send, app: ASGIApp
    ) -> None:
        """Serve the request, or pass it on to ``app`` with its body
        replayed when anything on the way raises."""
        started = time.perf_counter()
        token = REQUEST_ID.set(target.request_id)
        try:
            outcome = await self._answer(target, scope, receive)
            if isinstance(outcome, bytes):
                await self._respond(target, scope, send, outcome, started)
                return
        finally:
            REQUEST_ID.reset(token)

        self.stats.passed_on += 1
        scope[REQUEST_ID_SCOPE_KEY] = target.request_id
        scope[STARTED_SCOPE_KEY] = started
        error = scope.get(FORECAST_ERROR_SCOPE_KEY)
        if error is not None:
            # The finished frames would keep the body, its fields and the
            # history lists alive while the app reads the body again. The
            # traceback keeps its lines.
            traceback.clear_frames(error.__traceback__)
        await app(scope, outcome, send)

    async def _answer(
        self, target: Target, scope: Scope, receive: Receive
    ) -> bytes | Receive:
        """Return the response body, or a ``receive`` that replays what was
        read when the request must go through the app."""
        read = BodyRead()
        try:
            body = await self._read_body(receive, read)
        except (TimeoutError, ServerStoppingError) as exc:
            # the app's body limit middleware turns these into its 408 or 503
            return _replay(read.messages(), receive, exc)
        if body is None:
            return _replay(read.messages(), receive)

        decoded = decode_common(body)
        if decoded is not None:
            query: ForecastQuery | None = decoded.query
            repeats = may_repeat_keys(body, decoded.keys)
        else:
            try:
                fields = FORECAST_REQUEST_FIELDS.validate_json(body)
            except Exception:
                # the app validates the body again and responds with its error
                return _replay(read.messages(), receive)
            query = None
            repeats = may_repeat_key(body, fields)
        if repeats:
            # the app parses the body again and rejects a repeated key
            return _replay(read.messages(), receive)

        try:
            serving = scope["app"].state.serving
            if query is None:
                query = ForecastQuery.from_fields(fields)
            return await forecast_json(serving, target.name, query)
        except Exception as exc:
            # the route raises this error instead of computing it again, so
            # the app's handlers respond as if the route had raised it
            scope[FORECAST_ERROR_SCOPE_KEY] = exc
            return _replay(read.messages(), receive)

    async def _read_body(self, receive: Receive, read: BodyRead) -> bytes | None:
        """Read the whole body, keeping what arrives in ``read``.

        Returns None when the client disconnects or the body grows past the
        limit; raises ``TimeoutError`` when a part takes longer than the
        body timeout, and ``ServerStoppingError`` when the server shuts down
        while a part is awaited.
        """
        while True:
            message = await self.deadlines.receive(receive)
            if message["type"] != "http.request":
                read.last = message
                return None
            read.add(message.get("body", b""), message.get("more_body", False))
            if read.size > self.max_bytes:
                return None
            if not read.more_body:
                return read.body()

    async def _respond(
        self, target: Target, scope: Scope, send: Send, content: bytes, started: float
    ) -> None:
        headers = [
            (b"content-length", str(len(content)).encode()),
            (b"content-type", b"application/json"),
        ]
        start = {"type": "http.response.start", "status": 200, "headers": headers}
        request_id = (REQUEST_ID_HEADER, target.request_id.encode())
        try:
            if self.cors is None:
                headers.append(request_id)
                await send(start)
            else:
                # the request id goes after the CORS headers, as the request
                # context middleware, outside CORS, adds it on the normal path
                async def send_with_id(message: Message) -> None:
                    message["headers"].append(request_id)
                    await send(message)

                request_headers = Headers(scope=scope)
                await self.cors.send(start, send_with_id, request_headers)
            await send({"type": "http.response.body", "body": content})
        finally:
            self.stats.served += 1
            seconds = time.perf_counter() - started
            path_params = {"name": target.name}
            record_request(self.metrics, scope, self.route, path_params, 200, seconds)


class FastPathApp(FastAPI):
    """A FastAPI app that offers each request to its ``fast_path`` before
    its own middleware. Setting ``fast_path`` to None turns that off.
    WebSocket handshakes get ``reject_websocket``'s 400."""

    fast_path: ForecastFastPath | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket":
            await reject_websocket(scope, receive, send)
            return
        if scope["type"] != "lifespan":
            keep_encoded_slashes(scope)
        if scope["type"] != "lifespan" and CONTROL_CHARACTERS.search(scope["path"]):
            scope["path"] = CONTROL_CHARACTERS.sub(_percent_encoded, scope["path"])
        fast_path = self.fast_path
        if self.root_path:
            scope["root_path"] = self.root_path
        target = None
        if fast_path is not None:
            target = fast_path.target(scope)
        if target is None:
            await super().__call__(scope, receive, send)
            return

        assert fast_path is not None
        scope["app"] = self
        await fast_path.serve(target, scope, receive, send, super().__call__)


async def _no_app(scope: Scope, receive: Receive, send: Send) -> None:
    """Stand in for the app inside the fast path's CORS middleware, which
    only adds headers to responses and never calls it."""
    raise RuntimeError("the fast path's CORS middleware has no app to call")


def _percent_encoded(found: re.Match[str]) -> str:
    return f"%{ord(found[0]):02X}"


def telemetry_enabled(app: FastAPI) -> bool:
    """Return whether FastAPI's own OpenTelemetry instrumentation has a
    provider to report to. Forecasts then take the normal path, which
    records a span for each request."""
    native = getattr(app, "_native_telemetry", None)
    return bool(native is not None and native.enabled())


def _first_headers(scope: Scope) -> dict[bytes, bytes]:
    """The first value of each header in ``READ_HEADERS``, as Starlette's
    ``Headers.get`` would return it, except ``Accept``, whose values are
    joined into one list, and ``Content-Type``, which is empty when two of
    its lines differ. A ``Content-Encoding`` or ``Transfer-Encoding``
    key only marks that the request has one, because
    ``unsupported_codings`` and ``unsupported_transfer_codings`` read all
    its lines."""
    found: dict[bytes, bytes] = {}
    for key, value in scope["headers"]:
        if key not in READ_HEADERS:
            continue
        if key not in found:
            found[key] = value
        elif key == ACCEPT:
            found[key] += b", " + value
        elif key == CONTENT_TYPE and value != found[key]:
            # no media type, so the request goes to the app, which rejects
            # differing Content-Type lines
            found[key] = b""
    return found


def may_repeat_key(body: bytes, fields: ForecastRequestFields) -> bool:
    """Return whether ``body``, which validated as ``fields``, may repeat a
    key within one JSON object. False is certain, and True may be wrong.

    Pydantic keeps the last value of a repeated key, so the body's colons
    are counted instead. In valid forecast fields no string contains a
    colon: the keys are field names, the dates are YYYY-MM-DD and a version
    alias has only a-z, 0-9, '_' and '-'. So a body whose keys are written
    without backslash escapes has one colon per key, and a repeated key
    adds a colon that the fields lack.
    """
    history = fields.get("history")
    keys = len(fields) if history is None else sum(map(len, history), len(fields))
    return may_repeat_keys(body, keys)


def may_repeat_keys(body: bytes, keys: int) -> bool:
    """Return whether ``body``, whose valid fields have ``keys`` keys in all,
    may repeat a key, by the count of colons that ``may_repeat_key``
    explains."""
    if b"\\" in body:
        return True
    return body.count(b":") != keys


def _replay(
    messages: list[Message], receive: Receive, error: Exception | None = None
) -> Receive:
    """Build a ``receive`` that gives ``messages`` again in order, then
    raises ``error`` if one is given, then listens to the client as
    ``receive`` does."""
    queue = list(messages)
    raised = error is None

    async def replayed() -> Message:
        nonlocal raised
        if queue:
            return queue.pop(0)
        if not raised:
            raised = True
            assert error is not None
            raise error
        return await receive()

    return replayed
