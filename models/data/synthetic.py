"""Seeded synthetic series on the NYSE trading calendar.

Every generator returns ``length`` values indexed by the first ``length`` NYSE
sessions from 2000-01-03. ``t = 0, 1, ..., length - 1`` counts the steps
(sessions), ``e_t`` are independent standard normal draws from
``numpy.random.default_rng(seed)``, and ``sigma`` is the spec's ``noise``.
The same spec always gives the same values.
"""

from __future__ import annotations

import datetime as dt
import functools
import math
from collections.abc import Callable

import numpy as np
import pandas as pd

from models.calendar import CALENDAR_END, session_days
from models.data.series import Series, sha256_bytes
from models.errors import DataError
from models.spec import SyntheticData

FIRST_SESSION = "2000-01-03"

# The session file ends with 2200, where exchange-calendars' holiday rules
# stop, so the calendar has 50,469 sessions from FIRST_SESSION.
LAST_SESSION = CALENDAR_END

# The trend of trend_seasonal rises by this much over the whole series.
TREND_RISE = 2.0

# Mackey-Glass constants: the chaotic regime with delay tau = 17.
MG_TAU = 17.0
MG_BETA = 0.2
MG_GAMMA = 0.1
MG_POWER = 10
MG_DT = 0.1
MG_STEPS_PER_SAMPLE = 10  # one sample per unit of time
MG_WARMUP = 500  # samples discarded while the start transient decays

Generator = Callable[[SyntheticData, np.random.Generator], np.ndarray]


def generate(spec: SyntheticData) -> Series:
    """Generate the series that ``spec`` describes, as kind ``"value"``.

    ``source`` contains every spec field and ``sha256`` is of the little-endian
    float64 bytes of the values. Raises ``DataError`` when ``length`` is
    above the number of sessions in the calendar.
    """
    dates = _session_dates(spec.length)
    rng = np.random.default_rng(spec.seed)
    values = GENERATORS[spec.generator](spec, rng).astype("<f8")

    frame = pd.DataFrame({"close": values}, index=dates)
    return Series(
        frame=frame,
        source=spec.model_dump(mode="json"),
        sha256=sha256_bytes(values.tobytes()),
        cleaning=(),
        kind="value",
    )


def date_span(spec: SyntheticData) -> tuple[dt.date, dt.date]:
    """Return the first and last date of the series that ``spec`` describes,
    without generating it.

    Raises ``DataError`` as ``generate`` does.
    """
    dates = _session_dates(spec.length)
    return dates[0].date(), dates[-1].date()


def noise_floor(spec: SyntheticData) -> float | None:
    """Return the standard deviation of the one-step error of the best
    possible forecast, where the generator fixes it.

    For sine it is 0. For noisy_sine and trend_seasonal the only
    unpredictable part is the added noise, for ar1 the innovation and for
    random_walk the step, so it is ``noise``. Mackey-Glass has no closed
    form, so it returns None.
    """
    if spec.generator == "sine":
        return 0.0
    if spec.generator in ("noisy_sine", "trend_seasonal", "ar1", "random_walk"):
        return spec.noise
    return None


@functools.cache
def _nyse_sessions() -> pd.DatetimeIndex:
    """Return every NYSE session from ``FIRST_SESSION`` to ``LAST_SESSION``
    (built once)."""
    days = session_days()
    first = np.searchsorted(days, np.datetime64(FIRST_SESSION, "D"))
    last = np.searchsorted(days, np.datetime64(LAST_SESSION, "D"), side="right")
    return pd.DatetimeIndex(days[first:last].astype("datetime64[ns]"), name="date")


def _session_dates(length: int) -> pd.DatetimeIndex:
    sessions = _nyse_sessions()
    if length > len(sessions):
        raise DataError(
            f"length={length} is above the {len(sessions)} NYSE sessions from "
            f"{FIRST_SESSION} to {LAST_SESSION}, where the calendar ends; "
            f"request length <= {len(sessions)}",
            field="data.length",
        )
    return sessions[:length]


