"""Pydantic validation errors as the ``errors`` members of a 422 response.

A field error names the input by the path that the client wrote, such as
``history[0].close`` or ``input.values[1]``. Pydantic's error locations also
name the union members that it tried: the discriminator value of a tagged
union (``data.synthetic.length``) and a type for other unions
(``input.values.list[float][1]``). ``field_path`` drops those segments by
following the location through the request body, because a segment that is
no key or index of the body at its place names a union member.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Mapping, Sequence
from typing import Any

from models.field_types import type_message, whole_example
from models.spec import invalid_series_id_message
from models.value_fixes import value_fix
from service.data_sources import http_source_message
from service.links import DOCS_PATH

# pydantic puts these before the message of a ValueError or an AssertionError
# raised in a validator
PYDANTIC_PREFIXES = ("Value error, ", "Assertion failed, ")

Segment = str | int


def field_error(
    error: Mapping[str, Any],
    body: Any,
    docs: str = DOCS_PATH,
    example: str | None = None,
    root_path: str = "",
) -> dict[str, Any]:
    """Convert one pydantic error of a request with JSON ``body`` into
    ``{"field", "message", "type"}``; ``docs`` is the path of the API
    reference that a message of invalid JSON points to, ``example`` the
    smallest valid body that the message of a missing body shows, and
    ``root_path`` the service's root path, which goes before the API paths
    that other messages name."""
    error_type = error.get("type")
    if error_type == "missing" and tuple(error.get("loc", ())) == ("body",):
        return {
            "field": "body",
            "message": missing_body_message(example, docs),
            "type": error_type,
        }
    if error_type == "json_invalid":
        return {
            "field": "body",
            "message": json_invalid_message(error, docs),
            "type": error_type,
        }

    path = field_path(error.get("loc", ()), body, error_type)
    message = field_message(error, root_path)
    return {"field": path, "message": message, "type": error_type}


def field_path(loc: Sequence[Segment], body: Any, error_type: str | None) -> str:
    """Write ``loc`` as the client's path to the input, e.g. ``history[0].close``.

    A location in the body starts with ``"body"``, which the path omits. Query,
    path and header locations keep their first segment, e.g. ``query.limit``.
    Without the body (None), every segment after ``body`` is kept.
    """
    segments = list(loc)
    if segments and segments[0] == "body":
        segments = segments[1:]
        if body is not None:
            segments = body_segments(segments, body, error_type)

    path = ""
    for segment in segments:
        if isinstance(segment, int):
            path += f"[{segment}]"
        elif path:
            path += f".{segment}"
        else:
            path = segment
    return path or "body"


def field_message(error: Mapping[str, Any], root_path: str = "") -> str:
    """Return pydantic's message without its ``Value error, `` prefix. A
    boolean or string sent for a number, NaN or an infinity, or an integer
    beyond the float range is named with the fix, and so is a value outside
    a field's range unless its validator gave a fix already. A missing or
    unknown data source gets the list of the sources that HTTP accepts, and
    a list below its minimum length the number of items to send. An invalid
    series id gets the upload paths under ``root_path``, the service's root
    path."""
    named = type_message(error.get("type"), error.get("input"), whole_example(error))
    if named is not None:
        return named
    source = http_source_message(error)
    if source is not None:
        return source
    series_id = _series_id_message(error, root_path)
    if series_id is not None:
        return series_id
    if error.get("type") == "extra_forbidden":
        return _extra_field_message(error)
    message = str(error.get("msg", "invalid value"))
    for prefix in PYDANTIC_PREFIXES:
        message = message.removeprefix(prefix)
    return message + value_fix(error, message)


def _series_id_message(error: Mapping[str, Any], root_path: str) -> str | None:
    """Return the message of an invalid ``series_id`` with the upload paths
    under ``root_path``, or None for any other error. The schema's validator
    writes the message without a root path (``invalid_series_id_message``),
    and a message equal to that one is this error."""
    if error.get("type") != "string_pattern_mismatch":
        return None
    value = error.get("input")
    if error.get("msg") != invalid_series_id_message(value):
        return None
    return invalid_series_id_message(value, root_path)


def _extra_field_message(error: Mapping[str, Any]) -> str:
    """Return pydantic's message for an unknown field with the fix; the
    field's path comes with the message."""
    message = str(error.get("msg", "Extra inputs are not permitted"))
    return f"{message}; remove the field or correct its spelling"


