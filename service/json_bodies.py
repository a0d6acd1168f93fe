"""JSON request bodies that repeat no key within one object, are not null and
contain only Unicode text.

Python's ``json.loads`` keeps the last of two equal keys, so a body such as
``{"epochs": 2, "epochs": 300}`` would run a job that the client may not have
meant. Routes built with ``JsonBodyRoute`` parse their JSON bodies with
``loads_unique_keys``, which raises ``DuplicateKeyError`` instead. FastAPI
reads a ``null`` body as no body, which gives an optional body its default,
so these routes raise ``NullBodyError`` for it. JSON lets a string escape
half of a UTF-16 surrogate pair, such as ``"\\ud800"``, which ``json.loads``
keeps as a lone surrogate. No Unicode text contains one, so UTF-8 cannot
encode it. Pydantic fails with ``UnicodeEncodeError`` when it describes such
a value in an error, so these routes raise ``UnpairedSurrogateError``
instead. FastAPI turns any error of the body parser into an
``HTTPException`` 400 whose cause is that error, and ``service.errors``
returns 422 naming the key, the string or the null body for it.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import Request, Response
from fastapi.routing import APIRoute

from models.json_surrogates import join_path, unpaired_surrogate_path


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


class UnpairedSurrogateError(ValueError):
    """A JSON string, key or value, that contains half of a UTF-16 surrogate
    pair. ``path`` is its path in the body, such as ``history[0].date``, and
    writes each lone surrogate of a key as an escape such as ``\\ud800``."""

    def __init__(self, path: str) -> None:
        super().__init__(f"the string at {path} contains an unpaired surrogate")
        self.path = path


class _RepeatedKeys(dict[str, Any]):
    """A parsed JSON object that had ``repeated``, its first repeated key,
    more than once."""

    repeated: str


def loads_unique_keys(body: bytes | str) -> Any:
    """Parse ``body`` as ``json.loads`` does, but raise ``DuplicateKeyError``
    for the first object, in a walk from the top, that repeats a key, and
    then ``UnpairedSurrogateError`` for the first string with a lone
    surrogate."""
    found: list[bool] = []

    def build(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        obj = dict(pairs)
        if len(obj) == len(pairs):
            return obj
        marked = _RepeatedKeys(obj)
        marked.repeated = _first_repeated(pairs)
        found.append(True)
        return marked

    text = _decode(body)
    value = json.loads(text, object_pairs_hook=build)
    if found:
        repeated = _repeated_path(value, "")
        if repeated is not None:
            raise DuplicateKeyError(*repeated)
    unpaired = unpaired_surrogate_path(text, value)
    if unpaired is not None:
        raise UnpairedSurrogateError(unpaired)
    return value


def _decode(body: bytes | str) -> str:
    """Decode ``body`` as ``json.loads`` decodes bytes: in the encoding that
    its first bytes show (UTF-8 unless they are those of UTF-16 or UTF-32),
    keeping lone surrogates."""
    if isinstance(body, str):
        return body
    return body.decode(json.detect_encoding(body), "surrogatepass")


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
        return join_path(path, node.repeated), node.repeated
    if isinstance(node, dict):
        children = [(join_path(path, key), value) for key, value in node.items()]
    elif isinstance(node, list):
        children = [(f"{path}[{i}]", value) for i, value in enumerate(node)]
    else:
        return None
    for child_path, child in children:
        found = _repeated_path(child, child_path)
        if found is not None:
            return found
    return None


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
