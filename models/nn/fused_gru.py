"""A fused GRU layer for training on the CPU, built from ``fused_gru.cpp``.

torch 2.13 runs an LSTM layer on the CPU as one oneDNN kernel, but a GRU
layer as about a dozen small operators per time step, each recorded by
autograd. ``fused_gru.cpp`` runs each step as one matrix product and one
loop over the batch, forward and backward, and this module wraps it in an
autograd function with the parameters of an ``nn.GRU``. One training batch
of the default shape (B 64, T 60, H 64, 2 layers) takes about half the CPU
time of ``nn.GRU``, as ``bench/gru_layer.py`` measures.

The extension is compiled with the C++ compiler and ninja on first use,
about 10 s, into a folder under ``<cache dir>/torch_extensions``
(``RNN_FORECAST_CACHE_DIR``, default ``~/.cache/rnn-forecast``), and
loaded from there afterwards; ``models.nn.fused_gru_build`` does both. When
it cannot be built, one warning says why and training uses ``nn.GRU``.
``RNN_FORECAST_FUSED_GRU=0`` (or false, off, no) turns it off.

The first forward pass that records gradients (training) builds or loads
the extension. From then on the process runs every GRU forward on it,
validation passes without gradients included. A process that never trains,
such as the API server, never loads it. It forecasts on the compiled
inference kernel (``models.nn.infer_kernel``), or with torch's GRU operator
when that kernel is off or cannot be built. All of them compute the same
function to float rounding.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.autograd.function import once_differentiable

from models.nn import fused_gru_build
from models.paths import ENV_PREFIX

logger = logging.getLogger(__name__)

SWITCH = f"{ENV_PREFIX}FUSED_GRU"
SWITCH_OFF = frozenset({"0", "false", "off", "no"})
SWITCH_ON = frozenset({"1", "true", "on", "yes"})
DTYPES = (torch.float32, torch.float64)

_lock = threading.Lock()
_loaded: bool | None = None
_warned_values: set[str] = set()


def enabled() -> bool:
    """Return False when ``RNN_FORECAST_FUSED_GRU`` is 0, false, off or no
    (any case).

    Unset, or 1, true, on or yes, means on. Any other value logs one warning
    and leaves the layer on.
    """
    raw = os.environ.get(SWITCH)
    if raw is None:
        return True
    value = raw.strip().lower()
    if value in SWITCH_OFF:
        return False
    if value not in SWITCH_ON and raw not in _warned_values:
        _warned_values.add(raw)
        logger.warning(
            "%s=%r is not a switch value; the fused GRU layer stays on. Use "
            "0, false, off or no to turn it off, or 1, true, on or yes",
            SWITCH,
            raw,
        )
    return True


def load() -> bool:
    """Build (first use) or load the extension once per process.

    Returns False, after logging one warning with the reason, when it
    cannot.
    """
    global _loaded
    if _loaded is not None:
        return _loaded
    with _lock:
        if _loaded is None:
            _loaded = _build()
    return _loaded


def _build() -> bool:
    folder = fused_gru_build.build_folder()
    started = time.perf_counter()
    try:
        fused_gru_build.build_and_load(folder)
    except fused_gru_build.BuildError as exc:
        logger.warning(
            "the fused GRU layer could not be built in %s (%s); GRU training "
            "uses torch's nn.GRU, about twice as slow on the CPU. Install a C++ "
            "compiler and ninja, or set %s=0 to skip the attempt",
            folder,
            exc,
            SWITCH,
        )
        return False
    logger.info(
        "fused GRU layer loaded from %s in %.1f s",
        folder,
        time.perf_counter() - started,
    )
    return True


def applies(core: nn.Module, x: Tensor) -> bool:
    """Return True when ``core(x)`` runs on the fused layer.

    That needs a unidirectional, biased, batch-first ``nn.GRU`` on a float32
    or float64 CPU tensor and the extension switched on. It also needs
    either gradients recorded, which builds or loads the extension, or the
    extension already loaded in this process.

    Inputs or weights that hold NaN or infinity run on ``nn.GRU``, which
    carries them through as IEEE arithmetic does; the extension is compiled
    for finite values only.
    """
    suitable = (
        isinstance(core, nn.GRU)
        and core.bias
        and core.batch_first
        and not core.bidirectional
        and x.device.type == "cpu"
        and x.dtype in DTYPES
        and enabled()
    )
    if not suitable:
        return False
    if torch.is_grad_enabled():
        ready = load()
    else:
        ready = _loaded is True
    return ready and _all_finite(x, *core.parameters())


def _all_finite(*tensors: Tensor) -> bool:
    return all(bool(torch.isfinite(tensor).all()) for tensor in tensors)


def run(
    core: nn.GRU, x: Tensor, layer: type[torch.autograd.Function] | None = None
) -> Tensor:
    """Run all layers of ``core`` on x (B, T, F) from zero states.

    Returns the top layer's states h_1..h_T as (B, T, H), like the first
    output of ``core(x)``; h_0 is the zero initial state, and h_t is the
    state after the t-th input. The gradient diagnostics count from 0, so
    their h_t is this h_{t+1}. Dropout between layers, in training mode, is
    applied to each lower layer's output as ``nn.GRU`` does. ``layer`` is
    an autograd function with ``GRULayer``'s arguments, ``GRULayer`` itself
    by default.
    """
    function = layer or GRULayer
    sequence = x.transpose(0, 1).contiguous()
    initial = x.new_zeros(x.shape[0], core.hidden_size)
    for index in range(core.num_layers):
        if index > 0 and core.dropout > 0 and core.training:
            sequence = F.dropout(sequence, core.dropout, training=True)
        sequence = function.apply(
            sequence,
            initial,
            getattr(core, f"weight_ih_l{index}"),
            getattr(core, f"weight_hh_l{index}"),
            getattr(core, f"bias_ih_l{index}"),
            getattr(core, f"bias_hh_l{index}"),
        )
    return sequence.transpose(0, 1)


class GRULayer(torch.autograd.Function):
    """One GRU layer over a whole sequence on the fused extension."""

    @staticmethod
    def forward(  # type: ignore[override]
        ctx: Any,
        x: Tensor,
        h0: Tensor,
        w_ih: Tensor,
        w_hh: Tensor,
        b_ih: Tensor,
        b_hh: Tensor,
    ) -> Tensor:
        """Map x (T, B, I) and h0 (B, H) to the states h_1..h_T (T, B, H)."""
        steps, batch, inputs = x.shape
        hidden = h0.shape[1]
        projected = torch.addmm(b_ih, x.reshape(steps * batch, inputs), w_ih.t())
        projected = projected.view(steps, batch, 3 * hidden)
        ops = torch.ops.rnn_forecast_gru
        states, r, z, n, hn = ops.layer_forward(
            projected, h0.contiguous(), w_hh, b_hh.contiguous()
        )
        ctx.save_for_backward(x, w_ih, w_hh, states, r, z, n, hn)
        return states[1:]

    @staticmethod
    @once_differentiable
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor | None, ...]:
        """Return the gradients of x, h0 and the four parameters. The weight
        and bias gradients are one product or sum over all T * B rows."""
        x, w_ih, w_hh, states, r, z, n, hn = ctx.saved_tensors
        steps, batch, inputs = x.shape
        hidden = states.shape[2]
        ops = torch.ops.rnn_forecast_gru
        d_x_gates, d_h_gates, d_h0 = ops.layer_backward(
            grad.contiguous(), states, r, z, n, hn, w_hh
        )

        rows = steps * batch
        d_x_gates = d_x_gates.view(rows, 3 * hidden)
        d_h_gates = d_h_gates.view(rows, 3 * hidden)
        d_w_hh = d_h_gates.t().mm(states[:-1].reshape(rows, hidden))
        d_w_ih = d_x_gates.t().mm(x.reshape(rows, inputs))
        d_x = None
        if ctx.needs_input_grad[0]:
            d_x = d_x_gates.mm(w_ih).view(steps, batch, inputs)
        return d_x, d_h0, d_w_ih, d_w_hh, d_x_gates.sum(0), d_h_gates.sum(0)
