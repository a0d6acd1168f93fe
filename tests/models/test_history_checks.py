"""The quick history checks of a forecast agree with the full ones: a
history they pass is one the full checks pass too."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from models.errors import InvalidInputError
from models.forecasting import (
    _check_closes,
    _check_history,
    _plainly_valid_closes,
    required_rows,
)
from models.registry import LoadedModel, Registry

# closes around a model's training range, its edges and beyond: huge,
# tiny, zero, negative and non-finite values
SPECIAL = [0.0, -0.0, -1.0, 1e-300, 1e150, 1.0000001e150, -1e150, 1e200, 1.7e308]
SPECIAL += [float("inf"), float("-inf"), float("nan")]


def closes_near(loaded: LoadedModel, rows: int) -> st.SearchStrategy[list[float]]:
    """Lists of ``rows`` closes: the version's own tail with some rows
    replaced by special or random values."""
    tail = [float(c) for c in loaded.tail_close[-rows:]]
    value = st.one_of(
        st.sampled_from(SPECIAL),
        st.floats(allow_nan=True, allow_infinity=True),
        st.floats(min_value=0.5 * min(tail), max_value=2 * max(tail)),
    )
    changes = st.dictionaries(st.integers(0, rows - 1), value, max_size=3)
    return changes.map(lambda edits: [edits.get(i, c) for i, c in enumerate(tail)])


def full_check_passes(loaded: LoadedModel, values: np.ndarray) -> bool:
    try:
        _check_closes(loaded, values, required_rows(loaded))
    except InvalidInputError:
        return False
    return True


@pytest.mark.parametrize("name", ["nflx", "sine"])
def test_quick_close_check_implies_full_check(
    trained_registry: Registry, name: str
) -> None:
    loaded = trained_registry.load(name)
    rows = required_rows(loaded) + 2

    @settings(max_examples=300, deadline=None)
    @given(closes=closes_near(loaded, rows))
    def check(closes: list[float]) -> None:
        values = np.asarray(closes, dtype=np.float64)
        with np.errstate(all="ignore"):
            quick = _plainly_valid_closes(loaded, values, required_rows(loaded))
            full = full_check_passes(loaded, values)
        assert full or not quick

    check()


@pytest.mark.parametrize("name", ["nflx", "sine"])
def test_quick_close_check_passes_the_stored_tail(
    trained_registry: Registry, name: str
) -> None:
    loaded = trained_registry.load(name)
    values = np.asarray(loaded.tail_close, dtype=np.float64)

    assert _plainly_valid_closes(loaded, values, required_rows(loaded))


def test_dates_are_rejected_exactly_when_not_strictly_increasing(
    trained_registry: Registry,
) -> None:
    loaded = trained_registry.load("nflx")
    values = np.asarray(loaded.tail_close, dtype=np.float64)
    day = st.dates(dt.date(2000, 1, 1), dt.date(2030, 12, 31))

    @settings(max_examples=300, deadline=None)
    @given(days=st.lists(day, max_size=8) | st.lists(day, max_size=8).map(sorted))
    def check(days: list[dt.date]) -> None:
        try:
            _check_history(loaded, days, values)
        except InvalidInputError as error:
            assert error.field is not None and error.field.endswith("].date")
            passes = False
        else:
            passes = True
        assert passes == (days == sorted(set(days)))

    check()


def test_duplicate_date_is_named_after_the_closes_pass(
    trained_registry: Registry,
) -> None:
    loaded = trained_registry.load("nflx")
    dates = list(loaded.tail_dates)
    dates[5] = dates[4]
    values = np.asarray(loaded.tail_close, dtype=np.float64)

    with pytest.raises(InvalidInputError) as caught:
        _check_history(loaded, dates, values)

    assert caught.value.field == "history[5].date"
    assert "is duplicated" in caught.value.message
