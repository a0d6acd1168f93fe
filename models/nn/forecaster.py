"""The forecaster: a fused torch recurrent core and a direct multi-step head."""

from __future__ import annotations

import functools
import operator
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from models.nn import fused_gru, infer_kernel

CORES: dict[str, type[nn.RNNBase]] = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}

# the functional operators that nn.RNN, nn.LSTM and nn.GRU call, by their mode
RECURRENT_OPS = {
    "RNN_TANH": torch.rnn_tanh,
    "RNN_RELU": torch.rnn_relu,
    "LSTM": torch.lstm,
    "GRU": torch.gru,
}
# batch sizes whose zero initial states are kept between calls of ``infer``
KEPT_STATE_BATCHES = 8


class Forecaster(nn.Module):
    """Recurrent core (``nn.RNN``, ``nn.LSTM`` or ``nn.GRU``) plus a linear head.

    The core reads the window x (B, T, F) and the head maps its last hidden
    state h_T (B, H) of the top layer to all K future values at once:
    y = W_o h_T + b_o, y (B, K). Dropout between stacked layers is torch's; it
    needs L >= 2, which the training spec enforces. Initialisation is torch's
    default: every weight and bias uniform(-1/sqrt(H), 1/sqrt(H)) for the core
    and uniform(-1/sqrt(H), 1/sqrt(H)) for the head.
    """

    def __init__(
        self,
        cell: str,
        *,
        input_size: int,
        hidden_size: int,
        num_layers: int,
        horizon: int,
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        if cell not in CORES:
            raise ValueError(f"cell {cell!r} is unknown; use one of {sorted(CORES)}")

        self.cell = cell
        self.config = {
            "cell": cell,
            "input_size": input_size,
            "hidden_size": hidden_size,
            "num_layers": num_layers,
            "horizon": horizon,
            "dropout": dropout,
        }
        self.core = CORES[cell](
            input_size=input_size,
            hidden_size=hidden_size,
            num_layers=num_layers,
            dropout=dropout if num_layers > 1 else 0.0,
            batch_first=True,
        )
        self.head = nn.Linear(hidden_size, horizon)
        # zero initial states for ``infer``, by batch size and dtype
        self._zero_states: dict[tuple[int, torch.dtype], Any] = {}
        # the weights packed for the inference kernel, with the tensors and
        # versions they were packed from
        self._packed: (
            tuple[list[Any], list[tuple[int, int]], infer_kernel.Packed | None] | None
        ) = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Map windows x (B, T, F) to forecasts (B, K) in scaled units.

        A GRU that records gradients on the CPU runs on the fused layer of
        ``models.nn.fused_gru``, which computes the same function.
        """
        if fused_gru.applies(self.core, x):
            out = fused_gru.run(self.core, x)
        else:
            out, _ = self.core(x)
        return self.head(out[:, -1])

    def infer(self, x: torch.Tensor) -> torch.Tensor:
        """Map windows x (B, T, F) to forecasts (B, K) as ``forward`` does,
        with less work per call, for serving under ``torch.inference_mode``.

        Once ``infer_kernel.load`` has run in this process, the compiled
        kernel computes the whole pass from weights packed on first use and
        packed again when a weight changes. It agrees with ``forward`` to
        float rounding, and gives a window the same bits in every batch.

        Otherwise the core's own operator gets the core's weight list and
        kept zero states, which skips ``nn.Module.__call__`` and the core's
        checks of its input, weights and state. The result is ``forward``'s,
        op for op.

        Outside inference mode, in training mode, for input that is not a
        non-empty 3-D batch in the weights' dtype, or for a GRU that
        ``forward`` runs on the fused layer, this calls ``forward``.
        """
        core = self.core
        weight = self.head.weight
        usable = (
            torch.is_inference_mode_enabled()
            and not self.training
            and x.dim() == 3
            and x.dtype == weight.dtype
            and x.device == weight.device
            and x.shape[-1] == core.input_size
            and x.shape[0] > 0
            and x.shape[1] > 0
        )
        if not usable:
            return self(x)

        packed = self.kernel_weights()
        if packed is not None:
            return infer_kernel.run(packed, x)

        # A GRU runs on the fused layer once this process has loaded it.
        if fused_gru.applies(core, x):
            return self(x)
        # nn.RNNBase.forward (torch 2.13) first rebuilds the weight list when
        # a parameter was replaced without the core's __setattr__, as
        # torch.func.functional_call does, so this does too.
        core._update_flat_weights()
        state = self._initial_state(x.shape[0], x.dtype, x.device)
        op = RECURRENT_OPS[core.mode]
        weights = core._flat_weights
        # Positional arguments: has biases, layers, dropout, training,
        # bidirectional, batch first. Dropout applies only in training.
        flags = (core.bias, core.num_layers, core.dropout, False, False, True)
        out = op(x, state, weights, *flags)[0]
        return F.linear(out[:, -1], weight, self.head.bias)

    def kernel_weights(self) -> infer_kernel.Packed | None:
        """Return the weights packed for the inference kernel, as ``infer``
        runs it. Return None where ``infer`` would not run the kernel:
        before ``infer_kernel.load``, in training mode, or for weights that
        ``_packed_weights`` does not pack."""
        if self.training or not infer_kernel.loaded():
            return None
        return self._packed_weights()

    def _packed_weights(self) -> infer_kernel.Packed | None:
        """Return the weights packed for the kernel, packed again when a
        tensor was replaced, given new data or changed in place. Return None
        where the kernel does not run this model, or where a weight is an
        inference tensor, which keeps no count of its changes.

        NOTE: a change in place through ``param.data`` (``p.data.mul_(2)``)
        counts no version and keeps the address, so the kernel keeps the
        old weights. Change weights in place under ``torch.no_grad()``.
        """
        # The submodules are read from ``_modules``, where ``self.core``
        # would find them through ``Module.__getattr__`` at about 1 us a
        # lookup. Their parameter dicts are what torch.func.functional_call
        # swaps into.
        modules = self._modules
        core_module, head_module = modules["core"], modules["head"]
        core, head = core_module._parameters, head_module._parameters
        tensors = [core.get(name) for name in core_module._flat_weights_names]
        tensors += (head["weight"], head.get("bias"))
        versions = _versions(tensors)
        if versions is None:
            return None
        cached = self._packed
        if cached is not None:
            old_tensors, old_versions, packed = cached
            if old_versions == versions and all(
                map(operator.is_, old_tensors, tensors)
            ):
                return packed

        packed = infer_kernel.pack(self.core, self.head)
        self._packed = (tensors, versions, packed)
        return packed

    def _initial_state(
        self, batch: int, dtype: torch.dtype, device: torch.device
    ) -> Any:
        """Return zero states (L, B, H) for the core's operator: one tensor,
        or (h0, c0) for an LSTM. The states of small batches are kept,
        because the operator does not write to them."""
        key = (batch, dtype)
        state = self._zero_states.get(key)
        if state is not None and state_device(state) == device:
            return state

        core = self.core
        shape = (core.num_layers, batch, core.hidden_size)
        zeros = torch.zeros(shape, dtype=dtype, device=device)
        state = (zeros, torch.zeros_like(zeros)) if core.mode == "LSTM" else zeros
        if batch <= KEPT_STATE_BATCHES:
            self._zero_states[key] = state
        return state

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Forecaster:
        return cls(
            config["cell"],
            input_size=config["input_size"],
            hidden_size=config["hidden_size"],
            num_layers=config["num_layers"],
            horizon=config["horizon"],
            dropout=config.get("dropout", 0.0),
        )


# C-level getters, mapped over the weights on every served forward pass
_VERSION = operator.attrgetter("_version")
_DATA_PTR = torch.Tensor.data_ptr
_IS_NONE = functools.partial(operator.is_, None)
# the version counters and the data addresses of the weights that exist
Versions = tuple[tuple[int, ...], tuple[int, ...]]


def _versions(tensors: list[Any]) -> Versions | None:
    """Return the version counters and data addresses of the tensors that
    are not None, or None when one is an inference tensor, which has no
    counter. The address changes where ``param.data = t`` (as in
    ``torch.nn.utils.vector_to_parameters``) gives a parameter new data
    without counting a version. A None entry (a missing bias) that becomes
    a tensor is seen by the caller's identity check of the tensors."""
    present = tensors
    if any(map(_IS_NONE, tensors)):
        present = [tensor for tensor in tensors if tensor is not None]
    try:
        return tuple(map(_VERSION, present)), tuple(map(_DATA_PTR, present))
    except RuntimeError:
        return None


def state_device(state: Any) -> torch.device:
    """Return the device of an initial state: a tensor, or a tuple of them."""
    return (state[0] if isinstance(state, tuple) else state).device
