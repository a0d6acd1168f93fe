"""Hand-written RNN, LSTM and GRU cells that compute what torch's cells compute.

``torch.nn.RNNCell``, ``nn.LSTMCell`` and ``nn.GRUCell`` run their recurrences
inside fused kernels. The cells here spell the equations out step by step, so
they can be read, taught and checked against torch. Parameter names, shapes,
gate order and default initialisation match torch's (checked with torch
2.13), so ``load_state_dict`` works in both directions and the same seed gives
the same weights.

Shape letters (B, T, F, H) are defined in ``models/__init__.py``. G is the
number of gate blocks stacked in one weight matrix: 1 for the RNN, 4 for the
LSTM (order i, f, g, o) and 3 for the GRU (order r, z, n). Every cell owns

- ``weight_ih`` (G*H, F) and ``bias_ih`` (G*H,), the input map W_x and b_x,
- ``weight_hh`` (G*H, H) and ``bias_hh`` (G*H,), the recurrent map W_h and b_h,

and draws all four from uniform(-1/sqrt(H), 1/sqrt(H)), as torch does. In the
equations, ``*`` is the element-wise product and sigmoid is the logistic
function 1 / (1 + exp(-v)).
"""

from __future__ import annotations

import math
from typing import ClassVar, Literal, TypeAlias, get_args, overload

import torch
from torch import Tensor, nn
from torch.nn.functional import linear

from models.spec import CellType

Activation: TypeAlias = Literal["tanh", "identity"]
LSTMState: TypeAlias = tuple[Tensor, Tensor]
CellState: TypeAlias = Tensor | LSTMState


