"""Size checks of gradient diagnostics and lag experiments, run before any
tensor is allocated.

The memory of a diagnostic grows with the parameter count P of its network
(float64 weights, their gradient and the temporaries of backpropagation) and
with T x S, the time steps times the state size, of the autograd graph. A
fresh cell with G gate blocks, F features per step and hidden size H has
P = G*H*(F + H) + 2*G*H parameters plus H + 1 in the head. The checks
bound F (``max_diagnostic_features``) and P (``max_diagnostic_parameters``);
``max_seq_len`` and ``max_diagnostic_hidden_size`` bound T and H. A lag
experiment trains on batches of B sequences, and ``max_lag_batch_elements``
bounds B x T x H.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from torch import nn

from models.errors import LimitExceededError
from models.limits import Limits
from models.nn.cell_stack import GATE_NAMES
from models.spec import CellType

FEATURES_SETTING = "RNN_FORECAST_MAX_DIAGNOSTIC_FEATURES"
PARAMETERS_SETTING = "RNN_FORECAST_MAX_DIAGNOSTIC_PARAMETERS"
LAG_BATCH_SETTING = "RNN_FORECAST_MAX_LAG_BATCH_ELEMENTS"


def fresh_parameter_count(cell: CellType, input_size: int, hidden_size: int) -> int:
    """Return P of a fresh one-layer stack: the cell's W_x, W_h, b_x and b_h
    and the head's weight (1, H) and bias, without building it."""
    rows = len(GATE_NAMES[cell]) * hidden_size
    return rows * (input_size + hidden_size) + 2 * rows + hidden_size + 1


def parameter_count(modules: Iterable[nn.Module]) -> int:
    """Return the number of parameters of ``modules`` together."""
    return sum(p.numel() for module in modules for p in module.parameters())


def check_features(features: int, limits: Limits) -> None:
    """Raise ``LimitExceededError`` on ``input.values`` when F is above
    ``limits.max_diagnostic_features``."""
    limit = limits.max_diagnostic_features
    if features > limit:
        raise LimitExceededError(
            f"input.values rows have {features} features, above the limit of "
            f"{limit}; send at most {limit} numbers per row or raise "
            f"{FEATURES_SETTING}",
            field="input.values",
        )


def check_parameters(count: int, limits: Limits, *, network: str, field: str) -> None:
    """Raise ``LimitExceededError`` on ``field`` when ``count`` parameters are
    above ``limits.max_diagnostic_parameters``; ``network`` describes them."""
    limit = limits.max_diagnostic_parameters
    if count > limit:
        raise LimitExceededError(
            f"{network} has {count} parameters, above the limit of {limit}; "
            f"{_fix(field)} or raise {PARAMETERS_SETTING}",
            field=field,
        )


def check_lag_batch(
    batch_size: int,
    seq_len: int,
    hidden_size: int,
    limits: Limits,
    names: Mapping[str, str] | None = None,
) -> None:
    """Raise ``LimitExceededError`` on ``batch_size`` when B x T x H of a lag
    experiment's training batch is above ``limits.max_lag_batch_elements``.

    Backpropagation through time keeps the gate activations of every step of
    the batch, so a training step's memory grows with B x T x H. ``names``
    maps ``batch_size`` and ``hidden_size`` to the names that the fix
    gives them, such as command-line options.
    """
    elements = batch_size * seq_len * hidden_size
    limit = limits.max_lag_batch_elements
    if elements > limit:
        batch = (names or {}).get("batch_size", "batch_size")
        hidden = (names or {}).get("hidden_size", "hidden_size")
        raise LimitExceededError(
            f"batch_size x seq_len x hidden_size = {batch_size} x {seq_len} x "
            f"{hidden_size} = {elements} is above the limit of {limit}; lower "
            f"{batch}, {hidden} or the largest lag, or raise "
            f"{LAG_BATCH_SETTING}",
            field="batch_size",
        )


def _fix(field: str) -> str:
    if field == "model":
        return "analyse a smaller version"
    return "lower hidden_size or the number of features in each row of input.values"
