"""The lag experiment: which cell learns to recall an input k steps back.

Each sequence has T = max(lags) + ``padding`` steps and two input features:
a value drawn from N(0, 1) at every step, and a marker that is 1 at step
T-1-k and 0 elsewhere. The target, read from the output at the last step, is
the marked value, so the network must store it and hold it through k steps
of noise. The marker identifies the value to store. Without it, a
network with fixed T would have to count steps: in trial runs without the
marker at T = 50, no cell learned lag 20 or 40 in 2,000 steps.

RNN, LSTM and GRU forecasters (``models.nn.forecaster``, horizon 1) are
trained with Adam on the MSE, one run per cell and lag, and scored by R^2 on
held-out sequences: 1 - MSE / Var(target). A run has learned its lag when R^2
reaches ``learned_r2``. Beside each score the result gives the gradient
ratio ||dL/dh_{T-1-k}|| / ||dL/dh_{T-1}|| at the lag, before and after
training, measured on one held-out sequence by ``models.gradients``.

``gate_bias`` sets the bias of the gate that keeps the state (the LSTM
forget gate, the GRU update gate z) at the start of training, as in
``models.nn.cell_stack.set_memory_gate_bias``. The vanilla RNN has no
such gate. With torch's default initialisation (``gate_bias=None``) those
gates start near 0.5. In a run with the other defaults the LSTM then learned
only lags 5 and 10, while the GRU still learned 5, 10, 20 and 40.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import torch
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationInfo,
    ValidatorFunctionWrapHandler,
    field_validator,
)

from models.field_types import Integer, Number, explain_minimum
from models.gradient_inputs import PreparedInput
from models.gradients import GradientTrace, trace_gradients
from models.limits import DEFAULT_LIMITS
from models.nn.cell_stack import stack_from_forecaster
from models.nn.forecaster import Forecaster
from models.spec import CellType
from models.training import TrainingCancelled, seed_everything
from models.unique_items import check_unique_items

logger = logging.getLogger(__name__)

Report = Callable[[dict[str, Any]], None]
StopCheck = Callable[[], bool]

REPORT_EVERY = 100
# the maximum lag of a run, in steps
MAX_LAG = 500
# Held-out sequences drawn at a time. The count is fixed, so the held-out
# set does not depend on the limit that splits its forward passes.
TEST_CHUNK_ROWS = 1024
# Gate block that keeps the state: rows H..2H-1 of the LSTM (f) and GRU (z).
MEMORY_GATE_BLOCK = 1


class LagExperimentParams(BaseModel):
    """Settings of one lag experiment; every run uses the same settings."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    cells: list[CellType] = Field(default=["rnn", "lstm", "gru"], min_length=1)
    lags: list[Integer] = Field(default=[5, 10, 20, 40], min_length=1, max_length=20)
    padding: Integer = Field(
        default=5, ge=1, le=100, description="T = max(lags) + padding"
    )
    hidden_size: Integer = Field(default=32, ge=1, le=256)
    steps: Integer = Field(
        default=1500, ge=1, le=50_000, description="Adam steps per run"
    )
    batch_size: Integer = Field(default=64, ge=1, le=1024)
    learning_rate: Number = Field(default=1e-2, gt=0.0, le=1.0)
    clip_norm: Number | None = Field(
        default=1.0,
        gt=0.0,
        le=1e6,
        description="Maximum global L2 norm of a step's parameter gradients; "
        "null turns gradient clipping off",
    )
    gate_bias: Number | None = Field(
        default=1.0,
        ge=-20.0,
        le=20.0,
        description="Initial LSTM forget-gate and GRU update-gate bias; null "
        "keeps torch's default initialisation",
    )
    test_size: Integer = Field(default=1000, ge=2, le=100_000)
    learned_r2: Number = Field(default=0.9, gt=0.0, le=1.0)
    seed: Integer = Field(default=0, ge=0, le=2**31 - 1)

    @field_validator("lags")
    @classmethod
    def _check_lags(cls, lags: list[int]) -> list[int]:
        if any(lag < 1 or lag > MAX_LAG for lag in lags):
            raise ValueError(
                f"every lag must be in 1..{MAX_LAG}, got {lags}; send lags "
                f"from 1 to {MAX_LAG}"
            )
        return sorted(lags)

    @field_validator("cells", "lags")
    @classmethod
    def _check_unique(cls, value: list[Any], info: ValidationInfo) -> list[Any]:
        # "cells" names the items "cell", and "lags" names them "lag"
        check_unique_items(value, info.field_name, info.field_name.removesuffix("s"))
        return value

    @field_validator("clip_norm", mode="wrap")
    @classmethod
    def _explain_clip_norm(
        cls, value: object, handler: ValidatorFunctionWrapHandler
    ) -> object:
        return explain_minimum(
            value, handler, "send null to turn gradient clipping off"
        )

    @property
    def seq_len(self) -> int:
        return max(self.lags) + self.padding


