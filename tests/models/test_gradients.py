"""Gradient flow through time, measured with real autograd in float64."""

from __future__ import annotations

import datetime as dt
import json
import math

import numpy as np
import pytest
import torch
from pydantic import ValidationError

from models.date_fields import DATE_MESSAGE
from models.errors import InvalidInputError, LimitExceededError
from models.gradient_inputs import (
    BundledInput,
    PreparedInput,
    ValuesInput,
    prepare_input,
)
from models.gradient_summary import summarize_gradient_norms
from models.gradients import (
    GradientFlowSpec,
    StoredModelRef,
    compute_gradient_flow,
    trace_gradients,
)
from models.jacobians import step_jacobian_norms
from models.limits import Limits
from models.nn.cell_stack import (
    build_fresh_stack,
    gate_spectral_radii,
    stack_from_forecaster,
)
from models.nn.cells import unroll
from models.nn.forecaster import Forecaster
from models.registry import Registry
from models.spec import CellType
from tests.models.torch_threads import one_torch_thread  # noqa: F401

CELLS: list[CellType] = ["rnn", "lstm", "gru"]
SCALAR = {"cell": "rnn", "hidden_size": 1, "activation": "identity", "seq_len": 21}
TORCH_CELLS: dict[str, type[torch.nn.RNNCellBase]] = {
    "rnn": torch.nn.RNNCell,
    "lstm": torch.nn.LSTMCell,
    "gru": torch.nn.GRUCell,
}
CELL_PARAMETERS = ("weight_ih", "weight_hh", "bias_ih", "bias_hh")


def flow(**fields: object) -> dict[str, object]:
    spec = GradientFlowSpec.model_validate(fields)
    return compute_gradient_flow(spec).to_dict()


def relative_error(actual: float, expected: float) -> float:
    return abs(actual / expected - 1.0)


@pytest.mark.parametrize("radius", [0.5, 1.5])
def test_scalar_ratios_are_powers_of_radius(radius: float) -> None:
    result = flow(**SCALAR, spectral_radius=radius)
    norms = result["grad_norms"]

    assert len(norms) == 21
    assert relative_error(norms[-11] / norms[-1], radius**10) < 1e-6
    assert relative_error(norms[0] / norms[-1], radius**20) < 1e-6
    for distance in range(21):
        ratio = norms[20 - distance] / norms[-1]
        assert relative_error(ratio, radius**distance) < 1e-12, distance


def test_scalar_ratios_match_stated_values() -> None:
    vanishing = flow(**SCALAR, spectral_radius=0.5)["grad_norms"]
    exploding = flow(**SCALAR, spectral_radius=1.5)["grad_norms"]

    assert relative_error(vanishing[-11] / vanishing[-1], 0.0009765625) < 1e-6
    assert relative_error(vanishing[0] / vanishing[-1], 9.5367431640625e-07) < 1e-6
    assert relative_error(exploding[-11] / exploding[-1], 57.6650390625) < 1e-6
    assert relative_error(exploding[0] / exploding[-1], 3325.256730079651) < 1e-6


@pytest.mark.parametrize(
    ("radius", "vanish", "explode"), [(0.5, 10, None), (1.5, None, 18)]
)
def test_scalar_summary_and_jacobians(
    radius: float, vanish: int | None, explode: int | None
) -> None:
    result = flow(**SCALAR, spectral_radius=radius)
    summary = result["summary"]

    assert relative_error(summary["rate_per_step"], radius) < 1e-9
    assert relative_error(summary["log10_per_step"], math.log10(radius)) < 1e-9
    assert summary["fit_points"] == 21
    assert summary["vanish_distance"] == vanish
    assert summary["explode_distance"] == explode
    assert relative_error(result["spectral_radius"], radius) < 1e-12
    assert result["gate_spectral_radii"] == {"h": result["spectral_radius"]}

    assert len(result["jacobian_norms"]) == 20
    for norm in result["jacobian_norms"]:
        assert relative_error(norm, radius) < 1e-12
    products = result["jacobian_products"]
    assert len(products) == 21
    assert products[-1] == 1.0
    assert relative_error(products[0], radius**20) < 1e-9


