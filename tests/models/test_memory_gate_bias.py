"""The bias of the gate that keeps the state: the LSTM forget gate and the GRU
update gate, set by ``forget_bias`` and ``update_bias`` of a gradient-flow
request."""

from __future__ import annotations

import math

import pytest
import torch

from models.errors import InvalidInputError
from models.gradients import GradientFlowSpec, compute_gradient_flow
from models.nn.cell_stack import build_fresh_stack
from tests.models.torch_threads import one_torch_thread  # noqa: F401

HIDDEN = 3
CELL_PARAMETERS = ("weight_ih", "weight_hh", "bias_ih", "bias_hh")


def torch_gru(update_bias: float | None) -> torch.nn.GRU:
    """A one-layer ``torch.nn.GRU`` holding the weights of a fresh stack."""
    stack = build_fresh_stack(
        "gru", input_size=1, hidden_size=HIDDEN, update_bias=update_bias, seed=5
    )
    gru = torch.nn.GRU(1, HIDDEN, batch_first=True, dtype=torch.float64)
    cell = stack.layer(0)
    with torch.no_grad():
        for name in CELL_PARAMETERS:
            gru.get_parameter(f"{name}_l0").copy_(getattr(cell, name))
    return gru


def test_update_bias_fills_z_block_only() -> None:
    plain = build_fresh_stack("gru", input_size=1, hidden_size=HIDDEN, seed=5)
    biased = build_fresh_stack(
        "gru", input_size=1, hidden_size=HIDDEN, update_bias=2.5, seed=5
    )
    z = slice(HIDDEN, 2 * HIDDEN)
    rn = [slice(0, HIDDEN), slice(2 * HIDDEN, 3 * HIDDEN)]
    before, after = plain.layer(0), biased.layer(0)

    assert torch.equal(after.bias_ih[z], torch.full((HIDDEN,), 2.5).double())
    assert torch.equal(after.bias_hh[z], torch.zeros(HIDDEN).double())
    for block in rn:
        assert torch.equal(after.bias_ih[block], before.bias_ih[block])
        assert torch.equal(after.bias_hh[block], before.bias_hh[block])
    assert torch.equal(after.weight_ih, before.weight_ih)
    assert torch.equal(after.weight_hh, before.weight_hh)


def test_update_bias_is_torch_update_gate() -> None:
    # torch.nn.GRU computes h_1 = (1 - z) * n + z * h_0 with its gate blocks
    # in the order r, z, n: a large update bias keeps h_0, a very negative one
    # replaces it by the candidate n. A bias in the r or n block would leave
    # z near 0.5 and keep neither.
    x = torch.tensor([[[0.7]]], dtype=torch.float64)
    h0 = torch.tensor([[[0.9, -0.8, 0.6]]], dtype=torch.float64)
    with torch.no_grad():
        _, kept = torch_gru(20.0)(x, h0)
        _, replaced = torch_gru(-20.0)(x, h0)

    torch.testing.assert_close(kept, h0, rtol=0.0, atol=1e-7)
    assert float((replaced - h0).abs().max()) > 0.1


def test_update_bias_gru_matches_torch() -> None:
    stack = build_fresh_stack(
        "gru", input_size=1, hidden_size=HIDDEN, update_bias=2.5, seed=5
    )
    x = torch.linspace(-1.0, 1.0, 6, dtype=torch.float64).view(1, 6, 1)
    with torch.no_grad():
        expected, _ = torch_gru(2.5)(x)
        h = torch.zeros(1, HIDDEN, dtype=torch.float64)
        for step in range(6):
            h = stack.layer(0)(x[:, step], h)

    torch.testing.assert_close(h, expected[:, -1], rtol=0.0, atol=1e-12)


def first_to_last(cell: str, seed: int, **bias: float) -> float:
    """||dL/dh_0|| / ||dL/dh_99|| of a fresh cell, H = 32, on the last 100
    NFLX daily returns."""
    spec = GradientFlowSpec(
        cell=cell,
        hidden_size=32,
        seq_len=100,
        seed=seed,
        input={"source": "bundled"},
        jacobians=False,
        **bias,
    )
    return compute_gradient_flow(spec).trace.summary.first_to_last_ratio


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_update_bias_lengthens_gru_memory(seed: int) -> None:
    # measured over seeds 0..15: log10 of the ratio is -21.1 to -18.1 at
    # torch's default init, -10.9 to -9.2 at bias 1 and -2.0 to -1.7 at bias 3
    default = first_to_last("gru", seed)
    one = first_to_last("gru", seed, update_bias=1.0)
    three = first_to_last("gru", seed, update_bias=3.0)

    assert default < 1e-15
    assert default * 1e6 < one < 1e-7
    assert three > 1e-3


def test_update_bias_rate_approaches_gate_value() -> None:
    # with z near 1, dh_t/dh_(t-1) is close to diag(z_t), and z_t is near
    # sigmoid(bias) because the weight terms are small
    spec = GradientFlowSpec(
        cell="gru", hidden_size=32, seq_len=100, update_bias=5.0, jacobians=False
    )
    rate = compute_gradient_flow(spec).trace.summary.rate_per_step

    assert rate is not None
    assert abs(rate - 1.0 / (1.0 + math.exp(-5.0))) < 0.01


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        (
            {"cell": "rnn", "update_bias": 1.0},
            "update_bias",
            "update_bias applies only to cell 'gru', but the cell is 'rnn'; "
            "remove update_bias",
        ),
        (
            {"cell": "lstm", "update_bias": 1.0},
            "update_bias",
            "update_bias applies only to cell 'gru', but the cell is 'lstm'; "
            "remove update_bias",
        ),
        (
            {"cell": "gru", "forget_bias": 1.0},
            "forget_bias",
            "forget_bias applies only to cell 'lstm', but the cell is 'gru'; "
            "remove forget_bias",
        ),
        (
            {"update_bias": 1.0},
            "update_bias",
            "update_bias applies only to cell 'gru', but the cell is the default "
            "'rnn'; set cell to 'gru' or remove update_bias",
        ),
    ],
)
def test_gate_bias_of_other_cell_is_rejected(
    fields: dict[str, object], field: str, message: str
) -> None:
    spec = GradientFlowSpec.model_validate({**fields, "hidden_size": 2})

    with pytest.raises(InvalidInputError) as caught:
        compute_gradient_flow(spec)

    assert str(caught.value) == message
    assert caught.value.field == field


def test_stack_rejects_update_bias_of_lstm() -> None:
    with pytest.raises(InvalidInputError, match="update_bias applies only to cell"):
        build_fresh_stack("lstm", input_size=1, hidden_size=2, update_bias=1.0)


@pytest.mark.parametrize("value", [-20.5, 20.5])
def test_update_bias_out_of_range_is_rejected(value: float) -> None:
    with pytest.raises(ValueError, match="update_bias"):
        GradientFlowSpec(cell="gru", update_bias=value)
