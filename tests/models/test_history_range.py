"""Forecast histories outside the range of the version's training part get
a forecast and a warning; histories inside it get no warning."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest

from models.data.scaling import Scaler
from models.forecasting import build_input, run_batch
from models.history_range import OUTSIDE_TRAINING_RANGE
from models.registry import LoadedModel, Registry
from models.spec import BundledData
from tests.conftest import tiny_spec


def stored_history(loaded: LoadedModel) -> tuple[list[str], list[float]]:
    return list(loaded.tail_dates), [float(c) for c in loaded.tail_close]


def wavy_closes(level: float, count: int) -> list[float]:
    """``count`` closes that move by under 1% a day around ``level``."""
    return list(level * (1 + 0.005 * np.sin(np.arange(count))))


@pytest.fixture(scope="module")
def price_model(tmp_path_factory: pytest.TempPathFactory) -> LoadedModel:
    """A tiny LSTM with a price target on the bundled NFLX closes, whose
    training part lies well above 0."""
    from models.pipeline import train_and_register

    registry = Registry(Path(tmp_path_factory.mktemp("price-registry")))
    spec = tiny_spec(name="nflx-price", target="price", data=BundledData())
    train_and_register(spec, registry)
    return registry.load("nflx-price")


def test_stored_tails_get_no_warning(trained_registry: Registry) -> None:
    for name in ("nflx", "sine"):
        loaded = trained_registry.load(name)

        assert build_input(loaded, 3).warnings == ()
        assert run_batch(loaded, [build_input(loaded, 3)])[0].warnings == ()


def test_tiny_closes_warn_price_model(price_model: LoadedModel) -> None:
    dates, closes = stored_history(price_model)
    scaler = price_model.scaler

    result = run_batch(
        price_model, [build_input(price_model, 3, dates, [1e-300] * len(closes))]
    )[0]

    assert scaler.minimum > 0
    [warning] = result.warnings
    assert warning.field == "history"
    assert warning.type == OUTSIDE_TRAINING_RANGE
    beyond = scaler.minimum / scaler.scale
    minimum, maximum = repr(scaler.minimum), repr(scaler.maximum)
    assert warning.message == (
        "the last 20 closes of the history range from 1e-300 to 1e-300, outside "
        f"the range of nflx-price:1's training part, {minimum} to {maximum}, by "
        f"up to {beyond:.3g} times its standard deviation of {scaler.scale:g}. "
        "The network was not trained on such values, so the forecast may not "
        "follow the history; send a history whose closes lie between "
        f"{minimum} and {maximum} for a forecast within the training range"
    )
    assert all(value > 1 for value in result.values)


def test_far_closes_warn_price_model(trained_registry: Registry) -> None:
    loaded = trained_registry.load("sine")
    dates, closes = stored_history(loaded)

    item = build_input(loaded, 3, dates, wavy_closes(1e6, len(closes)))

    [warning] = item.warnings
    assert warning.message.startswith("the last 20 closes of the history range from 99")
    assert "outside the range of sine:1's training part" in warning.message


def test_close_at_training_bounds_gets_no_warning(trained_registry: Registry) -> None:
    loaded = trained_registry.load("sine")
    dates, closes = stored_history(loaded)
    closes[-2:] = [loaded.scaler.minimum, loaded.scaler.maximum]

    assert build_input(loaded, 3, dates, closes).warnings == ()


def test_close_just_beyond_bound_warns(trained_registry: Registry) -> None:
    loaded = trained_registry.load("sine")
    dates, closes = stored_history(loaded)
    closes[-1] = float(np.nextafter(loaded.scaler.maximum, np.inf))

    [warning] = build_input(loaded, 3, dates, closes).warnings

    assert f"to {closes[-1]!r}, outside the range" in warning.message


@pytest.mark.parametrize("level", [1e-300, 1e-3, 1e100])
def test_log_return_model_keeps_level(trained_registry: Registry, level: float) -> None:
    loaded = trained_registry.load("nflx")
    dates, closes = stored_history(loaded)
    scaled = [close * level for close in closes]

    item = build_input(loaded, 3, dates, scaled)
    result = run_batch(loaded, [item])[0]
    reference = run_batch(loaded, [build_input(loaded, 3, dates, closes)])[0]

    assert item.warnings == ()
    for value, expected in zip(result.values, reference.values, strict=True):
        assert value / level == pytest.approx(expected, rel=1e-9)


def test_jump_warns_log_return_model(trained_registry: Registry) -> None:
    loaded = trained_registry.load("nflx")
    dates, closes = stored_history(loaded)
    closes[-1] = closes[-2] * 3

    [warning] = build_input(loaded, 3, dates, closes).warnings

    assert warning.message.startswith(
        "the log returns of the last 21 closes of the history range from "
    )
    assert "outside the range of nflx:1's training part" in warning.message
    assert f"{loaded.scaler.maximum!r} for a forecast" in warning.message


def test_stored_tail_outside_range_is_named(trained_registry: Registry) -> None:
    loaded = trained_registry.load("sine")
    narrow = Scaler(
        kind="standard",
        shift=loaded.scaler.shift,
        scale=loaded.scaler.scale,
        minimum=-0.01,
        maximum=0.01,
    )
    narrowed = dataclasses.replace(loaded, scaler=narrow)

    [warning] = run_batch(narrowed, [build_input(narrowed, 3)])[0].warnings

    assert warning.message.startswith(
        "the stored history of sine:1 (its last 20 closes) range from "
    )


def test_rewritten_tail_is_checked_again(trained_registry: Registry) -> None:
    """A version written again has another checkpoint id, so the extremes
    of its new tail are computed, not taken from the old one."""
    loaded = trained_registry.load("sine")
    far_tail = loaded.tail_close + 1e3
    rewritten = dataclasses.replace(
        loaded, tail_close=far_tail, checkpoint=loaded.checkpoint[::-1]
    )

    before = build_input(loaded, 3).warnings
    after = build_input(rewritten, 3).warnings

    assert before == ()
    [warning] = after
    assert warning.message.startswith("the stored history of sine:1")