def test_same_spec_gives_same_curves() -> None:
    first = flow(cell="gru", hidden_size=8, seq_len=30, seed=3)
    second = flow(cell="gru", hidden_size=8, seq_len=30, seed=3)
    other_seed = flow(cell="gru", hidden_size=8, seq_len=30, seed=4)

    assert first["grad_norms"] == second["grad_norms"]
    assert first["jacobian_norms"] == second["jacobian_norms"]
    assert first["grad_norms"] != other_seed["grad_norms"]


def decay_orders(cell: CellType, seed: int, forget_bias: float | None = None) -> float:
    """log10 of ||dL/dh_0|| / ||dL/dh_99|| on the last 100 NFLX returns."""
    result = flow(
        cell=cell,
        hidden_size=32,
        seq_len=100,
        seed=seed,
        forget_bias=forget_bias,
        input={"source": "bundled"},
        jacobians=False,
    )
    return math.log10(result["summary"]["first_to_last_ratio"])


def test_rnn_decays_more_than_lstm_at_default_init() -> None:
    # torch's default init leaves the LSTM forget gate near sigmoid(0) = 0.5,
    # so both cells vanish over 100 steps. Measured over seeds 0..15: the RNN
    # by 23.1 orders of magnitude on average, the LSTM by 20.1, and the RNN
    # decays less than the LSTM for 4 of the 16 seeds.
    seeds = range(16)
    rnn = [decay_orders("rnn", seed) for seed in seeds]
    lstm = [decay_orders("lstm", seed) for seed in seeds]

    assert max(rnn) < -10
    assert max(lstm) < -15
    assert np.mean(rnn) < np.mean(lstm) - 2.0


def test_lstm_with_forget_bias_keeps_gradient() -> None:
    # measured over seeds 0..15: the LSTM decays 6.3 to 19.6 orders of magnitude
    # less than the RNN
    for seed in range(16):
        rnn = decay_orders("rnn", seed)
        lstm = decay_orders("lstm", seed, forget_bias=1.0)
        assert lstm > rnn + 5.0, seed
        assert lstm > -10.0, seed


def test_identity_rnn_above_radius_one_explodes() -> None:
    result = flow(
        cell="rnn",
        hidden_size=32,
        seq_len=100,
        activation="identity",
        spectral_radius=1.5,
    )
    summary = result["summary"]

    assert summary["first_to_last_ratio"] > 1e15
    assert summary["explode_distance"] is not None
    assert summary["explode_distance"] < 40
    assert summary["vanish_distance"] is None
    assert 1.4 < summary["rate_per_step"] < 1.6


@pytest.mark.parametrize(("init", "rate"), [("default", 0.8731), ("identity", 0.5195)])
def test_tanh_rnn_above_radius_one_vanishes(init: str, rate: float) -> None:
    result = flow(
        cell="rnn", hidden_size=32, seq_len=100, init=init, spectral_radius=1.5
    )
    summary = result["summary"]

    assert summary["explode_distance"] is None
    assert summary["vanish_distance"] is not None
    assert summary["rate_per_step"] == pytest.approx(rate, abs=5e-4)


def test_clipping_caps_global_norm() -> None:
    exploding = {
        "cell": "rnn",
        "hidden_size": 32,
        "seq_len": 60,
        "activation": "identity",
        "spectral_radius": 1.5,
    }
    clipped = flow(**exploding, clip_norm=1.0)["clipping"]
    assert clipped["threshold"] == 1.0
    assert clipped["norm_before"] > 1e6
    assert clipped["clipped"] is True
    # torch scales by threshold / (norm + 1e-6), so the result is 1 up to rounding
    assert clipped["norm_after"] <= 1.0 + 1e-12
    assert relative_error(clipped["norm_after"], 1.0) < 1e-5

    free = flow(**exploding)["clipping"]
    assert free["norm_before"] == clipped["norm_before"]
    assert free["norm_after"] == free["norm_before"]

    loose = flow(**exploding, clip_norm=clipped["norm_before"] * 2)["clipping"]
    assert loose["clipped"] is False
    assert loose["norm_after"] == loose["norm_before"]


def test_clipped_norm_matches_parameter_norms() -> None:
    result = flow(cell="lstm", hidden_size=6, seq_len=12, clip_norm=1e-4)
    per_parameter = result["param_grad_norms"]

    assert set(per_parameter) == {
        "cells.0.weight_ih",
        "cells.0.weight_hh",
        "cells.0.bias_ih",
        "cells.0.bias_hh",
        "head.weight",
        "head.bias",
    }
    # param_grad_norms are read after clipping
    total = math.sqrt(sum(value**2 for value in per_parameter.values()))
    assert relative_error(total, result["clipping"]["norm_after"]) < 1e-9


