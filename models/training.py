"""Training: spec + series -> fitted forecaster, history and test metrics.

Adam on the mean squared error of scaled targets, optional gradient-norm
clipping, early stopping on validation loss with the best weights restored.
The same spec and data give the same weights on the same machine, as long as
the number of torch intra-op threads and, for a GRU, the
``RNN_FORECAST_FUSED_GRU`` setting stay the same. Either one changes the
float rounding, which moved the weights of a 3-epoch fit of two 8-unit
layers by up to 6e-8.
"""

from __future__ import annotations

import copy
import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from math import isfinite
from typing import Any

import numpy as np
import torch
from torch import nn

from models.baselines import forecast_baselines, season_period
from models.data.scaling import Scaler
from models.data.series import Series
from models.data.windows import (
    WindowedData,
    prepare_windows,
    scale_values,
    split_values,
    to_prices,
    window_starts,
)
from models.errors import TrainingDivergedError
from models.evaluation import actual_prices, compare
from models.intervals import (
    REPORT_LEVELS,
    ConformalIntervals,
    calibrate,
    level_rows,
    score_intervals,
)
from models.nn.forecaster import Forecaster
from models.spec import TrainingSpec

logger = logging.getLogger(__name__)


class TrainingCancelled(Exception):
    """Raised inside ``fit`` when ``should_stop`` returns True."""


@dataclass
class EpochRecord:
    """One epoch of history. Losses are MSE in scaled units. Gradient norms
    are L2 norms before clipping. ``grad_norm`` and ``param_grad_norms`` are
    means over the epoch's batches, and ``grad_norm_max`` is the largest
    global norm of one batch."""

    epoch: int
    train_loss: float
    val_loss: float
    grad_norm: float
    grad_norm_max: float
    clip_fraction: float
    seconds: float
    param_grad_norms: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass
class FitResult:
    """A fitted forecaster with everything the registry stores beside it."""

    model: Forecaster
    scaler: Scaler
    history: list[EpochRecord]
    best_epoch: int
    stopped_early: bool
    metrics: dict[str, Any]
    split: dict[str, Any]
    seconds: float
    intervals: ConformalIntervals | None = None


EpochCallback = Callable[[EpochRecord, int], None]
StageCallback = Callable[[str], None]
StopCheck = Callable[[], bool]


def stop_training_if_requested(should_stop: StopCheck | None) -> None:
    """Raise ``TrainingCancelled`` when ``should_stop`` returns True."""
    if should_stop is not None and should_stop():
        raise TrainingCancelled("training was cancelled")


