"""``Forecaster.infer`` on torch's operator computes what ``forward``
computes, bit for bit. The compiled kernel, which agrees to float rounding,
is switched off here; ``test_infer_kernel.py`` tests it."""

from __future__ import annotations

import pytest
import torch

from models.nn import infer_kernel
from models.nn.forecaster import KEPT_STATE_BATCHES, Forecaster


@pytest.fixture(autouse=True)
def torch_operator(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(infer_kernel.SWITCH, "0")


def make_forecaster(cell: str, layers: int, dropout: float = 0.0) -> Forecaster:
    torch.manual_seed(3)
    model = Forecaster(
        cell, input_size=2, hidden_size=8, num_layers=layers, horizon=4, dropout=dropout
    )
    return model.eval()


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
@pytest.mark.parametrize("layers", [1, 3])
@pytest.mark.parametrize("batch", [1, 5, KEPT_STATE_BATCHES + 3])
def test_infer_equals_forward(cell: str, layers: int, batch: int) -> None:
    model = make_forecaster(cell, layers)
    x = torch.randn(batch, 7, 2)

    with torch.inference_mode():
        expected = model(x)
        first = model.infer(x)
        second = model.infer(x)

    assert first.shape == (batch, 4)
    assert torch.equal(first, expected)
    assert torch.equal(second, expected)


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_infer_equals_forward_in_float64(cell: str) -> None:
    model = make_forecaster(cell, 2).double()
    x = torch.randn(3, 6, 2, dtype=torch.float64)

    with torch.inference_mode():
        assert torch.equal(model.infer(x), model(x))


def test_relu_rnn_uses_its_own_operator() -> None:
    model = make_forecaster("rnn", 2)
    model.core.nonlinearity = "relu"
    model.core.mode = "RNN_RELU"
    x = torch.randn(2, 5, 2)

    with torch.inference_mode():
        relu = model.infer(x)
        assert torch.equal(relu, model(x))
        model.core.mode = "RNN_TANH"
        model.core.nonlinearity = "tanh"
        assert not torch.equal(relu, model.infer(x))


def test_dropout_does_not_apply_in_eval_mode() -> None:
    model = make_forecaster("lstm", 2, dropout=0.5)
    x = torch.randn(4, 9, 2)

    with torch.inference_mode():
        assert torch.equal(model.infer(x), model.infer(x))
        assert torch.equal(model.infer(x), model(x))


def test_kept_states_are_not_written() -> None:
    model = make_forecaster("lstm", 2)
    x = torch.randn(1, 7, 2)

    with torch.inference_mode():
        model.infer(x)
        h0, c0 = model._zero_states[(1, torch.float32)]
        model.infer(x * 10)

    assert not h0.any()
    assert not c0.any()


def test_only_small_batches_keep_their_states() -> None:
    model = make_forecaster("rnn", 1)

    with torch.inference_mode():
        for batch in (1, KEPT_STATE_BATCHES, KEPT_STATE_BATCHES + 1):
            model.infer(torch.randn(batch, 4, 2))

    assert sorted(batch for batch, _ in model._zero_states) == [1, KEPT_STATE_BATCHES]


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_infer_after_functional_call(cell: str) -> None:
    model = make_forecaster(cell, 2)
    other = {k: torch.randn_like(v) for k, v in model.state_dict().items()}
    x = torch.randn(3, 7, 2)

    with torch.inference_mode():
        expected = model(x)
        # functional_call runs forward, which points the core's weight list
        # at the swapped-in tensors, then restores the parameters without the
        # core's __setattr__
        torch.func.functional_call(model, other, (x,))
        restored = model.infer(x)

    assert torch.equal(restored, expected)


def test_infer_records_gradients_outside_inference_mode() -> None:
    model = make_forecaster("lstm", 2)
    x = torch.randn(2, 5, 2)

    out = model.infer(x)
    out.sum().backward()

    assert out.requires_grad
    assert model.core.weight_hh_l0.grad is not None


def test_training_mode_runs_forward_with_dropout() -> None:
    model = make_forecaster("gru", 2, dropout=0.9)
    model.train()
    x = torch.randn(8, 6, 2)

    with torch.inference_mode():
        torch.manual_seed(0)
        first = model.infer(x)
        torch.manual_seed(1)
        second = model.infer(x)

    # dropout draws differ between the seeds, so forward ran in training mode
    assert not torch.equal(first, second)


def test_input_of_another_dtype_goes_through_forward() -> None:
    model = make_forecaster("lstm", 1)
    x = torch.randn(2, 5, 2, dtype=torch.float64)

    with torch.inference_mode(), pytest.raises(ValueError, match="does not match"):
        # nn.LSTM's own check of the input dtype
        model.infer(x)


def test_gru_follows_forward_on_fused_layer() -> None:
    model = make_forecaster("gru", 2)
    x = torch.randn(3, 6, 2)
    # a forward pass that records gradients loads the fused layer, where the
    # extension builds, and forward then runs every GRU pass on it
    model(x).sum().backward()

    with torch.inference_mode():
        assert torch.equal(model.infer(x), model(x))
