"""The values that training can scale in float64 and represent in float32.

Training maps the modelled values v (the closes, or their log returns) to
z = (v - shift) / scale, with the shift and the scale fitted in float64 on
the training part (``models.data.scaling``), and the network receives z
as float32. Three bounds follow from that:

``MAX_ABS_VALUE = 1e150``. The standard scaler's variance and the test
metrics' mean squared errors sum squared differences of values. Between
-1e150 and 1e150 a squared difference is at most 4e300, so a sum over up
to 40 million values stays below float64's largest number, about 1.8e308.
Beyond that the variance overflows to inf and every loss becomes NaN.

``MIN_SPREAD = 1e-12``, the scaler's ``SCALE_FLOOR``. The scaler treats a
training part whose spread is at most this as constant and only shifts
it, so its values reach the network unscaled. The network's outputs carry
rounding errors near 1e-7, float32's precision at the unit scale on which
they live. A series that varies by 1e-12 or less would be lost in them, and
its forecasts would be off by the network's noise. A constant series
(spread 0) is accepted. Its shifted values are all 0, so a forecast is the
constant plus the network's output for zero inputs, which training drives
towards 0 but does not make exact: a one-epoch fit of a four-unit LSTM on a
constant 5.0 series has a test RMSE near 0.1.

``MAX_SCALED = 2**24``. Float32 has a 24-bit significand, so beyond
16,777,216 scales from the shift it cannot tell apart two values one
scale apart, the unit in which the network learns. A validation or test
value, or a value of a forecast's history, further out is rejected.
Within the bound a squared error is at most 2.8e14, far below float32's
largest number, about 3.4e38.

Data sources check the closes against the first two bounds when they load
a series; training checks the modelled values of its training part against
the second and all of them against the third once the scaler is fitted.
Series uploads also check every value of every column against the first
bound, because a job may train on any of their price columns.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

import numpy as np

from models.data.scaling import SCALE_FLOOR, Scaler, ScalerKind, shift_and_spread
from models.errors import DataError

if TYPE_CHECKING:
    # the serving path imports this module, and pandas only when needed
    import pandas as pd

MAX_ABS_VALUE = 1e150
MIN_SPREAD = SCALE_FLOOR
MAX_SCALED = float(2**24)

ACCEPTED_RANGE = (
    f"training accepts values between -{MAX_ABS_VALUE:g} and {MAX_ABS_VALUE:g} "
    f"that are all equal or vary by more than {MIN_SPREAD:g}"
)
# the modelled values of each target, in the plural and the singular
MODELLED = {"price": ("values", "value"), "log_return": ("log returns", "log return")}
# the spread that each scaler divides by
SPREADS = {"standard": "standard deviation", "minmax": "range"}


def shortest_repr(value: float) -> str:
    """Write ``value`` in the shortest form that reads back as the same
    float, so that a value beyond a bound never prints as the bound. The
    format ``g`` would print 1.0000001e150 as ``1e+150``."""
    return repr(float(value))


def first_beyond(values: np.ndarray, bound: float) -> int | None:
    """Return the index of the first of ``values`` (N,) whose magnitude is
    above ``bound`` or that is not finite, or None."""
    beyond = np.flatnonzero(~(np.abs(values) <= bound))
    return int(beyond[0]) if len(beyond) else None


def check_series_values(column: pd.Series, *, name: str, label: str) -> None:
    """Raise ``DataError`` when a value of ``column`` (indexed by date) lies
    beyond ``MAX_ABS_VALUE``, or when the values differ by at most
    ``MIN_SPREAD``. ``name`` names the column and ``label`` the input in the
    message."""
    values = column.to_numpy(dtype=np.float64)
    far = first_beyond(values, MAX_ABS_VALUE)
    if far is not None:
        date = column.index[far].strftime("%Y-%m-%d")
        raise DataError(
            f"{label}: {name} is {shortest_repr(values[far])} on {date}, too "
            f"large to scale; {ACCEPTED_RANGE}; divide the series by a power of "
            "ten",
            field="data",
        )

    low, high = float(values.min()), float(values.max())
    if 0 < high - low <= MIN_SPREAD:
        raise DataError(
            f"{label}: the {name} column varies by only {high - low:g} (from "
            f"{low:g} to {high:g}), too little to scale; {ACCEPTED_RANGE}; "
            "multiply the series by a power of ten",
            field="data",
        )


def check_column_ranges(
    frame: pd.DataFrame, *, names: Mapping[str, str], label: str
) -> None:
    """Raise ``DataError`` for the first value of ``frame``, in row order and
    then column order, whose magnitude is above ``MAX_ABS_VALUE``.

    ``frame`` contains the parsed rows in input order, so that row i is data
    row i + 1 of the file, with a date index and float64 columns (NaN for a
    missing cell). ``names`` maps a column to the name that the message
    uses, such as ``close`` to ``value``, and ``label`` names the input.
    """
    values = frame.to_numpy(dtype=np.float64)
    rows, columns = np.nonzero(np.abs(values) > MAX_ABS_VALUE)
    if len(rows) == 0:
        return

    # np.nonzero returns the positions in row-major order
    row, column = int(rows[0]), int(columns[0])
    name = str(frame.columns[column])
    date = frame.index[row].strftime("%Y-%m-%d")
    raise DataError(
        f"{label}: {names.get(name, name)} is {shortest_repr(values[row, column])} "
        f"in data row {row + 1} (row 1 is the first row after the header), dated "
        f"{date}, too large to scale; uploads accept values between "
        f"-{MAX_ABS_VALUE:g} and {MAX_ABS_VALUE:g} in every column, the range "
        "that training can scale; divide the column by a power of ten",
        field="data",
    )


def check_training_spread(train: np.ndarray, kind: ScalerKind, target: str) -> None:
    """Raise ``DataError`` when the modelled values of the training part (N,)
    differ, but by a spread that a ``kind`` scaler cannot divide by."""
    _, spread = shift_and_spread(kind, train)
    if np.ptp(train) == 0 or spread > MIN_SPREAD:
        return

    fix = (
        "use target price"
        if target == "log_return"
        else "multiply the series by a power of ten"
    )
    raise DataError(
        f"the {MODELLED[target][0]} of the series' training part have a "
        f"{SPREADS[kind]} of only {spread:g}, too little for the {kind} scaler, "
        f"which needs more than {MIN_SPREAD:g}; {fix}",
        field="data",
    )


def check_scaled(
    scaled: np.ndarray,
    values: np.ndarray,
    scaler: Scaler,
    *,
    test_start: int,
    target: str,
) -> None:
    """Raise ``DataError`` when one of the ``scaled`` values (N,) of the
    modelled ``values`` (N,) lies beyond ``MAX_SCALED``.

    Training values lie within a few scales of the shift, so an offending
    value lies in the validation part or in the test part, which starts at
    index ``test_start``.
    """
    far = first_beyond(scaled, MAX_SCALED)
    if far is None:
        return

    part = "validation" if far < test_start else "test"
    fix = "; use a series whose later values stay nearer its training part"
    if target == "price":
        fix += ", or target log_return"
    raise DataError(
        f"the series' {part} part has the {MODELLED[target][1]} "
        f"{shortest_repr(values[far])}, which the scaler fitted on the training "
        f"part (shift {scaler.shift:g}, scale {scaler.scale:g}) maps to "
        f"{shortest_repr(scaled[far])}, beyond {MAX_SCALED:,.0f} (2^24) scales, "
        f"where float32 cannot tell values one scale apart{fix}",
        field="data",
    )
