"""Requests whose path still starts with the root path.

Behind a reverse proxy that publishes the API under a prefix
(``RNN_FORECAST_ROOT_PATH``, such as ``/rnn``), the proxy removes the prefix
before it forwards a request. uvicorn (0.55) then sets ``scope["path"]`` to
the root path followed by the path that it received. A proxy that forwards
the path unchanged, or a client that calls the server directly with the
prefix, sends a path such as ``/rnn/v1/health``, which no route matches.
``unstripped_prefix_detail`` explains the 404 of such a request.
"""

from __future__ import annotations

from starlette.routing import BaseRoute, Match
from starlette.types import Scope

from models.quoted_ids import shortened
from service.links import route_path
from service.trailing_slashes import path_without_slash


def unstripped_path(scope: Scope) -> str | None:
    """Return the path as the server received it when it starts with the
    root path, such as ``/rnn/v1/health`` under ``/rnn``; else None."""
    root: str = scope.get("root_path", "")
    received = route_path(scope)
    if root and (received == root or received.startswith(root + "/")):
        return received
    return None


def matching_path(scope: Scope, path: str, routes: list[BaseRoute]) -> str | None:
    """Return the path that one of ``routes`` matches with any method:
    ``path`` (a path without the root path) itself, else ``path`` without
    its trailing slashes. Return None when no route matches either."""
    candidate = {**scope, "path": scope.get("root_path", "") + path}
    for route in routes:
        found, _ = route.matches(candidate)
        if found != Match.NONE:
            return path
    fixed = path_without_slash(candidate, routes)
    if fixed is None:
        return None
    return route_path({**scope, "path": fixed})


def unstripped_prefix_detail(
    scope: Scope, method: str, routes: list[BaseRoute], docs: str
) -> str | None:
    """Write the detail of the 404 of a request whose path still starts with
    the root path, or return None for any other request.

    The detail shows the path once, as the server received it, and names
    the path to call instead when a route matches that path. ``docs`` is
    the path of the API reference, for a path that no route matches.
    """
    received = unstripped_path(scope)
    if received is None:
        return None
    root: str = scope["root_path"]
    detail = (
        f"no route matches {method} {shortened(received)}, because the path "
        f"starts with the root path {root}, which the proxy in front of this "
        "server must remove before it forwards a request; remove the prefix "
        "in the proxy, or send the request without it"
    )
    fixed = matching_path(scope, received[len(root) :] or "/", routes)
    if fixed is None:
        return f"{detail}; the API reference is at {docs}"
    return f"{detail}, to {shortened(fixed)}"
