"""Text output of ``rnn-forecast gradients flow`` and ``lag-experiment``."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from models.cli_gradients import _markdown_report, _print_flows
from models.gradients import GradientFlowSpec, compute_gradient_flow
from models.lag_task import LagExperimentParams


def test_vanish_distance_names_first_crossing(
    capsys: pytest.CaptureFixture[str],
) -> None:
    # this LSTM's ratio falls below 1e-3 at distance 37 and rises above it
    # again further back, so the distance is a first crossing only
    spec = GradientFlowSpec(
        cell="lstm",
        seq_len=200,
        init="orthogonal",
        spectral_radius=5.0,
        jacobians=False,
    )
    flow = compute_gradient_flow(spec)
    norms = np.array(flow.trace.grad_norms)
    ratios = norms[::-1] / norms[-1]
    assert flow.trace.summary.vanish_distance == 37
    assert ratios[37] < 1e-3
    assert ratios[38:].max() > 1e-3

    _print_flows([("lstm", flow)])
    summary_line = capsys.readouterr().out.splitlines()[1]

    assert "first below 1e-3 at distance 37, never above 1e3" in summary_line
    assert "from distance" not in summary_line


def lag_report_header(**params: Any) -> str:
    """Return the settings line of the Markdown report of a one-run result."""
    settings = LagExperimentParams(cells=["rnn"], lags=[5], **params)
    run = {
        "cell": "rnn",
        "lag": 5,
        "r2": 1.0,
        "learned": True,
        "initial_grad_ratio": 0.1,
        "trained_grad_ratio": 1.0,
    }
    result = {
        "params": settings.model_dump(mode="json"),
        "seq_len": settings.seq_len,
        "runs": [run],
        "learned_lags": {"rnn": [5]},
    }
    return _markdown_report(result, "").splitlines()[2]


def test_lag_report_names_gate_bias_and_clipping() -> None:
    header = lag_report_header()

    assert ", gradient clipping at 1.0, " in header
    assert ", initial LSTM forget-gate and GRU update-gate bias 1.0, " in header


def test_lag_report_names_torch_defaults() -> None:
    header = lag_report_header(gate_bias=None, clip_norm=None)

    assert ", no gradient clipping, torch's default gate biases, " in header
    assert "None" not in header
