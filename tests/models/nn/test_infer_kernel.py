"""The compiled inference kernel: the same function as ``forward`` to float
rounding, the same bits for a window in every batch, and ``infer``'s use of
it (packing, repacking, switching off, falling back)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch.func import functional_call

from models.nn import fused_gru, infer_kernel
from models.nn.forecaster import Forecaster

CELLS = ["rnn", "lstm", "gru"]
# largest difference from forward, relative to the largest |forecast|
TOLERANCE = {torch.float32: 2e-6, torch.float64: 1e-13}


@pytest.fixture(scope="module", autouse=True)
def kernel() -> None:
    assert infer_kernel.load(), "see the warning logged by models.nn.infer_kernel"


@pytest.fixture(autouse=True)
def torch_gru(monkeypatch: pytest.MonkeyPatch) -> None:
    """Compare with nn.GRU itself: once an earlier test has trained a GRU,
    this process would run forward on the fused training layer, whose tanh
    keeps no relative precision near 0."""
    monkeypatch.setenv(fused_gru.SWITCH, "0")


def make_forecaster(
    cell: str,
    *,
    hidden: int = 8,
    layers: int = 2,
    features: int = 2,
    horizon: int = 5,
    dtype: torch.dtype = torch.float32,
    seed: int = 4,
) -> Forecaster:
    torch.manual_seed(seed)
    model = Forecaster(
        cell,
        input_size=features,
        hidden_size=hidden,
        num_layers=layers,
        horizon=horizon,
    )
    return model.to(dtype).eval()


def relative_error(actual: torch.Tensor, expected: torch.Tensor) -> float:
    return float((actual - expected).abs().max() / expected.abs().max())


def run(model: Forecaster, x: torch.Tensor) -> torch.Tensor:
    packed = infer_kernel.pack(model.core, model.head)
    assert packed is not None
    return infer_kernel.run(packed, x)


@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize(
    ("hidden", "layers", "features", "horizon"),
    [(1, 1, 1, 1), (5, 3, 2, 7), (16, 2, 1, 10), (64, 2, 1, 10), (33, 1, 3, 17)],
)
def test_kernel_computes_forward(
    cell: str, dtype: torch.dtype, hidden: int, layers: int, features: int, horizon: int
) -> None:
    model = make_forecaster(
        cell,
        hidden=hidden,
        layers=layers,
        features=features,
        horizon=horizon,
        dtype=dtype,
    )
    x = torch.randn(6, 13, features, dtype=dtype)

    with torch.inference_mode():
        expected = model(x)
        actual = run(model, x)

    assert actual.shape == expected.shape == (6, horizon)
    assert actual.dtype == dtype
    assert relative_error(actual, expected) < TOLERANCE[dtype]


def test_relu_rnn_runs_relu() -> None:
    model = make_forecaster("rnn", hidden=12)
    model.core.nonlinearity = "relu"
    model.core.mode = "RNN_RELU"
    x = torch.randn(3, 9, 2)

    with torch.inference_mode():
        relu = run(model, x)
        assert relative_error(relu, model(x)) < TOLERANCE[torch.float32]
        model.core.nonlinearity = "tanh"
        model.core.mode = "RNN_TANH"
        assert relative_error(relu, model(x)) > 1e-3


@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("hidden", [20, 64, 96])
def test_kernel_same_bits_in_every_batch(cell: str, hidden: int) -> None:
    """Rows go in passes of 12 and in blocks of 6, 4, 2 and 1, each over
    column blocks of its own width. Every way gives a row the same bits."""
    model = make_forecaster(cell, hidden=hidden, layers=2)
    x = torch.randn(31, 8, 2)

    with torch.inference_mode():
        whole = run(model, x)
        alone = torch.cat([run(model, x[row : row + 1]) for row in range(31)])
        shifted = run(model, x[3:30])

    assert torch.equal(whole, alone)
    assert torch.equal(shifted, whole[3:30])


def test_one_step_windows_and_long_windows() -> None:
    model = make_forecaster("lstm", hidden=9)
    for steps in (1, 2, 300):
        x = torch.randn(2, steps, 2)
        with torch.inference_mode():
            assert relative_error(run(model, x), model(x)) < TOLERANCE[torch.float32]


def test_nan_input_stays_in_its_row() -> None:
    model = make_forecaster("gru", hidden=5)
    x = torch.randn(5, 6, 2)
    x[2, 3, 1] = float("nan")

    with torch.inference_mode():
        out = run(model, x)
        expected = model(x)

    assert torch.isnan(out[2]).all()
    assert torch.isnan(expected[2]).all()
    rows = [0, 1, 3, 4]
    assert torch.isfinite(out[rows]).all()
    assert relative_error(out[rows], expected[rows]) < TOLERANCE[torch.float32]


@pytest.mark.parametrize("cell", CELLS)
def test_infinite_input_saturates_the_gates_as_torch_does(cell: str) -> None:
    model = make_forecaster(cell, hidden=5, layers=2)
    x = torch.randn(2, 4, 2)
    x[0, 1, 0] = float("inf")
    x[1, 2, 1] = float("-inf")

    with torch.inference_mode():
        out = run(model, x)
        expected = model(x)

    if cell == "rnn":
        # tanh saturates too, so both stay finite
        assert torch.isfinite(expected).all()
    assert torch.equal(torch.isfinite(out), torch.isfinite(expected))
    finite = torch.isfinite(expected)
    assert relative_error(out[finite], expected[finite]) < TOLERANCE[torch.float32]


def test_huge_inputs_give_the_limits_of_the_gates() -> None:
    model = make_forecaster("lstm", hidden=6)
    x = torch.full((1, 5, 2), 1e30)

    with torch.inference_mode():
        assert relative_error(run(model, x), model(x)) < TOLERANCE[torch.float32]


@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("scale", [1e-3, 1e-6, 1e-30])
def test_small_activations_keep_their_relative_precision(
    cell: str, dtype: torch.dtype, scale: float
) -> None:
    """Without biases, inputs of size `scale` keep every gate's argument and
    every state near `scale`, where tanh(a) ~ a must not round to 0."""
    model = make_forecaster(cell, hidden=8, layers=2, dtype=dtype)
    with torch.no_grad():
        for name, parameter in model.named_parameters():
            if "bias" in name:
                parameter.zero_()
    x = torch.randn(3, 10, 2, dtype=dtype) * scale

    with torch.inference_mode():
        expected = model(x)
        actual = run(model, x)

    assert expected.abs().max() > 0
    assert relative_error(actual, expected) < TOLERANCE[dtype]


def test_infer_uses_the_kernel_once_loaded() -> None:
    model = make_forecaster("lstm", hidden=24)
    x = torch.randn(3, 10, 2)

    with torch.inference_mode():
        served = model.infer(x)
        assert torch.equal(served, run(model, x))
        assert relative_error(served, model(x)) < TOLERANCE[torch.float32]


def test_switch_off_uses_torch(monkeypatch: pytest.MonkeyPatch) -> None:
    model = make_forecaster("gru", hidden=24)
    x = torch.randn(3, 10, 2)
    monkeypatch.setenv(infer_kernel.SWITCH, "off")

    assert not infer_kernel.loaded()
    assert not infer_kernel.load()
    with torch.inference_mode():
        assert torch.equal(model.infer(x), model(x))


def test_weights_changed_in_place_are_packed_again() -> None:
    model = make_forecaster("lstm", hidden=7)
    x = torch.randn(2, 6, 2)
    with torch.inference_mode():
        before = model.infer(x)

    with torch.no_grad():
        model.core.weight_hh_l1.mul_(1.5)
        model.head.bias.add_(2.0)
    with torch.inference_mode():
        after = model.infer(x)
        expected = model(x)

    assert relative_error(after, expected) < TOLERANCE[torch.float32]
    assert relative_error(after, before) > 0.1


def test_replaced_submodules_are_packed_again() -> None:
    """A core or head assigned as a new module is packed on the next call,
    as ``infer`` reads the submodules from ``_modules``."""
    model = make_forecaster("gru", hidden=7)
    other = make_forecaster("gru", hidden=7, seed=9)
    x = torch.randn(2, 6, 2)
    with torch.inference_mode():
        before = model.infer(x)

    model.head = other.head
    with torch.inference_mode():
        new_head = model.infer(x)
        expected_head = model(x)
    packed_head = run(model, x)
    model.core = other.core
    with torch.inference_mode():
        new_core = model.infer(x)
        expected_core = other.infer(x)

    assert torch.equal(new_head, packed_head)
    assert relative_error(new_head, expected_head) < TOLERANCE[torch.float32]
    assert relative_error(new_head, before) > 1e-3
    assert torch.equal(new_core, expected_core)


def test_head_bias_removed_and_restored_repacks() -> None:
    """A missing bias (None) is packed as zeros, and a bias assigned in its
    place later is packed again."""
    model = make_forecaster("lstm", hidden=7)
    x = torch.randn(2, 6, 2)
    model.head.bias = None
    with torch.inference_mode():
        no_bias = model.infer(x)
        expected_no_bias = model(x)

    model.head.bias = torch.nn.Parameter(torch.full((5,), 3.0))
    with torch.inference_mode():
        with_bias = model.infer(x)
        expected_with_bias = model(x)

    assert relative_error(no_bias, expected_no_bias) < TOLERANCE[torch.float32]
    assert relative_error(with_bias, expected_with_bias) < TOLERANCE[torch.float32]
    assert relative_error(with_bias, no_bias) > 0.1


@pytest.mark.parametrize(
    ("dtype", "numpy_dtype"),
    [(torch.float32, np.float32), (torch.float64, np.float64)],
)
def test_packed_keeps_address_and_dtype(dtype: torch.dtype, numpy_dtype: type) -> None:
    model = make_forecaster("lstm", dtype=dtype)
    packed = infer_kernel.pack(model.core, model.head)

    assert packed is not None
    assert packed.address == packed.weights.data_ptr()
    assert packed.single == (dtype == torch.float32)
    assert packed.numpy_dtype == np.dtype(numpy_dtype)


class InferModule(torch.nn.Module):
    """Calls ``infer`` from ``forward``, so that functional_call reaches it."""

    def __init__(self, model: Forecaster) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model.infer(x)


@pytest.mark.parametrize("cell", CELLS)
def test_weights_swapped_in_by_functional_call_are_used(cell: str) -> None:
    model = make_forecaster(cell, hidden=7)
    other = make_forecaster(cell, hidden=7, seed=9)
    swap = {f"model.{key}": value for key, value in other.named_parameters()}
    x = torch.randn(2, 6, 2)

    with torch.inference_mode():
        own = model.infer(x)
        expected = other.infer(x)
        swapped = functional_call(InferModule(model), swap, (x,))
        again = model.infer(x)

    assert torch.equal(swapped, expected)
    assert torch.equal(again, own)
    assert relative_error(swapped, own) > 1e-3


def test_non_finite_weights_fall_back_to_torch() -> None:
    model = make_forecaster("lstm", hidden=6)
    with torch.no_grad():
        model.core.weight_ih_l0[0, 0] = float("nan")
    x = torch.randn(2, 5, 2)

    assert infer_kernel.pack(model.core, model.head) is None
    with torch.inference_mode():
        served, expected = model.infer(x), model(x)
    assert torch.isnan(expected).all()
    torch.testing.assert_close(served, expected, rtol=0, atol=0, equal_nan=True)


def test_other_dtypes_and_empty_batches_use_forward() -> None:
    model = make_forecaster("rnn", hidden=6)
    with torch.inference_mode():
        empty = torch.randn(0, 5, 2)
        assert model.infer(empty).shape == (0, 5)
        half = make_forecaster("rnn", hidden=6).to(torch.bfloat16)
        assert infer_kernel.pack(half.core, half.head) is None
        x = torch.randn(2, 5, 2, dtype=torch.bfloat16)
        assert torch.equal(half.infer(x), half(x))


def test_run_rejects_a_window_of_other_width() -> None:
    model = make_forecaster("gru", hidden=6, features=2)
    packed = infer_kernel.pack(model.core, model.head)
    assert packed is not None

    with pytest.raises(ValueError, match="x has 3 features of torch.float32"):
        infer_kernel.run(packed, torch.randn(1, 4, 3))
    with pytest.raises(ValueError, match="takes 2 of torch.float32"):
        infer_kernel.run(packed, torch.randn(1, 4, 2, dtype=torch.float64))


@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_run_array_gives_run_bits(cell: str, dtype: torch.dtype) -> None:
    model = make_forecaster(cell, hidden=24, dtype=dtype)
    packed = infer_kernel.pack(model.core, model.head)
    assert packed is not None
    x = torch.randn(5, 11, 2, dtype=dtype)

    expected = infer_kernel.run(packed, x)
    # a strided view, which run_array copies into a contiguous array first
    strided = np.repeat(x.numpy(), 2, axis=2)[:, :, ::2]
    assert not strided.flags.c_contiguous
    actual = infer_kernel.run_array(packed, strided)

    assert actual.dtype == x.numpy().dtype
    assert actual.shape == (5, 5)
    assert np.array_equal(actual, expected.numpy())


def test_run_array_rejects_bad_windows() -> None:
    model = make_forecaster("lstm", hidden=6, features=2)
    packed = infer_kernel.pack(model.core, model.head)
    assert packed is not None

    with pytest.raises(ValueError, match="x has 3 features of float32"):
        infer_kernel.run_array(packed, np.zeros((1, 4, 3), np.float32))
    with pytest.raises(ValueError, match="x has 2 features of float64"):
        infer_kernel.run_array(packed, np.zeros((1, 4, 2), np.float64))
    with pytest.raises(ValueError, match=r"x has shape \(4, 2\); pass a 3-D batch"):
        infer_kernel.run_array(packed, np.zeros((4, 2), np.float32))


def test_kernel_weights_only_where_used(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    model = make_forecaster("gru", hidden=6)
    assert model.kernel_weights() is not None

    model.train()
    assert model.kernel_weights() is None
    model.eval()
    monkeypatch.setenv(infer_kernel.SWITCH, "0")
    assert model.kernel_weights() is None


def test_weights_made_in_inference_mode_use_torch() -> None:
    """Inference tensors keep no version counter, so changes to them could
    not be seen; such a model runs on torch's operator."""
    with torch.inference_mode():
        model = make_forecaster("lstm", hidden=6)
        x = torch.randn(2, 5, 2)
        assert torch.equal(model.infer(x), model(x))


