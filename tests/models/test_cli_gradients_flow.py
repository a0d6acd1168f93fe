"""Text output of ``rnn-forecast gradients flow``."""

from __future__ import annotations

import numpy as np
import pytest

from models.cli_gradients import _print_flows
from models.gradients import GradientFlowSpec, compute_gradient_flow


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
