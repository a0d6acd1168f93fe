"""Forecasts from a loaded version: history checks, one batched forward, dates.

Nothing here touches pandas or the disk, so it is cheap per request once the
version is loaded.
"""

from __future__ import annotations

import datetime as dt
import itertools
import math
import operator
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from models.calendar import next_sessions, session_days
from models.data.value_range import (
    MAX_ABS_VALUE,
    MAX_SCALED,
    MODELLED,
    first_beyond,
    shortest_repr,
)
from models.data.windows import history_rows, to_prices, to_values
from models.errors import InvalidInputError
from models.history_range import (
    ForecastWarning,
    modelled_extremes,
    range_warnings,
    stored_tail_extremes,
)
from models.intervals import ConformalIntervals
from models.nn import infer_kernel
from models.nn.forecaster import Forecaster
from models.plurals import plural
from models.registry import LoadedModel
from models.version_checks import FORECAST


@dataclass(frozen=True)
class ForecastInput:
    """One forecast request after validation: the last R closes (R,) and the
    date of the last one."""

    closes: np.ndarray
    last_date: dt.date
    horizon: int
    # prediction interval level in (0, 1); None means no interval
    level: float | None = None
    # the ISO dates of the ``horizon`` sessions after ``last_date``; None
    # means run_batch looks them up
    dates: list[str] | None = None
    # False when the closes are the tail of the version's training data
    from_request: bool = True
    # facts about the closes that make the forecast less reliable
    warnings: tuple[ForecastWarning, ...] = ()


@dataclass(frozen=True)
class Forecast:
    """Forecast prices (K,) on the next K NYSE sessions after the history.

    ``lower`` and ``upper`` (K,) are the prediction interval bounds when the
    input asked for a level, and ``warnings`` are the input's.
    """

    dates: list[str]
    values: list[float]
    lower: list[float] | None = None
    upper: list[float] | None = None
    warnings: tuple[ForecastWarning, ...] = ()


def required_rows(loaded: LoadedModel) -> int:
    """Return how many history rows a forecast of ``loaded`` needs."""
    return history_rows(loaded.lookback, loaded.target)


def check_horizon(loaded: LoadedModel, horizon: int) -> None:
    """Raise a ``horizon`` error unless ``horizon`` is 1 to the number of
    steps that ``loaded`` forecasts."""
    if not 1 <= horizon <= loaded.horizon:
        raise InvalidInputError(
            f"horizon={horizon} is out of range for {loaded.name}:"
            f"{loaded.version}, {horizon_fix(loaded.horizon)}",
            field="horizon",
        )


def horizon_fix(steps: int) -> str:
    """Return the end of a horizon error for a model that forecasts
    ``steps`` steps: what it forecasts and which horizon to request."""
    if steps == 1:
        return "which forecasts 1 step; request a horizon of 1"
    return (
        f"which forecasts 1 to {steps} steps; request a horizon between 1 and {steps}"
    )


def build_input(
    loaded: LoadedModel,
    horizon: int,
    dates: Sequence[str] | Sequence[dt.date] | None = None,
    closes: Sequence[float] | None = None,
    level: float | None = None,
) -> ForecastInput:
    """Validate a request and keep the rows the model needs.

    Without ``dates`` and ``closes`` the tail of the version's own training
    series is used. ``dates`` are ISO strings or dates, sorted and unique.
    ``level`` must be a level that the version's intervals were calibrated
    at.

    A history whose last rows have the stored tail's dates and float64
    closes gives the stored tail's forecast bit for bit, because both keep
    the same float64 array. A close that differs in any bit can change the
    forecast: the last close multiplies a log-return forecast, and a change
    that flips the float32 rounding of a scaled value changes the network's
    output.

    The input carries a warning when the modelled values of the rows kept
    leave the range of the version's training part (``range_warnings``).
    """
    check_horizon(loaded, horizon)
    if level is not None:
        version_intervals(loaded).half_width(level, f"{loaded.name}:{loaded.version}")
    needed = required_rows(loaded)
    last_row: int | None = None
    if dates is None or closes is None:
        last, values = loaded.tail_dates[-1], loaded.tail_close
        extremes = stored_tail_extremes(loaded, needed)
    else:
        values = np.asarray(closes, dtype=np.float64)
        extremes = _check_history(loaded, dates, values)
        last, last_row = dates[-1], len(dates) - 1

    last_date = last if isinstance(last, dt.date) else dt.date.fromisoformat(last)
    from_request = last_row is not None
    return ForecastInput(
        closes=values[-needed:],
        last_date=last_date,
        horizon=horizon,
        level=level,
        dates=_forecast_dates(loaded, last_date, horizon, last_row),
        from_request=from_request,
        warnings=range_warnings(
            loaded, extremes, min(needed, len(values)), from_request=from_request
        ),
    )