def make_batch(
    size: int, seq_len: int, lag: int, generator: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    """Draw ``size`` sequences x (B, T, 2) and targets (B, 1).

    Feature 0 is the N(0, 1) value, feature 1 the marker at step T-1-lag.
    """
    values = torch.randn(size, seq_len, generator=generator)
    marker = torch.zeros(size, seq_len)
    marker[:, seq_len - 1 - lag] = 1.0
    x = torch.stack([values, marker], dim=-1)
    return x, values[:, seq_len - 1 - lag : seq_len - lag]


def run_lag_experiment(
    params: LagExperimentParams | dict[str, Any],
    report: Report | None = None,
    should_stop: StopCheck | None = None,
    *,
    max_batch_elements: int = DEFAULT_LIMITS.max_lag_batch_elements,
) -> dict[str, Any]:
    """Train every cell on every lag and return the JSON-ready result.

    ``report`` receives progress after every ``REPORT_EVERY`` steps and after
    each run. ``should_stop`` runs before every step and cancels with
    ``TrainingCancelled``. A forward pass of the R^2 score runs on at most
    ``max_batch_elements`` / (T H) held-out sequences, the bound that
    ``check_lag_batch`` puts on a training batch.
    """
    if not isinstance(params, LagExperimentParams):
        params = LagExperimentParams.model_validate(params)
    started = time.perf_counter()
    total = len(params.cells) * len(params.lags)

    runs: list[dict[str, Any]] = []
    curves: dict[str, dict[str, list[float]]] = {}
    for cell in params.cells:
        curves[cell] = {}
        for lag in params.lags:
            run, curve = _run_one(
                params, cell, lag, report, should_stop, max_batch_elements
            )
            runs.append(run)
            curves[cell][str(lag)] = curve
            if report is not None:
                report(
                    {"stage": "run finished", "done": len(runs), "total": total, **run}
                )

    return {
        "params": params.model_dump(mode="json"),
        "seq_len": params.seq_len,
        "runs": runs,
        "learned_lags": {
            cell: [r["lag"] for r in runs if r["cell"] == cell and r["learned"]]
            for cell in params.cells
        },
        "curves": curves,
        "seconds": round(time.perf_counter() - started, 3),
    }


def _run_one(
    params: LagExperimentParams,
    cell: CellType,
    lag: int,
    report: Report | None,
    should_stop: StopCheck | None,
    max_batch_elements: int,
) -> tuple[dict[str, Any], list[float]]:
    """Train one cell on one lag; return its row and its trained curve (T,)."""
    started = time.perf_counter()
    seed_everything(params.seed)
    model = Forecaster(
        cell, input_size=2, hidden_size=params.hidden_size, num_layers=1, horizon=1
    )
    if params.gate_bias is not None and cell != "rnn":
        _set_memory_gate_bias(model, params.gate_bias)

    first_x, first_y = next(_test_batches(params, lag))
    initial = _trace(model, first_x[0], first_y[0])
    train_loss = _train(model, params, cell, lag, report, should_stop)
    trained = _trace(model, first_x[0], first_y[0])
    r2 = _test_r2(model, params, lag, max_batch_elements)

    distance_index = params.seq_len - 1 - lag
    row = {
        "cell": cell,
        "lag": lag,
        "r2": r2,
        "learned": r2 >= params.learned_r2,
        "train_loss": train_loss,
        "initial_grad_ratio": _ratio(initial, distance_index),
        "trained_grad_ratio": _ratio(trained, distance_index),
        "seconds": round(time.perf_counter() - started, 3),
    }
    logger.info("lag experiment: %s lag %d R^2 %.3f", cell, lag, r2)
    return row, trained.grad_norms


def _train(
    model: Forecaster,
    params: LagExperimentParams,
    cell: CellType,
    lag: int,
    report: Report | None,
    should_stop: StopCheck | None,
) -> float:
    """Run ``params.steps`` Adam steps on fresh batches; return the mean MSE
    of the last ``REPORT_EVERY`` steps."""
    generator = torch.Generator().manual_seed(params.seed)
    optimizer = torch.optim.Adam(model.parameters(), lr=params.learning_rate)
    model.train()
    recent: list[float] = []
    for step in range(1, params.steps + 1):
        if should_stop is not None and should_stop():
            raise TrainingCancelled("lag experiment was cancelled")
        x, y = make_batch(params.batch_size, params.seq_len, lag, generator)
        optimizer.zero_grad(set_to_none=True)
        loss = torch.nn.functional.mse_loss(model(x), y)
        loss.backward()
        if params.clip_norm is not None:
            torch.nn.utils.clip_grad_norm_(model.parameters(), params.clip_norm)
        optimizer.step()

        recent = [*recent[-(REPORT_EVERY - 1) :], float(loss.detach())]
        if report is not None and step % REPORT_EVERY == 0:
            report(
                {
                    "stage": "training",
                    "cell": cell,
                    "lag": lag,
                    "step": step,
                    "steps": params.steps,
                    "loss": float(np.mean(recent)),
                }
            )
    return float(np.mean(recent))


def _test_batches(
    params: LagExperimentParams, lag: int
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Yield the ``params.test_size`` held-out sequences x (N, T, 2) and
    targets (N, 1) in chunks of at most ``TEST_CHUNK_ROWS``.

    Every call draws the same sequences from ``params.seed + 1``.
    """
    generator = torch.Generator().manual_seed(params.seed + 1)
    for start in range(0, params.test_size, TEST_CHUNK_ROWS):
        rows = min(TEST_CHUNK_ROWS, params.test_size - start)
        yield make_batch(rows, params.seq_len, lag, generator)


def _test_r2(
    model: Forecaster,
    params: LagExperimentParams,
    lag: int,
    max_batch_elements: int = DEFAULT_LIMITS.max_lag_batch_elements,
) -> float:
    """Return 1 - MSE / Var(target) of ``model`` on the held-out sequences.

    Each forward pass takes at most ``max_batch_elements`` / (T H) sequences
    (at least one), because the core's output (rows, T, H) grows with them.

    Var is the population variance (divisor N, as in the MSE), so predicting
    the mean of the held-out targets scores 0.
    """
    squared_error = 0.0
    targets: list[torch.Tensor] = []
    model.eval()
    with torch.inference_mode():
        rows = max(1, max_batch_elements // (params.seq_len * params.hidden_size))
        for x, y in _test_batches(params, lag):
            for start in range(0, len(x), rows):
                errors = model(x[start : start + rows]) - y[start : start + rows]
                squared_error += float(errors.pow(2).sum())
            targets.append(y)
    mse = squared_error / params.test_size
    return 1.0 - mse / float(torch.cat(targets).var(correction=0))


def _trace(model: Forecaster, x: torch.Tensor, y: torch.Tensor) -> GradientTrace:
    """Trace gradients of the model's loss on one sequence x (T, 2)."""
    stack = stack_from_forecaster(model)
    prepared = PreparedInput(
        x=x.double(), target=y.double(), description={"source": "lag task"}
    )
    return trace_gradients(stack, prepared, layer=0, jacobians=False)


def _ratio(trace: GradientTrace, index: int) -> float:
    return trace.grad_norms[index] / trace.grad_norms[-1]


def _set_memory_gate_bias(model: Forecaster, value: float) -> None:
    """Set b_x of the LSTM forget gate or GRU update gate to ``value`` and
    b_h of that gate to 0."""
    hidden_size = model.core.hidden_size
    block = slice(
        MEMORY_GATE_BLOCK * hidden_size, (MEMORY_GATE_BLOCK + 1) * hidden_size
    )
    with torch.no_grad():
        model.core.get_parameter("bias_ih_l0")[block] = value
        model.core.get_parameter("bias_hh_l0")[block] = 0.0


def lag_table_markdown(result: dict[str, Any]) -> str:
    """Render R^2 per cell and lag, with the gradient ratio at the lag after
    training, as a Markdown table."""

    def entry(run: dict[str, Any]) -> str:
        mark = "learned" if run["learned"] else "not learned"
        return f"R² {run['r2']:.3f} ({mark}), grad {run['trained_grad_ratio']:.1e}"

    return _table(result, entry)


def initial_ratio_markdown(result: dict[str, Any]) -> str:
    """Render the gradient ratio at the lag before training as a Markdown
    table, one row per cell."""
    return _table(result, lambda run: f"{run['initial_grad_ratio']:.1e}")


def _table(result: dict[str, Any], entry: Callable[[dict[str, Any]], str]) -> str:
    lags = result["params"]["lags"]
    lines = [
        "| cell | " + " | ".join(f"k = {lag}" for lag in lags) + " |",
        "|---|" + "---|" * len(lags),
    ]
    for cell in result["params"]["cells"]:
        runs = {r["lag"]: r for r in result["runs"] if r["cell"] == cell}
        row = " | ".join(entry(runs[lag]) for lag in lags)
        lines.append(f"| {cell} | {row} |")
    return "\n".join(lines)
