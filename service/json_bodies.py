"""JSON request bodies that repeat no key within one object and are not null.

Python's ``json.loads`` keeps the last of two equal keys, so a body such as
``{"epochs": 2, "epochs": 300}`` would run a job that the client may not have
meant. Routes built with ``JsonBodyRoute`` parse their JSON bodies with
``loads_unique_keys``, which raises ``DuplicateKeyError`` instead. FastAPI
reads a ``null`` body as no body, which gives an optional body its default,
so these routes raise ``NullBodyError`` for it. FastAPI turns any error of
the body parser into an ``HTTPException`` 400 whose cause is that error, and
``service.errors`` returns 422 naming the key or the null body for it.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import Request, Response
from fastapi.routing import APIRoute


class DuplicateKeyError(ValueError):
    """A JSON object with the same key twice; ``key`` is that key, such as
    ``source``, and ``path`` its path in the body, such as ``data.source``."""

    def __init__(self, path: str, key: str) -> None:
        super().__init__(f"the body repeats the key {key!r} at {path}")
        self.path = path
        self.key = key


class NullBodyError(ValueError):
    """A request body that is the JSON literal ``null``."""

    def __init__(self) -> None:
        super().__init__("the body is JSON null")


class _RepeatedKeys(dict[str, Any]):
    """A parsed JSON object that had ``repeated``, its first repeated key,
    more than once."""

    repeated: str


def loads_unique_keys(body: bytes | str) -> Any:
    """Parse ``body`` as ``json.loads`` does, but raise ``DuplicateKeyError``
    for the first object, in a walk from the top, that repeats a key."""
    found: list[bool] = []

    def build(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        obj = dict(pairs)
        if len(obj) == len(pairs):
            return obj
        marked = _RepeatedKeys(obj)
        marked.repeated = _first_repeated(pairs)
        found.append(True)
        return marked

    value = json.loads(body, object_pairs_hook=build)
    if found:
        repeated = _repeated_path(value, "")
        if repeated is not None:
            raise DuplicateKeyError(*repeated)
    return value


def _first_repeated(pairs: list[tuple[str, Any]]) -> str:
    """Return the first key of ``pairs`` that an earlier pair has."""
    seen: set[str] = set()
    for key, _ in pairs:
        if key in seen:
            return key
        seen.add(key)
    raise ValueError("pairs repeat no key")


def _repeated_path(node: Any, path: str) -> tuple[str, str] | None:
    """Return the path and the key of the first repeated key under ``node``,
    whose own path is ``path``, or None."""
    if isinstance(node, _RepeatedKeys):
        return _join(path, node.repeated), node.repeated
    if isinstance(node, dict):
        children = [(_join(path, key), value) for key, value in node.items()]
    elif isinstance(node, list):
        children = [(f"{path}[{i}]", value) for i, value in enumerate(node)]
    else:
        return None
    for child_path, child in children:
        found = _repeated_path(child, child_path)
        if found is not None:
            return found
    return None


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


class _JsonBodyRequest(Request):
    """A request whose ``json()`` rejects repeated keys and ``null``."""

    async def json(self) -> Any:
        if not hasattr(self, "_json"):
            value = loads_unique_keys(await self.body())
            if value is None:
                raise NullBodyError()
            self._json = value
        return self._json


class JsonBodyRoute(APIRoute):
    """An ``APIRoute`` whose JSON body may not repeat a key in an object or
    be ``null``."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def handle(request: Request) -> Response:
            return await handler(_JsonBodyRequest(request.scope, request.receive))

        return handle
