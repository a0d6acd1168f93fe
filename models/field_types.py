"""Field types and validators shared by the request models read from JSON.

Pydantic's lax mode reads the JSON booleans ``true`` and ``false`` as the
integers 1 and 0, so ``"epochs": true`` would train one epoch, reads
numeric strings such as ``"3"`` as numbers, and reads ``64.0`` and ``6.4e1``
as 64. ``Integer`` accepts JSON integers only: it rejects booleans, strings
and every number written with a decimal point or an exponent.
``Number`` is a strict float: it takes JSON integers and numbers, and
rejects booleans and strings without a Python call per value, which matters
for the hundreds of closes in a forecast history. ``Boolean`` takes only
``true`` and ``false``, where lax mode also reads 0, 1 and strings such as
``"no"`` or ``"off"`` as booleans.

Field constraints (``ge``, ``le``) of an optional integer go inside the
annotation, before ``INTEGER_ONLY``, so that the JSON schema still shows
them as ``minimum`` and ``maximum``::

    patience: Annotated[int, Field(ge=1), INTEGER_ONLY] | None = 5
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping, Sequence
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BeforeValidator,
    Field,
    ValidationError,
    ValidatorFunctionWrapHandler,
    WrapValidator,
)
from pydantic_core import ErrorDetails, PydanticCustomError

from models.quoted_ids import quoted

# error types of a value below a field's minimum
BELOW_MINIMUM = ("greater_than", "greater_than_equal")


# the example of a whole number for a float that has no close one
WHOLE_EXAMPLE = 64


def _reject_non_integer(value: Any, handler: ValidatorFunctionWrapHandler) -> Any:
    # json.loads returns a float for every number with a decimal point or an
    # exponent, so this rejects 64.0 and 6.4e1 but accepts 64
    if isinstance(value, bool | str):
        raise PydanticCustomError(
            "int_type", type_message("int_type", value) or "", {"value": value}
        )
    if isinstance(value, float):
        example = _example_in_range(value, handler)
        raise PydanticCustomError(
            "int_type",
            type_message("int_type", value, example) or "",
            {"value": value, "example": example},
        )
    return handler(value)


def _example_in_range(value: float, handler: ValidatorFunctionWrapHandler) -> int:
    """Return the whole number that the message for the float ``value``
    suggests: ``value`` without its fraction, or ``WHOLE_EXAMPLE``, moved to
    the nearest bound of the field when ``handler`` rejects it as out of
    range, so that the suggestion is a value the field accepts."""
    example = _whole_example(value)
    # The service lowers a forecast horizon's example to the horizon that it
    # accepts (service.horizon_examples). NOTE: other server limits below a
    # field's range, such as a lower RNN_FORECAST_MAX_EPOCHS, are checked
    # after validation and can still reject the example.
    try:
        handler(example)
    except ValidationError as exc:
        return _nearest_in_range(example, exc)
    return example


def _nearest_in_range(example: int, exc: ValidationError) -> int:
    """Return the bound of the range error in ``exc`` nearest to
    ``example``, or ``example`` when ``exc`` is another error."""
    errors = exc.errors()
    if len(errors) != 1:
        return example
    error_type = errors[0]["type"]
    context = errors[0].get("ctx") or {}
    if error_type == "greater_than_equal":
        return math.ceil(context["ge"])
    if error_type == "less_than_equal":
        return math.floor(context["le"])
    if error_type == "greater_than":
        return math.floor(context["gt"]) + 1
    if error_type == "less_than":
        return math.ceil(context["lt"]) - 1
    return example


def whole_example(error: Mapping[str, Any]) -> int | None:
    """Return the whole number that ``INTEGER_ONLY`` stored in the context of
    the pydantic ``error`` for the message to suggest, or None."""
    example = (error.get("ctx") or {}).get("example")
    return example if isinstance(example, int) else None


def type_message(
    error_type: str | None, value: Any, example: int | None = None
) -> str | None:
    """Return a message that names the value sent to a boolean field
    (``bool_type``), a JSON boolean or string sent to an
    integer (``int_type``) or number (``float_type``) field, a float sent
    to an integer field, NaN or an infinity sent to an integer or finite
    number (``finite_number``) field, or an integer too large for a float;
    None for any other error. The message for a float or a non-finite value
    sent to an integer field suggests ``example`` when it is given."""
    if error_type == "bool_type":
        return (
            f"Input should be true or false, not {json.dumps(value, default=str)}; "
            "send a JSON boolean without quotes"
        )
    if error_type not in ("int_type", "float_type", "finite_number"):
        return None
    if isinstance(value, float) and not math.isfinite(value):
        return _non_finite_message(
            value, integer=error_type == "int_type", example=example
        )
    if error_type == "finite_number":
        return None
    noun = "an integer" if error_type == "int_type" else "a number"
    if isinstance(value, bool):
        word = "true" if value else "false"
        return f"Input should be {noun}, not the boolean {word}; send a number"
    if isinstance(value, str):
        example = "3" if error_type == "int_type" else "1.5"
        return (
            f"Input should be {noun}, not a string; send a JSON number without "
            f"quotes, such as {example}"
        )
    if error_type == "int_type" and isinstance(value, float):
        return (
            "Input should be an integer without a decimal point or exponent, "
            f"not {_json_float(value)}; send a whole number such as "
            f"{_whole_example(value) if example is None else example}"
        )
    if error_type == "float_type" and isinstance(value, int):
        return (
            f"Input should be a number, but this {len(str(abs(value)))}-digit "
            "integer is beyond the float range (about 1.8e308); send a finite "
            "number"
        )
    return None


def _non_finite_message(
    value: float, *, integer: bool, example: int | None = None
) -> str:
    """Return the message that rejects NaN or an infinity, sent as ``value``
    to an integer field (``integer``) or a number field, with the fix, which
    suggests ``example`` or else ``WHOLE_EXAMPLE`` for an integer field."""
    noun = "an integer" if integer else "a finite number"
    fix = (
        f"send a whole number such as {WHOLE_EXAMPLE if example is None else example}"
        if integer
        else "send a finite number"
    )
    return f"Input should be {noun}, but {non_finite_reason(value)}; {fix}"


def non_finite_reason(value: float) -> str:
    """Return the reason that NaN or an infinity, sent as ``value``, is
    rejected.

    Python's JSON parser reads the tokens ``NaN``, ``Infinity`` and
    ``-Infinity``, which JSON does not allow, and reads a number beyond the
    float range (about 1.8e308 in magnitude) as an infinity.
    """
    word = _json_float(value)
    if math.isnan(value):
        return f"the value sent is {word}, which is not a number that JSON allows"
    limit = "1.8e308" if value > 0 else "-1.8e308"
    return (
        f"the value sent is {word}, which is not finite (JSON has no {word}, "
        f"and a number beyond about {limit} reads as {word})"
    )


def _json_float(value: float) -> str:
    """Write ``value`` as JSON writes it, with NaN and Infinity as Python's
    JSON parser reads them."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    return repr(value)


