"""Stacks of hand-written cells with a linear head, built for gradient analysis.

A ``CellStack`` computes what a ``Forecaster`` computes, with the recurrence
spelled out step by step by the cells of ``models.nn.cells``, so that every
hidden state h_t is a node of the autograd graph. It is built either fresh,
from the controls of a gradient diagnostic (initialisation, spectral radius
of the recurrent matrix, activation, LSTM forget-gate or GRU update-gate
bias), or from a trained
``Forecaster`` by copying its weights layer by layer.

Fresh stacks never draw from torch's global random number generator: the
modules are created on the meta device and initialised from a seeded
``torch.Generator``, so concurrent requests do not disturb each other.
"""

from __future__ import annotations

import math
from typing import Literal, TypeAlias, cast

import torch
from torch import Tensor, nn

from models.errors import InvalidInputError
from models.nn.cells import Activation, RecurrentCell, copy_from_torch, make_cell
from models.nn.forecaster import Forecaster
from models.spec import CellType

Init: TypeAlias = Literal["default", "orthogonal", "identity"]

# Gate blocks of weight_hh in torch's order, and the block that computes the
# candidate state (the only block of the vanilla RNN).
GATE_NAMES: dict[str, tuple[str, ...]] = {
    "rnn": ("h",),
    "lstm": ("i", "f", "g", "o"),
    "gru": ("r", "z", "n"),
}
CANDIDATE_GATE: dict[str, str] = {"rnn": "h", "lstm": "g", "gru": "n"}
# The gate that keeps the state: c_t keeps f_t * c_{t-1} in the LSTM, and h_t
# keeps z_t * h_{t-1} in the GRU. The vanilla RNN has none.
MEMORY_GATE: dict[str, str] = {"lstm": "f", "gru": "z"}
# The request field that sets the bias of each memory gate, by cell.
MEMORY_BIAS_FIELD: dict[str, str] = {"lstm": "forget_bias", "gru": "update_bias"}

# A block whose spectral radius is below this cannot be rescaled.
MIN_RESCALABLE_RADIUS = 1e-12


class CellStack(nn.Module):
    """L hand-written cells of one type and a linear head, in float64.

    Layer 0 reads the input x (B, T, F); layer l > 0 reads the hidden states
    of layer l - 1. The head maps h_T (B, H) of the top layer to y (B, K).
    States count from 1 here, as in ``unroll``, with h_0 the initial state.
    The gradient diagnostics count from 0, so this h_T is their h_{T-1}.
    """

    def __init__(
        self, cell_type: CellType, cells: list[RecurrentCell], head: nn.Linear
    ):
        super().__init__()
        if not cells:
            raise ValueError("CellStack: cells must contain at least one cell, got 0")
        self.cell_type: CellType = cell_type
        self.cells = nn.ModuleList(cells)
        self.head = head
        self.double()

    @property
    def hidden_size(self) -> int:
        return int(self.head.in_features)

    @property
    def num_layers(self) -> int:
        return len(self.cells)

    @property
    def state_size(self) -> int:
        """Size S of the recurrent state: H, or 2H for the LSTM's (h, c)."""
        return 2 * self.hidden_size if self.cell_type == "lstm" else self.hidden_size

    def layer(self, index: int) -> RecurrentCell:
        cell = self.cells[index]
        assert isinstance(cell, RecurrentCell)
        return cell


def build_fresh_stack(
    cell_type: CellType,
    *,
    input_size: int,
    hidden_size: int,
    activation: Activation = "tanh",
    init: Init = "default",
    spectral_radius: float | None = None,
    forget_bias: float | None = None,
    update_bias: float | None = None,
    seed: int = 0,
) -> CellStack:
    """Build a one-layer stack with a head of K = 1 output.

    Every parameter starts as torch initialises it: uniform(-1/sqrt(H),
    1/sqrt(H)) for the cell and the head. Then, in this order:

    - ``init="orthogonal"`` replaces each gate block of W_h by a random
      orthogonal matrix and ``init="identity"`` by the identity I (H, H),
    - ``spectral_radius`` rescales each gate block of W_h so that its
      spectral radius (largest eigenvalue modulus) equals the value, which
      makes ``init="identity"`` the scaled identity r * I,
    - ``forget_bias`` (LSTM only) sets the forget-gate bias b_xf to the value
      and b_hf to 0, so that the forget gate starts near sigmoid(value),
    - ``update_bias`` (GRU only) sets the update-gate bias b_xz to the value
      and b_hz to 0, so that z starts near sigmoid(value); h_t keeps
      z_t * h_{t-1}, so a large value keeps the state.

    Raises ``InvalidInputError`` when a block's spectral radius is zero and so
    cannot be rescaled, or when a gate bias is given for a cell without
    that gate.
    """
    generator = torch.Generator().manual_seed(seed)
    with torch.device("meta"):
        cell = make_cell(cell_type, input_size, hidden_size, activation=activation)
        head = nn.Linear(hidden_size, 1)
    cell = cell.to_empty(device="cpu").double()
    head = head.to_empty(device="cpu").double()
    _init_uniform(cell, hidden_size, generator)
    _init_uniform(head, hidden_size, generator)

    with torch.no_grad():
        if init != "default":
            for block in gate_blocks(cell.weight_hh, len(GATE_NAMES[cell_type])):
                _init_block(block, init, generator)
        if spectral_radius is not None:
            rescale_spectral_radius(cell, cell_type, spectral_radius)
        if forget_bias is not None:
            set_memory_gate_bias(cell, cell_type, "forget_bias", forget_bias)
        if update_bias is not None:
            set_memory_gate_bias(cell, cell_type, "update_bias", update_bias)
    return CellStack(cell_type, [cell], head)