def seed_everything(seed: int) -> torch.Generator:
    """Seed Python, numpy and torch; return a generator for batch shuffling."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)


def fit(
    spec: TrainingSpec,
    series: Series,
    *,
    on_epoch: EpochCallback | None = None,
    should_stop: StopCheck | None = None,
    on_stage: StageCallback | None = None,
) -> FitResult:
    """Train a forecaster on ``series`` with the settings in ``spec``.

    ``on_epoch(record, total_epochs)`` runs after each epoch, and
    ``on_stage("evaluating")`` after the last one. ``should_stop`` runs
    before each batch, after the last epoch and between calibration and the
    test scores, and cancels the run with ``TrainingCancelled``. Raises
    ``TrainingDivergedError`` after an epoch whose loss or gradient norm is
    not finite.
    """
    started = time.perf_counter()
    data = spec_windows(spec, series)

    generator = seed_everything(spec.seed)
    model = Forecaster(
        spec.cell,
        input_size=1,
        hidden_size=spec.hidden_size,
        num_layers=spec.num_layers,
        horizon=spec.horizon,
        dropout=spec.dropout,
    )
    optimizer = torch.optim.Adam(model.parameters(), lr=spec.learning_rate)

    history: list[EpochRecord] = []
    best_loss, best_epoch, best_state = float("inf"), 0, None
    stopped_early = False

    for epoch in range(1, spec.epochs + 1):
        record = _train_epoch(model, optimizer, data, spec, generator, should_stop)
        record.epoch = epoch
        check_finite(record, spec)
        history.append(record)
        if on_epoch is not None:
            on_epoch(record, spec.epochs)

        if record.val_loss < best_loss:
            best_loss, best_epoch = record.val_loss, epoch
            best_state = copy.deepcopy(model.state_dict())
        elif spec.patience is not None and epoch - best_epoch >= spec.patience:
            stopped_early = True
            break

    stop_training_if_requested(should_stop)
    if on_stage is not None:
        on_stage("evaluating")
    if best_state is not None:
        model.load_state_dict(best_state)
    model.eval()

    intervals = calibrate_intervals(model, data, spec, positive=series.kind == "price")
    stop_training_if_requested(should_stop)
    metrics = evaluate_test(model, data, spec, intervals)
    return FitResult(
        model=model,
        scaler=data.scaler,
        history=history,
        best_epoch=best_epoch,
        stopped_early=stopped_early,
        metrics=metrics,
        split=describe_split(series, data),
        seconds=time.perf_counter() - started,
        intervals=intervals,
    )


def spec_windows(spec: TrainingSpec, series: Series) -> WindowedData:
    """Cut the windows of ``series`` and fit its scaler as set in ``spec``."""
    return prepare_windows(
        series.frame["close"].to_numpy(),
        target=spec.target,
        scaler_kind=spec.scaler,
        lookback=spec.lookback,
        horizon=spec.horizon,
        val_fraction=spec.val_fraction,
        test_fraction=spec.test_fraction,
    )


def check_trainable(spec: TrainingSpec, series: Series) -> None:
    """Raise the ``DataError`` that ``fit`` would raise for ``series`` before
    its first epoch, without building windows or training."""
    values, bounds = split_values(
        series.frame["close"].to_numpy(),
        target=spec.target,
        lookback=spec.lookback,
        horizon=spec.horizon,
        val_fraction=spec.val_fraction,
        test_fraction=spec.test_fraction,
    )
    scale_values(values, bounds, spec.scaler, spec.target)


def check_finite(record: EpochRecord, spec: TrainingSpec) -> None:
    """Raise ``TrainingDivergedError`` when an epoch's losses or mean gradient
    norm are not finite, because the weights that gave them are unusable."""
    numbers = {
        "training loss": record.train_loss,
        "validation loss": record.val_loss,
        "gradient norm": record.grad_norm,
    }
    bad = [f"{name} {value}" for name, value in numbers.items() if not isfinite(value)]
    if not bad:
        return

    fix = f"lower learning_rate (now {spec.learning_rate:g})"
    if spec.clip_norm is None:
        fix += " or set clip_norm to clip the gradients"
    raise TrainingDivergedError(
        f"training diverged in epoch {record.epoch} of {spec.epochs} with the "
        f"{' and the '.join(bad)}, so it stopped without a model; {fix}",
        field="learning_rate",
    )


def _train_epoch(
    model: Forecaster,
    optimizer: torch.optim.Optimizer,
    data: WindowedData,
    spec: TrainingSpec,
    generator: torch.Generator,
    should_stop: StopCheck | None,
) -> EpochRecord:
    started = time.perf_counter()
    model.train()
    loss_fn = nn.MSELoss()
    names = [name for name, _ in model.named_parameters()]
    params = [p for _, p in model.named_parameters()]

    n = len(data.x_train)
    order = torch.randperm(n, generator=generator)
    loss_sum, norm_sum, norm_max, clipped, batches = 0.0, 0.0, 0.0, 0, 0
    param_norm_sum = torch.zeros(len(params), dtype=torch.float64)

    for start in range(0, n, spec.batch_size):
        stop_training_if_requested(should_stop)
        idx = order[start : start + spec.batch_size]
        x, y = data.x_train[idx], data.y_train[idx]

        optimizer.zero_grad(set_to_none=True)
        loss = loss_fn(model(x), y)
        loss.backward()

        # per-tensor norms before clipping: (P,)
        per_param = torch.stack(torch._foreach_norm([p.grad for p in params]))
        total_norm = torch.linalg.vector_norm(per_param)
        total = float(total_norm)
        if spec.clip_norm is not None:
            # same scaling as clip_grad_norm_, reusing the norm computed above
            torch.nn.utils.clip_grads_with_norm_(params, spec.clip_norm, total_norm)
            clipped += int(total > spec.clip_norm)
        optimizer.step()

        loss_sum += float(loss.detach()) * len(idx)
        norm_sum += total
        norm_max = max(norm_max, total)
        param_norm_sum += per_param.detach().double()
        batches += 1

    return EpochRecord(
        epoch=0,
        train_loss=loss_sum / n,
        val_loss=validation_loss(model, data.x_val, data.y_val),
        grad_norm=norm_sum / batches,
        grad_norm_max=norm_max,
        clip_fraction=clipped / batches,
        seconds=time.perf_counter() - started,
        param_grad_norms={
            name: float(v / batches)
            for name, v in zip(names, param_norm_sum, strict=True)
        },
    )


@torch.inference_mode()
def validation_loss(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    """MSE of the model on windows x (B, T, 1) against targets y (B, K)."""
    model.eval()
    return float(nn.functional.mse_loss(model(x), y))


@torch.inference_mode()
def predict_prices(
    model: nn.Module,
    x: torch.Tensor,
    last_prices: np.ndarray,
    scaler: Scaler,
    target: str,
) -> np.ndarray:
    """Forecast prices (B, K) from scaled windows x (B, T, 1) and the last
    observed price of each window (B,)."""
    model.eval()
    scaled = model(x).double().numpy()
    values = scaler.inverse(scaled)
    return to_prices(last_prices[:, None], values, target)


def evaluate_test(
    model: Forecaster,
    data: WindowedData,
    spec: TrainingSpec,
    intervals: ConformalIntervals | None = None,
) -> dict[str, Any]:
    """Score the model beside the baselines on the test windows, in prices.

    The result's ``intervals`` has a row for each of ``REPORT_LEVELS``: the
    coverage on the test part of each level that ``intervals`` serves, and
    ``served`` false for a level that the validation windows were too few
    to calibrate, or for every level without ``intervals``.
    """
    origins = data.test_origin
    forecast = predict_prices(
        model, data.x_test, data.prices[origins], data.scaler, spec.target
    )
    train_end = data.bounds.val_start + data.offset
    season = season_period(spec.data)
    baselines = forecast_baselines(data.prices, origins, spec.horizon, season=season)

    metrics = compare(data.prices, origins, forecast, train_end, baselines)
    metrics["season_period"] = season
    scored: dict[str, dict[str, float]] = {}
    if intervals is not None:
        actual = actual_prices(data.prices, origins, spec.horizon)
        scored = score_intervals(actual, forecast, intervals)
    metrics["intervals"] = level_rows(scored, REPORT_LEVELS)
    return metrics


def validation_origins(data: WindowedData, spec: TrainingSpec) -> np.ndarray:
    """Index into ``data.prices`` of the last observed price of each
    validation window (W_val,)."""
    starts = window_starts(
        data.bounds.val_start, data.bounds.test_start, spec.lookback, spec.horizon
    )
    return np.arange(starts.start, starts.stop) + spec.lookback - 1 + data.offset


def calibrate_intervals(
    model: Forecaster, data: WindowedData, spec: TrainingSpec, *, positive: bool
) -> ConformalIntervals | None:
    """Calibrate split conformal intervals on the validation windows' price
    forecasts; ``positive`` allows the log scale (market prices)."""
    origins = validation_origins(data, spec)
    forecast = predict_prices(
        model, data.x_val, data.prices[origins], data.scaler, spec.target
    )
    actual = actual_prices(data.prices, origins, spec.horizon)
    return calibrate(actual, forecast, positive=positive)


def describe_split(series: Series, data: WindowedData) -> dict[str, Any]:
    """Date ranges of the three parts, as targets, for the metadata."""
    dates = series.frame.index
    off = data.offset
    b = data.bounds

    def span(lo: int, hi: int) -> dict[str, str]:
        return {
            "start": dates[lo + off].date().isoformat(),
            "end": dates[hi - 1 + off].date().isoformat(),
        }

    return {
        "train": {**span(0, b.val_start), "windows": len(data.x_train)},
        "validation": {**span(b.val_start, b.test_start), "windows": len(data.x_val)},
        "test": {**span(b.test_start, b.n_values), "windows": len(data.x_test)},
    }