def test_rnn_jacobian_bound_can_be_loose() -> None:
    # the RNN of docs/gradient-flow.png: a non-normal W_h with spectral norm
    # above 1 and spectral radius below 1
    result = flow(cell="rnn", hidden_size=32, seq_len=100, input={"source": "bundled"})
    recurrent = build_fresh_stack("rnn", input_size=1, hidden_size=32).layer(0)
    spectral_norm = float(torch.linalg.matrix_norm(recurrent.weight_hh.detach(), ord=2))
    jacobian_norms = np.array(result["jacobian_norms"])
    products = result["jacobian_products"]
    summary = result["summary"]

    assert result["spectral_radius"] == pytest.approx(0.66, abs=0.005)
    assert spectral_norm == pytest.approx(1.10, abs=0.005)
    assert jacobian_norms.min() > 1.03
    assert jacobian_norms.max() < 1.07
    assert products[0] == pytest.approx(189, abs=0.5)
    assert summary["first_to_last_ratio"] == pytest.approx(1.2e-20, rel=0.05)
    assert summary["rate_per_step"] == pytest.approx(0.63, abs=0.005)


@pytest.mark.parametrize("cell", CELLS)
def test_gradient_ratio_bounded_by_jacobian_product(cell: CellType) -> None:
    result = flow(cell=cell, hidden_size=16, seq_len=50, seed=1)
    norms = np.array(result["grad_norms"])
    products = np.array(result["jacobian_products"])

    ratios = norms / norms[-1]
    assert np.all(ratios <= products * (1 + 1e-9))


def test_lstm_earlier_steps_can_exceed_bound() -> None:
    # grad_norms of the LSTM leave out dL/dc_t, which the Jacobians carry
    result = flow(cell="lstm", hidden_size=4, seq_len=30, seed=1)
    norms = np.array(result["grad_norms"])
    products = np.array(result["jacobian_products"])

    # excess[t, u] = (norms[t] / norms[u]) / (products[t] / products[u])
    excess = np.outer(norms / products, products / norms)
    assert np.triu(excess, k=1).max() > 1.5


@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("method", ["explicit", "lanczos"])
def test_jacobian_norms_match_full_jacobian(cell: CellType, method: str) -> None:
    stack = build_fresh_stack(cell, input_size=2, hidden_size=5, seed=7)
    recurrent = stack.layer(0)
    generator = torch.Generator().manual_seed(0)
    inputs = torch.randn(6, 2, dtype=torch.float64, generator=generator)
    previous = torch.randn(
        6, stack.state_size, dtype=torch.float64, generator=generator
    )

    result = step_jacobian_norms(recurrent, inputs, previous, method=method)  # type: ignore[arg-type]
    assert result.converged

    for n in range(6):

        def step(state: torch.Tensor, n: int = n) -> torch.Tensor:
            if cell == "lstm":
                h, c = recurrent(inputs[n : n + 1], tuple(state[None].chunk(2, dim=1)))
                return torch.cat([h, c], dim=1)[0]
            return recurrent(inputs[n : n + 1], state[None])[0]

        jacobian = torch.autograd.functional.jacobian(step, previous[n])
        expected = torch.linalg.matrix_norm(jacobian, ord=2)
        assert relative_error(float(result.norms[n]), float(expected)) < 1e-10, n


def test_lanczos_agrees_with_explicit_on_large_state() -> None:
    # S = 140 is above EXPLICIT_MAX_STATE, where "auto" picks Lanczos
    stack = build_fresh_stack("lstm", input_size=1, hidden_size=70, seed=2)
    generator = torch.Generator().manual_seed(1)
    inputs = torch.randn(6, 1, dtype=torch.float64, generator=generator)
    previous = 0.5 * torch.randn(6, 140, dtype=torch.float64, generator=generator)

    explicit = step_jacobian_norms(stack.layer(0), inputs, previous, method="explicit")
    lanczos = step_jacobian_norms(stack.layer(0), inputs, previous, method="lanczos")

    assert lanczos.converged
    assert 0 < lanczos.iterations <= 96
    torch.testing.assert_close(lanczos.norms, explicit.norms, rtol=1e-9, atol=0)


