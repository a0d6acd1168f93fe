"""Paths of the API's own pages and resources as clients reach them, and
request paths as routes see them.

Behind a reverse proxy that publishes the API under a prefix
(``RNN_FORECAST_ROOT_PATH``, such as ``/rnn``), uvicorn puts the prefix in
the request's ``root_path``. Every path that the service sends to a client,
in ``Location``, in a job's ``href`` or in an error message, starts with it.
The cleaning notes stored with a version or a job result name paths without
it, so ``public_data`` puts it in front when they are returned.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import HTTPConnection
from starlette.types import Scope

from models.data.saved_bars import with_root_path

# The path of the OpenAPI page. It is FastAPI's default docs_url, which
# create_app keeps.
DOCS_PATH = "/docs"


def root_path_of(connection: HTTPConnection) -> str:
    """Return the root path of the request that ``connection`` belongs to,
    such as ``/rnn``, or ``""`` without a prefix."""
    root_path: str = connection.scope.get("root_path", "")
    return root_path


def public_path(connection: HTTPConnection, path: str) -> str:
    """Prefix ``path``, a path of the API such as ``/v1/series/<id>``, with
    the root path of the request that ``connection`` belongs to."""
    return root_path_of(connection) + path


def public_data(data: Any, root_path: str) -> Any:
    """Return ``data``, the description of a series stored with a version
    or a job result (``Series.describe``), with the API paths of its
    cleaning notes under ``root_path``. Other values come back unchanged."""
    if not isinstance(data, dict) or not isinstance(data.get("cleaning"), list):
        return data
    cleaning = [
        with_root_path(note, root_path) if isinstance(note, str) else note
        for note in data["cleaning"]
    ]
    return {**data, "cleaning": cleaning}


def docs_path(connection: HTTPConnection) -> str:
    """Return the path of the OpenAPI page as the client reaches it."""
    return public_path(connection, DOCS_PATH)


def route_path(scope: Scope) -> str:
    """Return the request path without the root path, as routes see it.

    Behind a proxy that serves the API under a prefix
    (``RNN_FORECAST_ROOT_PATH``, such as ``/rnn``), ``scope["path"]`` starts
    with that prefix. A path outside the prefix is matched as it is, as Starlette's
    router does.
    """
    path: str = scope["path"]
    root = scope.get("root_path", "")
    if root and path.startswith(root) and path[len(root) : len(root) + 1] == "/":
        return path[len(root) :]
    return path
