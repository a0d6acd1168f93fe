"""Input sequences and loss targets for gradient diagnostics.

A diagnostic runs a network over one sequence x (T, F) and puts the loss on
the output at the last step. The sequence comes from one of three sources:

- ``noise``: seeded independent standard normal values (a synthetic input),
- ``bundled``: a window of T consecutive values of the bundled NFLX daily
  closes, transformed as the network expects them,
- ``values``: a sequence sent by the client, used as given.

The loss is the mean squared error between the K outputs y (K,) and a
target (K,): the client's target when one is given, else the K values that
follow a bundled window when the data has them, else zeros.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Annotated, Any, Literal

import numpy as np
import torch
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    TypeAdapter,
    ValidationError,
    ValidatorFunctionWrapHandler,
    WrapValidator,
    field_validator,
)
from pydantic_core import PydanticCustomError
from torch import Tensor

from models.data.scaling import Scaler, fit_scaler
from models.data.windows import to_values
from models.date_fields import IsoDate
from models.errors import InvalidInputError
from models.field_types import Integer
from models.plurals import plural
from models.source_errors import explain_source
from models.word_lists import join_words

FiniteFloat = Annotated[float, Field(allow_inf_nan=False, strict=True)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


class NoiseInput(_Strict):
    """Independent standard normal values from ``torch.Generator(seed)``."""

    source: Literal["noise"] = "noise"
    seed: Integer = Field(default=0, ge=0, le=2**31 - 1)


class BundledInput(_Strict):
    """T consecutive values of the bundled NFLX closes (2002-05-23..2020-12-11).

    The window ends at the last value dated on or before ``end`` (default: the
    last row). An ``end`` after the last date, 2020-12-11, is rejected. A
    fresh network reads daily log returns standardised by their mean and
    standard deviation over the whole series. A stored version reads its own
    target (log returns or prices) scaled by its own scaler.
    """

    source: Literal["bundled"] = "bundled"
    end: IsoDate | None = None


# the two shapes of client values, validated one at a time to report errors
NUMBERS = TypeAdapter(list[FiniteFloat])
ROWS = TypeAdapter(list[list[FiniteFloat]])


class ValuesInput(_Strict):
    """A client sequence: T numbers (F = 1) or T rows of F numbers each."""

    source: Literal["values"] = "values"
    values: list[FiniteFloat] | list[list[FiniteFloat]] = Field(
        min_length=2, examples=[[0.5, -0.25, 0.125]]
    )

    @field_validator("values", mode="wrap")
    @classmethod
    def _one_shape(cls, value: Any, handler: ValidatorFunctionWrapHandler) -> Any:
        """Report the errors of one shape only: rows when any item is a list,
        else numbers. The union would add an error per item for the other."""
        try:
            return handler(value)
        except ValidationError as union_error:
            rows = isinstance(value, list) and any(
                isinstance(item, list) for item in value
            )
            try:
                (ROWS if rows else NUMBERS).validate_python(value)
            except ValidationError as shape_error:
                raise shape_error from None
            # the shape is valid, so the error is another check, e.g. min_length
            raise union_error from None


INPUT_SOURCES = ("noise", "bundled", "values")


def input_source_error(source: Any, sources: Sequence[str]) -> PydanticCustomError:
    """Return the error of an input whose source is ``source``, or is missing
    when ``source`` is None, listing the accepted ``sources``."""
    choices = join_words([repr(name) for name in sources], "or")
    if source is None:
        return PydanticCustomError(
            "missing",
            "Field required: input needs a source, one of {input_sources}; "
            "leave input out for noise",
            {"input_sources": choices},
        )
    return PydanticCustomError(
        "union_tag_invalid",
        "{source} is not an input source; use one of {input_sources}",
        {"input_sources": choices, "source": json.dumps(source, default=str)},
    )


def _explain_input_source(value: Any, handler: ValidatorFunctionWrapHandler) -> Any:
    return explain_source(value, handler, INPUT_SOURCES, input_source_error)


InputSpec = Annotated[
    NoiseInput | BundledInput | ValuesInput,
    Field(discriminator="source"),
    WrapValidator(_explain_input_source),
]


@dataclass(frozen=True)
class ValueTransform:
    """The target kind and scaler that turn prices into a stored version's inputs."""

    target: str
    scaler: Scaler


@dataclass(frozen=True)
class PreparedInput:
    """The sequence x (T, F) and target (K,) in float64, with a description."""

    x: Tensor
    target: Tensor
    description: dict[str, Any]


def input_length(spec: NoiseInput | BundledInput | ValuesInput) -> int | None:
    """Return T when the source fixes it (client values), else None."""
    return len(spec.values) if isinstance(spec, ValuesInput) else None


