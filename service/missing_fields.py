"""The fix for a required field that a JSON body leaves out.

Pydantic reports such a field as "Field required", which names the field
through its location but not what to send. ``missing_field_fix`` reads the
field's JSON schema from the model of the body, or of the part of the body
that the route validates itself (the ``params`` of a job). It writes the
field's path, its type and range, and an example where the schema has one,
such as "send version, an integer from 1 to 999999999 such as 3".
"""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import TypeAdapter
from starlette.requests import Request

from models.names import MAX_NAME_CHARS, NAME_PATTERN
from models.tickers import TICKER_PATTERN, TICKER_RULE
from models.version_refs import ALIAS_PATTERN, VERSION_REF_PATTERN
from service.field_errors import Segment, body_segments
from service.links import root_path_of
from service.null_fields import body_types
from service.series_store import SERIES_ID_PATTERN

Schema = dict[str, Any]

# the format of date fields, as the date errors state it
DATE_FORMAT = "YYYY-MM-DD"
# pydantic's message for a missing field, which gets the fix appended
MISSING_MESSAGE = "Field required"
# the API's string patterns in words; other patterns are shown as written
PATTERN_WORDS = {
    NAME_PATTERN: (
        f"a name of at most {MAX_NAME_CHARS} lowercase letters, digits, '_' and "
        "'-' that starts with a letter or digit"
    ),
    ALIAS_PATTERN: (
        f"an alias of at most {MAX_NAME_CHARS} lowercase letters, digits, '_' "
        "and '-' that starts with a letter"
    ),
    VERSION_REF_PATTERN: "a version number or an alias",
    TICKER_PATTERN: f"a Yahoo Finance ticker of {TICKER_RULE}",
}


def add_missing_fixes(
    request: Request,
    errors: list[dict[str, Any]],
    raw_errors: Sequence[Mapping[str, Any]],
    body: Any,
) -> None:
    """Append the fix to the message of each field error in ``errors``
    whose pydantic error in ``raw_errors`` is a missing field of the JSON
    ``body``, unless a validator wrote a message of its own."""
    types = body_types(request)
    for error, raw in zip(errors, raw_errors, strict=True):
        loc = list(raw.get("loc", ()))
        if raw.get("type") != "missing" or loc[:1] != ["body"] or len(loc) < 2:
            continue
        if error["message"] != MISSING_MESSAGE:
            continue
        segments = body_segments(loc[1:], body, "missing")
        fix = missing_field_fix(types, segments, error["field"], root_path_of(request))
        if fix is not None:
            error["message"] = f"{MISSING_MESSAGE}; {fix}"


def missing_field_fix(
    types: Mapping[tuple[Segment, ...], Any],
    segments: Sequence[Segment],
    path: str,
    root_path: str = "",
) -> str | None:
    """Return "send PATH, TYPE such as EXAMPLE" for the missing field at
    ``segments`` of the body, written as ``path``, or None when no schema
    in ``types`` (body part path to its type) has the field.

    The longest part of the body that contains the field gives its schema.
    API paths in the type start with ``root_path``, the service's root path.
    """
    prefixes = [p for p in types if tuple(segments[: len(p)]) == p]
    if not prefixes or not segments or not isinstance(segments[-1], str):
        return None
    prefix = max(prefixes, key=len)
    schema = body_schema(types[prefix])
    found = _property(schema, schema, list(segments[len(prefix) :]))
    if found is None:
        return None

    field, parent = found
    fix = f"send {path}, {type_phrase(schema, field, root_path)}"
    example = _example(field, parent, segments[-1])
    if example is not None:
        fix += f" such as {json.dumps(example)}"
    return fix


def type_phrase(root: Schema, schema: Schema, root_path: str = "") -> str:
    """Describe the values that ``schema`` accepts, such as "an integer from
    1 to 999999999". ``root`` is the schema that contains the ``$defs``, and
    API paths in the description start with ``root_path``, the service's
    root path."""
    schema = _resolve(root, schema)
    if "const" in schema:
        return json.dumps(schema["const"])
    if "enum" in schema:
        return "one of " + ", ".join(json.dumps(value) for value in schema["enum"])
    members = schema.get("anyOf") or schema.get("oneOf")
    if members:
        phrases = [
            type_phrase(root, member, root_path)
            for member in members
            if _resolve(root, member).get("type") != "null"
        ]
        return " or ".join(dict.fromkeys(phrases))
    kind = schema.get("type")
    if kind in ("integer", "number"):
        noun = "an integer" if kind == "integer" else "a number"
        return noun + _range(schema)
    if kind == "string":
        return _string_phrase(schema, root_path)
    if kind == "boolean":
        return "true or false"
    if kind == "array":
        return "an array" + _count(schema, "minItems", "maxItems", "items")
    return "a JSON object"