def _season(spec: SyntheticData) -> np.ndarray:
    phase = 2.0 * np.pi * np.arange(spec.length) / spec.period
    season: np.ndarray = np.sin(phase)
    return season


def _sine(spec: SyntheticData, rng: np.random.Generator) -> np.ndarray:
    """x_t = level + sin(2 pi t / period)"""
    return spec.level + _season(spec)


def _noisy_sine(spec: SyntheticData, rng: np.random.Generator) -> np.ndarray:
    """x_t = level + sin(2 pi t / period) + sigma e_t"""
    return _sine(spec, rng) + spec.noise * rng.standard_normal(spec.length)


def _trend_seasonal(spec: SyntheticData, rng: np.random.Generator) -> np.ndarray:
    """x_t = level + TREND_RISE t / (length - 1) + sin(2 pi t / period)
    + sigma e_t"""
    trend = np.linspace(0.0, TREND_RISE, spec.length)
    return _noisy_sine(spec, rng) + trend


def _ar1(spec: SyntheticData, rng: np.random.Generator) -> np.ndarray:
    """x_t = level + y_t with y_t = phi y_{t-1} + sigma e_t.

    y_0 = sigma e_0 / sqrt(1 - phi^2) is drawn from the stationary
    distribution, so the series has no start transient.
    """
    shocks = spec.noise * rng.standard_normal(spec.length)
    values = np.empty(spec.length)
    values[0] = shocks[0] / math.sqrt(1.0 - spec.phi**2)
    for t in range(1, spec.length):
        values[t] = spec.phi * values[t - 1] + shocks[t]
    return spec.level + values


def _random_walk(spec: SyntheticData, rng: np.random.Generator) -> np.ndarray:
    """x_0 = level and x_t = x_{t-1} + sigma e_t."""
    steps = spec.noise * rng.standard_normal(spec.length - 1)
    return spec.level + np.concatenate([[0.0], np.cumsum(steps)])


def _mackey_glass(spec: SyntheticData, rng: np.random.Generator) -> np.ndarray:
    """x_t = level + m(t) + sigma e_t, with m the Mackey-Glass delay equation

        dm/dt = beta m(t - tau) / (1 + m(t - tau)^n) - gamma m(t)

    for tau = 17, beta = 0.2, gamma = 0.1 and n = 10 (chaotic). It is
    integrated by the Euler method with dt = 0.1 and sampled once per unit of
    time. The history m(s) for s <= 0 is a constant drawn uniformly from
    [0.5, 1.5], so each seed follows its own trajectory, and the first 500
    samples are discarded. Noise is added to the samples only, not fed back
    into the equation. Without noise, m stays within about 0.4..1.35.
    """
    lag = round(MG_TAU / MG_DT)
    initial = rng.uniform(0.5, 1.5)
    path = _integrate_mackey_glass(initial, lag, MG_WARMUP + spec.length)
    noise = spec.noise * rng.standard_normal(spec.length)
    return spec.level + path[MG_WARMUP:] + noise


def _integrate_mackey_glass(initial: float, lag: int, samples: int) -> np.ndarray:
    """Return ``samples`` values of m, one per ``MG_STEPS_PER_SAMPLE`` steps.

    ``ring`` stores the last ``lag`` values, so ``ring[position]`` is
    m(t - tau) before it is overwritten with m(t).
    """
    ring = [initial] * lag
    position = 0
    current = initial
    out = np.empty(samples)

    for sample in range(samples):
        for _ in range(MG_STEPS_PER_SAMPLE):
            delayed = ring[position]
            ring[position] = current
            position = (position + 1) % lag
            growth = MG_BETA * delayed / (1.0 + delayed**MG_POWER)
            current += MG_DT * (growth - MG_GAMMA * current)
        out[sample] = current
    return out


GENERATORS: dict[str, Generator] = {
    "sine": _sine,
    "noisy_sine": _noisy_sine,
    "trend_seasonal": _trend_seasonal,
    "ar1": _ar1,
    "random_walk": _random_walk,
    "mackey_glass": _mackey_glass,
}
