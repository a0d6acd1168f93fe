"""The forward pass of ``run_batch``: the inference kernel's numpy entry
where the kernel runs the version, ``Forecaster.infer`` elsewhere."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from models import forecasting
from models.forecasting import build_input, run_batch
from models.nn import infer_kernel
from models.registry import LoadedModel, Registry


def windows(loaded: LoadedModel, inputs: list[forecasting.ForecastInput]) -> np.ndarray:
    """The scaled windows (B, T, 1) of float32 that ``run_batch`` reads."""
    values = forecasting._modelled_values(loaded.target, inputs)
    return loaded.scaler.transform(values).astype(np.float32)[..., None]


def inputs_of(loaded: LoadedModel) -> list[forecasting.ForecastInput]:
    dates = list(loaded.tail_dates)
    return [
        build_input(loaded, 5),
        build_input(loaded, 3, dates, list(loaded.tail_close * 1.1)),
    ]


def spy_on_run_array(monkeypatch: pytest.MonkeyPatch) -> list[tuple[int, ...]]:
    shapes: list[tuple[int, ...]] = []
    real = infer_kernel.run_array

    def spy(packed: infer_kernel.Packed, x: np.ndarray) -> np.ndarray:
        shapes.append(x.shape)
        return real(packed, x)

    monkeypatch.setattr(infer_kernel, "run_array", spy)
    return shapes


@pytest.mark.parametrize("name", ["nflx", "sine"])
def test_kernel_entry_gives_infer_bits(
    trained_registry: Registry, monkeypatch: pytest.MonkeyPatch, name: str
) -> None:
    assert infer_kernel.load()
    loaded = trained_registry.load(name)
    x = windows(loaded, inputs_of(loaded))
    with torch.inference_mode():
        expected = loaded.model.infer(torch.from_numpy(x)).numpy()
    shapes = spy_on_run_array(monkeypatch)

    actual = forecasting._forward(loaded.model, x)

    assert shapes == [x.shape]
    assert actual.dtype == np.float32
    assert np.array_equal(actual, expected)


def test_switched_off_kernel_runs_torch(
    trained_registry: Registry, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert infer_kernel.load()
    loaded = trained_registry.load("nflx")
    inputs = inputs_of(loaded)
    on_kernel = run_batch(loaded, inputs)
    shapes = spy_on_run_array(monkeypatch)
    monkeypatch.setenv(infer_kernel.SWITCH, "0")

    on_torch = run_batch(loaded, inputs)

    assert shapes == []
    for kernel, torch_op in zip(on_kernel, on_torch, strict=True):
        assert kernel.dates == torch_op.dates
        np.testing.assert_allclose(kernel.values, torch_op.values, rtol=1e-5)
