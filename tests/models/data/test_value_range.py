"""The range of values that training can scale: checks of loaded series and
of the scaled parts of a split, with their exact messages."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from models.calendar import first_sessions
from models.data.csv_source import parse_csv_bytes
from models.data.series import Series
from models.data.value_range import MAX_ABS_VALUE, MAX_SCALED, MIN_SPREAD
from models.errors import DataError
from models.spec import TrainingSpec
from models.training import check_trainable, fit

RANGE = (
    "training accepts values between -1e+150 and 1e+150 that are all equal "
    "or vary by more than 1e-12"
)


def value_csv(values: list[float]) -> bytes:
    """A date,value file of ``values`` on NYSE sessions from 2020-01-02."""
    dates = first_sessions(dt.date(2020, 1, 2), len(values))
    rows = [f"{d:%Y-%m-%d},{v!r}" for d, v in zip(dates, values, strict=True)]
    return ("date,value\n" + "\n".join(rows) + "\n").encode()


def parse(raw: bytes) -> Series:
    return parse_csv_bytes(raw, label="v.csv", source={"source": "t"})


def series(values: np.ndarray) -> Series:
    dates = pd.bdate_range("2010-01-04", periods=len(values), name="date")
    return Series(pd.DataFrame({"close": values}, index=dates), {"source": "t"}, "0")


def spec(**overrides: object) -> TrainingSpec:
    fields = {"name": "t", "lookback": 5, "horizon": 1, "target": "price"}
    return TrainingSpec.model_validate({**fields, **overrides})


def test_values_near_the_float64_limit_are_rejected() -> None:
    with pytest.raises(DataError) as caught:
        parse(value_csv([1e308, 1.7e308] * 5))

    assert caught.value.field == "data"
    assert caught.value.message == (
        f"v.csv: value is 1e+308 on 2020-01-02, too large to scale; {RANGE}; "
        "divide the series by a power of ten"
    )


def test_values_at_the_bound_are_accepted() -> None:
    loaded = parse(value_csv([-MAX_ABS_VALUE, MAX_ABS_VALUE, 0.0]))
    assert loaded.frame["close"].tolist() == [-1e150, 1e150, 0.0]

    with pytest.raises(DataError, match="value is 1.1e\\+150 on 2020-01-03"):
        parse(value_csv([1.0, 1.1e150]))


def test_value_just_beyond_the_bound_is_printed_exactly() -> None:
    with pytest.raises(DataError) as caught:
        parse(value_csv([1.0, 1.0000001e150]))

    assert caught.value.message == (
        "v.csv: value is 1.0000001e+150 on 2020-01-03, too large to scale; "
        f"{RANGE}; divide the series by a power of ten"
    )


def test_yahoo_close_is_named() -> None:
    raw = (
        b"Date,Open,High,Low,Close,Volume\n"
        b"2020-01-02,1,1,1,1,10\n2020-01-03,1,1,1,3e200,10\n"
    )
    with pytest.raises(DataError, match="v.csv: close is 3e\\+200 on 2020-01-03"):
        parse(raw)


def test_chosen_yahoo_column_is_named() -> None:
    raw = (
        b"Date,Open,High,Low,Close,Volume\n"
        b"2020-01-02,1,1,1,1,10\n2020-01-03,3e200,1,1,1,10\n"
    )
    with pytest.raises(DataError, match="v.csv: open is 3e\\+200 on 2020-01-03"):
        parse_csv_bytes(raw, column="open", label="v.csv", source={"source": "t"})


UPLOAD_RANGE = (
    "too large to scale; uploads accept values between -1e+150 and 1e+150 in "
    "every column, the range that training can scale; divide the column by a "
    "power of ten"
)


def upload_error(raw: bytes) -> str:
    """Return the message of the ``DataError`` on field ``data`` that
    parsing ``raw`` with every column checked raises."""
    with pytest.raises(DataError) as caught:
        parse_csv_bytes(raw, label="v.csv", source={}, check_all_columns=True)

    assert caught.value.field == "data"
    return caught.value.message


def test_all_columns_check_names_any_column() -> None:
    raw = (
        b"Date,Open,High,Low,Close,Volume\n"
        b"2020-01-02,1,1,1,1,10\n2020-01-03,1,1,1,1,1.0000001e150\n"
    )

    assert upload_error(raw) == (
        "v.csv: volume is 1.0000001e+150 in data row 2 (row 1 is the first row "
        f"after the header), dated 2020-01-03, {UPLOAD_RANGE}"
    )


def test_all_columns_check_reads_file_order() -> None:
    # the second row is dropped for its missing close when the series is
    # read by its close, but kept when it is read by its open
    raw = (
        b"Date,Open,High,Low,Close,Volume\n"
        b"2020-01-06,1,1,1,1,10\n"
        b"2020-01-03,1,1,1,,-2e200\n"
        b"2020-01-02,5e200,1,1,1,10\n"
    )

    assert upload_error(raw) == (
        "v.csv: volume is -2e+200 in data row 2 (row 1 is the first row after "
        f"the header), dated 2020-01-03, {UPLOAD_RANGE}"
    )


def test_all_columns_check_names_the_value_column() -> None:
    assert upload_error(value_csv([1.0, 2.0, 3e200])) == (
        "v.csv: value is 3e+200 in data row 3 (row 1 is the first row after the "
        f"header), dated 2020-01-06, {UPLOAD_RANGE}"
    )


def test_all_columns_check_accepts_the_bound() -> None:
    raw = (
        b"Date,Open,High,Low,Close,Volume\n"
        b"2020-01-02,1e150,1e150,1,1,1e150\n2020-01-03,1,2,1,2,0\n"
    )

    loaded = parse_csv_bytes(raw, label="v.csv", source={}, check_all_columns=True)

    assert loaded.frame["open"].tolist() == [1e150, 1.0]
    assert loaded.frame["volume"].tolist() == [1e150, 0.0]


def test_other_columns_unchecked_by_default() -> None:
    raw = (
        b"Date,Open,High,Low,Close,Volume\n"
        b"2020-01-02,1,1,1,1,10\n2020-01-03,3e200,3e200,1,2,10\n"
    )

    loaded = parse(raw)

    assert loaded.frame["open"].tolist() == [1.0, 3e200]


def test_tiny_spread_is_rejected() -> None:
    tiny = [1e-300 * (1 + i % 7) for i in range(20)]

    with pytest.raises(DataError) as caught:
        parse(value_csv(tiny))

    assert caught.value.field == "data"
    assert caught.value.message == (
        "v.csv: the value column varies by only 6e-300 (from 1e-300 to 7e-300), "
        f"too little to scale; {RANGE}; multiply the series by a power of ten"
    )


def test_spread_bound_and_constant_series() -> None:
    with pytest.raises(DataError, match="varies by only 1e-12 "):
        parse(value_csv([0.0, MIN_SPREAD]))
    assert len(parse(value_csv([0.0, 2 * MIN_SPREAD])).frame) == 2
    assert len(parse(value_csv([5.0] * 10)).frame) == 10


def test_later_part_beyond_float32_resolution_is_rejected() -> None:
    # a constant training part is only shifted, so the jump stays unscaled
    values = np.concatenate([np.full(70, 5.0), np.full(30, 1e9)])

    with pytest.raises(DataError) as caught:
        check_trainable(spec(), series(values))

    assert caught.value.field == "data"
    assert caught.value.message == (
        "the series' validation part has the value 1000000000.0, which the "
        "scaler fitted on the training part (shift 5, scale 1) maps to "
        "999999995.0, beyond 16,777,216 (2^24) scales, where float32 cannot "
        "tell values one scale apart; use a series whose later values stay "
        "nearer its training part, or target log_return"
    )


def test_scaled_bound_is_inclusive() -> None:
    inside = np.concatenate([np.full(70, 5.0), np.full(30, 5.0 + MAX_SCALED)])
    check_trainable(spec(), series(inside))

    beyond = np.concatenate([np.full(70, 5.0), np.full(30, 6.0 + MAX_SCALED)])
    with pytest.raises(DataError, match="maps to 16777217.0, beyond 16,777,216"):
        fit(spec(), series(beyond))


def test_training_part_too_flat_to_scale_is_rejected() -> None:
    # log returns of 1e-13 and 2e-13 in turn
    prices = 100.0 * np.exp(np.cumsum(np.tile([1e-13, 2e-13], 50)))

    with pytest.raises(DataError) as caught:
        check_trainable(spec(target="log_return"), series(prices))

    assert caught.value.message.startswith(
        "the log returns of the series' training part have a standard deviation "
        "of only "
    )
    assert caught.value.message.endswith(
        "too little for the standard scaler, which needs more than 1e-12; use "
        "target price"
    )
    check_trainable(spec(target="price"), series(prices))


def test_minmax_scaler_names_the_range() -> None:
    values = np.concatenate([1e-15 * np.arange(70), np.arange(30.0)])

    with pytest.raises(DataError) as caught:
        check_trainable(spec(scaler="minmax"), series(values))

    assert caught.value.message == (
        "the values of the series' training part have a range of only 6.9e-14, "
        "too little for the minmax scaler, which needs more than 1e-12; "
        "multiply the series by a power of ten"
    )
