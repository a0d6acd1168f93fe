"""Validation errors worded for the command line.

A spec field that an option set is named by the option, such as
``--epochs`` for ``epochs``, and a value out of range gets the range to
send, read from the bounds in the model's JSON schema. A field that came
from a ``--spec`` file keeps its field name.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from models.field_types import type_message, whole_example
from models.input_names import naming_context
from models.value_fixes import value_fix

ModelT = TypeVar("ModelT", bound=BaseModel)

# error types of a number outside its field's range
RANGE_ERRORS = (
    "greater_than",
    "greater_than_equal",
    "less_than",
    "less_than_equal",
    "finite_number",
)
# what 0 does for the options whose 0 turns a feature off
CLIP_OFF = "to turn gradient clipping off"
PATIENCE_OFF = "to turn early stopping off"
OFF_BY_FIELD = {"clip_norm": CLIP_OFF, "patience": PATIENCE_OFF}
# the words of each bound, by its JSON schema key. Pydantic writes the bounds
# of a nullable field with a BeforeValidator under the constraint names.
BOUND_WORDS = {
    "minimum": "at least",
    "ge": "at least",
    "exclusiveMinimum": "above",
    "gt": "above",
    "maximum": "at most",
    "le": "at most",
    "exclusiveMaximum": "below",
    "lt": "below",
}
INCLUSIVE_BOUNDS = {"minimum", "ge", "maximum", "le"}
LOWER_BOUNDS = {"minimum", "ge", "exclusiveMinimum", "gt"}


def validate_options(
    model: type[ModelT],
    fields: Mapping[str, Any],
    options: Mapping[str, str],
    maximums: Mapping[str, float] | None = None,
) -> ModelT:
    """Validate ``fields`` as ``model``, where ``options`` maps the fields
    that command-line options set to those options.

    ``maximums`` gives the upper bound of a field whose bound is a limit
    read at run time in place of the schema's. Raises ``ValueError`` with
    one message per error, each naming the option of a field in
    ``options`` and the field of any other.
    """
    try:
        return model.model_validate(fields, context=naming_context(options))
    except ValidationError as exc:
        problems = [located(err, options, model, maximums) for err in exc.errors()]
        raise ValueError("; ".join(problems)) from None


def located(
    err: Any,
    options: Mapping[str, str],
    model: type[BaseModel] | None = None,
    maximums: Mapping[str, float] | None = None,
) -> str:
    """Return one validation error as ``field: message``, or the message
    alone when it concerns the whole spec.

    ``options`` maps fields that a command-line option set to that option,
    such as ``levels`` to ``--level``, or the dotted path of a nested field,
    such as ``model.layer`` to ``--layer``, which then names the field. A
    value of a top-level field outside its range also gets the range from
    the schema of ``model``, with the upper bound from ``maximums`` where
    it has one.
    """
    loc = err["loc"]
    path = ".".join(str(part) for part in loc)
    if len(loc) > 1 and path in options:
        return _nested_option_error(err, options[path], model)
    if not loc or loc[0] not in options:
        text = error_text(err)
        if model is not None:
            path = json_path(model, loc)
            if err["type"] == "extra_forbidden":
                text += extra_field_fix(model, loc)
        return f"{path}: {text}" if path else text

    field, option = str(loc[0]), options[loc[0]]
    if len(loc) > 1 or err["type"] not in RANGE_ERRORS or model is None:
        # an item of a repeated option, such as the second --level, is
        # named by the option alone; its message shows the value
        inner = [part for part in loc[1:] if not isinstance(part, int)]
        location = option + "".join(f".{part}" for part in inner)
        return f"{location}: {error_text(err)}"
    maximum = (maximums or {}).get(field)
    fix = f"send {option} {range_text(model, field, maximum)}"
    if field in OFF_BY_FIELD:
        fix += f", or 0 {OFF_BY_FIELD[field]}"
    return f"{option} {_number(err.get('input'))}: {err['msg']}; {fix}"


def extra_field_fix(model: type[BaseModel], loc: Sequence[Any]) -> str:
    """Return the fix for the unknown field at ``loc`` of ``model``: remove
    it or correct its spelling to one of the fields of the object that
    contains it, such as ``cells`` for ``cell`` in a search space."""
    fields = sorted(_field_schema(model, loc[:-1])[1].get("properties", {}))
    fix = "; remove the field or correct its spelling"
    if not fields:
        return fix
    return f"{fix}. The accepted fields are {', '.join(fields)}"


def _nested_option_error(err: Any, option: str, model: type[BaseModel] | None) -> str:
    """Return the error of a nested field that ``option`` set, such as
    ``--length`` for ``data.synthetic.length`` of a spec file, with the
    range to send when the value is outside the field's range."""
    bounds = field_bounds(model, err["loc"]) if model is not None else {}
    if err["type"] not in RANGE_ERRORS or not bounds:
        return f"{option}: {error_text(err)}"
    fix = f"send {option} {bounds_text(bounds)}"
    return f"{option} {_number(err.get('input'))}: {err['msg']}; {fix}"


