"""The names that an input uses for spec fields.

The command line sets some spec fields from options, such as
``window_size`` from ``--window-size``, and the HTTP API sets them from
JSON fields. A check shared by both reads the names from the validation
context, so that its message names what the user typed.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Self

from pydantic import BaseModel, PrivateAttr, ValidationInfo, model_validator

# the context key of the mapping from field names to input names
FIELD_NAMES = "field_names"


def naming_context(names: Mapping[str, str]) -> dict[str, Any]:
    """Return the validation context that names each field in ``names``
    (field -> name) as given, and every other field by its own name."""
    return {FIELD_NAMES: dict(names)}


def input_names(info: ValidationInfo) -> dict[str, str]:
    """Return the mapping (field -> name) of the context that ``info``
    validates with, empty when the input uses the field names."""
    context = info.context if isinstance(info.context, Mapping) else {}
    return {str(key): str(name) for key, name in context.get(FIELD_NAMES, {}).items()}


def input_name(info: ValidationInfo, field: str) -> str:
    """Return the name of ``field`` in the input that ``info`` validates."""
    return input_names(info).get(field, field)


def setting(name: str, value: object) -> str:
    """Write ``name`` set to ``value`` as the input would: ``--dropout 0.2``
    for a command-line option, ``dropout=0.2`` for a field."""
    if name.startswith("--"):
        return f"{name} {value}"
    return f"{name}={value}"


class InputNamed(BaseModel):
    """Base of a spec whose run-time errors name its fields as the input
    that built it did: by the option that set a field on the command line,
    else by the field name.

    NOTE: pydantic's ``==`` compares private attributes too, so a spec built
    from options is not equal to the same spec built from JSON; compare
    their ``model_dump()`` instead.
    """

    # the names from the validation context, by field; the fields of nested
    # specs, such as a backtest's training spec, are named here as well
    _input_names: dict[str, str] = PrivateAttr(default_factory=dict)

    @model_validator(mode="after")
    def _keep_input_names(self, info: ValidationInfo) -> Self:
        self._input_names = input_names(info)
        return self

    def input_name(self, field: str) -> str:
        """Return the name of ``field`` in the input that built this spec."""
        return self._input_names.get(field, field)