def _forecast_dates(
    loaded: LoadedModel, last_date: dt.date, horizon: int, row: int | None
) -> list[str]:
    """Return the ``horizon`` sessions after ``last_date``; raise a 422-type
    error when the calendar cannot date them, before the request joins a
    batch.

    ``row`` is the index of the last row of the request's history, or None
    when the history is the version's stored tail.
    """
    try:
        return next_sessions(last_date, horizon)
    except ValueError as exc:
        if row is None:
            raise _stored_history_error(loaded, last_date, exc) from exc
        raise _request_history_error(last_date, row, exc) from exc


def _request_history_error(
    last_date: dt.date, row: int, exc: ValueError
) -> InvalidInputError:
    field = f"history[{row}].date"
    first = session_days()[0]
    if np.datetime64(last_date, "D") < first:
        return InvalidInputError(
            f"{field} {last_date} is too early: {exc}; send a history that "
            f"ends on or after {first}",
            field=field,
        )
    return InvalidInputError(
        f"{field} {last_date} is too late: {exc}; send a history that ends "
        "earlier or request a smaller horizon",
        field=field,
    )


def _stored_history_error(
    loaded: LoadedModel, last_date: dt.date, exc: ValueError
) -> InvalidInputError:
    days = session_days()
    day = np.datetime64(last_date, "D")
    stored = (
        f"the request has no history, and the stored history of "
        f"{loaded.name}:{loaded.version} ends on {last_date}"
    )
    if day < days[0]:
        return InvalidInputError(
            f"{stored}, before the calendar's start: {exc}; send a history in "
            f"the request that ends on or after {days[0]}",
            field="history",
        )
    position = "past" if day > days[-1] else "too close to"
    return InvalidInputError(
        f"{stored}, {position} the calendar's end: {exc}; send a history in the "
        "request that ends earlier, or request a smaller horizon",
        field="history",
    )


def version_intervals(loaded: LoadedModel) -> ConformalIntervals:
    """Return the calibrated intervals stored with ``loaded``; raise
    InvalidInputError for a version trained without them."""
    stored = loaded.metadata.get("intervals")
    if not stored:
        raise InvalidInputError(
            f"{loaded.name}:{loaded.version} has no calibrated prediction "
            "intervals; request no level, or retrain the model to calibrate them",
            field="level",
        )
    return ConformalIntervals.from_dict(stored)


def _check_history(
    loaded: LoadedModel, dates: Sequence[str] | Sequence[dt.date], values: np.ndarray
) -> tuple[float, float]:
    """Raise for a history that the version cannot forecast from. Return
    the lowest and highest modelled value of the rows that it reads."""
    needed = required_rows(loaded)
    if len(values) < needed:
        raise InvalidInputError(
            f"history has {plural(len(values), 'row')} but "
            f"{loaded.name}:{loaded.version} needs at least {needed} (lookback "
            f"{loaded.lookback}"
            f"{' plus one for log returns' if loaded.target == 'log_return' else ''}"
            f"); send at least {plural(needed, 'row')}",
            field="history",
        )
    extremes = _plainly_valid_closes(loaded, values, needed)
    if extremes is None:
        _check_closes(loaded, values, needed)
        extremes = modelled_extremes(values[-needed:], loaded.target)
    if not all(map(operator.lt, dates, itertools.islice(dates, 1, None))):
        _check_dates(dates)
    return extremes


