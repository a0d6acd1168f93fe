"""The served forward pass of a ``Forecaster`` on the compiled kernel of
``infer_kernel.cpp``, for forecasts on the CPU.

torch's recurrent operator prepares each layer again on every call, which
at batch 1 costs about as much as the arithmetic of a 60-step window. The
kernel keeps the weights packed between calls and runs every layer and the
head in one call with the GIL released. It computes each window alone, so
a window's forecast has the same bits in every batch. It agrees with
torch's forward pass to float rounding (about 1e-6 relative in float32),
not bit for bit, because it sums in another order.

Nothing here runs until ``load`` has built or loaded the library
(``infer_kernel_build``); the API server calls it while it starts. Until
then, and where it cannot be built, ``Forecaster.infer`` uses torch's
operator.
``RNN_FORECAST_INFER_KERNEL=0`` (or false, off, no) keeps torch's operator.
"""

from __future__ import annotations

import ctypes
import logging
import threading
import time
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import Tensor, nn

from models.nn import infer_kernel_build

logger = logging.getLogger(__name__)

SWITCH = infer_kernel_build.SWITCH
enabled = infer_kernel_build.enabled
# the kernel's cell codes, by the core's mode
CELLS = {"RNN_TANH": 0, "RNN_RELU": 1, "LSTM": 2, "GRU": 3}
GATES = {"RNN_TANH": 1, "RNN_RELU": 1, "LSTM": 4, "GRU": 3}
# the numpy dtype of each dtype the kernel runs
NUMPY_DTYPES = {
    torch.float32: np.dtype(np.float32),
    torch.float64: np.dtype(np.float64),
}

_lock = threading.Lock()
_library: ctypes.CDLL | None = None
# gate blocks and head outputs are padded to a multiple of this many values
_pad = 0
_tried = False


def loaded() -> bool:
    """True once the library is loaded in this process and switched on."""
    return _library is not None and enabled()


def load() -> bool:
    """Build (first use on this machine) or load the library, once per
    process. Returns False, after one warning with the reason, when it
    cannot, or when it is switched off."""
    global _library, _pad, _tried
    if not enabled():
        return False
    with _lock:
        if not _tried:
            _tried = True
            library = _build()
            if library is not None:
                _pad = library.rf_infer_pad()
                _library = library
    return _library is not None


def _build() -> ctypes.CDLL | None:
    started = time.perf_counter()
    try:
        library = infer_kernel_build.build_and_load()
    except infer_kernel_build.BuildError as exc:
        logger.warning(
            "the inference kernel could not be built (%s); forecasts use "
            "torch's recurrent operator. Install a C++ compiler, or set %s=0 "
            "to skip the attempt",
            exc,
            SWITCH,
        )
        return None

    for name in ("rf_infer_f32", "rf_infer_f64"):
        function = getattr(library, name)
        function.restype = ctypes.c_int
        function.argtypes = [ctypes.c_int] + [ctypes.c_long] * 6 + [ctypes.c_void_p] * 3
    library.rf_infer_pad.restype = ctypes.c_long
    library.rf_infer_pad.argtypes = []
    logger.debug("inference kernel loaded in %.2f s", time.perf_counter() - started)
    return library


@dataclass(frozen=True)
class Packed:
    """A forecaster's weights in the kernel's layout (see
    ``infer_kernel.cpp``), one contiguous 1-D tensor, and its sizes.

    ``address`` and ``single`` are read off ``weights`` once, because each
    tensor attribute read costs a call into torch on every forward pass.
    ``weights`` is this object's own tensor, which nothing resizes or moves.
    """

    weights: Tensor
    cell: int
    layers: int
    features: int
    hidden: int
    horizon: int
    # weights.data_ptr(), and whether weights are float32 (else float64)
    address: int = field(init=False)
    single: bool = field(init=False)
    # the numpy dtype of weights
    numpy_dtype: np.dtype = field(init=False)  # type: ignore[type-arg]

    def __post_init__(self) -> None:
        object.__setattr__(self, "address", self.weights.data_ptr())
        object.__setattr__(self, "single", self.weights.dtype == torch.float32)
        object.__setattr__(self, "numpy_dtype", NUMPY_DTYPES[self.weights.dtype])


