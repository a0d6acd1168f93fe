"""Cooperative cancellation of gradient diagnostics and Jacobian norms."""

from __future__ import annotations

import threading
import time

import pytest
import torch

import models.jacobians
from models.cancellation import ComputationCancelled
from models.gradients import GradientFlowSpec, compute_gradient_flow
from models.jacobians import step_jacobian_norms
from models.nn.cell_stack import build_fresh_stack
from tests.models.torch_threads import one_torch_thread  # noqa: F401

# about 6 s on one idle core when it runs to the end
LARGE = {"cell": "lstm", "hidden_size": 256, "seq_len": 1000}


class StopAfter:
    """A stop check that returns True from its ``calls``-th call on and
    counts how often it was called."""

    def __init__(self, calls: int) -> None:
        self.stop_at = calls
        self.calls = 0

    def __call__(self) -> bool:
        self.calls += 1
        return self.calls >= self.stop_at


def jacobian_inputs(state_size: int, steps: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Inputs (steps, 1) and previous states (steps, state_size)."""
    generator = torch.Generator().manual_seed(0)
    inputs = torch.randn(steps, 1, dtype=torch.float64, generator=generator)
    previous = 0.5 * torch.randn(
        steps, state_size, dtype=torch.float64, generator=generator
    )
    return inputs, previous


def test_flow_stops_between_time_steps() -> None:
    spec = GradientFlowSpec(cell="rnn", hidden_size=4, seq_len=50, jacobians=False)
    should_stop = StopAfter(10)

    with pytest.raises(ComputationCancelled) as caught:
        compute_gradient_flow(spec, should_stop=should_stop)

    assert str(caught.value) == "the gradient diagnostic was cancelled"
    assert should_stop.calls == 10


def test_flow_runs_to_end_without_stop() -> None:
    spec = GradientFlowSpec(cell="rnn", hidden_size=4, seq_len=50)
    should_stop = StopAfter(10**9)

    flow = compute_gradient_flow(spec, should_stop=should_stop)

    assert len(flow.trace.grad_norms) == 50
    # 50 forward steps, one check before backpropagation, one Jacobian chunk
    assert should_stop.calls == 52


def test_explicit_norms_stop_between_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    stack = build_fresh_stack("rnn", input_size=1, hidden_size=5, seed=0)
    inputs, previous = jacobian_inputs(5, 6)
    # two steps per chunk: three chunks
    monkeypatch.setattr(models.jacobians, "CHUNK_BYTES", 8 * 5 * 5 * 2)
    should_stop = StopAfter(2)

    with pytest.raises(ComputationCancelled, match="Jacobian norm computation"):
        step_jacobian_norms(
            stack.layer(0), inputs, previous, method="explicit", should_stop=should_stop
        )

    assert should_stop.calls == 2


def test_lanczos_norms_stop_between_iterations() -> None:
    stack = build_fresh_stack("lstm", input_size=1, hidden_size=70, seed=2)
    inputs, previous = jacobian_inputs(140, 6)
    should_stop = StopAfter(3)

    with pytest.raises(ComputationCancelled):
        step_jacobian_norms(
            stack.layer(0), inputs, previous, method="lanczos", should_stop=should_stop
        )

    assert should_stop.calls == 3


def test_large_flow_stops_soon_after_event_set() -> None:
    stop = threading.Event()
    set_at: list[float] = []

    def cancel() -> None:
        set_at.append(time.monotonic())
        stop.set()

    timer = threading.Timer(0.5, cancel)
    timer.start()
    try:
        with pytest.raises(ComputationCancelled):
            compute_gradient_flow(
                GradientFlowSpec.model_validate(LARGE), should_stop=stop.is_set
            )
        stopped = time.monotonic()
    finally:
        timer.cancel()

    assert len(set_at) == 1
    # A whole run takes about 6 s on an idle machine. A time step or Lanczos
    # iteration takes milliseconds, but stopping took 1.2 s at load average 6.
    assert stopped - set_at[0] < 3.0
