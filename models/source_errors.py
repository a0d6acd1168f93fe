"""Errors of a data spec whose ``source`` is missing or unknown.

Pydantic reports both on the whole data spec: "Unable to extract tag using
discriminator 'source'" and "Input tag ... does not match any of the
expected tags". The errors built here are located at ``source``. Their
messages state that it is required or which value is unknown, and list the
accepted sources. The command line accepts every source. HTTP job submissions accept
every source except those that read a local file, so the service rewrites
the list (``service/data_sources.py``).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from pydantic import ValidationError, ValidatorFunctionWrapHandler
from pydantic_core import InitErrorDetails, PydanticCustomError

from models.field_types import only_error
from models.word_lists import join_words

# pydantic's error types of a discriminator that is missing or unknown
TAG_ERRORS = ("union_tag_not_found", "union_tag_invalid")
# the context key that marks the errors built here
SOURCES_KEY = "expected_sources"
# a builder of the error for a source (None when missing) and the accepted ones
SourceError = Callable[[Any, Sequence[str]], PydanticCustomError]


def source_error(source: Any, sources: Sequence[str]) -> PydanticCustomError:
    """Return the error of a data spec whose source is ``source``, or is
    missing when ``source`` is None, listing the accepted ``sources``."""
    choices = join_words([repr(name) for name in sources], "or")
    if source is None:
        return PydanticCustomError(
            "missing",
            "Field required: a data spec needs a source, one of {expected_sources}",
            {SOURCES_KEY: choices},
        )
    # the source comes last, so that braces in it are not read as placeholders
    return PydanticCustomError(
        "union_tag_invalid",
        "{source} is not a data source; use one of {expected_sources}",
        {SOURCES_KEY: choices, "source": _shown(source)},
    )


def source_message(error: Mapping[str, Any], sources: Sequence[str]) -> str | None:
    """Return the message of ``error``, a pydantic error dict built by
    ``explain_source``, with ``sources`` as the accepted sources; None for any
    other error."""
    context = error.get("ctx") or {}
    if SOURCES_KEY not in context:
        return None
    source = error.get("input") if "source" in context else None
    return source_error(source, sources).message()


def explain_source(
    value: Any,
    handler: ValidatorFunctionWrapHandler,
    sources: Sequence[str],
    error: SourceError = source_error,
) -> Any:
    """Validate the data spec ``value`` with ``handler``, raising ``error``
    at ``source`` when the source is missing or unknown.

    The error's input is the source sent, or the whole data spec when it has
    none. Other specs with a ``source`` tag pass their own ``error``.
    """
    try:
        return handler(value)
    except ValidationError as exc:
        if only_error(exc, TAG_ERRORS) is None:
            raise
        has_source = isinstance(value, Mapping) and "source" in value
        source = value["source"] if has_source else None
        detail = InitErrorDetails(
            type=error(source, sources),
            loc=("source",),
            input=source if has_source else value,
        )
        raise ValidationError.from_exception_data(exc.title, [detail]) from exc


def _shown(value: Any) -> str:
    """Write ``value`` as the message quotes it: a string in quotes, anything
    else as JSON."""
    if isinstance(value, str):
        return repr(value)
    return json.dumps(value, default=str)