def _whole_example(value: float) -> int:
    """Return ``value`` without its fraction, or ``WHOLE_EXAMPLE`` when that
    is not finite or has more than 15 digits."""
    if math.isfinite(value) and abs(value) < 1e15:
        return int(value)
    return WHOLE_EXAMPLE


INTEGER_ONLY = WrapValidator(_reject_non_integer)
Integer = Annotated[int, INTEGER_ONLY]


def _digits_only(value: Any) -> Any:
    # pydantic reads the query string "3.0" as the integer 3, and str.isdecimal
    # alone accepts digits of other scripts such as "١", which pydantic rejects
    if isinstance(value, str) and not (value.isascii() and value.isdecimal()):
        raise PydanticCustomError(
            "int_parsing",
            "Input should be a whole number written with digits only, such as "
            "20, not {value}",
            # pydantic fills the template with str(value), so repr adds the quotes
            {"value": quoted(value)},
        )
    return value


# a query parameter that takes an integer written with digits only
QUERY_DIGITS = BeforeValidator(_digits_only)
Number = Annotated[float, Field(strict=True)]
Boolean = Annotated[bool, Field(strict=True)]


def _unsigned_zero(value: float) -> float:
    # -0.0 == 0.0, so -0.0 passes a bound such as ge=0, but a JSON dump of
    # the validated model would write it as -0.0
    return 0.0 if value == 0.0 else value


# A ``Number`` that reads -0.0 as 0.0, for the settings of a spec that a job
# stores and returns. The forecast history keeps ``Number``, which makes no
# Python call per value.
SpecNumber = Annotated[Number, AfterValidator(_unsigned_zero)]


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
        error = only_error(exc, BELOW_MINIMUM)
        if error is None:
            raise
        raise PydanticCustomError(
            error["type"], f"{error['msg']}; {hint}", error.get("ctx")
        ) from exc


def only_error(exc: ValidationError, types: Sequence[str]) -> ErrorDetails | None:
    """Return the error of ``exc`` when it has one error and its type is one
    of ``types``, else None."""
    errors = exc.errors()
    if len(errors) != 1 or errors[0]["type"] not in types:
        return None
    return errors[0]


def explain_pattern(
    message: Callable[[Any], str],
) -> Callable[[Any, ValidatorFunctionWrapHandler], Any]:
    """Return a wrap validator that replaces pydantic's error of a string
    that does not match the field's pattern, which quotes the regular
    expression, by ``message(value)``: the rule in words and the fix."""

    def explain(value: Any, handler: ValidatorFunctionWrapHandler) -> Any:
        try:
            return handler(value)
        except ValidationError as exc:
            if only_error(exc, ("string_pattern_mismatch",)) is None:
                raise
            # no context, so that braces in the value are not read as
            # placeholders
            raise PydanticCustomError(
                "string_pattern_mismatch", message(value)
            ) from exc

    return explain


def explain_null(
    value: Any,
    handler: ValidatorFunctionWrapHandler,
    field: str,
    has_default: bool,
) -> Any:
    """Validate ``value`` with ``handler``; when it is null and the field
    ``field`` has a default, add to the error that leaving the field out
    gives that default.

    A field validator in ``mode="wrap"`` calls this, because pydantic's
    message for a null (such as "Input should be a valid integer") does not
    say that the field may be left out.
    """
    try:
        return handler(value)
    except ValidationError as exc:
        errors = exc.errors()
        if value is not None or not has_default or len(errors) != 1:
            raise
        error = errors[0]
        hint = f"leave {field} out to use its default"
        raise PydanticCustomError(
            error["type"], f"{error['msg']}, not null; {hint}", error.get("ctx")
        ) from exc
