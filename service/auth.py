"""The API key of mutating endpoints (``X-API-Key``).

When ``RNN_FORECAST_API_KEY`` is set and not empty, every endpoint that
changes state requires the header: 401 when it is missing, 403 when it is
wrong, and 400 when it is sent more than once, because the keys could
differ. Reads and forecasts stay open. The key is compared in constant time
and never logged.

``ApiKeyMiddleware`` checks the key before anything reads the body, so a
request without it gets 401 whatever its body, its size or its media type.
The routes' dependency (``ApiKeyDep``) checks it again and declares the
header in the OpenAPI document, from which the middleware learns which
operations need the key.
"""

from __future__ import annotations

import secrets
from typing import Annotated

from fastapi import Depends, Request, Security
from fastapi.security import APIKeyHeader
from starlette.datastructures import Headers
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from service.deps import SettingsDep
from service.errors import AuthError, close_if_body, problem
from service.operations import Operations
from service.settings import Settings

API_KEY_HEADER = "X-API-Key"
# RFC 9110 section 15.5.2: a 401 response must carry a WWW-Authenticate
# challenge. "APIKey" is no registered scheme, and its parameter names the
# header that takes the key.
CHALLENGE = {"WWW-Authenticate": f'APIKey header="{API_KEY_HEADER}"'}

_scheme = APIKeyHeader(
    name=API_KEY_HEADER,
    auto_error=False,
    description="Required on mutating endpoints when RNN_FORECAST_API_KEY is set",
)


def check_api_key(headers: Headers, expected: str) -> None:
    """Raise ``AuthError`` unless ``headers`` carry the key ``expected``,
    once."""
    sent = headers.getlist(API_KEY_HEADER)
    if len(sent) > 1:
        raise AuthError(
            f"the {API_KEY_HEADER} header is sent {len(sent)} times; send it "
            "once, with the service's API key",
            status=400,
        )
    if not sent or not sent[0]:
        raise AuthError(
            f"missing {API_KEY_HEADER} header; this endpoint changes state and "
            "needs the service's API key",
            status=401,
            headers=CHALLENGE,
        )
    if not secrets.compare_digest(sent[0].encode(), expected.encode()):
        raise AuthError(f"the {API_KEY_HEADER} header is wrong", status=403)


def configured_key(settings: Settings) -> str:
    """Return the configured API key, or "" when none is set."""
    return settings.api_key.get_secret_value() if settings.api_key else ""


def require_api_key(
    request: Request,
    settings: SettingsDep,
    key: Annotated[str | None, Security(_scheme)],
) -> None:
    """Raise ``AuthError`` unless the request carries the configured key,
    once. ``key`` declares the header in the OpenAPI document."""
    expected = configured_key(settings)
    if expected:
        check_api_key(request.headers, expected)


ApiKeyDep = Depends(require_api_key)


class ApiKeyMiddleware:
    """Middleware that checks the key of an operation that needs it before
    the route runs.

    FastAPI reads and decodes a JSON body before it runs a route's
    dependencies, and the body limit middleware counts its bytes. Without
    this check, a request without the key would learn from a 400, 413 or
    422 what the endpoint accepts. A rejected request's body is never read, and
    a response to a request that declares one closes the connection.
    """

    def __init__(
        self, app: ASGIApp, settings: Settings, operations: Operations
    ) -> None:
        self.app = app
        self.expected = configured_key(settings)
        self.operations = operations

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.expected:
            operation = self.operations.find(scope)
            if operation is not None and operation.needs_key:
                rejection = self._rejection(Headers(scope=scope))
                if rejection is not None:
                    await rejection(scope, receive, send)
                    return
        await self.app(scope, receive, send)

    def _rejection(self, headers: Headers) -> Response | None:
        """Return the problem response for a missing, repeated or wrong key,
        or None when the key is right."""
        try:
            check_api_key(headers, self.expected)
        except AuthError as exc:
            response_headers = {**(exc.headers or {}), **close_if_body(headers)}
            return problem(exc.status, exc.message, headers=response_headers)
        return None
