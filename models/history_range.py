"""The warning for a forecast history outside the version's training range.

The network reads the modelled values of the history, its closes or their
log returns, scaled by the version's scaler. ``models.forecasting`` rejects
values that float32 cannot represent at that scale (``MAX_SCALED``), but
inside that bound every value is forecast. A value outside the range of
the training part, ``scaler.minimum`` to ``scaler.maximum``, is one that
the network never read in training. The tanh and sigmoid units of an RNN
saturate for inputs far outside that range, so the forecast stops
following the history and stays near values that training produced. For
example, a GRU with 8 units trained for 2 epochs on a noisy sine between
-1.3 and 1.2 (price target) forecasts about 0.6 from closes near 1e6.

Such a forecast is still returned, because a history somewhat beyond the
training range is common: a rising price series ends above its training
part. It comes with a warning that names the range.

For a log-return model the level of the closes never reaches the network,
only their log returns do. Closes of any size within the accepted bounds
are forecast at their own level, and only their log returns are compared
with the range.

NOTE: closes below float64's smallest normal number (about 2.2e-308) have
fewer significant bits, so their log returns and the forecast lose
precision without a warning.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from models.data.value_range import MODELLED, SPREADS, shortest_repr
from models.plurals import plural
from models.registry import LoadedModel

# the warning type of a history outside the training part's range
OUTSIDE_TRAINING_RANGE = "outside_training_range"
# stored tails whose extremes are kept, far more than the model cache keeps
MAX_CACHED_TAILS = 4096
_TAIL_EXTREMES: dict[tuple[str, int], tuple[float, float]] = {}


@dataclass(frozen=True)
class ForecastWarning:
    """A fact about a forecast's input that makes the forecast less
    reliable: the input field, a type to branch on and the message."""

    field: str
    type: str
    message: str


def range_warnings(
    loaded: LoadedModel,
    extremes: tuple[float, float],
    rows: int,
    *,
    from_request: bool,
) -> tuple[ForecastWarning, ...]:
    """Return the warning for the ``rows`` closes that a forecast of
    ``loaded`` reads when their modelled values, whose lowest and highest
    are ``extremes`` (``modelled_extremes``), leave the training part's
    range, or no warning. ``from_request`` is False for the version's
    stored tail."""
    low, high = extremes
    scaler = loaded.scaler
    if scaler.minimum <= low and high <= scaler.maximum:
        return ()

    label = f"{loaded.name}:{loaded.version}"
    closes = plural(rows, "close")
    source = (
        f"the last {closes} of the history"
        if from_request
        else f"the stored history of {label} (its last {closes})"
    )
    # a price model reads the closes themselves
    modelled = "closes" if loaded.target == "price" else MODELLED[loaded.target][0]
    subject = source if loaded.target == "price" else f"the {modelled} of {source}"
    minimum, maximum = shortest_repr(scaler.minimum), shortest_repr(scaler.maximum)
    beyond = max(scaler.minimum - low, high - scaler.maximum) / scaler.scale
    message = (
        f"{subject} range from {shortest_repr(low)} to {shortest_repr(high)}, "
        f"outside the range of {label}'s training part, {minimum} to {maximum}, "
        f"by up to {beyond:.3g} times its {SPREADS[scaler.kind]} of "
        f"{scaler.scale:g}. The network was not trained on such values, so the "
        f"forecast may not follow the history; send a history whose {modelled} "
        f"lie between {minimum} and {maximum} for a forecast within the "
        "training range"
    )
    return (ForecastWarning("history", OUTSIDE_TRAINING_RANGE, message),)


def stored_tail_extremes(loaded: LoadedModel, rows: int) -> tuple[float, float]:
    """Return ``modelled_extremes`` of the last ``rows`` closes of the
    stored tail of ``loaded``, computed once per version.

    The key is the version's checkpoint id, the sha256 of the metadata file
    that contains the tail, so a version written again gets a new entry.
    """
    key = (loaded.checkpoint, rows)
    extremes = _TAIL_EXTREMES.get(key)
    if extremes is None:
        if len(_TAIL_EXTREMES) >= MAX_CACHED_TAILS:
            _TAIL_EXTREMES.clear()
        extremes = modelled_extremes(loaded.tail_close[-rows:], loaded.target)
        _TAIL_EXTREMES[key] = extremes
    return extremes


def modelled_extremes(closes: np.ndarray, target: str) -> tuple[float, float]:
    """Return the lowest and highest modelled value of ``closes`` (R,): the
    closes, or their R - 1 log returns, computed as ``run_batch`` does."""
    values = closes
    if target == "log_return":
        logs = np.log(closes)
        values = logs[1:] - logs[:-1]
    return float(values.min()), float(values.max())
