"""An LSTM with a large forget-gate bias keeps more gradient along its cell
state than its forget gates pass, through the paths of c_{t-1} via h_{t-1}."""

from __future__ import annotations

import pytest
import torch
from torch import Tensor
from torch.nn.functional import linear

from models.gradient_inputs import BundledInput, prepare_input
from models.gradients import GradientFlowSpec, compute_gradient_flow
from models.nn.cell_stack import CellStack, build_fresh_stack
from tests.models.torch_threads import one_torch_thread  # noqa: F401

HIDDEN = 32
SEQ_LEN = 100
FORGET_BIAS = 3.0
GATES = "ifgo"


def cell_gradient_norms(
    stack: CellStack, x: Tensor, target: Tensor, detached: str = ""
) -> tuple[list[float], Tensor]:
    """Unroll the stack's LSTM cell over x (T, 1) and backpropagate the
    loss on the last output.

    The gates named in ``detached`` read h_{t-1} without its gradient, which
    cuts the path from c_{t-1} through h_{t-1} into them. Returns
    ||dL/dc_t|| for t = 0 .. T-1 and the forget gates f (T, H).
    """
    cell = stack.layer(0)
    h = torch.zeros(1, HIDDEN, dtype=torch.float64)
    c = torch.zeros(1, HIDDEN, dtype=torch.float64)
    cells: list[Tensor] = []
    forget: list[Tensor] = []
    for step in range(x.shape[0]):
        inputs = linear(x[step : step + 1], cell.weight_ih, cell.bias_ih)
        recurrent = linear(h, cell.weight_hh, cell.bias_hh)
        cut = linear(h.detach(), cell.weight_hh, cell.bias_hh)
        blocks = [
            inputs.chunk(4, dim=1)[k]
            + (cut if gate in detached else recurrent).chunk(4, dim=1)[k]
            for k, gate in enumerate(GATES)
        ]
        i, f, o = (torch.sigmoid(blocks[k]) for k in (0, 1, 3))
        g = torch.tanh(blocks[2])
        c = f * c + i * g
        h = o * torch.tanh(c)
        c.retain_grad()
        cells.append(c)
        forget.append(f.detach())

    loss = (stack.head(h) - target.view(1, -1)).pow(2).mean()
    loss.backward()
    norms = [float(state.grad.norm()) for state in cells if state.grad is not None]
    return norms, torch.cat(forget)


def biased_lstm(seed: int) -> CellStack:
    """A fresh LSTM of H = 32 units with forget-gate bias 3."""
    return build_fresh_stack(
        "lstm",
        input_size=1,
        hidden_size=HIDDEN,
        forget_bias=FORGET_BIAS,
        seed=seed,
    )


@pytest.fixture(scope="module")
def window() -> tuple[Tensor, Tensor]:
    """The last 100 NFLX daily returns and the next one."""
    prepared = prepare_input(BundledInput(), seq_len=SEQ_LEN, horizon=1)
    return prepared.x, prepared.target


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_cell_gradient_exceeds_forget_gates(
    seed: int, window: tuple[Tensor, Tensor]
) -> None:
    # measured over seeds 0..15: ||dL/dc_0|| / ||dL/dc_98|| is 6 to 180 times
    # the largest product of f_1 .. f_98 over the units
    spec = GradientFlowSpec(
        cell="lstm",
        hidden_size=HIDDEN,
        seq_len=SEQ_LEN,
        seed=seed,
        forget_bias=FORGET_BIAS,
        input={"source": "bundled"},
        jacobians=False,
    )
    flow = compute_gradient_flow(spec).trace
    assert flow.cell_grad_norms is not None
    stack = biased_lstm(seed)
    norms, forget = cell_gradient_norms(stack, *window)
    # along c alone, dL/dc_0 = f_1 * ... * f_98 * dL/dc_98, unit by unit
    forget_bound = float(forget[1 : SEQ_LEN - 1].prod(dim=0).max())
    ratio = flow.cell_grad_norms[0] / flow.cell_grad_norms[SEQ_LEN - 2]

    assert ratio == pytest.approx(norms[0] / norms[SEQ_LEN - 2], rel=1e-9)
    assert forget_bound < 0.1
    assert ratio > 5 * forget_bound


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_candidate_path_carries_extra_gradient(
    seed: int, window: tuple[Tensor, Tensor]
) -> None:
    # measured over seeds 0..15: without the path into g the ratio is below
    # the forget-gate bound. Without the path into f it is 0.71 to 1.34
    # times the full ratio.
    stack = biased_lstm(seed)
    norms, forget = cell_gradient_norms(stack, *window)
    without_g, _ = cell_gradient_norms(stack, *window, detached="g")
    without_f, _ = cell_gradient_norms(stack, *window, detached="f")
    forget_bound = float(forget[1 : SEQ_LEN - 1].prod(dim=0).max())
    full = norms[0] / norms[SEQ_LEN - 2]

    assert without_g[0] / without_g[SEQ_LEN - 2] < forget_bound
    assert 0.7 < (without_f[0] / without_f[SEQ_LEN - 2]) / full < 1.5
