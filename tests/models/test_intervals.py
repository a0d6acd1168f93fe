"""Split conformal intervals: the quantile rank, the scales and coverage."""

from __future__ import annotations

import numpy as np
import pytest

from models.errors import InvalidInputError
from models.intervals import (
    REPORT_LEVELS,
    ConformalIntervals,
    calibrate,
    conformal_rank,
    level_rows,
)
from models.pipeline import train_and_register
from models.registry import Registry
from models.spec import SyntheticData
from tests.conftest import tiny_spec


def test_conformal_rank_has_finite_sample_correction() -> None:
    assert conformal_rank(9, 0.8) == 8  # ceil(10 * 0.8)
    assert conformal_rank(9, 0.85) == 9  # ceil(8.5)
    assert conformal_rank(19, 0.95) == 19  # ceil(19.0) despite float error


def test_calibrate_absolute_by_hand() -> None:
    # residuals of step 1: 1..9, of step 2: 10..90
    actual = np.zeros((9, 2))
    forecast = np.stack([np.arange(1.0, 10.0), np.arange(10.0, 100.0, 10.0)], 1)
    intervals = calibrate(actual, forecast, positive=False)
    assert intervals is not None
    assert intervals.scale == "absolute"
    np.testing.assert_allclose(intervals.half_width(0.8), [8.0, 80.0])
    np.testing.assert_allclose(intervals.half_width(0.5), [5.0, 50.0])
    # ceil(10 * 0.91) = 10 > 9 windows: no finite half-width
    assert intervals.levels[-1] == 0.9
    with pytest.raises(InvalidInputError, match="level=0.95 is not available"):
        intervals.half_width(0.95)


def test_calibrate_log_scale_by_hand() -> None:
    actual = np.array([[100.0], [100.0], [100.0]])
    forecast = np.array([[100.0 * np.exp(0.1)], [100.0 * np.exp(-0.2)], [100.0]])
    intervals = calibrate(actual, forecast, positive=True)
    assert intervals is not None
    assert intervals.scale == "log"
    # scores 0.1, 0.2, 0: level 0.5 takes rank ceil(2) = 2 -> 0.1
    np.testing.assert_allclose(intervals.half_width(0.5), [0.1])
    lower, upper = intervals.bounds(np.array([[50.0]]), 0.5)
    assert lower[0, 0] == pytest.approx(50.0 * np.exp(-0.1))
    assert upper[0, 0] == pytest.approx(50.0 * np.exp(0.1))


def test_one_window_serves_levels_up_to_half() -> None:
    intervals = calibrate(np.ones((1, 3)), np.zeros((1, 3)), positive=False)
    assert intervals is not None
    assert intervals.levels[-1] == 0.5
    assert calibrate(np.ones((0, 3)), np.zeros((0, 3)), positive=False) is None


def test_intervals_round_trip_through_dict() -> None:
    actual = np.zeros((30, 3))
    forecast = np.arange(90.0).reshape(30, 3)
    intervals = calibrate(actual, forecast, positive=False)
    assert intervals is not None
    again = ConformalIntervals.from_dict(intervals.to_dict())
    assert again.levels == intervals.levels
    np.testing.assert_array_equal(again.half_widths, intervals.half_widths)


def test_coverage_reached_near_level_on_noisy_series(tmp_path: object) -> None:
    spec = tiny_spec(
        name="ar",
        target="price",
        epochs=3,
        data=SyntheticData(generator="ar1", length=3000, noise=0.5, seed=3),
    )
    registry = Registry(str(tmp_path))
    _, result, _ = train_and_register(spec, registry)
    coverage = result.metrics["intervals"]
    assert result.intervals is not None
    assert result.intervals.calibration_windows == result.split["validation"]["windows"]
    for level in ("0.8", "0.9", "0.95"):
        reached = coverage[level]["coverage"]
        assert abs(reached - float(level)) < 0.05, (level, reached)
    assert coverage["0.8"]["mean_width"] < coverage["0.95"]["mean_width"]
    meta = registry.metadata("ar", 1)
    assert meta["intervals"]["method"] == "split_conformal"
    assert meta["intervals"]["scale"] == "absolute"


@pytest.mark.parametrize("windows", [19, 99])
def test_coverage_on_exchangeable_errors(windows: int) -> None:
    # with n exchangeable scores the interval covers a new one with
    # probability rank / (n + 1) exactly, averaged over calibration draws
    rng = np.random.default_rng(0)
    draws = 400
    covered = {level: 0.0 for level in REPORT_LEVELS}
    for _ in range(draws):
        calibration = rng.standard_t(4, size=(windows, 2))
        intervals = calibrate(calibration, np.zeros_like(calibration), positive=False)
        assert intervals is not None
        fresh = rng.standard_t(4, size=(500, 2))
        for level in REPORT_LEVELS:
            lower, upper = intervals.bounds(np.zeros_like(fresh), level)
            covered[level] += float(np.mean((fresh >= lower) & (fresh <= upper)))

    for level in REPORT_LEVELS:
        expected = conformal_rank(windows, level) / (windows + 1)
        # the mean of 400 draws has a standard error below 0.005 here
        assert abs(covered[level] / draws - expected) < 0.015, level


def test_level_rows_mark_missing_levels() -> None:
    scored = {"0.8": {"coverage": 0.75, "mean_width": 2.0}}

    rows = level_rows(scored, REPORT_LEVELS)

    assert rows["0.8"] == {"coverage": 0.75, "mean_width": 2.0, "served": True}
    assert rows["0.9"] == {"coverage": None, "mean_width": None, "served": False}
    assert rows["0.95"] == {"coverage": None, "mean_width": None, "served": False}
    assert list(rows) == ["0.8", "0.9", "0.95"]


def test_uncalibrated_levels_stored_unserved(tmp_path: object) -> None:
    # 15 validation values give 6 windows of 10 steps, which calibrate up to 0.85
    spec = tiny_spec(
        name="short",
        target="price",
        lookback=5,
        horizon=10,
        data=SyntheticData(generator="ar1", length=100),
    )
    registry = Registry(str(tmp_path))

    _, result, _ = train_and_register(spec, registry)

    assert result.intervals is not None
    assert result.intervals.levels[-1] == 0.85
    stored = registry.metadata("short", 1)["metrics"]["test"]["intervals"]
    assert stored == result.metrics["intervals"]
    assert stored["0.8"]["served"] is True
    assert stored["0.8"]["coverage"] is not None
    unserved = {"coverage": None, "mean_width": None, "served": False}
    assert stored["0.9"] == unserved
    assert stored["0.95"] == unserved
