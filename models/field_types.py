"""Field types and validators shared by the request models read from JSON.

Pydantic's lax mode reads the JSON booleans ``true`` and ``false`` as the
integers 1 and 0, so ``"epochs": true`` would train one epoch. ``Integer``
rejects booleans and accepts every other input that ``int`` accepts.
``Number`` is a strict float: it takes JSON integers and numbers, and
rejects booleans and strings without a Python call per value, which matters
for the hundreds of closes in a forecast history.

Field constraints (``ge``, ``le``) of an optional integer go inside the
annotation, before ``REJECT_BOOL``, so that the JSON schema still shows them
as ``minimum`` and ``maximum``::

    patience: Annotated[int, Field(ge=1), REJECT_BOOL] | None = 5
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import (
    BeforeValidator,
    Field,
    ValidationError,
    ValidatorFunctionWrapHandler,
)
from pydantic_core import PydanticCustomError

# error types of a value below a field's minimum
BELOW_MINIMUM = ("greater_than", "greater_than_equal")


def _reject_bool(value: Any) -> Any:
    if isinstance(value, bool):
        raise PydanticCustomError(
            "int_type",
            "Input should be an integer, not the boolean {value}; send a number",
            {"value": "true" if value else "false"},
        )
    return value


REJECT_BOOL = BeforeValidator(_reject_bool)
Integer = Annotated[int, REJECT_BOOL]
Number = Annotated[float, Field(strict=True)]


def explain_minimum(
    value: Any, handler: ValidatorFunctionWrapHandler, hint: str
) -> Any:
    """Validate ``value`` with ``handler`` and append ``hint`` to the message
    of an error for a value below the field's minimum.

    A field validator in ``mode="wrap"`` calls this, for instance to tell a
    client who sends ``"patience": 0`` that null turns early stopping off.
    """
    try:
        return handler(value)
    except ValidationError as exc:
        errors = exc.errors()
        if len(errors) != 1 or errors[0]["type"] not in BELOW_MINIMUM:
            raise
        error = errors[0]
        raise PydanticCustomError(
            error["type"], f"{error['msg']}; {hint}", error.get("ctx")
        ) from exc
