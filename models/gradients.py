"""Gradient flow through time: how dL/dh_t shrinks or grows with distance.

A diagnostic runs one sequence x (T, F) with batch size 1 through a stack of
hand-written cells (``models.nn.cell_stack``) in float64, puts the mean
squared error on the output at the last step, and backpropagates through
time with autograd. Steps count from 0: h_t is the state after input x_t,
for t = 0 .. T-1, and the zero initial state has no index. ``unroll`` in
``models.nn.cells`` and the fused GRU count from 1 (h_1 .. h_T, with h_0
the initial state), so the h_t here is their h_{t+1}. It returns, for the
analysed layer:

- ``grad_norms``: ||dL/dh_t|| for t = 0 .. T-1, oldest step first, read
  from ``h_t.grad`` after ``retain_grad()``,
- ``cell_grad_norms`` (LSTM only): ||dL/dc_t|| for t = 0 .. T-1, read from
  ``c_t.grad``. This total derivative includes the path through
  h_t = o_t * tanh(c_t) of the same step, so it is not zero at T-1,
- ``jacobian_norms``: ||ds_t/ds_{t-1}||_2 for t = 1 .. T-1 (``models.jacobians``;
  s is (h, c) for the LSTM), and ``jacobian_products``, their running
  product from the last step back, aligned with ``grad_norms`` (1 at the
  last step),
- a summary (``models.gradient_summary``): the decay or growth rate per
  step, and the distances at which the gradient falls below 1e-3 or rises
  above 1e3 of its last-step value,
- the spectral radius of each gate block of the recurrent matrix W_h,
- the global L2 norm of the parameter gradients before and after clipping.

The network is fresh (one layer built from the request's controls, head
with K = 1) or a stored version (every layer copied; the analysed layer is
the top one unless the request names another). For the top layer the
gradient obeys dL/ds_{t-1} = J_t^T dL/ds_t, so for t < u the ratio
||dL/ds_t|| / ||dL/ds_u|| is at most the product of the Jacobian norms of
steps t+1 .. u. The RNN and the GRU have s = h, so this bounds the ratio of
``grad_norms`` between any two steps. The LSTM has s = (h, c), and here
dL/ds_t treats h_t and c_t as separate inputs of the later steps and the
head, so ||dL/dh_t|| <= ||dL/ds_t||. The head reads h_{T-1} alone, so the
c part of dL/ds_{T-1} is zero, and the bound holds for
``grad_norms[t] / grad_norms[T-1]`` (``jacobian_products[t]``) but not
between two earlier steps. That c part is not ``cell_grad_norms``, which
also counts the path from c_t through h_t. A lower layer also receives
gradient through the layers above it.

A ``should_stop`` check runs before every time step of the forward pass,
before backpropagation and between the steps of the Jacobian norms, and
cancels the diagnostic with ``ComputationCancelled``.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Annotated, Any

import numpy as np
import torch
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidatorFunctionWrapHandler,
    field_validator,
)
from pydantic_core import PydanticCustomError
from torch import Tensor

from models.cancellation import StopCheck, stop_if_requested
from models.diagnostic_limits import (
    check_features,
    check_parameters,
    fresh_parameter_count,
    parameter_count,
)
from models.errors import InvalidInputError, LimitExceededError
from models.field_types import (
    INTEGER_ONLY,
    Boolean,
    Integer,
    Number,
    explain_minimum,
)
from models.gradient_inputs import (
    FiniteFloat,
    InputSpec,
    NoiseInput,
    PreparedInput,
    ValueTransform,
    input_features,
    input_length,
    prepare_input,
)
from models.gradient_summary import GradientSummary, summarize_gradient_norms
from models.input_names import InputNamed, setting
from models.jacobians import step_jacobian_norms
from models.limits import DEFAULT_LIMITS, Limits, check_limit
from models.names import NAME_RE, ModelName
from models.nn.cell_stack import (
    CANDIDATE_GATE,
    MEMORY_BIAS_FIELD,
    CellStack,
    Init,
    build_fresh_stack,
    gate_spectral_radii,
    stack_from_forecaster,
)
from models.nn.cells import Activation, CellState
from models.plurals import plural
from models.registry import LoadedModel
from models.spec import CellType
from models.version_refs import REF_RULE, check_version_ref, version_type_problem

DEFAULT_CELL: CellType = "rnn"
DEFAULT_HIDDEN_SIZE = 32
DEFAULT_SEQ_LEN = 100
MAX_SPECTRAL_RADIUS = 100.0

# Controls that only make sense for a network built from the request.
FRESH_ONLY = (
    "hidden_size",
    "activation",
    "init",
    "spectral_radius",
    "forget_bias",
    "update_bias",
)
COMPUTATION = "the gradient diagnostic"
HIDDEN_SIZE_SETTING = "RNN_FORECAST_MAX_DIAGNOSTIC_HIDDEN_SIZE"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


def _check_version_value(value: Any) -> Any:
    """Reject a value that is neither an integer nor a string with one
    message, where the union would list one error per member, and a number or
    alias that no version can have."""
    problem = version_type_problem(value)
    if problem is not None:
        raise ValueError(f"version {problem}; {REF_RULE}")
    return check_version_ref(value)


class StoredModelRef(_Strict):
    """A stored version to analyse instead of a fresh network."""

    name: ModelName = Field(examples=["nflx"])
    version: Annotated[Integer | str, BeforeValidator(_check_version_value)] = Field(
        default="latest", description="A version number or an alias"
    )
    layer: Annotated[int, Field(ge=0), INTEGER_ONLY] | None = Field(
        default=None, description="Layer to analyse; default: the top layer"
    )


class GradientFlowSpec(_Strict, InputNamed):
    """The network to analyse (fresh or a stored version) and its input.

    Fresh-network controls default to cell 'rnn', hidden_size 32, activation
    'tanh' and init 'default' (torch's uniform(-1/sqrt(H), 1/sqrt(H))); they
    are rejected together with ``model``. ``seq_len`` defaults to 100, or to
    the length of client values.
    """

    cell: CellType | None = None
    model: StoredModelRef | None = None
    hidden_size: Annotated[int, Field(ge=1), INTEGER_ONLY] | None = None
    activation: Activation | None = Field(
        default=None, description="RNN only: 'tanh' or 'identity'"
    )
    init: Init | None = Field(
        default=None,
        description="W_h gate blocks: torch 'default', 'orthogonal' or "
        "'identity' (scaled by spectral_radius when given)",
    )
    spectral_radius: Number | None = Field(
        default=None,
        gt=0.0,
        le=MAX_SPECTRAL_RADIUS,
        description="Rescale each gate block of W_h to this spectral radius",
    )
    forget_bias: Number | None = Field(
        default=None,
        ge=-20.0,
        le=20.0,
        description="LSTM only: forget-gate bias b_xf (b_hf is set to 0)",
    )
    update_bias: Number | None = Field(
        default=None,
        ge=-20.0,
        le=20.0,
        description="GRU only: update-gate bias b_xz (b_hz is set to 0); "
        "h_t = (1 - z_t) * n_t + z_t * h_(t-1), so z_t near 1 keeps the state",
    )
    seq_len: Annotated[int, Field(ge=2), INTEGER_ONLY] | None = None
    input: InputSpec = Field(default_factory=NoiseInput)
    target: list[FiniteFloat] | None = Field(
        default=None,
        min_length=1,
        max_length=DEFAULT_LIMITS.max_horizon,
        description="Target of the last output (K values); default: the next "
        "values of a bundled window, else zeros",
    )
    clip_norm: Number | None = Field(
        default=None,
        gt=0.0,
        description="Global gradient-norm threshold; null (the default) turns "
        "clipping off",
    )
    seed: Integer = Field(default=0, ge=0, le=2**31 - 1)
    jacobians: Boolean = Field(
        default=True, description="Compute the per-step Jacobian norms"
    )

    @field_validator("model", mode="before")
    @classmethod
    def _explain_model(cls, value: object) -> object:
        """Reject a model given as a bare name or another non-object with the
        object that it takes, where pydantic reports only "a valid dictionary"."""
        if value is None or isinstance(value, dict | StoredModelRef):
            return value
        # a valid model name contains no braces, which the template would read
        name = value if isinstance(value, str) and NAME_RE.match(value) else "nflx"
        raise PydanticCustomError(
            "model_type",
            "Input should be an object such as {example}, not {value}",
            {
                "example": json.dumps({"name": name, "version": "latest"}),
                "value": json.dumps(value, default=str),
            },
        )

    @field_validator("clip_norm", mode="wrap")
    @classmethod
    def _explain_clip_norm(
        cls, value: object, handler: ValidatorFunctionWrapHandler
    ) -> object:
        return explain_minimum(value, handler, "send null to turn clipping off")


@dataclass(frozen=True)
class Clipping:
    """Global L2 norm of all parameter gradients before and after clipping."""

    threshold: float | None
    norm_before: float
    norm_after: float
    clipped: bool


@dataclass(frozen=True)
class GradientTrace:
    """Measurements of one backpropagation through time (see the module doc)."""

    loss: float
    grad_norms: list[float]
    cell_grad_norms: list[float] | None
    jacobian_norms: list[float] | None
    jacobian_products: list[float] | None
    jacobian_converged: bool | None
    summary: GradientSummary
    spectral_radius: float
    gate_spectral_radii: dict[str, float]
    clipping: Clipping
    param_grad_norms: dict[str, float]


@dataclass(frozen=True)
class GradientFlow:
    """A trace with the network and input it was measured on."""

    network: dict[str, Any]
    input: dict[str, Any]
    trace: GradientTrace
    seconds: float

    def to_dict(self) -> dict[str, Any]:
        """Flat JSON-ready dict; non-finite products become None."""
        trace = asdict(self.trace)
        if self.trace.jacobian_products is not None:
            trace["jacobian_products"] = [
                value if np.isfinite(value) else None
                for value in self.trace.jacobian_products
            ]
        return {
            **self.network,
            "input": self.input,
            **trace,
            "seconds": self.seconds,
        }


def compute_gradient_flow(
    spec: GradientFlowSpec,
    *,
    stored: LoadedModel | None = None,
    limits: Limits = DEFAULT_LIMITS,
    should_stop: StopCheck | None = None,
) -> GradientFlow:
    """Build the network and input that ``spec`` describes and trace them.

    ``stored`` is the loaded version that ``spec.model`` names; the caller
    resolves and loads it. Raises ``InvalidInputError`` (or its subclass
    ``LimitExceededError``) for a spec that cannot be run, and
    ``ComputationCancelled`` as soon as ``should_stop`` returns True.
    """
    started = time.perf_counter()
    seq_len = _resolve_seq_len(spec, limits)
    features = input_features(spec.input)
    check_features(features, limits)
    if spec.model is not None:
        if stored is None:
            raise ValueError("compute_gradient_flow: spec.model needs stored=")
        stack, layer, network = _stored_network(spec, spec.model, stored, limits)
        transform = ValueTransform(target=stored.target, scaler=stored.scaler)
    else:
        stack, network = _fresh_network(spec, features, limits)
        layer, transform = 0, None

    prepared = prepare_input(
        spec.input,
        seq_len=seq_len,
        horizon=int(stack.head.out_features),
        target=spec.target,
        transform=transform,
        name_of=spec.input_name,
    )
    _check_features(prepared, stack)
    trace = trace_gradients(
        stack,
        prepared,
        layer=layer,
        clip_norm=spec.clip_norm,
        jacobians=spec.jacobians,
        seed=spec.seed,
        should_stop=should_stop,
        name_of=spec.input_name,
        fresh=spec.model is None,
    )
    network = {**network, "layer": layer, "seq_len": seq_len}
    return GradientFlow(
        network=network,
        input=prepared.description,
        trace=trace,
        seconds=time.perf_counter() - started,
    )


def trace_gradients(
    stack: CellStack,
    prepared: PreparedInput,
    *,
    layer: int,
    clip_norm: float | None = None,
    jacobians: bool = True,
    seed: int = 0,
    should_stop: StopCheck | None = None,
    name_of: Callable[[str], str] = str,
    fresh: bool = True,
) -> GradientTrace:
    """Backpropagate the last-step loss of ``stack`` on x (T, F) through time.

    Leaves the parameter gradients of ``stack`` set (and clipped when
    ``clip_norm`` is given). Raises ``InvalidInputError`` when a state or
    gradient overflows float64, or when the loss gradient at the last step is
    zero so that the ratios are undefined. Raises ``ComputationCancelled``
    when ``should_stop`` returns True before a time step or a Jacobian step.
    ``name_of`` returns the name of a spec field in the input, for the fix
    that an error gives. ``fresh`` is False for a stored version, whose
    errors leave out the fixes that only a fresh network takes.
    """
    stack.zero_grad(set_to_none=True)
    with torch.enable_grad():
        output, states, layer_input = _forward(stack, prepared.x, layer, should_stop)
        loss = torch.nn.functional.mse_loss(output[0], prepared.target)
        _check_finite_states(states, loss, name_of, fresh)
        stop_if_requested(should_stop, COMPUTATION)
        loss.backward()

    hidden = [_hidden(state) for state in states]
    grad_norms = _grad_norms(hidden)
    cell_grad_norms = None
    if stack.cell_type == "lstm":
        cell_grad_norms = _grad_norms([state[1] for state in states])  # type: ignore[index]
    _check_gradients(grad_norms, name_of)

    norms = products = converged = None
    if jacobians:
        norms, products, converged = _jacobian_curves(
            stack, layer, layer_input, states, seed, should_stop
        )

    radii = gate_spectral_radii(stack.layer(layer), stack.cell_type)
    return GradientTrace(
        loss=float(loss.detach()),
        grad_norms=grad_norms.tolist(),
        cell_grad_norms=None if cell_grad_norms is None else cell_grad_norms.tolist(),
        jacobian_norms=norms,
        jacobian_products=products,
        jacobian_converged=converged,
        summary=summarize_gradient_norms(grad_norms),
        spectral_radius=radii[CANDIDATE_GATE[stack.cell_type]],
        gate_spectral_radii=radii,
        clipping=_clip(stack, clip_norm),
        param_grad_norms={
            name: float(parameter.grad.norm())
            for name, parameter in stack.named_parameters()
            if parameter.grad is not None
        },
    )


def _forward(
    stack: CellStack, x: Tensor, layer: int, should_stop: StopCheck | None
) -> tuple[Tensor, list[CellState], Tensor]:
    """Run x (T, F) through every layer; keep the analysed layer's states.

    Returns the output (1, K), the T states of layer ``layer`` with their
    hidden (and LSTM cell) tensors retaining gradients, and that layer's
    input (T, F_l) detached.
    """
    sequence = x.unsqueeze(0)
    layer_states: list[CellState] = []
    layer_input = sequence[0]
    for index, cell in enumerate(stack.cells):
        state: CellState | None = None
        states: list[CellState] = []
        for t in range(sequence.shape[1]):
            stop_if_requested(should_stop, COMPUTATION)
            state = cell(sequence[:, t], state)
            states.append(state)
        if index == layer:
            layer_states, layer_input = states, sequence[0].detach()
            for item in states:
                for part in item if isinstance(item, tuple) else (item,):
                    part.retain_grad()
        # (1, T, H): the input of the next layer
        sequence = torch.stack([_hidden(item) for item in states], dim=1)
    return stack.head(sequence[:, -1]), layer_states, layer_input


def _hidden(state: CellState) -> Tensor:
    return state[0] if isinstance(state, tuple) else state


def _grad_norms(tensors: list[Tensor]) -> np.ndarray:
    """||grad|| of each tensor (T,); 0 for a tensor the loss does not reach."""
    return np.array(
        [0.0 if item.grad is None else float(item.grad.norm()) for item in tensors]
    )


def _flat_state(state: CellState) -> Tensor:
    return torch.cat(state, dim=1) if isinstance(state, tuple) else state


def _jacobian_curves(
    stack: CellStack,
    layer: int,
    layer_input: Tensor,
    states: list[CellState],
    seed: int,
    should_stop: StopCheck | None,
) -> tuple[list[float], list[float], bool]:
    """Norms of ds_t/ds_{t-1} for t = 1 .. T-1 and their running products (T,)."""
    # (T-1, S): s_0 .. s_{T-2}, the states that steps 1 .. T-1 start from
    previous = torch.cat([_flat_state(state) for state in states[:-1]]).detach()
    result = step_jacobian_norms(
        stack.layer(layer),
        layer_input[1:],
        previous,
        seed=seed,
        should_stop=should_stop,
    )
    norms = result.norms.numpy()
    # products[t] = prod of norms of steps t+1 .. T-1; 1 at t = T-1
    with np.errstate(over="ignore"):
        products = np.append(np.cumprod(norms[::-1])[::-1], 1.0)
    return norms.tolist(), products.tolist(), result.converged


def _clip(stack: CellStack, clip_norm: float | None) -> Clipping:
    parameters = [p for p in stack.parameters() if p.grad is not None]
    before = _global_norm(parameters)
    if clip_norm is not None:
        torch.nn.utils.clip_grad_norm_(parameters, clip_norm)
    after = _global_norm(parameters)
    return Clipping(
        threshold=clip_norm,
        norm_before=before,
        norm_after=after,
        clipped=clip_norm is not None and before > clip_norm,
    )


def _global_norm(parameters: list[torch.nn.Parameter]) -> float:
    squares = [p.grad.detach().pow(2).sum() for p in parameters if p.grad is not None]
    return float(torch.stack(squares).sum().sqrt()) if squares else 0.0


def _check_finite_states(
    states: list[CellState],
    loss: Tensor,
    name_of: Callable[[str], str],
    fresh: bool,
) -> None:
    # spectral_radius and activation apply only to a fresh network
    network_fixes = ""
    if fresh:
        network_fixes = (
            f"lower {name_of('spectral_radius')} or {name_of('seq_len')}, use "
            f"{name_of('activation')} 'tanh', or "
        )
    for t, state in enumerate(states):
        if not bool(torch.isfinite(_flat_state(state)).all()):
            raise InvalidInputError(
                f"the hidden state overflowed float64 at step {t}; "
                f"{network_fixes}send smaller input values",
            )
    if not bool(torch.isfinite(loss)):
        raise InvalidInputError(
            f"the loss overflowed float64; {network_fixes}send a target closer "
            "to the output",
        )


def _check_gradients(grad_norms: np.ndarray, name_of: Callable[[str], str]) -> None:
    if not np.isfinite(grad_norms).all():
        step = int(np.flatnonzero(~np.isfinite(grad_norms))[-1])
        raise InvalidInputError(
            f"the gradient dL/dh_t overflowed float64 at step {step}; lower "
            f"{name_of('spectral_radius')} or {name_of('seq_len')}",
        )
    if grad_norms[-1] == 0.0:
        raise InvalidInputError(
            "the loss gradient at the last step is zero because the output "
            "equals the target, so the ratios are undefined; send another "
            "target or input",
            field="target",
        )


def _resolve_seq_len(spec: GradientFlowSpec, limits: Limits) -> int:
    values_length = input_length(spec.input)
    if (
        values_length is not None
        and spec.seq_len is not None
        and spec.seq_len != values_length
    ):
        seq_len = spec.input_name("seq_len")
        raise InvalidInputError(
            f"{setting(seq_len, spec.seq_len)} differs from the "
            f"{plural(values_length, 'row')} of {spec.input_name('input.values')}; "
            f"leave {seq_len} out or make them equal",
            field="seq_len",
        )
    if values_length is not None and values_length > limits.max_seq_len:
        raise LimitExceededError(
            f"input.values has {values_length} rows, above the limit of "
            f"{limits.max_seq_len} time steps; send at most {limits.max_seq_len} "
            "rows or raise RNN_FORECAST_MAX_SEQ_LEN",
            field="input.values",
        )
    seq_len = values_length or spec.seq_len or DEFAULT_SEQ_LEN
    check_limit("seq_len", seq_len, limits.max_seq_len, "RNN_FORECAST_MAX_SEQ_LEN")
    return seq_len


def _gate_bias_error(
    spec: GradientFlowSpec, field: str, gate_cell: str, cell: str
) -> InvalidInputError:
    """Return the error of the gate bias ``field`` of ``gate_cell`` given for
    another ``cell``. Without a cell in the spec, the default cell is named
    as such, and the fix offers to choose ``gate_cell``."""
    name = spec.input_name(field)
    cell_name = spec.input_name("cell")
    message = f"{name} applies only to {cell_name} {gate_cell!r}, but the cell is "
    if spec.cell is None:
        message += (
            f"the default {cell!r}; set {cell_name} to {gate_cell!r} or remove {name}"
        )
    else:
        message += f"{cell!r}; remove {name}"
    return InvalidInputError(message, field=field)


def _fresh_network(
    spec: GradientFlowSpec, input_size: int, limits: Limits
) -> tuple[CellStack, dict[str, Any]]:
    cell = spec.cell or DEFAULT_CELL
    hidden_size = spec.hidden_size or DEFAULT_HIDDEN_SIZE
    check_limit(
        "hidden_size",
        hidden_size,
        limits.max_diagnostic_hidden_size,
        HIDDEN_SIZE_SETTING,
    )
    activation: Activation = spec.activation or "tanh"
    if cell != "rnn" and activation != "tanh":
        name = spec.input_name("activation")
        raise InvalidInputError(
            f"{name} {activation!r} applies only to {spec.input_name('cell')} "
            f"'rnn'; the {cell} has fixed activations, so remove {name}",
            field="activation",
        )
    for gate_cell, field in MEMORY_BIAS_FIELD.items():
        if getattr(spec, field) is not None and cell != gate_cell:
            raise _gate_bias_error(spec, field, gate_cell, cell)

    check_parameters(
        fresh_parameter_count(cell, input_size, hidden_size),
        limits,
        network=f"the {cell} of hidden_size={hidden_size} over "
        f"{plural(input_size, 'feature')}",
        field="hidden_size",
    )

    init: Init = spec.init or "default"
    stack = build_fresh_stack(
        cell,
        input_size=input_size,
        hidden_size=hidden_size,
        activation=activation,
        init=init,
        spectral_radius=spec.spectral_radius,
        forget_bias=spec.forget_bias,
        update_bias=spec.update_bias,
        seed=spec.seed,
    )
    network = {
        "cell": cell,
        "model": None,
        "hidden_size": hidden_size,
        "num_layers": 1,
        "state_size": stack.state_size,
        "activation": activation,
        "init": init,
        "requested_spectral_radius": spec.spectral_radius,
        "forget_bias": spec.forget_bias,
        "update_bias": spec.update_bias,
        "seed": spec.seed,
    }
    return stack, network


def _stored_network(
    spec: GradientFlowSpec,
    reference: StoredModelRef,
    stored: LoadedModel,
    limits: Limits,
) -> tuple[CellStack, int, dict[str, Any]]:
    for field in FRESH_ONLY:
        if getattr(spec, field) is not None:
            name = spec.input_name(field)
            raise InvalidInputError(
                f"{name} applies to a fresh network and cannot change the stored "
                f"version {stored.name}:{stored.version}; remove {name} or "
                f"{spec.input_name('model')}",
                field=field,
            )
    label = f"{stored.name}:{stored.version}"
    _check_stored_size(stored, label, limits)
    stack = stack_from_forecaster(stored.model)
    if spec.cell is not None and spec.cell != stack.cell_type:
        cell = spec.input_name("cell")
        raise InvalidInputError(
            f"{cell} {spec.cell!r} differs from the {stack.cell_type!r} of "
            f"{label}; leave {cell} out",
            field="cell",
        )

    layer = reference.layer
    if layer is None:
        layer = stack.num_layers - 1
    if layer >= stack.num_layers:
        top = stack.num_layers - 1
        name = spec.input_name("model.layer")
        raise InvalidInputError(
            f"{setting(name, layer)} is out of range: "
            f"{stored.name}:{stored.version} has layers 0..{top}; send a layer "
            f"from 0 to {top}, or leave {name} out for the top layer",
            field="model.layer",
        )
    network = {
        "cell": stack.cell_type,
        "model": {"name": stored.name, "version": stored.version},
        "hidden_size": stack.hidden_size,
        "num_layers": stack.num_layers,
        "state_size": stack.state_size,
        "activation": "tanh",
        "init": "trained",
        "requested_spectral_radius": None,
        "forget_bias": None,
        "update_bias": None,
        "seed": spec.seed,
    }
    return stack, layer, network


def _check_stored_size(stored: LoadedModel, label: str, limits: Limits) -> None:
    """Raise ``LimitExceededError`` on ``model`` when the stored version's
    hidden size or parameter count is above the diagnostic limits, before
    its weights are copied into a float64 stack."""
    hidden_size = int(stored.model.core.hidden_size)
    limit = limits.max_diagnostic_hidden_size
    if hidden_size > limit:
        raise LimitExceededError(
            f"{label} has hidden_size {hidden_size}, above the diagnostic limit "
            f"of {limit}; analyse a version with hidden_size at most {limit} or "
            f"raise {HIDDEN_SIZE_SETTING}",
            field="model",
        )
    check_parameters(
        parameter_count([stored.model]), limits, network=label, field="model"
    )


def _check_features(prepared: PreparedInput, stack: CellStack) -> None:
    expected = stack.layer(0).input_size
    if prepared.x.shape[1] != expected:
        raise InvalidInputError(
            f"input has {plural(prepared.x.shape[1], 'feature')} per step but the "
            f"network reads {expected}; send rows of {plural(expected, 'value')}",
            field="input.values",
        )
