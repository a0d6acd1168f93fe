"""Tests of the hand-written cells: the contract every cell meets, parity of
outputs and gradients with torch's cells and layers, and two examples worked
by hand."""

from __future__ import annotations

import math
import re

import pytest
import torch
from torch import Tensor, nn

from models.nn.cells import (
    CellState,
    GRUCell,
    LSTMCell,
    RNNCell,
    copy_from_torch,
    make_cell,
    unroll,
)
from models.spec import CellType

CELLS: list[CellType] = ["rnn", "lstm", "gru"]
TORCH_CELLS: dict[str, type[nn.RNNCell] | type[nn.LSTMCell] | type[nn.GRUCell]] = {
    "rnn": nn.RNNCell,
    "lstm": nn.LSTMCell,
    "gru": nn.GRUCell,
}
TORCH_LAYERS: dict[str, type[nn.RNN] | type[nn.LSTM] | type[nn.GRU]] = {
    "rnn": nn.RNN,
    "lstm": nn.LSTM,
    "gru": nn.GRU,
}
# (F, H) pairs, including the 1-unit edge case
SIZES = [(1, 1), (3, 5), (7, 16)]
SEEDS = [0, 1, 2]
# float64 results agree with torch's to a few ulps (at most 7e-15 on gradients
# of size 20 with torch 2.13), so 1e-12 leaves room for rounding alone
ATOL = 1e-12
RTOL = 1e-12


def _parts(state: CellState) -> tuple[Tensor, ...]:
    return state if isinstance(state, tuple) else (state,)


def _random_state(kind: str, batch: int, hidden: int) -> CellState:
    h = torch.randn(batch, hidden, dtype=torch.float64)
    if kind == "lstm":
        return h, torch.randn(batch, hidden, dtype=torch.float64)
    return h


def _zero_state(kind: str, batch: int, hidden: int) -> CellState:
    h = torch.zeros(batch, hidden)
    return (h, torch.zeros(batch, hidden)) if kind == "lstm" else h


def _layer_state(state: CellState) -> CellState:
    """Add the (L = 1) leading axis that nn.RNN, nn.LSTM and nn.GRU expect."""
    if isinstance(state, tuple):
        return state[0].unsqueeze(0), state[1].unsqueeze(0)
    return state.unsqueeze(0)


def _assert_close(actual: CellState, expected: CellState) -> None:
    actual_parts, expected_parts = _parts(actual), _parts(expected)
    assert len(actual_parts) == len(expected_parts)
    for got, want in zip(actual_parts, expected_parts, strict=True):
        torch.testing.assert_close(got, want, atol=ATOL, rtol=0)


def _initial_layer_state(
    kind: str, layers: int, batch: int, hidden: int, dtype: torch.dtype
) -> CellState:
    """Random (L, B, H) initial state of a torch layer, (h_0, c_0) for an LSTM."""
    h = torch.randn(layers, batch, hidden, dtype=dtype, requires_grad=True)
    if kind == "lstm":
        c = torch.randn(layers, batch, hidden, dtype=dtype, requires_grad=True)
        return h, c
    return h


def _layer_slice(state: CellState, layer: int) -> CellState:
    """The (B, H) state of one layer out of a torch (L, B, H) state."""
    if isinstance(state, tuple):
        return state[0][layer], state[1][layer]
    return state[layer]


@pytest.mark.parametrize("kind", CELLS)
def test_cell_contract(kind: CellType) -> None:
    torch.manual_seed(0)
    cell = make_cell(kind, input_size=3, hidden_size=4)
    x = torch.randn(5, 3)

    state = cell(x)
    for part in _parts(state):
        assert part.shape == (5, 4)

    # None is the same as an explicit zero state
    for got, want in zip(
        _parts(cell(x, _zero_state(kind, 5, 4))), _parts(state), strict=True
    ):
        assert torch.equal(got, want)

    # the same input and state give the same output
    for got, want in zip(_parts(cell(x, state)), _parts(cell(x, state)), strict=True):
        assert torch.equal(got, want)

    sequence = torch.randn(5, 6, 3)
    output, final_state, hidden_states = unroll(cell, sequence, keep_states=True)
    assert output.shape == (5, 6, 4)
    assert len(hidden_states) == 6
    for t, h_t in enumerate(hidden_states):
        assert torch.equal(output[:, t], h_t)
    assert torch.equal(_parts(final_state)[0], output[:, -1])

    # two or more steps, so weight_hh meets a non-zero state
    output.square().sum().backward()
    for name, parameter in cell.named_parameters():
        assert parameter.grad is not None, name
        assert parameter.grad.abs().sum() > 0, name