def test_lstm_reports_cell_state_gradients() -> None:
    result = flow(cell="lstm", hidden_size=4, seq_len=10)

    assert result["state_size"] == 8
    assert len(result["cell_grad_norms"]) == 10
    assert all(value > 0 for value in result["cell_grad_norms"])
    assert flow(cell="gru", hidden_size=4, seq_len=10)["cell_grad_norms"] is None


def test_lstm_last_cell_gradient_is_through_h() -> None:
    # c_(T-1) reaches the loss only through h_(T-1) = o * tanh(c_(T-1)), and
    # cell_grad_norms reports that total derivative
    values = [0.3, -1.2, 0.8, 0.1, -0.4, 1.5, -0.7, 0.2]
    result = flow(
        cell="lstm",
        hidden_size=4,
        forget_bias=1.0,
        input={"source": "values", "values": values},
        target=[0.5],
    )
    stack = build_fresh_stack("lstm", input_size=1, hidden_size=4, forget_bias=1.0)
    x = torch.tensor(values, dtype=torch.float64).reshape(1, -1, 1)
    _, (h_last, c_last) = unroll(stack.layer(0), x)
    loss = torch.nn.functional.mse_loss(
        stack.head(h_last)[0], torch.tensor([0.5], dtype=torch.float64)
    )
    (cell_gradient,) = torch.autograd.grad(loss, c_last)
    expected = float(cell_gradient.norm())

    assert expected > 0
    assert relative_error(result["cell_grad_norms"][-1], expected) < 1e-12


def test_orthogonal_and_identity_init() -> None:
    lstm = flow(cell="lstm", hidden_size=6, seq_len=5, init="orthogonal")
    for radius in lstm["gate_spectral_radii"].values():
        assert abs(radius - 1.0) < 1e-9
    assert set(lstm["gate_spectral_radii"]) == {"i", "f", "g", "o"}

    stack = build_fresh_stack(
        "gru", input_size=1, hidden_size=4, init="identity", spectral_radius=0.9
    )
    for block in stack.layer(0).weight_hh.detach().chunk(3):
        torch.testing.assert_close(block, 0.9 * torch.eye(4, dtype=torch.float64))
    assert gate_spectral_radii(stack.layer(0), "gru") == pytest.approx(
        {"r": 0.9, "z": 0.9, "n": 0.9}, rel=1e-12
    )


def test_forget_bias_sets_gate_bias() -> None:
    stack = build_fresh_stack("lstm", input_size=1, hidden_size=3, forget_bias=2.0)
    cell = stack.layer(0)
    assert torch.equal(cell.bias_ih[3:6], torch.full((3,), 2.0, dtype=torch.float64))
    assert torch.equal(cell.bias_hh[3:6], torch.zeros(3, dtype=torch.float64))


def test_bundled_window_ends_at_date() -> None:
    result = flow(
        hidden_size=4,
        seq_len=10,
        input={"source": "bundled", "end": "2020-01-05"},
    )
    # 2020-01-05 is a Sunday, so the window ends on Friday 2020-01-03
    assert result["input"]["end"] == "2020-01-03"
    assert result["input"]["start"] == "2019-12-19"
    assert result["input"]["target"] == "next values"

    prepared = prepare_input(BundledInput(), seq_len=10, horizon=2)
    assert prepared.x.shape == (10, 1)
    assert prepared.description["end"] == "2020-12-11"
    # no values follow the last row, so the target is zeros
    assert prepared.description["target"] == "zeros"
    assert torch.equal(prepared.target, torch.zeros(2, dtype=torch.float64))


@pytest.mark.parametrize("end", [1577836800, "2020-01-01T00:00:00Z", "20200101"])
def test_bundled_end_not_iso_rejected(end: object) -> None:
    # a number would otherwise be read as seconds since 1970
    with pytest.raises(ValidationError) as caught:
        BundledInput.model_validate_json(json.dumps({"end": end}))

    [error] = caught.value.errors()
    assert error["loc"] == ("end",)
    assert error["msg"] == DATE_MESSAGE


