"""Response models of the gradient diagnostics endpoints.

The request body of ``POST /v1/diagnostics/gradient-flow`` is the model
package's ``GradientFlowSpec``, so the command line and the API accept the
same fields.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

GRADIENT_FLOW_EXAMPLE: dict[str, Any] = {
    "cell": "rnn",
    "model": None,
    "hidden_size": 1,
    "num_layers": 1,
    "state_size": 1,
    "activation": "identity",
    "init": "default",
    "requested_spectral_radius": 0.5,
    "forget_bias": None,
    "update_bias": None,
    "seed": 0,
    "layer": 0,
    "seq_len": 5,
    "input": {"source": "noise", "seed": 0, "target": "zeros"},
    "loss": 0.4343453944731191,
    "grad_norms": [
        0.0238944951,
        0.0477889902,
        0.0955779804,
        0.1911559609,
        0.3823119218,
    ],
    "cell_grad_norms": None,
    "jacobian_norms": [0.5, 0.5, 0.5, 0.5],
    "jacobian_products": [0.0625, 0.125, 0.25, 0.5, 1.0],
    "jacobian_converged": True,
    "summary": {
        "rate_per_step": 0.5,
        "log10_per_step": -0.30103,
        "fit_points": 5,
        "first_to_last_ratio": 0.0625,
        "vanish_distance": None,
        "explode_distance": None,
    },
    "spectral_radius": 0.5,
    "gate_spectral_radii": {"h": 0.5},
    "clipping": {
        "threshold": None,
        "norm_before": 1.875,
        "norm_after": 1.875,
        "clipped": False,
    },
    "param_grad_norms": {
        "cells.0.weight_ih": 0.4914,
        "cells.0.weight_hh": 0.5637,
        "cells.0.bias_ih": 0.7407,
        "cells.0.bias_hh": 0.7407,
        "head.weight": 0.3488,
        "head.bias": 1.3181,
    },
    "seconds": 0.004,
}


class StoredModelOut(BaseModel):
    """The stored version that was analysed."""

    name: str
    version: int


class GradientSummaryOut(BaseModel):
    """Rates and distances read off ``grad_norms``; distance d counts steps
    back from the last step."""

    rate_per_step: float | None = Field(
        default=None,
        description="exp(b) of the least-squares line log ||dL/dh|| = a + b*d: "
        "below 1 the gradient vanishes, above 1 it explodes",
    )
    log10_per_step: float | None = Field(
        default=None, description="b / ln 10: orders of magnitude"
    )
    fit_points: int = Field(description="Positive norms used in the fit")
    first_to_last_ratio: float = Field(description="grad_norms[0] / grad_norms[-1]")
    vanish_distance: int | None = Field(
        default=None, description="First d with ratio below 1e-3; null when none"
    )
    explode_distance: int | None = Field(
        default=None, description="First d with ratio above 1e3; null when none"
    )


class ClippingOut(BaseModel):
    """Global L2 norm of all parameter gradients before and after clipping."""

    threshold: float | None = None
    norm_before: float
    norm_after: float
    clipped: bool


class GradientFlowResponse(BaseModel):
    """Gradient norms through time for one network and sequence."""

    model_config = ConfigDict(json_schema_extra={"examples": [GRADIENT_FLOW_EXAMPLE]})

    cell: str
    model: StoredModelOut | None = Field(
        default=None, description="Null for a fresh network"
    )
    hidden_size: int
    num_layers: int
    state_size: int = Field(description="S: H, or 2H for the LSTM's (h, c)")
    activation: str
    init: str = Field(description="'default', 'orthogonal', 'identity' or 'trained'")
    requested_spectral_radius: float | None = None
    forget_bias: float | None = None
    update_bias: float | None = None
    seed: int
    layer: int = Field(description="The analysed layer")
    seq_len: int = Field(description="T")
    input: dict[str, Any] = Field(description="Source of the sequence and target")
    loss: float = Field(description="MSE of the last output against the target")
    grad_norms: list[float] = Field(
        description="||dL/dh_t|| for t = 0..T-1, oldest first, where h_t is "
        "the state after input x_t"
    )
    cell_grad_norms: list[float] | None = Field(
        default=None,
        description="LSTM only: ||dL/dc_t|| for t = 0..T-1, the total "
        "derivative, which includes the path through h_t = o_t * tanh(c_t)",
    )
    jacobian_norms: list[float] | None = Field(
        default=None,
        description="Spectral norm of ds_t/ds_(t-1) for t = 1..T-1; s = (h, c) "
        "for the LSTM",
    )
    jacobian_products: list[float | None] | None = Field(
        default=None,
        description="Product of jacobian_norms from step t+1 to T-1, aligned "
        "with grad_norms (1 at the last step); null where it overflows float64",
    )
    jacobian_converged: bool | None = None
    summary: GradientSummaryOut
    spectral_radius: float = Field(
        description="Spectral radius of the candidate block of W_h (the only "
        "block of the RNN, g of the LSTM, n of the GRU)"
    )
    gate_spectral_radii: dict[str, float] = Field(
        description="Spectral radius of each gate block of W_h"
    )
    clipping: ClippingOut
    param_grad_norms: dict[str, float] = Field(
        description="L2 norm of each parameter's gradient, after clipping"
    )
    seconds: float = Field(description="Compute time on the server")


class EpochGradients(BaseModel):
    """One training epoch's gradient statistics, before clipping."""

    epoch: int
    grad_norm: float | None = Field(
        default=None, description="Mean global L2 norm of the batches"
    )
    grad_norm_max: float | None = Field(
        default=None, description="Largest global L2 norm"
    )
    clip_fraction: float | None = Field(
        default=None, description="Fraction of batches clipped"
    )
    param_grad_norms: dict[str, float | None] = Field(
        description="Mean L2 norm of each parameter's gradient"
    )


class TrainingGradientsResponse(BaseModel):
    """Gradient statistics recorded per epoch while a version trained."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "name": "nflx",
                    "version": 1,
                    "cell": "lstm",
                    "clip_norm": 1.0,
                    "best_epoch": 2,
                    "epochs": [
                        {
                            "epoch": 1,
                            "grad_norm": 0.41,
                            "grad_norm_max": 1.37,
                            "clip_fraction": 0.05,
                            "param_grad_norms": {
                                "core.weight_hh_l0": 0.12,
                                "head.weight": 0.33,
                            },
                        }
                    ],
                }
            ]
        }
    )

    name: str
    version: int
    cell: str | None = None
    clip_norm: float | None = Field(
        default=None, description="Clipping threshold; null when off"
    )
    best_epoch: int | None = None
    epochs: list[EpochGradients]