def prepare_input(
    spec: NoiseInput | BundledInput | ValuesInput,
    *,
    seq_len: int,
    horizon: int,
    target: list[float] | None = None,
    transform: ValueTransform | None = None,
    name_of: Callable[[str], str] = str,
) -> PreparedInput:
    """Build the sequence x (T, F) with T = ``seq_len`` and the target (K,).

    ``transform`` applies to bundled windows for a stored version; None means
    standardised log returns. Raises ``InvalidInputError`` for a target whose
    length is not K, ragged client rows, or a bundled window that ends after
    the data or does not fit before its end. ``name_of`` returns the name of
    a spec field in the input, such as ``--end`` for ``input.end``.
    """
    if target is not None and len(target) != horizon:
        raise InvalidInputError(
            f"target has {plural(len(target), 'value')} but the network outputs "
            f"{horizon}; send {plural(horizon, 'value')} or leave target out",
            field="target",
        )

    following: np.ndarray | None = None
    if isinstance(spec, NoiseInput):
        generator = torch.Generator().manual_seed(spec.seed)
        x = torch.randn(seq_len, 1, dtype=torch.float64, generator=generator)
        description: dict[str, Any] = {"source": "noise", "seed": spec.seed}
    elif isinstance(spec, BundledInput):
        x, following, description = _bundled_window(
            spec, seq_len, horizon, transform, name_of("input.end")
        )
    else:
        x = _client_values(spec)
        description = {"source": "values", "features": x.shape[1]}

    if target is not None:
        y = torch.tensor(target, dtype=torch.float64)
        description["target"] = "request"
    elif following is not None:
        y = torch.from_numpy(following.astype(np.float64))
        description["target"] = "next values"
    else:
        y = torch.zeros(horizon, dtype=torch.float64)
        description["target"] = "zeros"
    return PreparedInput(x=x, target=y, description=description)


def input_features(spec: NoiseInput | BundledInput | ValuesInput) -> int:
    """Return F, the features per step of the sequence that ``spec`` gives.

    Noise and bundled windows have F = 1. Raises ``InvalidInputError`` on
    ``input.values`` for rows of unequal length or of no numbers.
    """
    if not isinstance(spec, ValuesInput):
        return 1
    widths = {len(row) if isinstance(row, list) else 1 for row in spec.values}
    if 0 in widths:
        raise InvalidInputError(
            "input.values contains rows of no numbers; send rows of one or more "
            "numbers each, all of one length",
            field="input.values",
        )
    if len(widths) != 1:
        raise InvalidInputError(
            f"input.values rows have {sorted(widths)} features; send rows of one "
            "equal length",
            field="input.values",
        )
    return widths.pop()


def _client_values(spec: ValuesInput) -> Tensor:
    input_features(spec)
    rows = [row if isinstance(row, list) else [row] for row in spec.values]
    return torch.tensor(rows, dtype=torch.float64)


def _bundled_window(
    spec: BundledInput,
    seq_len: int,
    horizon: int,
    transform: ValueTransform | None,
    end_name: str,
) -> tuple[Tensor, np.ndarray | None, dict[str, Any]]:
    """Cut T values ending at ``spec.end`` and the up to K values after them;
    ``end_name`` names ``spec.end`` in errors."""
    dates, values = _bundled_values(transform)
    end_index = len(values) - 1
    if spec.end is not None:
        _check_end(spec.end, dates[-1], end_name)
        end_index = int(np.searchsorted(dates, np.datetime64(spec.end), "right")) - 1

    start = end_index - seq_len + 1
    if start < 0:
        first = str(dates[seq_len - 1])[:10] if seq_len <= len(values) else None
        fix = f"use an end on or after {first}" if first else "use a shorter seq_len"
        raise InvalidInputError(
            f"the bundled data has {end_index + 1} values up to {end_name} "
            f"{spec.end}, fewer than seq_len={seq_len}; {fix}",
            field="input.end",
        )

    window = values[start : end_index + 1]
    after = values[end_index + 1 : end_index + 1 + horizon]
    description = {
        "source": "bundled",
        "start": str(dates[start])[:10],
        "end": str(dates[end_index])[:10],
        "values": "scaled by the version" if transform else "standardised log returns",
    }
    x = torch.from_numpy(window.astype(np.float64)).unsqueeze(1)
    return x, (after if len(after) == horizon else None), description


def _check_end(end: dt.date, last: np.datetime64, end_name: str) -> None:
    """Raise ``InvalidInputError`` when ``end`` is after ``last``, the date
    of the last bundled value, because no window ends there."""
    if np.datetime64(end) <= last:
        return
    last_date = str(last)[:10]
    raise InvalidInputError(
        f"{end_name} {end} is after {last_date}, the last date of the bundled "
        f"data; use an end on or before {last_date}, or leave {end_name} out "
        "to end the window at the last value",
        field="input.end",
    )


def _bundled_values(transform: ValueTransform | None) -> tuple[np.ndarray, np.ndarray]:
    """Dates (N,) and values (N,) of the bundled series, transformed."""
    dates, prices = _bundled_prices()
    if transform is None:
        values = to_values(prices, "log_return")
        values = fit_scaler("standard", values).transform(values)
    else:
        values = transform.scaler.transform(to_values(prices, transform.target))
    # a log return is dated by the later of its two prices
    return dates[len(dates) - len(values) :], values


@functools.lru_cache(maxsize=1)
def _bundled_prices() -> tuple[np.ndarray, np.ndarray]:
    # the CSV loader imports pandas, which the server loads only when needed
    from models.data.bundled import load_bundled

    series = load_bundled()
    dates = series.frame.index.to_numpy().astype("datetime64[D]")
    prices = series.frame["close"].to_numpy(dtype=np.float64)
    dates.setflags(write=False)
    prices.setflags(write=False)
    return dates, prices