def test_client_values_with_features() -> None:
    rows = [[0.1 * t, -0.2 * t, 1.0] for t in range(15)]
    result = flow(cell="gru", hidden_size=4, input={"source": "values", "values": rows})

    assert result["seq_len"] == 15
    assert result["input"] == {"source": "values", "features": 3, "target": "zeros"}
    assert len(result["grad_norms"]) == 15


def test_stored_version_matches_forecaster(trained_registry: Registry) -> None:
    loaded = trained_registry.load("nflx", 1)
    spec = GradientFlowSpec(
        model=StoredModelRef(name="nflx"), seq_len=20, input=BundledInput()
    )
    result = compute_gradient_flow(spec, stored=loaded).to_dict()

    assert result["cell"] == "lstm"
    assert result["model"] == {"name": "nflx", "version": 1}
    assert result["hidden_size"] == 8
    assert result["layer"] == 0
    assert result["init"] == "trained"
    assert len(result["grad_norms"]) == 20
    assert "head.weight" in result["param_grad_norms"]


@pytest.mark.parametrize("cell", CELLS)
def test_stack_computes_forecaster_output(cell: CellType) -> None:
    torch.manual_seed(0)
    forecaster = Forecaster(
        cell, input_size=1, hidden_size=6, num_layers=2, horizon=3
    ).eval()
    stack = stack_from_forecaster(forecaster)
    x = torch.randn(2, 9, 1)

    hidden = x.double()
    for layer in stack.cells:
        hidden, _ = unroll(layer, hidden)  # type: ignore[arg-type]
    ours = stack.head(hidden[:, -1])

    with torch.no_grad():
        theirs = forecaster(x)
    torch.testing.assert_close(ours.float(), theirs, atol=1e-5, rtol=0)


def torch_cells(forecaster: Forecaster) -> list[torch.nn.RNNCellBase]:
    """Build torch's own single-step cells in float64, one per layer of the core."""
    core = forecaster.core
    cells = []
    for layer in range(core.num_layers):
        input_size = core.input_size if layer == 0 else core.hidden_size
        cell = TORCH_CELLS[forecaster.cell](input_size, core.hidden_size).double()
        cell.load_state_dict(
            {name: getattr(core, f"{name}_l{layer}") for name in CELL_PARAMETERS}
        )
        cells.append(cell)
    return cells


def reference_curves(
    forecaster: Forecaster, x: torch.Tensor, target: torch.Tensor, layer: int
) -> tuple[list[float], list[float]]:
    """Compute ||dL/dh_t|| and ||ds_t/ds_{t-1}||_2 of ``layer`` on x (T, F)
    with torch's cells, ``torch.autograd.grad`` and the full Jacobian's SVD."""
    cells = torch_cells(forecaster)
    sequence = x
    for index, cell in enumerate(cells):
        state = None
        states = []
        for t in range(len(sequence)):
            state = cell(sequence[t : t + 1], state)
            states.append(state)
        if index == layer:
            layer_cell, layer_input, layer_states = cell, sequence, states
        # (T, H): the input of the next layer
        sequence = torch.cat([hidden_of(item) for item in states])
    output = torch.nn.functional.linear(
        sequence[-1], forecaster.head.weight.double(), forecaster.head.bias.double()
    )
    loss = torch.nn.functional.mse_loss(output, target)
    hidden = [hidden_of(item) for item in layer_states]
    grad_norms = [float(grad.norm()) for grad in torch.autograd.grad(loss, hidden)]

    lstm = forecaster.cell == "lstm"
    jacobian_norms = []
    for t in range(1, len(x)):

        def step(state: torch.Tensor, t: int = t) -> torch.Tensor:
            if lstm:
                h, c = layer_cell(layer_input[t : t + 1], state[None].chunk(2, dim=1))
                return torch.cat([h, c], dim=1)[0]
            return layer_cell(layer_input[t : t + 1], state[None])[0]

        # s_{t-1} (S,): h_{t-1}, followed by c_{t-1} for the LSTM
        previous = layer_states[t - 1]
        flat = torch.cat(previous, dim=1) if lstm else previous
        jacobian = torch.autograd.functional.jacobian(step, flat[0].detach())
        jacobian_norms.append(float(torch.linalg.matrix_norm(jacobian, ord=2)))
    return grad_norms, jacobian_norms


