"""The hint to leave out a field that has a default, for a JSON null sent
to it.

Pydantic's message for a null, such as "Input should be a valid integer",
does not say that the client may leave the field out to get its default.
``add_null_hints`` adds that to the 422 field errors of such nulls, and the
value to send instead to those of nulls sent to required fields, in every
JSON body: a forecast, a gradient-flow spec, a training spec and the params
of a job of any kind. A field has a default when the body, validated again
without it, is not reported to miss it. Validating again works for every
model, nested model and union without a list of fields, at the cost of one
more validation per null in an invalid request, for at most
``MAX_NULL_CHECKS`` nulls.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from pydantic import TypeAdapter, ValidationError
from starlette.requests import Request

from models.value_fixes import TYPE_FIXES
from service.field_errors import Segment, body_segments

# The types of the parts of a body that a route validates itself, keyed by
# the part's path in the body. POST /v1/jobs sets ("params",) to the params
# model of the job's kind.
BODY_PART_TYPES_SCOPE_KEY = "rnn_forecast.body_part_types"
MAX_NULL_CHECKS = 10
# errors of a key that is no field of the model, or of no key at all
NOT_FIELD_ERRORS = ("missing", "extra_forbidden")
HINT_END = "to use its default"

Validate = Callable[[Any], object]


def add_null_hints(
    request: Request,
    errors: list[dict[str, Any]],
    raw_errors: Sequence[Mapping[str, Any]],
    body: Any,
) -> None:
    """Append the hint to the message of each field error in ``errors``
    whose pydantic error in ``raw_errors`` rejected a null in a field that
    has a default, and the value to send to that of a null in a required
    field. ``body`` is the parsed JSON body."""
    validators = body_validators(request)
    checks = 0
    for error, raw in zip(errors, raw_errors, strict=True):
        if checks == MAX_NULL_CHECKS:
            return
        if not _rejected_null(raw):
            continue
        checks += 1
        loc = list(raw.get("loc", ()))[1:]
        segments = body_segments(loc, body, raw.get("type"))
        if has_default(validators, body, segments):
            error["message"] = null_hint(error["message"], error["field"])
        else:
            error["message"] = null_fix(error["message"], raw.get("type"))


def null_hint(message: str, path: str) -> str:
    """Append to ``message`` that leaving ``path`` out gives its default,
    unless the message already contains that hint."""
    if HINT_END in message:
        return message
    not_null = "" if "null" in message else ", not null"
    return f"{message}{not_null}; leave {path} out {HINT_END}"


def null_fix(message: str, error_type: str | None) -> str:
    """Append to ``message``, pydantic's message for a null sent to a
    required field, the value to send instead, unless the message names the
    null already."""
    fix = TYPE_FIXES.get(str(error_type))
    if fix is None or "null" in message:
        return message
    return f"{message}, not null; {fix}"


def body_types(request: Request) -> dict[tuple[Segment, ...], Any]:
    """Return the type of the body of the route that ``request`` matched,
    and those of the parts that the route validates itself, by the path of
    the part that each describes."""
    types: dict[tuple[Segment, ...], Any] = {}
    field = getattr(request.scope.get("route"), "body_field", None)
    annotation = getattr(getattr(field, "field_info", None), "annotation", None)
    if annotation is not None:
        types[()] = annotation
    types.update(request.scope.get(BODY_PART_TYPES_SCOPE_KEY, {}))
    return types


def body_validators(request: Request) -> dict[tuple[Segment, ...], Validate]:
    """Return the validators of the body of the route that ``request``
    matched, by the path of the part that each validates."""
    return {
        prefix: _adapter(annotation).validate_python
        for prefix, annotation in body_types(request).items()
    }


def has_default(
    validators: Mapping[tuple[Segment, ...], Validate],
    body: Any,
    segments: Sequence[Segment],
) -> bool:
    """Return whether the field at ``segments`` in ``body`` has a default,
    by the validator of the longest part of the body that contains it."""
    if not segments or not isinstance(segments[-1], str):
        return False
    prefixes = [p for p in validators if tuple(segments[: len(p)]) == p]
    if not prefixes:
        return False
    prefix = max(prefixes, key=len)
    part = _at(body, segments[: len(prefix)])
    field = list(segments[len(prefix) :])
    without = _without(part, field)
    if without is None:
        return False
    try:
        validators[prefix](without)
    except ValidationError as exc:
        missing = [
            body_segments(list(e["loc"]), without, "missing")
            for e in exc.errors()
            if e["type"] == "missing"
        ]
        return field not in missing
    except Exception:
        # an error outside pydantic's, which names no missing field
        return False
    return True


def _rejected_null(error: Mapping[str, Any]) -> bool:
    loc = tuple(error.get("loc", ()))
    return (
        "input" in error
        and error["input"] is None
        and error.get("type") not in NOT_FIELD_ERRORS
        and len(loc) > 1
        and loc[0] == "body"
    )


@functools.cache
def _adapter(annotation: Any) -> TypeAdapter[Any]:
    return TypeAdapter(annotation)


def _at(node: Any, segments: Sequence[Segment]) -> Any:
    for segment in segments:
        node = node[segment]
    return node


def _without(node: Any, segments: Sequence[Segment]) -> Any:
    """Return a copy of ``node`` without the key at ``segments``, copying
    only the objects and arrays on the way, or None when there is none.
    Empty ``segments`` name ``node`` itself, which is no key, so they give
    None."""
    if not segments:
        return None
    if len(segments) == 1:
        if not isinstance(node, dict) or segments[0] not in node:
            return None
        return {key: value for key, value in node.items() if key != segments[0]}
    head, rest = segments[0], segments[1:]
    if isinstance(node, dict) and isinstance(head, str) and head in node:
        child = _without(node[head], rest)
        return None if child is None else {**node, head: child}
    if isinstance(node, list) and isinstance(head, int) and 0 <= head < len(node):
        child = _without(node[head], rest)
        return None if child is None else [*node[:head], child, *node[head + 1 :]]
    return None
