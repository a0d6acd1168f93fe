"""Size checks of gradient diagnostics, and the errors of their inputs."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from models import gradients
from models.diagnostic_limits import check_lag_batch, fresh_parameter_count
from models.errors import InvalidInputError, LimitExceededError
from models.gradients import GradientFlowSpec, compute_gradient_flow
from models.lag_task import LagExperimentParams
from models.limits import Limits
from models.nn.cell_stack import build_fresh_stack
from models.registry import Registry
from models.spec import CellType
from tests.models.torch_threads import one_torch_thread  # noqa: F401

CELLS: list[CellType] = ["rnn", "lstm", "gru"]


def values_spec(cell: CellType, rows: int, features: int, **fields: object) -> dict:
    values = [[0.1 * (i + j) for j in range(features)] for i in range(rows)]
    return {"cell": cell, "input": {"source": "values", "values": values}, **fields}


def fail_build(*args: object, **kwargs: object) -> None:
    raise AssertionError("the network was built before the size checks")


@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize(("input_size", "hidden_size"), [(1, 1), (3, 8), (60, 5)])
def test_parameter_count_matches_stack(
    cell: CellType, input_size: int, hidden_size: int
) -> None:
    stack = build_fresh_stack(cell, input_size=input_size, hidden_size=hidden_size)
    built = sum(parameter.numel() for parameter in stack.parameters())
    assert fresh_parameter_count(cell, input_size, hidden_size) == built


@pytest.mark.parametrize("cell", CELLS)
def test_wide_rows_rejected_before_build(
    cell: CellType, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(gradients, "build_fresh_stack", fail_build)
    spec = GradientFlowSpec.model_validate(
        values_spec(cell, 2, 60_000, hidden_size=256)
    )

    with pytest.raises(LimitExceededError) as caught:
        compute_gradient_flow(spec)
    assert caught.value.field == "input.values"
    assert "60000 features, above the limit of 1000" in caught.value.message
    assert "RNN_FORECAST_MAX_DIAGNOSTIC_FEATURES" in caught.value.message


def test_features_at_limit_run() -> None:
    spec = GradientFlowSpec.model_validate(values_spec("gru", 5, 3, hidden_size=4))
    result = compute_gradient_flow(spec, limits=Limits(max_diagnostic_features=3))
    assert result.input["features"] == 3

    with pytest.raises(LimitExceededError, match="above the limit of 2;"):
        compute_gradient_flow(spec, limits=Limits(max_diagnostic_features=2))


@pytest.mark.parametrize("cell", CELLS)
def test_parameters_above_limit_rejected(
    cell: CellType, monkeypatch: pytest.MonkeyPatch
) -> None:
    count = fresh_parameter_count(cell, 4, 8)
    spec = GradientFlowSpec.model_validate(values_spec(cell, 5, 4, hidden_size=8))
    monkeypatch.setattr(gradients, "build_fresh_stack", fail_build)

    with pytest.raises(LimitExceededError) as caught:
        compute_gradient_flow(spec, limits=Limits(max_diagnostic_parameters=count - 1))
    assert caught.value.field == "hidden_size"
    message = caught.value.message
    assert f"hidden_size=8 over 4 features has {count} parameters" in message
    assert f"above the limit of {count - 1};" in message
    assert "RNN_FORECAST_MAX_DIAGNOSTIC_PARAMETERS" in message


def test_parameters_at_limit_run() -> None:
    count = fresh_parameter_count("lstm", 4, 8)
    spec = GradientFlowSpec.model_validate(values_spec("lstm", 5, 4, hidden_size=8))
    result = compute_gradient_flow(spec, limits=Limits(max_diagnostic_parameters=count))
    assert len(result.trace.grad_norms) == 5


def test_default_limits_bound_largest_network() -> None:
    """The default feature and hidden-size limits keep the GRU and RNN
    within the parameter limit, and the LSTM reaches it first."""
    limits = Limits()
    features = limits.max_diagnostic_features
    hidden_size = limits.max_diagnostic_hidden_size
    parameters = limits.max_diagnostic_parameters
    assert fresh_parameter_count("gru", features, hidden_size) <= parameters
    assert fresh_parameter_count("rnn", features, hidden_size) <= parameters
    assert fresh_parameter_count("lstm", features, hidden_size) > parameters


def test_stored_version_parameters_rejected(trained_registry: Registry) -> None:
    loaded = trained_registry.load("nflx", 1)
    spec = GradientFlowSpec.model_validate({"model": {"name": "nflx"}, "seq_len": 5})

    with pytest.raises(LimitExceededError) as caught:
        compute_gradient_flow(
            spec, stored=loaded, limits=Limits(max_diagnostic_parameters=10)
        )
    assert caught.value.field == "model"
    assert "nflx:1 has " in caught.value.message
    assert "RNN_FORECAST_MAX_DIAGNOSTIC_PARAMETERS" in caught.value.message


def test_stored_version_hidden_size_rejected(
    trained_registry: Registry, monkeypatch: pytest.MonkeyPatch
) -> None:
    loaded = trained_registry.load("nflx", 1)
    hidden_size = loaded.model.core.hidden_size
    spec = GradientFlowSpec.model_validate({"model": {"name": "nflx"}, "seq_len": 5})
    monkeypatch.setattr(gradients, "stack_from_forecaster", fail_build)

    with pytest.raises(LimitExceededError) as caught:
        compute_gradient_flow(
            spec,
            stored=loaded,
            limits=Limits(max_diagnostic_hidden_size=hidden_size - 1),
        )
    assert caught.value.field == "model"
    message = caught.value.message
    assert f"nflx:1 has hidden_size {hidden_size}, above" in message
    assert f"the diagnostic limit of {hidden_size - 1};" in message
    assert "RNN_FORECAST_MAX_DIAGNOSTIC_HIDDEN_SIZE" in message


@pytest.mark.parametrize("cell", CELLS)
def test_empty_rows_name_values(cell: CellType) -> None:
    spec = GradientFlowSpec.model_validate(values_spec(cell, 2, 0))

    with pytest.raises(InvalidInputError) as caught:
        compute_gradient_flow(spec)
    assert caught.value.field == "input.values"
    assert "input.values contains rows of no numbers;" in caught.value.message


def test_ragged_rows_name_widths() -> None:
    spec = GradientFlowSpec.model_validate(
        {"input": {"source": "values", "values": [[0.1, 0.2], [0.3], [0.4, 0.5]]}}
    )

    with pytest.raises(InvalidInputError) as caught:
        compute_gradient_flow(spec)
    assert caught.value.field == "input.values"
    assert "rows have [1, 2] features; send rows of one equal length" in (
        caught.value.message
    )


def test_missing_source_lists_sources() -> None:
    with pytest.raises(ValidationError) as caught:
        GradientFlowSpec.model_validate({"input": {"values": [1, 2]}})

    errors = caught.value.errors()
    assert len(errors) == 1
    assert errors[0]["loc"] == ("input", "source")
    assert errors[0]["type"] == "missing"
    assert "one of 'noise', 'bundled' or 'values'" in errors[0]["msg"]


def test_unknown_source_is_named() -> None:
    with pytest.raises(ValidationError) as caught:
        GradientFlowSpec.model_validate({"input": {"source": "file"}})

    errors = caught.value.errors()
    assert len(errors) == 1
    assert errors[0]["loc"] == ("input", "source")
    assert errors[0]["msg"].startswith('"file" is not an input source; use one of')


@pytest.mark.parametrize(
    ("model", "shown"),
    [
        ("nflx", '{"name": "nflx", "version": "latest"}, not "nflx"'),
        (7, '{"name": "nflx", "version": "latest"}, not 7'),
        ("{x}", '{"name": "nflx", "version": "latest"}, not "{x}"'),
    ],
)
def test_model_name_alone_shows_object(model: object, shown: str) -> None:
    with pytest.raises(ValidationError) as caught:
        GradientFlowSpec.model_validate({"model": model})

    errors = caught.value.errors()
    assert len(errors) == 1
    assert errors[0]["loc"] == ("model",)
    assert errors[0]["msg"] == f"Input should be an object such as {shown}"


def test_lag_batch_limit_is_product() -> None:
    limits = Limits(max_lag_batch_elements=64 * 45 * 32)
    check_lag_batch(64, 45, 32, limits)

    with pytest.raises(LimitExceededError) as caught:
        check_lag_batch(64, 45, 33, limits)
    assert caught.value.field == "batch_size"
    message = caught.value.message
    assert "64 x 45 x 33 = 95040 is above the limit of 92160;" in message
    assert "RNN_FORECAST_MAX_LAG_BATCH_ELEMENTS" in message


def test_default_lag_experiment_within_batch_limit() -> None:
    params = LagExperimentParams()
    check_lag_batch(params.batch_size, params.seq_len, params.hidden_size, Limits())