def _string_phrase(schema: Schema, root_path: str) -> str:
    if schema.get("format") == "date":
        return f"a date written as {DATE_FORMAT}"
    if schema.get("pattern") == SERIES_ID_PATTERN:
        return (
            "a series id of 32 lowercase hexadecimal digits, as "
            f"POST {root_path}/v1/series returns it"
        )
    if "pattern" in schema:
        words = PATTERN_WORDS.get(schema["pattern"])
        return words or f"a string that matches {schema['pattern']}"
    return "a string" + _count(schema, "minLength", "maxLength", "characters")


def _range(schema: Schema) -> str:
    """Write the bounds of a number schema, such as " from 1 to 60" or
    " above 0"."""
    low, high = schema.get("minimum"), schema.get("maximum")
    if low is not None and high is not None:
        return f" from {_number(low)} to {_number(high)}"
    bounds = []
    if low is not None:
        bounds.append(f"of at least {_number(low)}")
    if "exclusiveMinimum" in schema:
        bounds.append(f"above {_number(schema['exclusiveMinimum'])}")
    if high is not None:
        bounds.append(f"of at most {_number(high)}")
    if "exclusiveMaximum" in schema:
        bounds.append(f"below {_number(schema['exclusiveMaximum'])}")
    return "".join(f" {bound}" for bound in bounds[:1]) + "".join(
        f" and {bound.removeprefix('of ')}" for bound in bounds[1:]
    )


def _count(schema: Schema, low_key: str, high_key: str, noun: str) -> str:
    """Write the size bounds of a string or array schema, such as " of 1 to
    4096 characters"; ``noun`` is the plural of what is counted."""
    low, high = schema.get(low_key), schema.get(high_key)
    if low is not None and high is not None:
        return f" of {low} to {high} {noun}"
    if low is not None:
        return f" of at least {low} {noun.removesuffix('s') if low == 1 else noun}"
    if high is not None:
        return f" of at most {high} {noun.removesuffix('s') if high == 1 else noun}"
    return ""


def _number(value: float) -> str:
    """Write a schema bound, which pydantic may give as a float such as
    1.0, without a fraction when it is whole."""
    return str(int(value)) if float(value).is_integer() else str(value)


def _example(field: Schema, parent: Schema, key: Segment) -> Any:
    """Return the field's first example, or the value of ``key`` in its
    object's first example, or None."""
    examples = field.get("examples")
    if isinstance(examples, list) and examples:
        return examples[0]
    for example in parent.get("examples") or []:
        if isinstance(example, dict) and key in example:
            return example[key]
    return None


def _property(
    root: Schema, schema: Schema, segments: list[Segment]
) -> tuple[Schema, Schema] | None:
    """Follow ``segments`` from ``schema`` and return the schema of the last
    one and that of the object that declares it, or None.

    A segment goes into the member of a union that declares it, so the
    fields of each data source are found without its tag.
    """
    head, rest = segments[0], segments[1:]
    for candidate in schema_members(root, schema):
        if isinstance(head, int):
            items = candidate.get("items")
            if isinstance(items, dict) and rest:
                found = _property(root, items, rest)
                if found is not None:
                    return found
            continue
        field = candidate.get("properties", {}).get(head)
        if field is None:
            continue
        if not rest:
            return _resolve(root, field), candidate
        found = _property(root, field, rest)
        if found is not None:
            return found
    return None


def schema_members(root: Schema, schema: Schema) -> list[Schema]:
    """Return ``schema`` resolved, or the members of its union, each
    resolved and flattened."""
    schema = _resolve(root, schema)
    members = schema.get("anyOf") or schema.get("oneOf") or schema.get("allOf")
    if not members:
        return [schema]
    return [found for member in members for found in schema_members(root, member)]


def _resolve(root: Schema, schema: Schema) -> Schema:
    reference = schema.get("$ref")
    if not isinstance(reference, str):
        return schema
    name = reference.rsplit("/", 1)[-1]
    return _resolve(root, root.get("$defs", {}).get(name, {}))


@functools.cache
def _cached_schema(annotation: Any) -> Schema:
    return TypeAdapter(annotation).json_schema()


def body_schema(annotation: Any) -> Schema:
    try:
        return _cached_schema(annotation)
    except TypeError:
        # an annotation that cannot be hashed, such as one with a dict inside
        return TypeAdapter(annotation).json_schema()