@pytest.mark.parametrize("kind", CELLS)
def test_parameters_match_torch_names_and_shapes(kind: CellType) -> None:
    ours = make_cell(kind, input_size=3, hidden_size=5).state_dict()
    theirs = TORCH_CELLS[kind](3, 5).state_dict()

    assert list(ours) == list(theirs)
    for name, tensor in theirs.items():
        assert ours[name].shape == tensor.shape, name


@pytest.mark.parametrize("kind", CELLS)
@pytest.mark.parametrize("seed", SEEDS)
def test_default_init_matches_torch(kind: CellType, seed: int) -> None:
    torch.manual_seed(seed)
    ours = make_cell(kind, input_size=3, hidden_size=9)
    torch.manual_seed(seed)
    theirs = TORCH_CELLS[kind](3, 9)

    bound = 1 / math.sqrt(9)
    for name, tensor in theirs.state_dict().items():
        assert torch.equal(ours.state_dict()[name], tensor), name
        assert ours.state_dict()[name].abs().max() <= bound, name


@pytest.mark.parametrize("kind", CELLS)
@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize(("input_size", "hidden_size"), SIZES)
@pytest.mark.parametrize("direction", ["torch_to_ours", "ours_to_torch"])
def test_step_matches_torch_cell(
    kind: CellType, seed: int, input_size: int, hidden_size: int, direction: str
) -> None:
    torch.manual_seed(seed)
    ours = make_cell(kind, input_size, hidden_size).double()
    theirs = TORCH_CELLS[kind](input_size, hidden_size).double()
    if direction == "torch_to_ours":
        ours.load_state_dict(theirs.state_dict())
    else:
        theirs.load_state_dict(ours.state_dict())

    x = torch.randn(4, input_size, dtype=torch.float64)
    state = _random_state(kind, 4, hidden_size)
    _assert_close(ours(x, state), theirs(x, state))
    _assert_close(ours(x), theirs(x))


@pytest.mark.parametrize("kind", CELLS)
@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize(("input_size", "hidden_size"), SIZES)
def test_sequence_matches_torch_layer(
    kind: CellType, seed: int, input_size: int, hidden_size: int
) -> None:
    torch.manual_seed(seed)
    layer = TORCH_LAYERS[kind](input_size, hidden_size, batch_first=True).double()
    cell = make_cell(kind, input_size, hidden_size).double()
    copy_from_torch(cell, layer)

    x = torch.randn(4, 20, input_size, dtype=torch.float64)
    state = _random_state(kind, 4, hidden_size)
    output, final_state = unroll(cell, x, state)
    expected_output, expected_final = layer(x, _layer_state(state))

    torch.testing.assert_close(output, expected_output, atol=ATOL, rtol=0)
    _assert_close(_layer_state(final_state), expected_final)


@pytest.mark.parametrize("kind", CELLS)
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_stack_gradients_match_torch_layers(kind: CellType, dtype: torch.dtype) -> None:
    torch.manual_seed(5)
    num_layers, batch, steps, input_size, hidden_size = 2, 4, 20, 3, 6
    layers = TORCH_LAYERS[kind](
        input_size, hidden_size, num_layers=num_layers, batch_first=True
    ).to(dtype)
    cells = [
        make_cell(kind, input_size if index == 0 else hidden_size, hidden_size)
        for index in range(num_layers)
    ]
    for index, cell in enumerate(cells):
        cell.to(dtype)
        copy_from_torch(cell, layers, layer=index)
    x = torch.randn(batch, steps, input_size, dtype=dtype, requires_grad=True)
    initial = _initial_layer_state(kind, num_layers, batch, hidden_size, dtype)
    # a random weighting of every output step, so each h_t gets its own gradient
    weights = torch.randn(batch, steps, hidden_size, dtype=dtype)

    sequence, finals = x, []
    for index, cell in enumerate(cells):
        sequence, final = unroll(cell, sequence, _layer_slice(initial, index))
        finals.append(final)
    expected_output, expected_final = layers(x, initial)

    # float32 uses assert_close's defaults for float32: rtol 1.3e-6, atol 1e-5
    tolerance = {"atol": ATOL, "rtol": RTOL} if dtype == torch.float64 else {}
    torch.testing.assert_close(sequence, expected_output, **tolerance)
    for index, final in enumerate(finals):
        for got, want in zip(
            _parts(final), _parts(_layer_slice(expected_final, index)), strict=True
        ):
            torch.testing.assert_close(got, want, **tolerance)

    inputs = [x, *_parts(initial)]
    ours = torch.autograd.grad(
        (sequence * weights).sum(),
        inputs + [p for cell in cells for p in cell.parameters()],
    )
    theirs = torch.autograd.grad(
        (expected_output * weights).sum(), inputs + list(layers.parameters())
    )
    names = ["x", "h_0", "c_0"][: len(inputs)] + [
        f"{name}_l{index}"
        for index, cell in enumerate(cells)
        for name, _ in cell.named_parameters()
    ]
    assert names[len(inputs) :] == [name for name, _ in layers.named_parameters()]
    for name, got, want in zip(names, ours, theirs, strict=True):
        assert got.abs().max() > 0, name
        torch.testing.assert_close(
            got, want, **tolerance, msg=lambda m, n=name: f"{n}: {m}"
        )