def missing_body_message(example: str | None, docs: str = DOCS_PATH) -> str:
    """Explain a request without a body, showing the smallest valid body
    ``example`` when there is one."""
    fix = (
        f"send at least {example}"
        if example is not None
        else f"send one as the examples in the API reference at {docs} show"
    )
    return (
        "the request needs a JSON object body with Content-Type: "
        f"application/json; {fix}"
    )


def null_body_message(
    example: str | None, optional: bool, docs: str = DOCS_PATH
) -> str:
    """Return the message for a body that is the JSON literal ``null``.

    The message shows the smallest valid body ``example`` when there is one.
    ``optional`` is True when the route also takes a request without a body.
    """
    if optional:
        fix = "send a JSON object, or no body at all to use the defaults"
    elif example is not None:
        fix = f"send a JSON object such as {example}"
    else:
        fix = f"send a JSON object as the examples in the API reference at {docs} show"
    return f"the body is JSON null; {fix}"


def json_fix(docs: str = DOCS_PATH) -> str:
    """Return the fix of a body that is not valid JSON, pointing to the API
    reference at the path ``docs``."""
    return f"send a JSON object as the examples in the API reference at {docs} show"


def json_invalid_message(error: Mapping[str, Any], docs: str = DOCS_PATH) -> str:
    """Explain FastAPI's ``json_invalid`` error, whose location ends with the
    character offset of the syntax error."""
    reason = error.get("ctx", {}).get("error", "invalid JSON")
    position = error.get("loc", ("body", "?"))[-1]
    return (
        f"the body is not valid JSON ({reason} at character {position}); "
        f"{json_fix(docs)}"
    )


def json_limit_message(cause: BaseException, docs: str = DOCS_PATH) -> str | None:
    """Explain why Python's ``json.loads`` rejected a body for a reason other
    than its syntax, or return None for another ``cause``.

    ``json.loads`` raises ``ValueError`` for an integer above
    ``sys.get_int_max_str_digits()`` digits (4300 by default) and
    ``RecursionError`` for arrays and objects nested deeper than the
    interpreter's recursion limit allows. Neither error gives a position. The
    ``ValueError`` is recognized by CPython's message text (3.11 and later).
    """
    if isinstance(cause, RecursionError):
        reason = "arrays and objects are nested too deeply to parse"
    elif isinstance(cause, ValueError) and "integer string conversion" in str(cause):
        digits = re.search(r"value has (\d+) digits", str(cause))
        count = digits.group(1) if digits else "too many"
        limit = sys.get_int_max_str_digits()
        reason = f"an integer has {count} digits, above the limit of {limit}"
    else:
        return None
    return f"the body is not valid JSON for this API ({reason}); {json_fix(docs)}"


def body_segments(
    loc: Sequence[Segment], body: Any, error_type: str | None
) -> list[Segment]:
    """Return the segments of ``loc`` that are keys or indices of ``body``,
    and the name of a missing field at the end."""
    node = body
    tag_seen = False
    client_segments: list[Segment] = []
    for position, segment in enumerate(loc):
        last = position == len(loc) - 1
        if isinstance(node, list) and isinstance(segment, int):
            if 0 <= segment < len(node):
                client_segments.append(segment)
                node, tag_seen = node[segment], False
            continue
        if not isinstance(node, dict):
            continue

        # A tagged union's tag is the value of the object's discriminator key.
        # It can equal a key too, as in {"source": "values", "values": [...]},
        # so only the first match in an object is taken as the tag.
        is_tag = (
            not tag_seen
            and not last
            and isinstance(segment, str)
            and segment in node.values()
        )
        if is_tag and segment in node:
            # A key that equals another field's value, as "data" does in
            # {"name": "data", "data": {...}}, is the tag only when the next
            # segment is in this object too.
            is_tag = _in_object(loc, position + 1, node, error_type)
        if is_tag:
            tag_seen = True
        elif segment in node:
            client_segments.append(segment)
            node, tag_seen = node[segment], False
        elif last and error_type == "missing":
            client_segments.append(segment)
    return client_segments


def _in_object(
    loc: Sequence[Segment], position: int, node: dict[Any, Any], error_type: str | None
) -> bool:
    """Return whether ``loc[position]`` is a key of ``node``, or the name of
    a field missing from it at the end of ``loc``."""
    segment = loc[position]
    missing = position == len(loc) - 1 and error_type == "missing"
    return segment in node or missing