class _CellBase(nn.Module):
    """Parameters, initialisation and input checks shared by the three cells."""

    gate_count: ClassVar[int]

    def __init__(self, input_size: int, hidden_size: int) -> None:
        super().__init__()
        for name, size in (("input_size", input_size), ("hidden_size", hidden_size)):
            if size < 1:
                raise ValueError(
                    f"{type(self).__name__}: {name} must be at least 1, got {size}"
                )
        self.input_size = input_size
        self.hidden_size = hidden_size

        # Registered in the order of torch's RNNCellBase, so reset_parameters
        # draws the same numbers as torch's cell from the same seed.
        rows = self.gate_count * hidden_size
        self.weight_ih = nn.Parameter(torch.empty(rows, input_size))
        self.weight_hh = nn.Parameter(torch.empty(rows, hidden_size))
        self.bias_ih = nn.Parameter(torch.empty(rows))
        self.bias_hh = nn.Parameter(torch.empty(rows))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Draw every parameter from uniform(-1/sqrt(H), 1/sqrt(H))."""
        bound = 1.0 / math.sqrt(self.hidden_size)
        for parameter in self.parameters():
            nn.init.uniform_(parameter, -bound, bound)

    def extra_repr(self) -> str:
        return f"{self.input_size}, {self.hidden_size}"

    def _check_input(self, x: Tensor) -> None:
        if x.dim() != 2 or x.shape[1] != self.input_size:
            raise RuntimeError(
                f"{type(self).__name__}: input must have shape (B, F) with "
                f"F = {self.input_size}, got {tuple(x.shape)}. Pass one time "
                "step x[:, t] of a (B, T, F) batch"
            )

    def _hidden_or_zeros(self, x: Tensor, h: object, name: str) -> Tensor:
        """Return ``h`` after checking it is (B, H), or zeros (B, H) for None."""
        if h is None:
            return x.new_zeros(x.shape[0], self.hidden_size)
        if not isinstance(h, Tensor):
            raise TypeError(
                f"{type(self).__name__}: {name} must be a Tensor or None, "
                f"got {type(h).__name__}"
            )
        expected = (x.shape[0], self.hidden_size)
        if tuple(h.shape) != expected:
            raise RuntimeError(
                f"{type(self).__name__}: {name} must have shape (B, H) = "
                f"{expected}, got {tuple(h.shape)}. Pass the state returned for "
                "the same batch, or None for zeros"
            )
        return h


class RNNCell(_CellBase):
    """Elman cell, one step of h_t = act(W_x x_t + b_x + W_h h_{t-1} + b_h).

    act is tanh (the default, as in ``nn.RNNCell``) or the identity. With the
    identity the recurrence is linear, so dh_t/dh_{t-k} = W_h^k exactly, and
    gradients shrink or grow with the spectral radius of W_h. That makes it
    the plain demonstration of vanishing and exploding gradients.

    Shapes: x (B, F) and h_{t-1} (B, H) give h_t (B, H), and G = 1. A state of
    None means h_{t-1} = 0. Parameters start uniform(-1/sqrt(H), 1/sqrt(H)).
    """

    gate_count = 1

    def __init__(
        self, input_size: int, hidden_size: int, *, activation: Activation = "tanh"
    ) -> None:
        if activation not in get_args(Activation):
            raise ValueError(
                f"RNNCell: activation must be 'tanh' or 'identity', got {activation!r}"
            )
        super().__init__(input_size, hidden_size)
        self.activation: Activation = activation

    def forward(self, x: Tensor, state: Tensor | None = None) -> Tensor:
        self._check_input(x)
        h = self._hidden_or_zeros(x, state, "state")
        pre_activation = linear(x, self.weight_ih, self.bias_ih) + linear(
            h, self.weight_hh, self.bias_hh
        )
        if self.activation == "tanh":
            return torch.tanh(pre_activation)
        return pre_activation

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, activation={self.activation!r}"


class LSTMCell(_CellBase):
    """Long short-term memory cell, one step of::

        i_t = sigmoid(W_xi x_t + b_xi + W_hi h_{t-1} + b_hi)   input gate
        f_t = sigmoid(W_xf x_t + b_xf + W_hf h_{t-1} + b_hf)   forget gate
        g_t = tanh(W_xg x_t + b_xg + W_hg h_{t-1} + b_hg)      candidate
        o_t = sigmoid(W_xo x_t + b_xo + W_ho h_{t-1} + b_ho)   output gate
        c_t = f_t * c_{t-1} + i_t * g_t
        h_t = o_t * tanh(c_t)

    W_xi is rows 0..H-1 of ``weight_ih``, W_xf rows H..2H-1 and so on in the
    order i, f, g, o (G = 4), the same for ``weight_hh`` and both biases.

    Shapes: x (B, F) and state (h_{t-1}, c_{t-1}), each (B, H), give
    (h_t, c_t), each (B, H). A state of None means h_{t-1} = c_{t-1} = 0.
    Parameters start uniform(-1/sqrt(H), 1/sqrt(H)), as in ``nn.LSTMCell``,
    so the forget-gate bias is not set to 1.
    """

    gate_count = 4

    def forward(self, x: Tensor, state: LSTMState | None = None) -> LSTMState:
        self._check_input(x)
        h_prev, c_prev = self._split_state(x, state)

        # (B, 4H), then four (B, H) blocks in torch's order i, f, g, o
        gates = linear(x, self.weight_ih, self.bias_ih) + linear(
            h_prev, self.weight_hh, self.bias_hh
        )
        i, f, g, o = gates.chunk(4, dim=1)
        i, f, g, o = torch.sigmoid(i), torch.sigmoid(f), torch.tanh(g), torch.sigmoid(o)

        c = f * c_prev + i * g
        h = o * torch.tanh(c)
        return h, c

    def _split_state(self, x: Tensor, state: object) -> LSTMState:
        if state is None:
            zeros = self._hidden_or_zeros(x, None, "h")
            return zeros, zeros
        if not isinstance(state, tuple) or len(state) != 2:
            raise TypeError(
                "LSTMCell: state must be a tuple (h, c) or None, "
                f"got {type(state).__name__}"
            )
        h = self._hidden_or_zeros(x, state[0], "h")
        c = self._hidden_or_zeros(x, state[1], "c")
        return h, c


class GRUCell(_CellBase):
    """Gated recurrent unit, one step of::

        r_t = sigmoid(W_xr x_t + b_xr + W_hr h_{t-1} + b_hr)           reset
        z_t = sigmoid(W_xz x_t + b_xz + W_hz h_{t-1} + b_hz)           update
        n_t = tanh(W_xn x_t + b_xn + r_t * (W_hn h_{t-1} + b_hn))      candidate
        h_t = (1 - z_t) * n_t + z_t * h_{t-1}

    This is torch's convention (``nn.GRUCell``), in which r_t scales
    W_hn h_{t-1} + b_hn after the matrix product. Some texts apply r_t to
    h_{t-1} before the product, or swap z_t and 1 - z_t, so their weights do
    not carry over to this cell unchanged. The gate blocks of
    ``weight_ih``, ``weight_hh`` and both biases are in the order r, z, n
    (G = 3).

    Shapes: x (B, F) and h_{t-1} (B, H) give h_t (B, H). A state of None
    means h_{t-1} = 0. Parameters start uniform(-1/sqrt(H), 1/sqrt(H)).
    """

    gate_count = 3

    def forward(self, x: Tensor, state: Tensor | None = None) -> Tensor:
        self._check_input(x)
        h_prev = self._hidden_or_zeros(x, state, "state")

        # Each (B, 3H), split into (B, H) blocks in torch's order r, z, n. The
        # two maps stay apart because r_t scales only the recurrent n block.
        x_r, x_z, x_n = linear(x, self.weight_ih, self.bias_ih).chunk(3, dim=1)
        h_r, h_z, h_n = linear(h_prev, self.weight_hh, self.bias_hh).chunk(3, dim=1)

        r = torch.sigmoid(x_r + h_r)
        z = torch.sigmoid(x_z + h_z)
        n = torch.tanh(x_n + r * h_n)
        return (1 - z) * n + z * h_prev


RecurrentCell: TypeAlias = RNNCell | LSTMCell | GRUCell

_CELL_CLASSES: dict[str, type[RNNCell] | type[LSTMCell] | type[GRUCell]] = {
    "rnn": RNNCell,
    "lstm": LSTMCell,
    "gru": GRUCell,
}


def make_cell(
    cell: CellType,
    input_size: int,
    hidden_size: int,
    *,
    activation: Activation = "tanh",
) -> RecurrentCell:
    """Build the hand-written cell named ``cell`` with F = input_size and
    H = hidden_size. ``activation`` applies only to ``"rnn"``. The LSTM and
    GRU have fixed activations, so any value but "tanh" raises ValueError."""
    if cell not in _CELL_CLASSES:
        raise ValueError(
            f"make_cell: unknown cell {cell!r}, expected one of "
            f"{', '.join(repr(name) for name in get_args(CellType))}"
        )
    if cell == "rnn":
        return RNNCell(input_size, hidden_size, activation=activation)
    if activation != "tanh":
        raise ValueError(
            f"make_cell: activation={activation!r} is only valid for cell='rnn', "
            f"so leave it at 'tanh' for cell={cell!r}"
        )
    return _CELL_CLASSES[cell](input_size, hidden_size)


@overload
def unroll(
    cell: RecurrentCell,
    x: Tensor,
    state: CellState | None = None,
    *,
    keep_states: Literal[False] = False,
) -> tuple[Tensor, CellState]: ...


@overload
def unroll(
    cell: RecurrentCell,
    x: Tensor,
    state: CellState | None = None,
    *,
    keep_states: Literal[True],
) -> tuple[Tensor, CellState, list[Tensor]]: ...


def unroll(
    cell: RecurrentCell,
    x: Tensor,
    state: CellState | None = None,
    *,
    keep_states: bool = False,
) -> tuple[Tensor, CellState] | tuple[Tensor, CellState, list[Tensor]]:
    """Run ``cell`` over every time step of ``x``, like a one-layer torch
    ``nn.RNN``, ``nn.LSTM`` or ``nn.GRU`` built with ``batch_first=True``.

    Shapes: x (B, T, F) with T >= 1 gives ``(output, final_state)``. output
    (B, T, H) stacks h_1 .. h_T. final_state is h_T (B, H), or (h_T, c_T) for
    an LSTM, and ``state`` is the initial state h_0 in the same form (None
    means zeros). Here h_t is the state after the t-th input x[:, t - 1].
    The gradient diagnostics (``models.gradients``) count from 0 instead, so
    their h_t, the state after x[:, t], is this h_{t+1}.

    With ``keep_states=True`` a third item is returned: the list of the T
    tensors h_1 .. h_T, each (B, H), that output was stacked from. They are
    nodes of the autograd graph, so calling ``h_t.retain_grad()`` before
    ``backward()`` leaves dL/dh_t in ``h_t.grad``.
    """
    if x.dim() != 3 or x.shape[1] == 0:
        raise RuntimeError(
            f"unroll: input must have shape (B, T, F) with T >= 1, got {tuple(x.shape)}"
        )

    final_state: CellState = cell(x[:, 0], state)
    hidden_states = [_hidden_of(final_state)]
    for t in range(1, x.shape[1]):
        final_state = cell(x[:, t], final_state)
        hidden_states.append(_hidden_of(final_state))
    output = torch.stack(hidden_states, dim=1)

    if keep_states:
        return output, final_state, hidden_states
    return output, final_state


def _hidden_of(state: CellState) -> Tensor:
    return state[0] if isinstance(state, tuple) else state


def copy_from_torch(
    cell: RecurrentCell, torch_module: nn.RNNBase, layer: int = 0
) -> None:
    """Copy layer ``layer`` of a torch ``nn.RNN``, ``nn.LSTM`` or ``nn.GRU``
    into ``cell`` in place.

    ``weight_ih_l{layer}``, ``weight_hh_l{layer}``, ``bias_ih_l{layer}`` and
    ``bias_hh_l{layer}`` go to ``weight_ih``, ``weight_hh``, ``bias_ih`` and
    ``bias_hh``, cast to the cell's dtype and device. A module built with
    ``bias=False`` sets the cell's biases to zero, which computes the same
    function. Of a bidirectional module only the forward direction is copied.
    Copy torch's single-step cells with ``load_state_dict`` instead.

    Raises TypeError when the module is not the cell's counterpart and
    ValueError for an RNN activation that differs, a layer out of range, an
    LSTM with ``proj_size > 0`` or weight shapes that differ from the cell's.
    Nothing is copied when it raises.
    """
    _check_counterpart(cell, torch_module)
    if not 0 <= layer < torch_module.num_layers:
        raise ValueError(
            f"copy_from_torch: layer must be in 0..{torch_module.num_layers - 1} "
            f"for a {torch_module.num_layers}-layer {type(torch_module).__name__}, "
            f"got {layer}"
        )
    _check_weight_shapes(cell, torch_module, layer)

    with torch.no_grad():
        for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
            target: Tensor = getattr(cell, name)
            if name.startswith("bias") and not torch_module.bias:
                target.zero_()
            else:
                target.copy_(getattr(torch_module, f"{name}_l{layer}"))


def _check_counterpart(cell: RecurrentCell, torch_module: nn.RNNBase) -> None:
    """Raise unless ``torch_module`` computes the same recurrence as ``cell``."""
    counterparts: list[tuple[type[nn.Module], type[nn.RNNBase]]] = [
        (RNNCell, nn.RNN),
        (LSTMCell, nn.LSTM),
        (GRUCell, nn.GRU),
    ]
    for cell_class, module_class in counterparts:
        if isinstance(cell, cell_class) and not isinstance(torch_module, module_class):
            raise TypeError(
                f"copy_from_torch: {cell_class.__name__} needs a "
                f"torch.nn.{module_class.__name__}, got {type(torch_module).__name__}"
            )

    if isinstance(cell, RNNCell) and isinstance(torch_module, nn.RNN):
        nonlinearity = torch_module.nonlinearity
        if cell.activation != nonlinearity:
            fix = (
                f"Build the cell with activation={nonlinearity!r}"
                if nonlinearity in get_args(Activation)
                else "RNNCell supports only 'tanh' and 'identity'"
            )
            raise ValueError(
                f"copy_from_torch: RNNCell activation {cell.activation!r} does not "
                f"match nn.RNN nonlinearity {nonlinearity!r}. {fix}"
            )
    if isinstance(torch_module, nn.LSTM) and torch_module.proj_size > 0:
        raise ValueError(
            f"copy_from_torch: the nn.LSTM has proj_size={torch_module.proj_size}, "
            "but LSTMCell has no projection. Use an nn.LSTM with proj_size=0"
        )


def _check_weight_shapes(
    cell: RecurrentCell, torch_module: nn.RNNBase, layer: int
) -> None:
    source_ih: Tensor = getattr(torch_module, f"weight_ih_l{layer}")
    source_hh: Tensor = getattr(torch_module, f"weight_hh_l{layer}")
    if (
        source_ih.shape != cell.weight_ih.shape
        or source_hh.shape != cell.weight_hh.shape
    ):
        raise ValueError(
            f"copy_from_torch: layer {layer} has weight_ih {tuple(source_ih.shape)} "
            f"and weight_hh {tuple(source_hh.shape)}, but the {type(cell).__name__} "
            f"has {tuple(cell.weight_ih.shape)} and {tuple(cell.weight_hh.shape)}. "
            f"Build the cell with input_size={source_ih.shape[1]} and "
            f"hidden_size={source_hh.shape[1]}"
        )