@pytest.mark.parametrize("kind", CELLS)
def test_copy_from_torch_second_layer(kind: CellType) -> None:
    torch.manual_seed(3)
    layers = TORCH_LAYERS[kind](2, 6, num_layers=2, batch_first=True).double()
    first = make_cell(kind, 2, 6).double()
    second = make_cell(kind, 6, 6).double()
    copy_from_torch(first, layers, layer=0)
    copy_from_torch(second, layers, layer=1)

    x = torch.randn(3, 20, 2, dtype=torch.float64)
    hidden, _ = unroll(first, x)
    output, final_state = unroll(second, hidden)
    expected_output, expected_final = layers(x)

    torch.testing.assert_close(output, expected_output, atol=ATOL, rtol=0)
    for got, want in zip(_parts(final_state), _parts(expected_final), strict=True):
        torch.testing.assert_close(got, want[1], atol=ATOL, rtol=0)


@pytest.mark.parametrize("kind", CELLS)
def test_copy_from_torch_without_bias(kind: CellType) -> None:
    torch.manual_seed(4)
    layer = TORCH_LAYERS[kind](3, 5, bias=False, batch_first=True).double()
    cell = make_cell(kind, 3, 5).double()
    copy_from_torch(cell, layer)

    x = torch.randn(2, 20, 3, dtype=torch.float64)
    torch.testing.assert_close(unroll(cell, x)[0], layer(x)[0], atol=ATOL, rtol=0)
    assert torch.count_nonzero(cell.bias_ih) == 0
    assert torch.count_nonzero(cell.bias_hh) == 0


def test_rnn_worked_example() -> None:
    cell = RNNCell(input_size=1, hidden_size=2)
    with torch.no_grad():
        cell.weight_hh.copy_(torch.tensor([[0.5, 0.2], [0.3, 0.4]]))
        cell.weight_ih.copy_(torch.tensor([[0.6], [0.7]]))
        cell.bias_hh.copy_(torch.tensor([0.1, 0.1]))
        cell.bias_ih.zero_()

    # h_0 = 0, so h_1 = tanh(W_x * 1.0 + b_h) = tanh([0.7, 0.8])
    h_1 = cell(torch.tensor([[1.0]]))

    assert h_1.shape == (1, 2)
    assert round(h_1[0, 0].item(), 4) == 0.6044
    assert round(h_1[0, 1].item(), 4) == 0.6640


def test_identity_rnn_is_linear_recurrence() -> None:
    w_x, w_h, b_x, b_h = 0.5, 0.9, 0.1, -0.05
    cell = RNNCell(input_size=1, hidden_size=1, activation="identity").double()
    with torch.no_grad():
        cell.weight_ih.fill_(w_x)
        cell.weight_hh.fill_(w_h)
        cell.bias_ih.fill_(b_x)
        cell.bias_hh.fill_(b_h)
    inputs = [0.3, -1.2, 0.8, 2.0, 0.0, -0.4, 1.1, 0.6, -2.5, 0.9]
    x = torch.tensor(inputs, dtype=torch.float64).reshape(1, -1, 1)

    output, _, hidden_states = unroll(cell, x, keep_states=True)
    for h_t in hidden_states:
        h_t.retain_grad()
    hidden_states[-1].sum().backward()

    # h_t = w_h h_{t-1} + w_x x_t + b_x + b_h from h_0 = 0, by hand
    h = 0.0
    for t, x_t in enumerate(inputs):
        h = w_h * h + w_x * x_t + b_x + b_h
        assert output[0, t, 0].item() == pytest.approx(h, abs=1e-12)

    # dh_T/dh_t = w_h^(T - t), the geometric decay of a linear recurrence
    steps = len(inputs)
    for t, h_t in enumerate(hidden_states, start=1):
        assert h_t.grad is not None
        assert h_t.grad.item() == pytest.approx(w_h ** (steps - t), abs=1e-12)