def _plainly_valid_closes(
    loaded: LoadedModel, values: np.ndarray, needed: int
) -> tuple[float, float] | None:
    """Return the lowest and highest modelled value of the last ``needed``
    of ``values`` (N,) when ``_check_closes`` would pass them, in about half
    its numpy calls. None means that it may not, and it runs to find the
    error.

    The scaled bound is checked on the smallest and largest modelled value
    with the scaler's own arithmetic, which keeps their order because the
    scale is positive. Min and max carry nan and inf, so finite extremes
    mean finite values.
    """
    closes = values[-needed:]
    low, high = closes.min(), closes.max()
    if len(closes) < len(values):
        earlier = values[:-needed]
        if not math.isfinite(earlier.min()) or not math.isfinite(earlier.max()):
            return None
    if not -MAX_ABS_VALUE <= low <= high <= MAX_ABS_VALUE:
        return None

    if loaded.target == "log_return":
        if not low > 0:
            return None
        logs = np.log(closes)
        steps = logs[1:] - logs[:-1]  # np.diff, without its Python overhead
        low, high = steps.min(), steps.max()
    scaler = loaded.scaler
    if not (
        -MAX_SCALED <= (low - scaler.shift) / scaler.scale
        and (high - scaler.shift) / scaler.scale <= MAX_SCALED
    ):
        return None
    return float(low), float(high)


def _check_closes(loaded: LoadedModel, values: np.ndarray, needed: int) -> None:
    """Raise for the first close of ``values`` (N,) that is not finite, or
    of the last ``needed`` that is not positive for a log-return model or
    that the version cannot scale."""
    if not np.all(np.isfinite(values)):
        bad = int(np.argmax(~np.isfinite(values)))
        raise InvalidInputError(
            f"history[{bad}].close is {values[bad]}; every close must be a "
            "finite number",
            field=f"history[{bad}].close",
        )
    if loaded.target == "log_return" and np.any(values[-needed:] <= 0):
        bad = len(values) - needed + int(np.argmax(values[-needed:] <= 0))
        raise InvalidInputError(
            f"history[{bad}].close is {values[bad]}; closes must be positive "
            "for a model trained on log returns",
            field=f"history[{bad}].close",
        )
    _check_scale(loaded, values[-needed:], first_row=len(values) - needed)


def _check_dates(dates: Sequence[str] | Sequence[dt.date]) -> None:
    """Raise for the first date that is not after the one before it."""
    for i in range(1, len(dates)):
        if dates[i] <= dates[i - 1]:
            problem = "duplicated" if dates[i] == dates[i - 1] else "out of order"
            raise InvalidInputError(
                f"history[{i}].date {dates[i]} is {problem}; send dates sorted "
                "ascending with no duplicates",
                field=f"history[{i}].date",
            )


def _check_scale(loaded: LoadedModel, closes: np.ndarray, first_row: int) -> None:
    """Reject history ``closes`` (R,), the rows from ``first_row`` on that
    the forecast uses, when training could not have scaled them. That is a
    close beyond ``MAX_ABS_VALUE``, or a modelled value that the version's
    scaler maps beyond ``MAX_SCALED`` (see ``models.data.value_range``)."""
    far = first_beyond(closes, MAX_ABS_VALUE)
    if far is not None:
        field = f"history[{first_row + far}].close"
        raise InvalidInputError(
            f"{field} is {shortest_repr(closes[far])}, too large to scale; send "
            f"closes between -{MAX_ABS_VALUE:g} and {MAX_ABS_VALUE:g}",
            field=field,
        )

    values = to_values(closes, loaded.target)
    scaled = loaded.scaler.transform(values)
    far = first_beyond(scaled, MAX_SCALED)
    if far is None:
        return
    # a log return is the change into the later of its two closes
    row = first_row + far + len(closes) - len(values)
    scaler = loaded.scaler
    field = f"history[{row}].close"
    raise InvalidInputError(
        f"{field} is {shortest_repr(closes[row - first_row])}, whose "
        f"{MODELLED[loaded.target][1]} {shortest_repr(values[far])} the scaler of "
        f"{loaded.name}:{loaded.version} (shift {scaler.shift:g}, scale "
        f"{scaler.scale:g}) maps to {shortest_repr(scaled[far])}, beyond "
        f"{MAX_SCALED:,.0f} (2^24) scales, where float32 cannot tell values one "
        f"scale apart; send a history whose {MODELLED[loaded.target][0]} lie "
        f"nearer the {scaler.minimum:g} to {scaler.maximum:g} of the version's "
        "training part",
        field=field,
    )


