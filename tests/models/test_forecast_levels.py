"""Interval levels in one batched forward: each input keeps its own bounds."""

from __future__ import annotations

import numpy as np
import pytest

from models.errors import InvalidInputError
from models.forecasting import build_input, run_batch, version_intervals
from models.registry import Registry


def test_batch_with_mixed_levels_equals_single_runs(
    trained_registry: Registry,
) -> None:
    loaded = trained_registry.load("nflx")
    tail = loaded.tail_close
    dates = list(loaded.tail_dates)
    inputs = [
        build_input(loaded, 5, level=0.8),
        build_input(loaded, 3, dates, list(tail * 1.5), level=0.95),
        build_input(loaded, 5),
        build_input(loaded, 2, dates, list(tail * 0.5), level=0.5),
    ]
    batched = run_batch(loaded, inputs)
    for item, result in zip(inputs, batched, strict=True):
        single = run_batch(loaded, [item])[0]
        assert result.dates == single.dates
        np.testing.assert_allclose(result.values, single.values, rtol=1e-6)
        if item.level is not None:
            np.testing.assert_allclose(result.lower, single.lower, rtol=1e-6)
            np.testing.assert_allclose(result.upper, single.upper, rtol=1e-6)
    assert batched[2].lower is None
    assert batched[2].upper is None

    intervals = version_intervals(loaded)
    for item, result in zip(inputs, batched, strict=True):
        if item.level is None:
            continue
        values = np.asarray(result.values)
        half = intervals.half_width(item.level)[: item.horizon]
        # log scale for market prices: value * exp(-/+ q_k)
        np.testing.assert_allclose(result.lower, values * np.exp(-half))
        np.testing.assert_allclose(result.upper, values * np.exp(half))


def test_version_without_intervals_rejects_level(
    trained_registry: Registry,
) -> None:
    loaded = trained_registry.load("nflx")
    stripped = dict(loaded.metadata)
    stripped["intervals"] = None
    old = type(loaded)(**{**loaded.__dict__, "metadata": stripped})
    with pytest.raises(InvalidInputError, match="has no calibrated prediction"):
        build_input(old, 3, level=0.9)
    assert build_input(old, 3).level is None