@pytest.mark.parametrize(
    ("kind", "module", "layer", "error", "message"),
    [
        (
            "rnn",
            nn.LSTM(3, 5),
            0,
            TypeError,
            "copy_from_torch: RNNCell needs a torch.nn.RNN, got LSTM",
        ),
        (
            "gru",
            nn.GRU(3, 5, num_layers=2),
            2,
            ValueError,
            "copy_from_torch: layer must be in 0..1 for a 2-layer GRU, got 2",
        ),
        (
            "lstm",
            nn.LSTM(4, 5),
            0,
            ValueError,
            "copy_from_torch: layer 0 has weight_ih (20, 4) and weight_hh (20, 5), "
            "but the LSTMCell has (20, 3) and (20, 5). Build the cell with "
            "input_size=4 and hidden_size=5",
        ),
        (
            "rnn",
            nn.RNN(3, 5, nonlinearity="relu"),
            0,
            ValueError,
            "copy_from_torch: RNNCell activation 'tanh' does not match nn.RNN "
            "nonlinearity 'relu'. RNNCell supports only 'tanh' and 'identity'",
        ),
        (
            "lstm",
            nn.LSTM(3, 5, proj_size=2),
            0,
            ValueError,
            "copy_from_torch: the nn.LSTM has proj_size=2, but LSTMCell has no "
            "projection. Use an nn.LSTM with proj_size=0",
        ),
    ],
)
def test_copy_from_torch_rejects_mismatch(
    kind: CellType,
    module: nn.RNNBase,
    layer: int,
    error: type[Exception],
    message: str,
) -> None:
    cell = make_cell(kind, 3, 5)
    before = {name: tensor.clone() for name, tensor in cell.state_dict().items()}

    with pytest.raises(error, match=f"^{re.escape(message)}$"):
        copy_from_torch(cell, module, layer=layer)
    for name, tensor in cell.state_dict().items():
        assert torch.equal(tensor, before[name]), name


def test_copy_from_torch_rejects_other_activation() -> None:
    cell = RNNCell(3, 5, activation="identity")
    message = (
        "copy_from_torch: RNNCell activation 'identity' does not match nn.RNN "
        "nonlinearity 'tanh'. Build the cell with activation='tanh'"
    )
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        copy_from_torch(cell, nn.RNN(3, 5))


def test_make_cell_rejects_unknown_cell() -> None:
    message = (
        "make_cell: unknown cell 'transformer', expected one of 'rnn', 'lstm', 'gru'"
    )
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        make_cell("transformer", 1, 1)  # type: ignore[arg-type]


def test_make_cell_rejects_activation_for_gated_cell() -> None:
    message = (
        "make_cell: activation='identity' is only valid for cell='rnn', "
        "so leave it at 'tanh' for cell='gru'"
    )
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        make_cell("gru", 1, 1, activation="identity")


def test_cells_reject_invalid_configuration() -> None:
    with pytest.raises(ValueError, match="^RNNCell: activation must be 'tanh' or"):
        RNNCell(1, 1, activation="relu")  # type: ignore[arg-type]
    with pytest.raises(
        ValueError, match="^GRUCell: hidden_size must be at least 1, got 0$"
    ):
        GRUCell(1, 0)
    with pytest.raises(
        ValueError, match="^LSTMCell: input_size must be at least 1, got -2$"
    ):
        LSTMCell(-2, 3)


def test_cells_reject_invalid_shapes() -> None:
    cell = LSTMCell(3, 4)
    input_message = (
        "LSTMCell: input must have shape (B, F) with F = 3, got (2, 5). "
        "Pass one time step x[:, t] of a (B, T, F) batch"
    )
    with pytest.raises(RuntimeError, match=f"^{re.escape(input_message)}$"):
        cell(torch.zeros(2, 5))
    with pytest.raises(RuntimeError, match=re.escape("got (2, 3, 3)")):
        cell(torch.zeros(2, 3, 3))

    state_message = (
        "LSTMCell: c must have shape (B, H) = (2, 4), got (3, 4). Pass the "
        "state returned for the same batch, or None for zeros"
    )
    with pytest.raises(RuntimeError, match=f"^{re.escape(state_message)}$"):
        cell(torch.zeros(2, 3), (torch.zeros(2, 4), torch.zeros(3, 4)))
    with pytest.raises(TypeError, match="^LSTMCell: state must be a tuple"):
        cell(torch.zeros(2, 3), torch.zeros(2, 4))
    with pytest.raises(TypeError, match="^RNNCell: state must be a Tensor or None"):
        RNNCell(3, 4)(torch.zeros(2, 3), (torch.zeros(2, 4), torch.zeros(2, 4)))

    sequence_message = (
        "unroll: input must have shape (B, T, F) with T >= 1, got (2, 0, 3)"
    )
    with pytest.raises(RuntimeError, match=f"^{re.escape(sequence_message)}$"):
        unroll(cell, torch.zeros(2, 0, 3))
