"""A fast path for valid forecast requests, in front of FastAPI's router.

FastAPI 0.165 matches each request through nested routers and then solves
the endpoint's parameters. For the forecast route that machinery costs the
event loop more than parsing the body does, so ``ForecastFastPath`` serves
valid forecasts without it. It sits inside the request context and body
limit middleware, so ids, access logs, metrics and size limits apply as
before. For ``POST /v1/models/{name}/forecast`` with an
``application/json`` body it reads the body, decodes it with
``json.loads`` and validates it with ``ForecastRequest``, which is what
FastAPI does for that route. Then it serves the request with the route's
own ``forecast_json``.

Anything that raises on the way sends the request through the app as if
the fast path were not there, with the body replayed. That covers a body
that is not JSON or fails validation, an unknown model, a history that
fails its checks, and a body read that hits its size or time limit. The
error responses are therefore FastAPI's and the app's handlers', unchanged.
Only valid requests take the fast path, and they get the bytes the route
would send.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service.routes.forecast import forecast_json
from service.schemas import ForecastRequest

JSON_HEADERS = [(b"content-type", b"application/json")]


@dataclass
class FastPathStats:
    """Counts of forecast requests served by the fast path and of those
    passed on to the app."""

    served: int = 0
    passed_on: int = 0


class ForecastFastPath:
    """ASGI middleware that serves valid forecast requests itself."""

    def __init__(self, app: ASGIApp, prefix: str, stats: FastPathStats) -> None:
        self.app = app
        self.pattern = re.compile(
            rf"^{re.escape(prefix)}/models/(?P<name>[^/]+)/forecast$"
        )
        self.stats = stats

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        name = self._forecast_name(scope)
        if name is None:
            await self.app(scope, receive, send)
            return

        messages: list[Message] = []
        try:
            body = await _read_body(receive, messages)
        except Exception as exc:  # a size limit or body timeout
            await self._pass_on(scope, _replay(messages, receive, exc), send)
            return

        try:
            if body is None:
                raise ConnectionError("the client left before sending the body")
            request = ForecastRequest.model_validate(json.loads(body))
            content = await forecast_json(scope["app"].state.serving, name, request)
        except Exception:
            # the app repeats the work and responds with its usual error
            await self._pass_on(scope, _replay(messages, receive), send)
            return

        self.stats.served += 1
        await _send_json(send, content)

    async def _pass_on(self, scope: Scope, receive: Receive, send: Send) -> None:
        self.stats.passed_on += 1
        await self.app(scope, receive, send)

    def _forecast_name(self, scope: Scope) -> str | None:
        """Return the model name of a forecast request with a JSON body,
        else None."""
        if scope["type"] != "http" or scope["method"] != "POST":
            return None
        if scope.get("root_path"):
            return None
        found = self.pattern.match(scope["path"])
        if found is None:
            return None
        content_type = Headers(scope=scope).get("content-type", "")
        if content_type.split(";")[0].strip().lower() != "application/json":
            return None
        return found["name"]


async def _read_body(receive: Receive, messages: list[Message]) -> bytes | None:
    """Read the whole request body and keep every message in ``messages``.

    Returns None when the client disconnects first.
    """
    parts = []
    while True:
        message = await receive()
        messages.append(message)
        if message["type"] != "http.request":
            return None
        parts.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(parts)


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


async def _send_json(send: Send, content: bytes) -> None:
    headers = [(b"content-length", str(len(content)).encode()), *JSON_HEADERS]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": content})