def pack(core: nn.RNNBase, head: nn.Linear) -> Packed | None:
    """Pack a unidirectional, batch-first core and its head.

    Returns None for what the kernel does not run: a bidirectional or
    projected core, a dtype other than float32 or float64, weights off the
    CPU, or weights that are not all finite. It also returns None for
    weights whose shapes differ from what the sizes of the core and the
    head give, because the kernel would read past them where torch's
    forward pass raises, and before ``load`` succeeded.
    """
    dtype = head.weight.dtype
    suitable = (
        _library is not None
        and core.mode in CELLS
        and _shapes_fit(core, head)
        and core.batch_first
        and not core.bidirectional
        and getattr(core, "proj_size", 0) == 0
        and dtype in (torch.float32, torch.float64)
        and all(_cpu_finite(p, dtype) for p in (*core.parameters(), *head.parameters()))
    )
    if not suitable:
        return None

    with torch.no_grad():
        parts = []
        for layer in range(core.num_layers):
            parts.extend(_layer_parts(core, layer))
        parts.append(_pad_columns(head.weight.t(), 1))
        parts.append(_pad_columns(_bias(head.bias, head.out_features, dtype)[None], 1))
        weights = torch.cat([part.reshape(-1) for part in parts]).contiguous()
    return Packed(
        weights=weights,
        cell=CELLS[core.mode],
        layers=core.num_layers,
        features=core.input_size,
        hidden=core.hidden_size,
        horizon=head.out_features,
    )


def _shapes_fit(core: nn.RNNBase, head: nn.Linear) -> bool:
    """True when every weight of the core and the head has the shape that
    their sizes give it; biases may be absent."""
    hidden = core.hidden_size
    rows = GATES[core.mode] * hidden
    expected: list[tuple[nn.Module, str, tuple[int, ...]]] = []
    for layer in range(core.num_layers):
        width = core.input_size if layer == 0 else hidden
        expected += [
            (core, f"weight_ih_l{layer}", (rows, width)),
            (core, f"weight_hh_l{layer}", (rows, hidden)),
            (core, f"bias_ih_l{layer}", (rows,)),
            (core, f"bias_hh_l{layer}", (rows,)),
        ]
    expected += [
        (head, "weight", (head.out_features, hidden)),
        (head, "bias", (head.out_features,)),
    ]

    for module, name, shape in expected:
        tensor = getattr(module, name, None)
        if tensor is None and name.startswith("bias"):
            continue
        if tensor is None or tuple(tensor.shape) != shape:
            return False
    return True


def _cpu_finite(tensor: Tensor, dtype: torch.dtype) -> bool:
    return (
        tensor.device.type == "cpu"
        and tensor.dtype == dtype
        and bool(torch.isfinite(tensor).all())
    )


def _layer_parts(core: nn.RNNBase, layer: int) -> list[Tensor]:
    """wx (I, G*P), bx (1, G*P), wh (H, G*P), bh (1, G*P) of one layer."""
    gates, hidden = GATES[core.mode], core.hidden_size
    w_ih = getattr(core, f"weight_ih_l{layer}")
    w_hh = getattr(core, f"weight_hh_l{layer}")
    dtype = w_ih.dtype
    b_ih = _bias(getattr(core, f"bias_ih_l{layer}", None), gates * hidden, dtype)
    b_hh = _bias(getattr(core, f"bias_hh_l{layer}", None), gates * hidden, dtype)

    if core.mode == "GRU":
        # r and z add both biases; n's b_hn is multiplied by r, so it stays
        # on the recurrent side
        split = 2 * hidden
        bx = torch.cat([b_ih[:split] + b_hh[:split], b_ih[split:]])
        bh = torch.cat([torch.zeros_like(b_hh[:split]), b_hh[split:]])
    else:
        bx, bh = b_ih + b_hh, torch.zeros_like(b_hh)
    return [
        _pad_columns(w_ih.t(), gates),
        _pad_columns(bx[None], gates),
        _pad_columns(w_hh.t(), gates),
        _pad_columns(bh[None], gates),
    ]


