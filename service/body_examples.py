"""The smallest valid JSON body of a route, for the message of a request
that sent none.

The body contains each required field of the route's body model with the first
example that its field declares, else its value in the model's first example
that contains it, and nothing else. A model without required fields gives
``{}``.
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel
from starlette.requests import Request


def smallest_body(request: Request) -> str | None:
    """Return the smallest valid body of the route that ``request`` matched,
    as compact JSON, or None when the route takes no body model or a
    required field declares no example."""
    field = getattr(request.scope.get("route"), "body_field", None)
    model = getattr(getattr(field, "field_info", None), "annotation", None)
    if not isinstance(model, type) or not issubclass(model, BaseModel):
        return None

    body: dict[str, Any] = {}
    for name, info in model.model_fields.items():
        if not info.is_required():
            continue
        values = [*(info.examples or []), *field_values(model, name)]
        if not values:
            return None
        body[name] = values[0]
    return json.dumps(body, separators=(", ", ": "))


def body_is_optional(request: Request) -> bool:
    """Return whether the route that ``request`` matched takes a JSON body
    that may be left out."""
    field = getattr(request.scope.get("route"), "body_field", None)
    info = getattr(field, "field_info", None)
    return info is not None and not info.is_required()


def field_values(model: type[BaseModel], name: str) -> list[Any]:
    """Return the values of the field ``name`` in the examples of the JSON
    schema of ``model``, in their order."""
    extra = model.model_config.get("json_schema_extra")
    examples = extra.get("examples", []) if isinstance(extra, dict) else []
    return [
        example[name]
        for example in examples
        if isinstance(example, dict) and name in example
    ]