def test_new_param_data_repacks() -> None:
    """``param.data = t`` counts no version; the new address shows it."""
    model = make_forecaster("gru", hidden=7)
    x = torch.randn(2, 6, 2)
    with torch.inference_mode():
        before = model.infer(x)

    model.core.weight_hh_l0.data = model.core.weight_hh_l0.detach() * 1.5
    with torch.inference_mode():
        after = model.infer(x)
        expected = model(x)

    assert relative_error(after, expected) < TOLERANCE[torch.float32]
    assert relative_error(after, before) > 1e-3


def test_vector_to_parameters_repacks() -> None:
    model = make_forecaster("lstm", hidden=7)
    x = torch.randn(2, 6, 2)
    vector = torch.nn.utils.parameters_to_vector(model.parameters())
    with torch.inference_mode():
        before = model.infer(x)

    torch.nn.utils.vector_to_parameters(vector * 0.5, model.parameters())
    with torch.inference_mode():
        after = model.infer(x)
        expected = model(x)

    assert relative_error(after, expected) < TOLERANCE[torch.float32]
    assert relative_error(after, before) > 1e-3


def test_unallocatable_scratch_returns_2() -> None:
    """2**51 steps of an LSTM with H = 512 need 2**62 values of scratch
    space, more bytes than a size can count, on any machine; the kernel
    fails before it reads x, and the process lives on."""
    library = infer_kernel._library
    assert library is not None
    model = make_forecaster("lstm", hidden=512, layers=1, features=1)
    packed = infer_kernel.pack(model.core, model.head)
    assert packed is not None
    x, out = torch.zeros(1), torch.empty(packed.horizon)

    status = library.rf_infer_f32(
        packed.cell,
        packed.layers,
        1,
        2**51,
        packed.features,
        packed.hidden,
        packed.horizon,
        x.data_ptr(),
        packed.weights.data_ptr(),
        out.data_ptr(),
    )

    assert status == 2


