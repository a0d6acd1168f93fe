"""The API operation that a request calls, found before FastAPI's router runs.

The API key check, content negotiation and the syntax check of
precondition headers judge a request by its operation
before anything reads the body, so they run as middleware in front of the
router. ``Operations`` reads the operations from the app's OpenAPI document
and its plain routes (``/docs``, ``/openapi.json``), and matches a request's
method and route path against their path templates in the app's order.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from fastapi import FastAPI
from starlette.routing import Route, compile_path
from starlette.types import Scope

from service.links import route_path
from service.openapi import (
    HTTP_METHODS,
    needs_key,
    success_media_types,
    takes_preconditions,
)

# the operation found for a request, kept in its scope so that a request
# is matched once however many middleware look it up
OPERATION_SCOPE_KEY = "rnn_forecast.operation"
# the media type of the OpenAPI document; FastAPI's other plain routes are
# HTML pages
OPENAPI_MEDIA_TYPE = "application/json"
HTML_MEDIA_TYPE = "text/html"


@dataclass(frozen=True)
class Operation:
    """One method of one path template, as the middleware needs it.

    ``media_types`` lists the media types of its success (2xx) responses, and
    is empty when one of them has no content, which no ``Accept`` header can
    rule out. ``takes_preconditions`` is True when it reads ``If-Match`` or
    ``If-None-Match``.
    """

    method: str
    template: str
    needs_key: bool
    media_types: tuple[str, ...]
    takes_preconditions: bool = False


# a path template's compiled pattern and the operation of one of its methods
Matcher = tuple[re.Pattern[str], Operation]


class Operations:
    """The operations of an app, read on the first request."""

    def __init__(self) -> None:
        self._by_method: dict[str, list[Matcher]] | None = None

    def find(self, scope: Scope) -> Operation | None:
        """Return the operation that the request of ``scope`` calls, or None
        when no path template has its method or the scope is not HTTP."""
        if scope["type"] != "http":
            return None
        if OPERATION_SCOPE_KEY not in scope:
            scope[OPERATION_SCOPE_KEY] = self._match(scope)
        found: Operation | None = scope[OPERATION_SCOPE_KEY]
        return found

    def _match(self, scope: Scope) -> Operation | None:
        if self._by_method is None:
            self._by_method = _read_operations(scope["app"])
        path = route_path(scope)
        for pattern, operation in self._by_method.get(scope["method"], []):
            if pattern.match(path):
                return operation
        return None


def _read_operations(app: FastAPI) -> dict[str, list[Matcher]]:
    by_method: dict[str, list[Matcher]] = {}
    for operation in [*_documented(app), *_plain(app)]:
        pattern = compile_path(operation.template)[0]
        by_method.setdefault(operation.method, []).append((pattern, operation))
    return by_method


def _documented(app: FastAPI) -> list[Operation]:
    """Return the operations of the app's OpenAPI document."""
    found = []
    for template, path_item in app.openapi().get("paths", {}).items():
        for method in HTTP_METHODS:
            if method in path_item:
                described = path_item[method]
                operation = Operation(
                    method=method.upper(),
                    template=template,
                    needs_key=needs_key(described),
                    media_types=success_media_types(described),
                    takes_preconditions=takes_preconditions(described),
                )
                found.append(operation)
    return found


def _plain(app: FastAPI) -> list[Operation]:
    """Return the operations of FastAPI's own pages, which the OpenAPI
    document leaves out."""
    found = []
    for route in app.routes:
        if not isinstance(route, Route):
            continue
        media_type = (
            OPENAPI_MEDIA_TYPE if route.path == app.openapi_url else HTML_MEDIA_TYPE
        )
        for method in sorted(route.methods or ()):
            found.append(Operation(method, route.path, False, (media_type,)))
    return found