def hidden_of(state: torch.Tensor | tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
    return state[0] if isinstance(state, tuple) else state


@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("layer", [0, 1])
def test_curves_match_torch_autograd(cell: CellType, layer: int) -> None:
    torch.manual_seed(4)
    forecaster = Forecaster(cell, input_size=1, hidden_size=5, num_layers=2, horizon=2)
    generator = torch.Generator().manual_seed(1)
    x = torch.randn(12, 1, dtype=torch.float64, generator=generator)
    target = torch.tensor([0.4, -0.3], dtype=torch.float64)
    prepared = PreparedInput(x=x, target=target, description={})

    trace = trace_gradients(stack_from_forecaster(forecaster), prepared, layer=layer)
    grad_norms, jacobian_norms = reference_curves(forecaster, x, target, layer)

    assert trace.jacobian_norms is not None
    np.testing.assert_allclose(trace.grad_norms, grad_norms, rtol=1e-10, atol=0)
    np.testing.assert_allclose(trace.jacobian_norms, jacobian_norms, rtol=1e-10, atol=0)


@pytest.mark.parametrize("cell", CELLS)
def test_grad_norms_index_unroll_states(cell: CellType) -> None:
    # grad_norms[t] is dL/dh_t for the state h_t after x_t. That state is
    # the t-th tensor (from 0) that unroll returns, its h_{t+1}.
    stack = build_fresh_stack(cell, input_size=1, hidden_size=4, seed=3)
    generator = torch.Generator().manual_seed(2)
    x = torch.randn(9, 1, dtype=torch.float64, generator=generator)
    target = torch.tensor([0.2], dtype=torch.float64)
    trace = trace_gradients(
        stack, PreparedInput(x=x, target=target, description={}), layer=0
    )

    _, _, states = unroll(stack.layer(0), x[None], keep_states=True)
    for state in states:
        state.retain_grad()
    loss = torch.nn.functional.mse_loss(stack.head(states[-1])[0], target)
    loss.backward()
    expected = [float(state.grad.norm()) for state in states]

    assert len(trace.grad_norms) == 9
    np.testing.assert_allclose(trace.grad_norms, expected, rtol=1e-12, atol=0)


def test_zero_last_gradient_is_rejected() -> None:
    stack = build_fresh_stack("rnn", input_size=1, hidden_size=3, seed=0)
    values = [0.3, -0.1, 0.2, 0.5]
    x = torch.tensor(values, dtype=torch.float64).view(1, 4, 1)
    hidden, _ = unroll(stack.layer(0), x)
    output = float(stack.head(hidden[:, -1]).detach())

    with pytest.raises(InvalidInputError, match="gradient at the last step is zero"):
        flow(
            hidden_size=3,
            input={"source": "values", "values": values},
            target=[output],
        )


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        ({"seq_len": 1001}, "seq_len", "RNN_FORECAST_MAX_SEQ_LEN"),
        (
            {"hidden_size": 257},
            "hidden_size",
            "RNN_FORECAST_MAX_DIAGNOSTIC_HIDDEN_SIZE",
        ),
        ({"cell": "lstm", "activation": "identity"}, "activation", "only to cell"),
        ({"cell": "gru", "forget_bias": 1.0}, "forget_bias", "only to cell 'lstm'"),
        (
            {"seq_len": 5, "input": {"source": "values", "values": [1, 2, 3]}},
            "seq_len",
            "differs from the 3 rows",
        ),
        (
            {"input": {"source": "values", "values": [[1, 2], [3]]}},
            "input.values",
            "rows of one",
        ),
        ({"seq_len": 5, "target": [0.0, 1.0]}, "target", "outputs 1"),
        (
            {"seq_len": 50, "input": {"source": "bundled", "end": "2002-06-01"}},
            "input.end",
            "fewer than seq_len=50",
        ),
        (
            {"seq_len": 5, "input": {"source": "bundled", "end": "2020-12-12"}},
            "input.end",
            "after 2020-12-11, the last date of the bundled data",
        ),
    ],
)
def test_invalid_specs_name_the_field(
    fields: dict[str, object], field: str, message: str
) -> None:
    with pytest.raises(InvalidInputError, match=message) as caught:
        flow(**fields)
    assert caught.value.field == field


def test_limits_follow_settings() -> None:
    spec = GradientFlowSpec(seq_len=50, hidden_size=4)
    with pytest.raises(LimitExceededError, match="above the limit of 40"):
        compute_gradient_flow(spec, limits=Limits(max_seq_len=40))
    with pytest.raises(LimitExceededError, match="above the limit of 3"):
        compute_gradient_flow(spec, limits=Limits(max_diagnostic_hidden_size=3))


