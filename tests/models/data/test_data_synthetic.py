"""Tests of the synthetic generators."""

from __future__ import annotations

import datetime as dt
import hashlib
from typing import Any

import numpy as np
import pandas as pd
import pytest
from pydantic import ValidationError

from models.calendar import CALENDAR_END
from models.data.synthetic import date_span, generate, noise_floor
from models.errors import DataError
from models.spec import SyntheticData

GENERATORS = [
    "sine",
    "noisy_sine",
    "trend_seasonal",
    "ar1",
    "random_walk",
    "mackey_glass",
]
RANDOM_GENERATORS = [name for name in GENERATORS if name != "sine"]


def values(**fields: Any) -> np.ndarray:
    return generate(SyntheticData(**fields)).frame["close"].to_numpy()


@pytest.mark.parametrize("generator", GENERATORS)
def test_generate_shape_and_dates(generator: str) -> None:
    series = generate(SyntheticData(generator=generator, length=300, seed=3))

    assert len(series.frame) == 300
    assert list(series.frame.columns) == ["close"]
    assert series.frame["close"].dtype == np.float64
    assert np.isfinite(series.frame["close"]).all()
    assert series.kind == "value"
    assert series.cleaning == ()
    assert series.frame.index.name == "date"
    assert series.frame.index.dtype == "datetime64[ns]"
    assert series.frame.index[0] == pd.Timestamp("2000-01-03")
    assert series.frame.index.is_monotonic_increasing
    assert series.frame.index.is_unique


def test_generate_uses_nyse_sessions() -> None:
    index = generate(SyntheticData(length=60)).frame.index

    assert pd.Timestamp("2000-01-17") not in index  # Martin Luther King Jr. Day
    assert pd.Timestamp("2000-01-08") not in index  # Saturday
    assert index[9] == pd.Timestamp("2000-01-14")
    assert index[10] == pd.Timestamp("2000-01-18")


@pytest.mark.parametrize("generator", GENERATORS)
def test_generate_same_seed_same_values(generator: str) -> None:
    first = generate(SyntheticData(generator=generator, length=200, seed=7))
    second = generate(SyntheticData(generator=generator, length=200, seed=7))

    assert first.frame.equals(second.frame)
    assert first.sha256 == second.sha256


@pytest.mark.parametrize("generator", RANDOM_GENERATORS)
def test_generate_seeds_differ(generator: str) -> None:
    first = values(generator=generator, length=200, seed=1)
    second = values(generator=generator, length=200, seed=2)

    assert not np.allclose(first, second)


def test_generate_source_and_sha256() -> None:
    spec = SyntheticData(generator="ar1", length=100, seed=5, phi=0.5)

    series = generate(spec)

    assert series.source == {
        "source": "synthetic",
        "generator": "ar1",
        "length": 100,
        "seed": 5,
        "noise": 0.1,
        "period": 50.0,
        "phi": 0.5,
        "level": 0.0,
    }
    raw = series.frame["close"].to_numpy().astype("<f8").tobytes()
    assert series.sha256 == hashlib.sha256(raw).hexdigest()


def test_sine_equation() -> None:
    result = values(generator="sine", length=100, period=20.0, level=3.0)

    expected = 3.0 + np.sin(2 * np.pi * np.arange(100) / 20.0)
    np.testing.assert_allclose(result, expected)


def test_noisy_sine_noise_std() -> None:
    result = values(generator="noisy_sine", length=20000, noise=0.5, period=20.0)

    residual = result - np.sin(2 * np.pi * np.arange(20000) / 20.0)
    assert abs(residual.std() - 0.5) < 0.02


def test_trend_seasonal_rises() -> None:
    result = values(generator="trend_seasonal", length=1000, noise=0.0, period=20.0)

    assert result[0] == pytest.approx(0.0)
    assert result[-20:].mean() - result[:20].mean() == pytest.approx(2.0, abs=0.05)


def test_ar1_lag_one_autocorrelation() -> None:
    result = values(generator="ar1", length=20000, phi=0.8, noise=1.0, level=5.0)

    lag1 = np.corrcoef(result[:-1], result[1:])[0, 1]
    assert lag1 == pytest.approx(0.8, abs=0.02)
    assert result.mean() == pytest.approx(5.0, abs=0.2)
    assert result.std() == pytest.approx(1.0 / np.sqrt(1 - 0.8**2), rel=0.05)


def test_random_walk_steps() -> None:
    result = values(generator="random_walk", length=20000, noise=0.3, level=10.0)

    assert result[0] == 10.0
    assert np.diff(result).std() == pytest.approx(0.3, rel=0.03)


def test_mackey_glass_bounded_and_varying() -> None:
    for seed in range(3):
        result = values(generator="mackey_glass", length=2000, noise=0.0, seed=seed)

        assert result.min() > 0.2
        assert result.max() < 1.5
        assert result.std() > 0.1


def test_mackey_glass_noise_added() -> None:
    clean = values(generator="mackey_glass", length=500, noise=0.0, level=2.0)
    noisy = values(generator="mackey_glass", length=500, noise=0.05, level=2.0)

    assert clean.min() > 2.2
    assert (noisy - clean).std() == pytest.approx(0.05, rel=0.2)


def test_spec_caps_length_below_calendar() -> None:
    with pytest.raises(ValidationError, match="less than or equal to 50000"):
        SyntheticData(length=50_001)

    longest = SyntheticData(length=50_000)
    assert date_span(longest)[1] <= dt.date.fromisoformat(CALENDAR_END)


def test_date_span_matches_generated_dates() -> None:
    spec = SyntheticData(length=300)
    series = generate(spec)

    assert date_span(spec) == (series.start, series.end)


def test_generate_rejects_length_beyond_calendar() -> None:
    # model_construct skips the spec's own cap to reach the calendar check
    with pytest.raises(DataError) as caught:
        generate(
            SyntheticData.model_construct(
                **{**SyntheticData().model_dump(), "length": 100_000}
            )
        )

    assert str(caught.value) == (
        "length=100000 is above the 50469 NYSE sessions from 2000-01-03 to "
        "2200-12-31, where the calendar ends; request length <= 50469"
    )


@pytest.mark.parametrize(
    ("generator", "floor"),
    [
        ("sine", 0.0),
        ("noisy_sine", 0.25),
        ("trend_seasonal", 0.25),
        ("ar1", 0.25),
        ("random_walk", 0.25),
        ("mackey_glass", None),
    ],
)
def test_noise_floor(generator: str, floor: float | None) -> None:
    assert noise_floor(SyntheticData(generator=generator, noise=0.25)) == floor
