"""Darts and NeuralForecast contenders; both are comparisons only.

They come from the optional ``bench`` extra, installed in a separate
virtualenv so the project's own environment never depends on them::

    python3 -m venv .venv-bench
    .venv-bench/bin/pip install torch==2.13.0
    .venv-bench/bin/pip install -e '.[bench]'
"""

from __future__ import annotations

import contextlib
import importlib.util
import io
import logging
import time
import warnings
from collections.abc import Iterator
from typing import Any

import numpy as np
import pandas as pd

from models.data.windows import WindowedData
from models.spec import TrainingSpec

INSTALL_HINT = (
    "python3 -m venv .venv-bench && .venv-bench/bin/pip install torch==2.13.0 "
    "&& .venv-bench/bin/pip install -e '.[bench]'"
)
QUIET_LOGGERS = (
    "darts",
    "pytorch_lightning",
    "lightning",
    "lightning_fabric",
    "neuralforecast",
    "ray",
)


def missing_message(package: str) -> str | None:
    """Return a line saying that ``package`` is not installed and how to add
    it, or None when it is importable."""
    if importlib.util.find_spec(package) is not None:
        return None
    return (
        f"{package} is NOT installed in this environment, so its rows are "
        f"skipped; to add them run: {INSTALL_HINT}"
    )


def darts_missing_message() -> str | None:
    return missing_message("darts")


def quiet() -> None:
    """Silence the progress and info output of Darts and Lightning."""
    for name in QUIET_LOGGERS:
        logging.getLogger(name).setLevel(logging.ERROR)
    warnings.filterwarnings("ignore")


@contextlib.contextmanager
def silenced() -> Iterator[None]:
    """Drop what Lightning prints to stdout (tips, summaries) in the block."""
    with contextlib.redirect_stdout(io.StringIO()):
        yield


def train_values(data: WindowedData) -> np.ndarray:
    """Return the scaled training part (N,) that our windows are cut from."""
    return data.scaler.transform(data.values[: data.bounds.val_start])


class _EpochTimer:
    """Lightning callback that times training epochs and counts samples."""

    def __init__(self) -> None:
        import pytorch_lightning as pl

        outer = self

        class Callback(pl.Callback):
            def on_train_epoch_start(self, trainer: Any, module: Any) -> None:
                outer.started = time.perf_counter()
                outer.samples = 0

            def on_train_batch_start(
                self, trainer: Any, module: Any, batch: Any, batch_idx: int
            ) -> None:
                # Darts 0.48 batches are TorchTrainingBatch objects, older
                # releases tuples whose first item is the past target
                target = getattr(batch, "past_target", None)
                outer.samples += len(target if target is not None else batch[0])

            def on_train_epoch_end(self, trainer: Any, module: Any) -> None:
                outer.seconds = time.perf_counter() - outer.started

        self.callback = Callback()
        self.started = 0.0
        self.samples = 0
        self.seconds = 0.0


def darts_model(
    kind: str, spec: TrainingSpec, callbacks: list[Any], epochs: int
) -> Any:
    """Build a Darts ``RNNModel`` (``kind="rnn"``) or ``BlockRNNModel``
    (``kind="block"``) with the sizes, optimizer and clipping of ``spec``."""
    from darts.models import BlockRNNModel, RNNModel

    common: dict[str, Any] = {
        "model": spec.cell.upper(),
        "hidden_dim": spec.hidden_size,
        "n_rnn_layers": spec.num_layers,
        "batch_size": spec.batch_size,
        "n_epochs": epochs,
        "optimizer_kwargs": {"lr": spec.learning_rate},
        "random_state": spec.seed,
        "pl_trainer_kwargs": {
            "accelerator": "cpu",
            "enable_progress_bar": False,
            "enable_model_summary": False,
            "enable_checkpointing": False,
            "logger": False,
            "gradient_clip_val": spec.clip_norm,
            "callbacks": callbacks,
        },
    }
    if kind == "rnn":
        # RNNModel predicts one step from every position of a training_length
        # sequence, so the nearest match to T inputs and K targets is T + K
        return RNNModel(
            input_chunk_length=spec.lookback,
            training_length=spec.lookback + spec.horizon,
            **common,
        )
    if kind == "block":
        return BlockRNNModel(
            input_chunk_length=spec.lookback,
            output_chunk_length=spec.horizon,
            **common,
        )
    raise ValueError(f"Darts model kind {kind!r} is unknown; use rnn or block")


class DartsEpoch:
    """One Darts training epoch per ``measure`` call, timed by a callback.

    Each call builds a fresh model and fits one epoch; ``fit_seconds`` keeps
    the whole ``fit`` wall time (dataset and trainer set-up included).
    """

    def __init__(
        self, kind: str, dtype: str, spec: TrainingSpec, data: WindowedData
    ) -> None:
        from darts import TimeSeries

        quiet()
        self.kind = kind
        self.spec = spec
        self.label = f"darts {'RNNModel' if kind == 'rnn' else 'BlockRNNModel'} {dtype}"
        values = train_values(data).astype(dtype)
        self.series = TimeSeries.from_values(values)
        self.fit_seconds: list[float] = []
        self.windows = self._count_windows()

    def _count_windows(self) -> int:
        timer = _EpochTimer()
        model = darts_model(self.kind, self.spec, [timer.callback], epochs=1)
        with silenced():
            model.fit(self.series)
        return timer.samples

    def measure(self) -> float:
        timer = _EpochTimer()
        model = darts_model(self.kind, self.spec, [timer.callback], epochs=1)
        started = time.perf_counter()
        with silenced():
            model.fit(self.series)
        self.fit_seconds.append(time.perf_counter() - started)
        return timer.seconds


def fitted_darts(
    kind: str,
    dtype: str,
    spec: TrainingSpec,
    values: np.ndarray,
    dates: pd.DatetimeIndex,
) -> tuple[Any, Any]:
    """Fit a Darts model for one epoch on ``values`` (N,) indexed by
    ``dates``. Returns the model and the series it was fitted on."""
    from darts import TimeSeries

    quiet()
    series = TimeSeries.from_times_and_values(dates, values.astype(dtype), freq="B")
    model = darts_model(kind, spec, [], epochs=1)
    with silenced():
        model.fit(series)
    return model, series


def fitted_neuralforecast(spec: TrainingSpec, frame: pd.DataFrame) -> Any:
    """Fit a NeuralForecast LSTM (same hidden size and layers, K = horizon,
    T = lookback) for a few steps on ``frame`` (unique_id, ds, y)."""
    from neuralforecast import NeuralForecast
    from neuralforecast.models import LSTM

    quiet()
    model = LSTM(
        h=spec.horizon,
        input_size=spec.lookback,
        encoder_hidden_size=spec.hidden_size,
        encoder_n_layers=spec.num_layers,
        max_steps=5,
        batch_size=spec.batch_size,
        random_seed=spec.seed,
        enable_progress_bar=False,
        enable_model_summary=False,
        logger=False,
        enable_checkpointing=False,
        accelerator="cpu",
    )
    forecaster = NeuralForecast(models=[model], freq="B")
    with silenced():
        forecaster.fit(df=frame)
    return forecaster