def test_values_above_seq_len_limit_count_rows() -> None:
    spec = GradientFlowSpec.model_validate(
        {"input": {"source": "values", "values": [0.5] * 41}}
    )
    with pytest.raises(LimitExceededError) as caught:
        compute_gradient_flow(spec, limits=Limits(max_seq_len=40))

    assert caught.value.field == "input.values"
    assert caught.value.message == (
        "input.values has 41 rows, above the limit of 40 time steps; send at "
        "most 40 rows or raise RNN_FORECAST_MAX_SEQ_LEN"
    )


def test_fresh_controls_rejected_for_stored_version(
    trained_registry: Registry,
) -> None:
    loaded = trained_registry.load("nflx", 1)
    for name, value in [("hidden_size", 4), ("spectral_radius", 0.9)]:
        spec = GradientFlowSpec.model_validate(
            {"model": {"name": "nflx"}, name: value, "seq_len": 5}
        )
        with pytest.raises(InvalidInputError, match="applies to a fresh network"):
            compute_gradient_flow(spec, stored=loaded)

    spec = GradientFlowSpec(model=StoredModelRef(name="nflx", layer=1), seq_len=5)
    with pytest.raises(InvalidInputError, match="has layers 0..0") as caught:
        compute_gradient_flow(spec, stored=loaded)
    assert caught.value.field == "model.layer"

    spec = GradientFlowSpec(cell="gru", model=StoredModelRef(name="nflx"), seq_len=5)
    with pytest.raises(InvalidInputError, match="differs from the 'lstm'"):
        compute_gradient_flow(spec, stored=loaded)


def test_overflow_is_reported() -> None:
    with pytest.raises(InvalidInputError, match="overflowed float64"):
        flow(
            hidden_size=2,
            seq_len=1000,
            activation="identity",
            spectral_radius=100.0,
        )


def test_summary_of_known_curves() -> None:
    distances = np.arange(30)[::-1]
    summary = summarize_gradient_norms(0.25**distances)
    assert summary.rate_per_step == pytest.approx(0.25, rel=1e-12)
    assert summary.vanish_distance == 5  # 0.25^5 = 9.8e-4
    assert summary.explode_distance is None

    with_zeros = 0.5**distances
    with_zeros[:3] = 0.0
    summary = summarize_gradient_norms(with_zeros)
    assert summary.fit_points == 27
    assert summary.rate_per_step == pytest.approx(0.5, rel=1e-12)

    with pytest.raises(ValueError, match="T >= 2"):
        summarize_gradient_norms(np.array([1.0]))


def test_values_input_spec_rejects_short_sequences() -> None:
    with pytest.raises(ValueError, match="at least 2"):
        ValuesInput.model_validate({"values": [1.0]})


@pytest.mark.parametrize(
    ("values", "location", "error_type"),
    [
        ([1.0, float("nan"), 3.0], ("values", 1), "finite_number"),
        ([1.0, "a"], ("values", 1), "float_type"),
        ([[1.0], [2.0, float("inf")]], ("values", 1, 1), "finite_number"),
        ([[1.0], 3.0], ("values", 1), "list_type"),
        ("x", ("values",), "list_type"),
        ([], ("values",), "too_short"),
    ],
)
def test_values_input_reports_one_error(
    values: object, location: tuple[object, ...], error_type: str
) -> None:
    with pytest.raises(ValidationError) as caught:
        ValuesInput.model_validate({"values": values})

    errors = caught.value.errors()
    assert len(errors) == 1, errors
    assert errors[0]["loc"] == location
    assert errors[0]["type"] == error_type


def test_bundled_end_before_data_is_rejected() -> None:
    with pytest.raises(InvalidInputError, match="use an end on or after"):
        prepare_input(BundledInput(end=dt.date(2003, 1, 1)), seq_len=400, horizon=1)


def test_target_length_message_counts_values() -> None:
    with pytest.raises(InvalidInputError) as caught:
        prepare_input(ValuesInput(values=[1.0, 2.0]), seq_len=2, horizon=1, target=[])

    assert caught.value.message == (
        "target has 0 values but the network outputs 1; send 1 value or leave "
        "target out"
    )
