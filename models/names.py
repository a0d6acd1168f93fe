"""The rule for model and study names, and its error message in words.

A name is also a folder of the registry, so it may not contain a slash, a
dot or an uppercase letter. Request models keep the rule as a JSON Schema
``pattern``. A name that breaks it gets an error with the rule in words and
a valid example, not the regular expression.
"""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import (
    Field,
    WrapValidator,
)

from models.field_types import explain_pattern
from models.quoted_ids import quoted

NAME_PATTERN = r"^[a-z0-9][a-z0-9_-]{0,63}$"
NAME_RE = re.compile(NAME_PATTERN)
MAX_NAME_CHARS = 64
NAME_RULE = (
    "A name may contain only lowercase letters, digits, '_' and '-', must "
    f"start with a letter or digit and may have at most {MAX_NAME_CHARS} "
    "characters."
)
# the example for a name that has no valid character
FALLBACK_NAME = "my-model"


def suggest_name(name: str) -> str:
    """Return a valid name close to ``name``: lowercase, with every run of
    other characters replaced by '-', no leading or trailing '-' or '_', and
    cut to ``MAX_NAME_CHARS`` characters."""
    lowered = re.sub(r"[^a-z0-9_-]+", "-", name.lower())
    trimmed = lowered.strip("-_")[:MAX_NAME_CHARS].rstrip("-_")
    return trimmed or FALLBACK_NAME


def invalid_name_message(name: object) -> str:
    """Return the message for ``name`` when it breaks the rule: the rule in
    words and an example fix."""
    example = suggest_name(str(name))
    return f"{quoted(name)} is invalid. {NAME_RULE} Use a name such as {example!r}."


# A model or study name; the JSON Schema shows NAME_PATTERN.
ModelName = Annotated[
    str,
    Field(pattern=NAME_PATTERN),
    WrapValidator(explain_pattern(invalid_name_message)),
]