def error_text(err: Any) -> str:
    """Return an error's message without pydantic's "Value error, " prefix,
    with the value to send after it when pydantic's message has none."""
    if err["type"] == "value_error":
        return str(err["ctx"]["error"])
    named = type_message(err["type"], err.get("input"), whole_example(err))
    if named is not None:
        return named
    message = str(err["msg"])
    return message + value_fix(err, message)


def range_text(model: type[BaseModel], field: str, maximum: float | None = None) -> str:
    """Return the range of the numeric ``field`` of ``model`` in words, such
    as ``between 1 and 500`` or ``above 0 and at most 1``.

    ``maximum`` replaces the schema's upper bound, for a field whose upper
    bound is a limit read at run time.
    """
    bounds = schema_bounds(model, field)
    if maximum is not None:
        bounds = {key: value for key, value in bounds.items() if key in LOWER_BOUNDS}
        bounds["maximum"] = maximum
    return bounds_text(bounds)


def bounds_text(bounds: Mapping[str, Any]) -> str:
    """Return schema ``bounds`` (by their JSON schema key, lower bound first)
    in words, such as ``between 1 and 500``."""
    if len(bounds) == 2 and set(bounds) <= INCLUSIVE_BOUNDS:
        low, high = (_number(value) for value in bounds.values())
        return f"between {low} and {high}"
    words = [f"{BOUND_WORDS[key]} {_number(value)}" for key, value in bounds.items()]
    return " and ".join(words) or "within the field's range"


def schema_bounds(model: type[BaseModel], field: str) -> dict[str, Any]:
    """Return the bounds of ``field`` in the JSON schema of ``model``, by
    their schema key, lower bound first."""
    schema = model.model_json_schema()["properties"].get(field, {})
    return _bounds(schema)


def field_bounds(model: type[BaseModel], loc: Sequence[Any]) -> dict[str, Any]:
    """Return the bounds of the field at the error location ``loc``, such as
    ``("data", "synthetic", "length")``, in the JSON schema of ``model``.
    They are empty when the schema has no such field or it has no bounds.

    A part of ``loc`` that is a tag of a discriminated union, such as
    ``synthetic``, selects that member of the union.
    """
    return _bounds(_field_schema(model, loc)[1])


def json_path(model: type[BaseModel], loc: Sequence[Any]) -> str:
    """Return the error location ``loc`` as the dotted path of the field in
    the JSON that was validated, such as ``data.length`` for pydantic's
    ``("data", "synthetic", "length")``: without the tags of discriminated
    unions, which are values of the object, not keys."""
    return ".".join(str(part) for part in _field_schema(model, loc)[0])


def _field_schema(
    model: type[BaseModel], loc: Sequence[Any]
) -> tuple[list[Any], dict[str, Any]]:
    """Return the parts of ``loc`` that are not union tags, and the JSON
    schema of the field at ``loc`` in that of ``model`` ({} where there is
    no such field)."""
    root = model.model_json_schema()
    definitions = root.get("$defs", {})
    node: dict[str, Any] = root
    keys = []
    for part in loc:
        node = _resolved(node, definitions)
        mapping = node.get("discriminator", {}).get("mapping", {})
        if str(part) in mapping:
            node = {"$ref": mapping[str(part)]}
            continue
        keys.append(part)
        node = node.get("properties", {}).get(str(part), {})
    return keys, _resolved(node, definitions)


def _resolved(node: dict[str, Any], definitions: Mapping[str, Any]) -> dict[str, Any]:
    """Follow a local ``$ref`` such as ``#/$defs/SyntheticData``."""
    reference = node.get("$ref")
    if not isinstance(reference, str):
        return node
    return dict(definitions.get(reference.rsplit("/", 1)[-1], {}))


def _bounds(schema: Mapping[str, Any]) -> dict[str, Any]:
    """Return the bounds of one field's schema, or of the first member of
    its ``anyOf`` that has bounds (a nullable number)."""
    for option in schema.get("anyOf", [schema]):
        if set(option) & set(BOUND_WORDS):
            return {key: option[key] for key in BOUND_WORDS if key in option}
    return {}


def _number(value: Any) -> str:
    """Write a bound or an option value as a user types it: 1000000 for
    1e6, 0.5 for 0.5, nan for NaN."""
    if not isinstance(value, float):
        return str(value)
    if not math.isfinite(value):
        return str(value)
    return str(int(value)) if value.is_integer() and abs(value) < 1e16 else repr(value)
