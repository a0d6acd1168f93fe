"""Real (tiny) training runs: determinism, early stopping, clipping, metrics."""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from models import training
from models.data.series import Series
from models.errors import TrainingDivergedError
from models.pipeline import train_and_register
from models.registry import Registry
from models.spec import TrainingSpec
from models.training import EpochRecord, TrainingCancelled, check_finite, fit


def sine_series(n: int = 300) -> Series:
    dates = pd.bdate_range("2010-01-04", periods=n, name="date")
    close = 10.0 + np.sin(np.arange(n) * 2 * np.pi / 25)
    return Series(pd.DataFrame({"close": close}, index=dates), {"source": "test"}, "0")


def spec(**overrides: object) -> TrainingSpec:
    base = {
        "name": "t",
        "hidden_size": 8,
        "num_layers": 1,
        "lookback": 20,
        "horizon": 3,
        "epochs": 3,
        "batch_size": 32,
        "target": "price",
    }
    return TrainingSpec.model_validate({**base, **overrides})


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_same_spec_gives_same_weights(cell: str) -> None:
    first = fit(spec(cell=cell), sine_series())
    second = fit(spec(cell=cell), sine_series())
    for key, value in first.model.state_dict().items():
        assert torch.equal(value, second.model.state_dict()[key]), key
    assert first.history[-1].train_loss == second.history[-1].train_loss


def test_other_seed_gives_other_weights() -> None:
    first = fit(spec(seed=1), sine_series())
    second = fit(spec(seed=2), sine_series())
    a = first.model.state_dict()["head.weight"]
    b = second.model.state_dict()["head.weight"]
    assert not torch.equal(a, b)


def test_training_lowers_the_loss() -> None:
    result = fit(spec(epochs=15, learning_rate=0.01, patience=None), sine_series())
    assert result.history[-1].train_loss < result.history[0].train_loss / 2
    assert result.metrics["skill_rmse"] > 0


def test_history_records_every_epoch() -> None:
    result = fit(spec(epochs=4, patience=None), sine_series())
    assert [r.epoch for r in result.history] == [1, 2, 3, 4]
    record = result.history[0]
    assert record.grad_norm > 0
    assert record.grad_norm_max >= record.grad_norm
    assert 0.0 <= record.clip_fraction <= 1.0
    assert set(record.param_grad_norms) == {
        name for name, _ in result.model.named_parameters()
    }


def test_clipping_fires_with_a_tiny_threshold() -> None:
    clipped = fit(spec(clip_norm=1e-6), sine_series())
    assert clipped.history[0].clip_fraction == 1.0
    unclipped = fit(spec(clip_norm=None), sine_series())
    assert unclipped.history[0].clip_fraction == 0.0


def test_early_stopping_restores_best_epoch() -> None:
    # a learning rate of 1 diverges, so validation loss stops improving
    result = fit(spec(epochs=30, learning_rate=1.0, patience=2), sine_series())
    assert result.stopped_early
    assert len(result.history) == result.best_epoch + 2
    best = min(r.val_loss for r in result.history)
    assert result.history[result.best_epoch - 1].val_loss == best


def test_cancel_stops_training() -> None:
    calls = []

    def stop() -> bool:
        calls.append(1)
        return len(calls) > 2

    with pytest.raises(TrainingCancelled):
        fit(spec(), sine_series(), should_stop=stop)


def test_cancel_after_last_epoch_stops_fit() -> None:
    events: list[str] = []

    def on_epoch(record: EpochRecord, total_epochs: int) -> None:
        events.append(f"epoch {record.epoch}")

    def stop() -> bool:
        return events[-1:] == ["epoch 3"]

    with pytest.raises(TrainingCancelled):
        fit(
            spec(patience=None),
            sine_series(),
            on_epoch=on_epoch,
            should_stop=stop,
            on_stage=events.append,
        )

    assert events == ["epoch 1", "epoch 2", "epoch 3"]