def _bias(bias: Tensor | None, size: int, dtype: torch.dtype) -> Tensor:
    return torch.zeros(size, dtype=dtype) if bias is None else bias.detach()


def _pad_columns(matrix: Tensor, blocks: int) -> Tensor:
    """Split the columns of matrix (R, blocks * H) into equal blocks and pad
    each with zero columns to the kernel's padding: (R, blocks * P)."""
    rows, columns = matrix.shape
    width = columns // blocks
    padded = -(-width // _pad) * _pad
    out = matrix.new_zeros(rows, blocks, padded)
    out[:, :, :width] = matrix.detach().reshape(rows, blocks, width)
    return out.reshape(rows, blocks * padded)


def run(packed: Packed, x: Tensor) -> Tensor:
    """Map windows x (B, T, F) in the packed weights' dtype to forecasts
    (B, K). Only after ``load`` returned True."""
    x = x.contiguous()
    _check_width(packed, x.shape, x.dtype == packed.weights.dtype, x.dtype)
    out = torch.empty(x.shape[0], packed.horizon, dtype=x.dtype)
    _call(packed, x.shape, x.data_ptr(), out.data_ptr())
    return out


def run_array(packed: Packed, x: np.ndarray) -> np.ndarray:
    """Map windows x (B, T, F), a numpy array of the packed weights' dtype,
    to forecasts (B, K) in a new array, as ``run`` does. It skips torch's
    tensor calls, so the server's forecasts use it. Only after ``load``
    returned True."""
    x = np.ascontiguousarray(x)
    dtype = packed.numpy_dtype
    _check_width(packed, x.shape, x.dtype == dtype, x.dtype)
    out = np.empty((x.shape[0], packed.horizon), dtype=dtype)
    _call(packed, x.shape, x.ctypes.data, out.ctypes.data)
    return out


def _check_width(
    packed: Packed, shape: tuple[int, ...], same_dtype: bool, dtype: object
) -> None:
    """Raise ValueError unless windows of ``shape`` and ``dtype`` fit the
    packed forecaster."""
    if len(shape) != 3:
        raise ValueError(
            f"x has shape {tuple(shape)}; pass a 3-D batch of windows (B, T, F)"
        )
    if shape[-1] != packed.features or not same_dtype:
        raise ValueError(
            f"x has {shape[-1]} features of {dtype}; the packed forecaster "
            f"takes {packed.features} of {packed.weights.dtype}"
        )


def _call(packed: Packed, shape: tuple[int, ...], x: int, out: int) -> None:
    """Run the kernel on windows of ``shape`` (B, T, F) at address ``x``
    into forecasts (B, K) at address ``out``, both contiguous in the packed
    weights' dtype."""
    library = _library
    if library is None:
        raise RuntimeError("the inference kernel is not loaded; call load() first")

    batch, steps, features = shape
    function = library.rf_infer_f32 if packed.single else library.rf_infer_f64
    status = function(
        packed.cell,
        packed.layers,
        batch,
        steps,
        features,
        packed.hidden,
        packed.horizon,
        x,
        packed.address,
        out,
    )

    if status == 2:
        raise MemoryError(
            "the inference kernel could not allocate its scratch space for x "
            f"of shape {tuple(shape)}; pass fewer or shorter windows"
        )
    if status != 0:
        raise ValueError(f"the inference kernel rejected x of shape {tuple(shape)}")


def main() -> int:
    """Build or load the library into the cache folder and print where it
    is. ``make install`` runs this, so the first server start does not
    compile. Returns 1 when it cannot be built, after a warning with the
    reason."""
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    if not enabled():
        print(f"inference kernel switched off by {SWITCH}")
        return 1
    if not load():
        return 1
    library = infer_kernel_build.build_folder() / infer_kernel_build.LIBRARY
    print(f"inference kernel ready: {library}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