def run_batch(loaded: LoadedModel, inputs: Sequence[ForecastInput]) -> list[Forecast]:
    """Forecast several inputs of one version with a single forward pass.

    At the server's batch sizes each numpy or torch call costs microseconds
    against about 0.1 ms for the forward pass, so the conversions around it
    use the cheaper library call of the two.
    """
    target = loaded.target
    values = _modelled_values(target, inputs)  # (B, T)
    scaled = loaded.scaler.transform(values).astype(np.float32)
    batch, steps = scaled.shape
    out = _forward(loaded.model, scaled.reshape(batch, steps, 1)).astype(np.float64)

    last = np.array([item.closes[-1] for item in inputs])
    prices = to_prices(last[:, None], loaded.scaler.inverse(out), target)

    results = []
    for index, item in enumerate(inputs):
        chosen = prices[index, : item.horizon]
        lower = upper = None
        if item.level is not None:
            lower, upper = _interval(loaded, item, chosen)
        dates = item.dates
        if dates is None:
            dates = next_sessions(item.last_date, item.horizon)
        # At these sizes math.isfinite over K floats costs less than one
        # numpy call. A row that fails goes to _finite, which raises its error.
        values = chosen.tolist()
        if not all(map(math.isfinite, values)):
            values = _finite(loaded, item, chosen)
        results.append(
            Forecast(dates, values, lower=lower, upper=upper, warnings=item.warnings)
        )
    return results


def _forward(model: Forecaster, x: np.ndarray) -> np.ndarray:
    """Map windows x (B, T, 1) of float32 to forecasts (B, K) of float32.

    Where the inference kernel runs the model, its numpy entry takes x as
    it is and skips inference mode and the tensor conversions, about 10 us
    at batch 1. It gives the bits that ``Forecaster.infer`` gives, and the
    same bits for a window in any batch.

    NOTE: on torch's operator (kernel switched off or not built) a batch of
    one runs other float32 kernels than a larger batch, so a window alone
    and the same window in a batch can differ in the tenth significant
    digit. Running each window alone would remove that at the cost of
    batching's throughput.
    """
    packed = model.kernel_weights()
    if packed is not None and packed.single:
        return infer_kernel.run_array(packed, x)
    with torch.inference_mode():
        return model.infer(torch.from_numpy(x)).numpy()


def _modelled_values(target: str, inputs: Sequence[ForecastInput]) -> np.ndarray:
    """Return the values (B, T) that the model reads: the T log returns
    between each input's R = T + 1 closes, or the closes themselves."""
    if len(inputs) == 1:
        closes = inputs[0].closes[None]
    else:
        closes = np.stack([item.closes for item in inputs])
    if target != "log_return":
        return closes
    logs = np.log(closes)
    return logs[:, 1:] - logs[:, :-1]


def _interval(
    loaded: LoadedModel, item: ForecastInput, values: np.ndarray
) -> tuple[list[float], list[float]]:
    """Bounds (K,) of one item's forecast ``values`` (K,) at its level."""
    label = f"{loaded.name}:{loaded.version}"
    lower, upper = version_intervals(loaded).bounds(values, item.level, label)
    return _finite(loaded, item, lower), _finite(loaded, item, upper)


def _finite(
    loaded: LoadedModel, item: ForecastInput, values: np.ndarray
) -> list[float]:
    """Return ``values`` (K,) of ``item``'s forecast as Python floats. Raise
    a 422-type error when one of them is not finite: on ``history`` when the
    request sent it, else on ``version``, because the version's own
    training data gave the overflow."""
    if np.isfinite(values).all():
        return values.tolist()
    if item.from_request:
        raise InvalidInputError(
            "the forecast overflowed to a non-finite price; the history is far "
            "outside the range the model was trained on",
            field="history",
        )
    raise InvalidInputError(
        f"{loaded.name}:{loaded.version} {FORECAST.failure}: its forecast from "
        "the tail of its own training data overflowed to a non-finite price; "
        f"{FORECAST.fix}",
        field=FORECAST.field,
    )