def test_fit_reports_evaluating_stage() -> None:
    events: list[str] = []

    def on_epoch(record: EpochRecord, total_epochs: int) -> None:
        events.append(f"epoch {record.epoch}")

    fit(spec(patience=None), sine_series(), on_epoch=on_epoch, on_stage=events.append)

    assert events == ["epoch 1", "epoch 2", "epoch 3", "evaluating"]


def test_failed_before_write_writes_no_version(tmp_path: Path) -> None:
    registry = Registry(tmp_path)
    calls: list[int] = []

    def before_write() -> None:
        calls.append(len(registry.versions("t")))
        raise TrainingCancelled("cancelled before the write")

    with pytest.raises(TrainingCancelled, match="cancelled before the write"):
        train_and_register(
            spec(), registry, series=sine_series(), before_write=before_write
        )

    assert calls == [0]
    assert registry.versions("t") == []
    assert list(tmp_path.iterdir()) == []


def test_metrics_include_naive_baseline() -> None:
    result = fit(spec(), sine_series())
    metrics = result.metrics
    for part in ("model", "naive"):
        assert {"rmse", "mae", "mape", "smape", "mase", "direction"} <= set(
            metrics[part]
        )
    assert set(metrics["baselines"]) == {"naive", "drift", "mean"}
    assert (
        metrics["skill_rmse"] == 1 - metrics["model"]["rmse"] / metrics["naive"]["rmse"]
    )
    assert metrics["horizon"] == 3
    assert metrics["windows"] == result.split["test"]["windows"]


def test_dropout_with_one_layer_is_rejected() -> None:
    with pytest.raises(ValueError, match="dropout=0.2 has no effect with num_layers=1"):
        spec(dropout=0.2)


def test_dropout_with_two_layers_is_applied() -> None:
    result = fit(spec(num_layers=2, dropout=0.5), sine_series())
    assert result.model.core.dropout == 0.5


def nan_from_epoch(epoch: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """Make the validation loss NaN from ``epoch`` on, as weights that
    overflowed would make it."""
    epochs = iter(range(1, 1000))
    real = training.validation_loss

    def loss(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
        value = real(model, x, y)
        return math.nan if next(epochs) >= epoch else value

    monkeypatch.setattr(training, "validation_loss", loss)


def test_non_finite_loss_stops_training(monkeypatch: pytest.MonkeyPatch) -> None:
    nan_from_epoch(2, monkeypatch)
    seen: list[int] = []

    with pytest.raises(TrainingDivergedError) as caught:
        fit(spec(), sine_series(), on_epoch=lambda record, _: seen.append(record.epoch))

    assert seen == [1]
    assert caught.value.field == "learning_rate"
    assert caught.value.message == (
        "training diverged in epoch 2 of 3 with the validation loss nan, so it "
        "stopped without a model; lower learning_rate (now 0.001)"
    )


def test_diverged_training_writes_no_version(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    nan_from_epoch(1, monkeypatch)
    registry = Registry(tmp_path)

    with pytest.raises(TrainingDivergedError):
        train_and_register(spec(), registry, series=sine_series())

    assert list(tmp_path.iterdir()) == []


def test_every_non_finite_number_is_named() -> None:
    record = EpochRecord(
        epoch=4,
        train_loss=math.inf,
        val_loss=0.5,
        grad_norm=math.nan,
        grad_norm_max=0.0,
        clip_fraction=0.0,
        seconds=0.1,
    )

    with pytest.raises(TrainingDivergedError) as caught:
        check_finite(record, spec(epochs=9, clip_norm=None, learning_rate=0.5))

    assert caught.value.message == (
        "training diverged in epoch 4 of 9 with the training loss inf and the "
        "gradient norm nan, so it stopped without a model; lower learning_rate "
        "(now 0.5) or set clip_norm to clip the gradients"
    )
    check_finite(dataclasses.replace(record, train_loss=1.0, grad_norm=2.0), spec())
