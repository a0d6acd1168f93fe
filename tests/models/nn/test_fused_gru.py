"""Tests of the fused GRU layer: the same function and gradients as
``nn.GRU``, when it is used, and the fallback when it cannot be built."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from torch import nn

from models.nn import fused_gru
from models.nn.forecaster import Forecaster
from tests.models.torch_threads import one_torch_thread  # noqa: F401

ROOT = Path(__file__).resolve().parents[3]


def test_extension_builds_and_loads() -> None:
    """The machines that run this suite have a C++ compiler and ninja, so a
    failed build is a failure here, not a skip."""
    assert fused_gru.load(), "see the warning logged by models.nn.fused_gru"


def torch_gru_output(model: Forecaster, x: torch.Tensor) -> torch.Tensor:
    out, _ = model.core(x)
    return model.head(out[:, -1])


@pytest.mark.parametrize("layers,inputs,hidden", [(1, 1, 1), (2, 1, 64), (3, 5, 7)])
def test_forward_and_gradients_match_nn_gru(
    layers: int, inputs: int, hidden: int
) -> None:
    torch.manual_seed(layers)
    model = Forecaster(
        "gru", input_size=inputs, hidden_size=hidden, num_layers=layers, horizon=3
    )
    x = torch.randn(16, 25, inputs, requires_grad=True)
    assert fused_gru.applies(model.core, x)

    fused = model(x)
    reference = torch_gru_output(model, x)
    torch.testing.assert_close(fused, reference, rtol=1e-5, atol=1e-6)

    leaves = [x, *model.parameters()]
    fused_grads = torch.autograd.grad(fused.pow(2).sum(), leaves)
    reference_grads = torch.autograd.grad(reference.pow(2).sum(), leaves)
    for got, want in zip(fused_grads, reference_grads, strict=True):
        torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-6)


def test_gradcheck_in_float64() -> None:
    torch.manual_seed(0)
    core = nn.GRU(3, 4, num_layers=2, batch_first=True).double()
    x = torch.randn(2, 5, 3, dtype=torch.float64, requires_grad=True)
    parameters = tuple(core.parameters())

    def function(inputs: torch.Tensor, *_: torch.Tensor) -> torch.Tensor:
        return fused_gru.run(core, inputs)

    assert torch.autograd.gradcheck(function, (x, *parameters))


def test_dropout_masks_match_nn_gru() -> None:
    torch.manual_seed(0)
    model = Forecaster(
        "gru", input_size=2, hidden_size=8, num_layers=3, horizon=2, dropout=0.5
    ).train()
    x = torch.randn(8, 12, 2)

    torch.manual_seed(7)
    fused = model(x)
    torch.manual_seed(7)
    reference = torch_gru_output(model, x)
    torch.manual_seed(8)
    other_seed = model(x)

    torch.testing.assert_close(fused, reference, rtol=1e-5, atol=1e-6)
    assert not torch.allclose(fused, other_seed)


def test_inference_after_training_matches_nn_gru() -> None:
    model = Forecaster("gru", input_size=1, hidden_size=16, num_layers=2, horizon=3)
    model.eval()
    x = torch.randn(7, 30, 1)
    assert fused_gru.load()

    with torch.inference_mode():
        assert fused_gru.applies(model.core, x)
        fused = model(x)
        reference = torch_gru_output(model, x)

    torch.testing.assert_close(fused, reference, rtol=1e-5, atol=1e-6)


def test_process_without_training_never_loads_it() -> None:
    """A server forecasts with ``nn.GRU`` and pays for no build or load."""
    script = (
        "import torch\n"
        "from models.nn import fused_gru\n"
        "from models.nn.forecaster import Forecaster\n"
        "model = Forecaster('gru', input_size=1, hidden_size=4, num_layers=2,"
        " horizon=2).eval()\n"
        "x = torch.randn(3, 10, 1)\n"
        "with torch.inference_mode():\n"
        "    print('applies', fused_gru.applies(model.core, x))\n"
        "    model(x)\n"
        "print('loaded', fused_gru._loaded)\n"
        "import sys\n"
        "print('builder', 'torch.utils.cpp_extension' in sys.modules)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == [
        "applies",
        "False",
        "loaded",
        "None",
        "builder",
        "False",
    ]


def test_training_forward_goes_through_the_fused_layer(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    model = Forecaster("gru", input_size=1, hidden_size=4, num_layers=2, horizon=2)
    calls: list[int] = []
    original = fused_gru.run

    def counted(core: nn.GRU, x: torch.Tensor) -> torch.Tensor:
        calls.append(x.shape[0])
        return original(core, x)

    monkeypatch.setattr(fused_gru, "run", counted)
    model(torch.randn(5, 10, 1)).sum().backward()
    assert calls == [5]

    monkeypatch.setenv(fused_gru.SWITCH, "0")
    model(torch.randn(6, 10, 1)).sum().backward()
    assert calls == [5]


@pytest.mark.parametrize("cell", ["lstm", "rnn"])
def test_other_cores_never_use_it(cell: str) -> None:
    model = Forecaster(cell, input_size=1, hidden_size=4, num_layers=2, horizon=2)
    assert not fused_gru.applies(model.core, torch.randn(2, 5, 1))


def test_failed_build_falls_back_with_one_warning(tmp_path: Path) -> None:
    """A compiler that does not exist: ``load`` returns False, logs why,
    and a GRU still trains, through ``nn.GRU``."""
    script = (
        "import logging, torch\n"
        "logging.basicConfig(level=logging.WARNING)\n"
        "from models.nn import fused_gru\n"
        "from models.nn.forecaster import Forecaster\n"
        "assert fused_gru.load() is False\n"
        "model = Forecaster('gru', input_size=1, hidden_size=4, num_layers=2,"
        " horizon=2)\n"
        "model(torch.randn(3, 10, 1)).sum().backward()\n"
        "print('trained', model.core.weight_hh_l0.grad.abs().sum().item() > 0)\n"
    )
    env = {
        **os.environ,
        "RNN_FORECAST_CACHE_DIR": str(tmp_path),
        "CXX": str(tmp_path / "no-such-compiler"),
    }
    done = subprocess.run(
        [sys.executable, "-c", script],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert done.returncode == 0, done.stderr
    assert "trained True" in done.stdout
    warnings = [line for line in done.stderr.splitlines() if "WARNING" in line]
    assert len(warnings) == 1, done.stderr
    assert "fused GRU" in warnings[0]
    assert "C++ compiler not found" in warnings[0]
    assert "nn.GRU" in warnings[0]
    assert fused_gru.SWITCH in warnings[0]


def test_non_finite_weights_run_on_nn_gru() -> None:
    """The extension is compiled for finite values; NaN must reach the
    output as it does through nn.GRU."""
    model = Forecaster("gru", input_size=1, hidden_size=8, num_layers=2, horizon=2)
    x = torch.randn(4, 10, 1)
    assert fused_gru.applies(model.core, x)

    with torch.no_grad():
        model.core.weight_hh_l1[0, 0] = float("nan")
    assert not fused_gru.applies(model.core, x)
    assert torch.isnan(model(x)).all()

    x[0, 3, 0] = float("inf")
    assert not fused_gru.applies(model.core, x)


@pytest.mark.parametrize(
    ("dtype", "scale"), [(torch.float32, 1e30), (torch.float64, 1e300)]
)
def test_saturated_gates_give_nn_gru_gradients(
    dtype: torch.dtype, scale: float
) -> None:
    """Inputs that saturate every gate of the first layer: the gate
    derivatives must be exactly 0, or the weight gradients blow up."""
    torch.manual_seed(0)
    model = Forecaster("gru", input_size=1, hidden_size=8, num_layers=2, horizon=2)
    model = model.to(dtype)
    x = torch.randn(4, 12, 1, dtype=dtype) * scale
    parameters = list(model.parameters())

    fused = torch.autograd.grad(model(x).pow(2).sum(), parameters)
    reference = torch.autograd.grad(torch_gru_output(model, x).pow(2).sum(), parameters)

    for got, want in zip(fused, reference, strict=True):
        torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-5)


def test_saturated_gates_match_nn_gru() -> None:
    """Pre-activations far beyond where exp overflows in float32."""
    core = nn.GRU(1, 8, batch_first=True)
    with torch.no_grad():
        for parameter in core.parameters():
            parameter.zero_()
        core.weight_ih_l0.fill_(1.0)
    x = torch.tensor([-1000.0, -46.0, -44.0, 0.0, 44.0, 46.0, 1000.0]).view(-1, 1, 1)

    fused = fused_gru.run(core, x)
    reference, _ = core(x)

    assert torch.isfinite(fused).all()
    torch.testing.assert_close(fused, reference, rtol=0, atol=1e-6)


@pytest.mark.parametrize(
    ("value", "on"),
    [("0", False), (" Off ", False), ("no", False), ("1", True), ("YES", True)],
)
def test_switch_values(monkeypatch: pytest.MonkeyPatch, value: str, on: bool) -> None:
    monkeypatch.setenv(fused_gru.SWITCH, value)
    assert fused_gru.enabled() is on


def test_unknown_switch_value_warns_once_and_stays_on(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv(fused_gru.SWITCH, "disabled")
    monkeypatch.setattr(fused_gru, "_warned_values", set())

    assert fused_gru.enabled()
    assert fused_gru.enabled()

    warnings = [r for r in caplog.records if r.levelname == "WARNING"]
    assert len(warnings) == 1
    assert "'disabled' is not a switch value" in warnings[0].getMessage()
