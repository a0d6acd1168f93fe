"""Paths that name a route but end with a slash.

The app's paths end without a slash, such as ``/v1/models/{name}/forecast``.
Starlette's router would respond to ``POST /v1/models/nflx/forecast/`` with
a 307 redirect to the path without the slash. A client reaches the route
only if it follows redirects, which curl and httpx do only when configured
to.
``create_app`` turns that redirect off, so such a request gets the 404 of an
unknown route, and ``path_without_slash`` gives the path that its detail
names as the fix.
"""

from __future__ import annotations

from starlette.routing import BaseRoute, Match
from starlette.types import Scope


def path_without_slash(scope: Scope, routes: list[BaseRoute]) -> str | None:
    """Return ``scope["path"]`` without its trailing slashes when one of
    ``routes`` matches that path with any method, else None.

    The path keeps its root path, such as ``/rnn/v1/health`` for
    ``/rnn/v1/health/`` behind a proxy prefix, so it is the path that the
    client sends.
    """
    path: str = scope["path"]
    stripped = path.rstrip("/")
    if stripped == path or not stripped:
        return None
    candidate = {**scope, "path": stripped}
    for route in routes:
        found, _ = route.matches(candidate)
        if found != Match.NONE:
            return stripped
    return None