def test_status_2_raises_memory_error(monkeypatch: pytest.MonkeyPatch) -> None:
    class OutOfMemory:
        def rf_infer_f32(self, *args: object) -> int:
            return 2

    model = make_forecaster("gru", hidden=6, features=2)
    packed = infer_kernel.pack(model.core, model.head)
    assert packed is not None
    monkeypatch.setattr(infer_kernel, "_library", OutOfMemory())

    with pytest.raises(MemoryError, match=r"x of shape \(1, 4, 2\); pass fewer"):
        infer_kernel.run(packed, torch.randn(1, 4, 2))


def test_conversion_to_float64_repacks() -> None:
    """``Module.to`` gives each parameter new data through ``param.data``."""
    model = make_forecaster("lstm", hidden=8)
    x = torch.randn(2, 5, 2)
    with torch.inference_mode():
        model.infer(x)

    model.double()
    with torch.inference_mode():
        served = model.infer(x.double())
        expected = model(x.double())

    assert served.dtype == torch.float64
    assert relative_error(served, expected) < TOLERANCE[torch.float64]


def test_head_of_other_width_raises_as_forward() -> None:
    """A head that reads 4 of 16 hidden values would make the kernel read
    past the packed weights."""
    model = make_forecaster("gru", hidden=16)
    model.head = torch.nn.Linear(4, 3)
    x = torch.randn(2, 5, 2)

    assert infer_kernel.pack(model.core, model.head) is None
    with (
        torch.inference_mode(),
        pytest.raises(RuntimeError, match="cannot be multiplied"),
    ):
        model.infer(x)


def test_core_weight_of_other_shape_is_not_packed() -> None:
    model = make_forecaster("lstm", hidden=8)
    model.core.weight_hh_l1 = torch.nn.Parameter(torch.zeros(32, 4))

    assert infer_kernel.pack(model.core, model.head) is None
