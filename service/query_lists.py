"""Query parameters that take several values, such as ``status`` of
``GET /v1/jobs``, and the fix for a value that none of them allows.

A client gives such a parameter several values by repeating it, as in
``?status=queued&status=running``, the default style of an OpenAPI query
array (``form`` with ``explode: true``). A comma separates nothing, so
``?status=queued,running`` is one value that no enum has. Pydantic's
message for it lists the allowed values but not how to send several, and
``add_repeat_fixes`` adds that to the 422 field errors.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from fastapi.routing import APIRoute
from pydantic import TypeAdapter
from starlette.requests import Request

from models.value_fixes import CHOICE_ERRORS
from service.query_params import query_fields


def repeat_fix(name: str, value: str, allowed: Sequence[str]) -> str:
    """Return the fix ``repeat NAME for several, as in NAME=A&NAME=B`` for
    the query parameter ``name`` sent as ``value``. The example has the
    comma-separated parts of ``value`` when each is in ``allowed``, else the
    first two allowed values."""
    parts = [part.strip() for part in value.split(",")]
    if len(parts) < 2 or not set(parts) <= set(allowed):
        parts = list(allowed[:2])
    example = "&".join(f"{name}={part}" for part in parts)
    return f"repeat {name} for several, as in {example}"


def add_repeat_fixes(
    request: Request,
    errors: list[dict[str, Any]],
    raw_errors: Sequence[Mapping[str, Any]],
) -> None:
    """Append the fix to the message of each field error in ``errors``
    whose pydantic error in ``raw_errors`` rejected one value of a query
    parameter that takes several (location ``("query", NAME, INDEX)``)."""
    route = request.scope.get("route")
    if not isinstance(route, APIRoute):
        return
    for error, raw in zip(errors, raw_errors, strict=True):
        loc = tuple(raw.get("loc", ()))
        if raw.get("type") not in CHOICE_ERRORS or len(loc) != 3 or loc[0] != "query":
            continue
        allowed = allowed_values(route, str(loc[1]))
        if allowed:
            fix = repeat_fix(str(loc[1]), str(raw.get("input", "")), allowed)
            error["message"] += f", and {fix}"


def allowed_values(route: APIRoute, name: str) -> list[str]:
    """Return the enum of the query parameter ``name`` of ``route``, from
    its JSON schema, or an empty list when it has none."""
    for field in query_fields(route.dependant):
        if field.alias == name:
            schema = TypeAdapter(field.field_info.annotation).json_schema()
            return [str(value) for value in _first_enum(schema)]
    return []


def _first_enum(node: object) -> list[object]:
    """Return the first ``enum`` list found in a JSON schema, depth first."""
    if isinstance(node, dict):
        if isinstance(node.get("enum"), list):
            return list(node["enum"])
        children: list[object] = list(node.values())
    elif isinstance(node, list):
        children = node
    else:
        return []
    for child in children:
        found = _first_enum(child)
        if found:
            return found
    return []
