"""Real (tiny) training runs: determinism, early stopping, clipping, metrics."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from models.data.series import Series
from models.spec import TrainingSpec
from models.training import TrainingCancelled, fit


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
