"""The hint for a body field sent at the wrong level, such as a top-level
``layer`` in a gradient-flow request, which belongs in ``model``.

Pydantic reports such a field as "Extra inputs are not permitted". When an
object field of the body's model declares the name, ``add_misplaced_hints``
replaces the generic fix (remove the field or correct its spelling) with
the path to send it at.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from starlette.requests import Request

from service.field_errors import Segment, body_segments
from service.missing_fields import body_schema, schema_members
from service.null_fields import body_types

# how deep below the unknown field's object the search for its name goes
MAX_DEPTH = 3
EXTRA_MESSAGE = "Extra inputs are not permitted"


def add_misplaced_hints(
    request: Request,
    errors: list[dict[str, Any]],
    raw_errors: Sequence[Mapping[str, Any]],
    body: Any,
) -> None:
    """Give each unknown field in ``errors`` whose name an object field of
    the body declares the path to send it at. ``raw_errors`` are the
    pydantic errors of ``errors``, and ``body`` is the parsed JSON body."""
    types = body_types(request)
    for error, raw in zip(errors, raw_errors, strict=True):
        loc = list(raw.get("loc", ()))
        if raw.get("type") != "extra_forbidden" or loc[:1] != ["body"]:
            continue
        segments = body_segments(loc[1:], body, "missing")
        hint = misplaced_hint(types, segments)
        if hint is not None:
            error["message"] = f"{EXTRA_MESSAGE}; {hint}"


def misplaced_hint(
    types: Mapping[tuple[Segment, ...], Any], segments: Sequence[Segment]
) -> str | None:
    """Return "'layer' belongs in model, so send it as model.layer" for the
    unknown field at ``segments``, or None when no object field below the
    object that contains it declares its name."""
    if not segments or not isinstance(segments[-1], str):
        return None
    prefixes = [p for p in types if tuple(segments[: len(p)]) == p]
    if not prefixes:
        return None
    prefix = max(prefixes, key=len)
    schema = body_schema(types[prefix])
    parent = list(segments[: len(segments) - 1])
    node = _object_at(schema, schema, parent[len(prefix) :])
    if node is None:
        return None
    name = segments[-1]
    paths = _declaring_paths(schema, node, name, MAX_DEPTH)
    if not paths:
        return None
    base = ".".join(str(part) for part in parent)
    full = [f"{base}.{path}" if base else path for path in paths]
    homes = " or ".join(path.rsplit(".", 1)[0] for path in full)
    return f"{name!r} belongs in {homes}, so send it as {' or '.join(full)}"


def _object_at(
    root: dict[str, Any], node: dict[str, Any], path: Sequence[Segment]
) -> dict[str, Any] | None:
    """Return the schema of the object at ``path`` below ``node``, or None."""
    for part in path:
        found = None
        for member in schema_members(root, node):
            field = member.get("properties", {}).get(part)
            if field is not None:
                found = field
                break
        if found is None:
            return None
        node = found
    return node


def _declaring_paths(
    root: dict[str, Any], node: dict[str, Any], name: str, depth: int
) -> list[str]:
    """Return the dotted paths below ``node``, at most ``depth`` objects
    deep, of the object fields that declare ``name``, shallowest first."""
    paths: list[str] = []
    level = [("", node)]
    for _ in range(depth):
        following = []
        for path, schema in level:
            for member in schema_members(root, schema):
                for key, field in member.get("properties", {}).items():
                    child = f"{path}.{key}" if path else key
                    if any(
                        name in candidate.get("properties", {})
                        for candidate in schema_members(root, field)
                    ):
                        paths.append(f"{child}.{name}")
                    following.append((child, field))
        if paths:
            return list(dict.fromkeys(paths))
        level = following
    return []