def stack_from_forecaster(forecaster: Forecaster) -> CellStack:
    """Copy every layer of ``forecaster.core`` and its head into a stack.

    The result computes the forecaster's output in float64. Dropout between
    layers is left out, as in the forecaster's eval mode.
    """
    core = forecaster.core
    cell_type = _cell_type(forecaster.cell)
    hidden_size = core.hidden_size
    cells: list[RecurrentCell] = []
    for layer in range(core.num_layers):
        input_size = core.input_size if layer == 0 else hidden_size
        with torch.device("meta"):
            cell = make_cell(cell_type, input_size, hidden_size)
        cell = cell.to_empty(device="cpu").double()
        copy_from_torch(cell, core, layer=layer)
        cells.append(cell)

    head = nn.Linear(hidden_size, forecaster.head.out_features, dtype=torch.float64)
    with torch.no_grad():
        head.weight.copy_(forecaster.head.weight)
        head.bias.copy_(forecaster.head.bias)
    return CellStack(cell_type, cells, head)


def _cell_type(name: str) -> CellType:
    if name in GATE_NAMES:
        return cast(CellType, name)
    raise ValueError(f"cell must be 'rnn', 'lstm' or 'gru', got {name!r}")


def gate_blocks(weight_hh: Tensor, gate_count: int) -> list[Tensor]:
    """Split W_h (G*H, H) into G views (H, H), one per gate, in torch's order."""
    return list(weight_hh.chunk(gate_count, dim=0))


def spectral_radius(matrix: Tensor) -> float:
    """Largest modulus of the eigenvalues of a square matrix (H, H)."""
    eigenvalues = torch.linalg.eigvals(matrix.detach().double())
    return float(eigenvalues.abs().max())


def gate_spectral_radii(cell: RecurrentCell, cell_type: CellType) -> dict[str, float]:
    """Spectral radius of each gate block of W_h, keyed by gate name."""
    names = GATE_NAMES[cell_type]
    blocks = gate_blocks(cell.weight_hh, len(names))
    return {
        name: spectral_radius(block) for name, block in zip(names, blocks, strict=True)
    }


def rescale_spectral_radius(
    cell: RecurrentCell, cell_type: CellType, radius: float
) -> None:
    """Scale each gate block of W_h in place so its spectral radius is ``radius``."""
    names = GATE_NAMES[cell_type]
    with torch.no_grad():
        for name, block in zip(
            names, gate_blocks(cell.weight_hh, len(names)), strict=True
        ):
            current = spectral_radius(block)
            if current < MIN_RESCALABLE_RADIUS:
                raise InvalidInputError(
                    f"the recurrent block {name!r} has spectral radius {current:.3g}, "
                    "so it cannot be rescaled; use another init or seed",
                    field="spectral_radius",
                )
            block.mul_(radius / current)


def set_memory_gate_bias(
    cell: RecurrentCell, cell_type: CellType, field: str, value: float
) -> None:
    """Set the bias of the gate that keeps the state, named by its request
    ``field``: b_x of that gate block = ``value`` and b_h = 0.

    ``forget_bias`` sets the LSTM's f block (rows H..2H of i, f, g, o) and
    ``update_bias`` the GRU's z block (rows H..2H of r, z, n), in torch's
    gate order. Raises ``InvalidInputError`` naming ``field`` for another
    cell.
    """
    cells = [name for name, known in MEMORY_BIAS_FIELD.items() if known == field]
    if cell_type not in cells:
        raise InvalidInputError(
            f"{field} applies only to cell {cells[0]!r}, got cell {cell_type!r}; "
            f"remove {field}",
            field=field,
        )
    gate = GATE_NAMES[cell_type].index(MEMORY_GATE[cell_type])
    hidden_size = cell.hidden_size
    block = slice(gate * hidden_size, (gate + 1) * hidden_size)
    with torch.no_grad():
        cell.bias_ih[block] = value
        cell.bias_hh[block] = 0.0


def _init_uniform(module: nn.Module, fan_in: int, generator: torch.Generator) -> None:
    bound = 1.0 / math.sqrt(fan_in)
    with torch.no_grad():
        for parameter in module.parameters():
            nn.init.uniform_(parameter, -bound, bound, generator=generator)


def _init_block(block: Tensor, init: Init, generator: torch.Generator) -> None:
    if init == "orthogonal":
        fresh = torch.empty_like(block)
        nn.init.orthogonal_(fresh, generator=generator)
        block.copy_(fresh)
    elif init == "identity":
        block.copy_(torch.eye(block.shape[0], dtype=block.dtype))
    else:
        raise ValueError(
            f"init must be 'default', 'orthogonal' or 'identity', got {init!r}"
        )
