"""Spectral norms of the one-step Jacobians ds_t/ds_{t-1} of a recurrent cell.

For a cell s_t = f(x_t, s_{t-1}) the Jacobian J_t = ds_t/ds_{t-1} (S, S) is
the factor by which backpropagation through time multiplies the gradient at
each step: dL/ds_{t-1} = J_t^T dL/ds_t. Its spectral norm ||J_t||_2 (the
largest singular value) bounds how much one step can grow the gradient, and
the product of the norms over k steps bounds the growth over k steps.

The state s is h for the RNN and the GRU (S = H) and the pair (h, c) for the
LSTM (S = 2H), because the LSTM's gradient also flows through c_t.

Two methods compute the norms, both from autograd:

- ``explicit``, for S <= ``EXPLICIT_MAX_STATE``: J_t is built row by row
  with batched vector-Jacobian products, and sigma_max^2 is the largest
  eigenvalue of J_t J_t^T (``torch.linalg.eigvalsh``). Cost O(T * S^3).
- ``lanczos``, for larger S: J_t is never formed. Autograd gives J_t v (a
  double backward pass) and J_t^T u (a backward pass) for every step at
  once, and Lanczos iteration on J_t^T J_t with full reorthogonalisation
  finds its largest eigenvalue. After S iterations the Krylov space is the
  whole space and the value is exact up to rounding; it usually meets
  ``TOLERANCE`` in far fewer. Cost O(T * S * (G*H*(H+F) + k*S)) for k
  iterations.

The steps are rows of one batch in both methods, since the cells treat rows
independently. A ``should_stop`` check runs before each chunk of steps and,
for ``lanczos``, before each iteration, and cancels with
``ComputationCancelled``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import torch
from torch import Tensor

from models.cancellation import StopCheck, stop_if_requested
from models.nn.cells import LSTMCell, RecurrentCell

logger = logging.getLogger(__name__)

EXPLICIT_MAX_STATE = 128
MAX_ITERATIONS = 96
TOLERANCE = 1e-12
CHECK_EVERY = 4
# Bound on the float64 working memory per chunk of steps: the Jacobians
# (steps * S * S) or the Lanczos basis (steps * iterations * S).
CHUNK_BYTES = 32 * 2**20
COMPUTATION = "the Jacobian norm computation"

LinearMap = Callable[[Tensor], Tensor]
Method = Literal["auto", "explicit", "lanczos"]


@dataclass(frozen=True)
class JacobianNorms:
    """||J_t||_2 (N,) for each step, whether the method met ``TOLERANCE``
    (always True for ``explicit``) and the Lanczos iterations run (0 for
    ``explicit``)."""

    norms: Tensor
    converged: bool
    iterations: int


def step_jacobian_norms(
    cell: RecurrentCell,
    inputs: Tensor,
    previous: Tensor,
    *,
    method: Method = "auto",
    seed: int = 0,
    should_stop: StopCheck | None = None,
) -> JacobianNorms:
    """Spectral norm of ds_t/ds_{t-1} at each of N steps.

    Shapes: ``inputs`` (N, F) contains x_t and ``previous`` (N, S) contains
    s_{t-1}, so row n gives J_n = d cell(x_n, s_{n-1}) / d s_{n-1} (S, S).
    For an LSTM, S = 2H and a row of ``previous`` is h_{t-1} followed by
    c_{t-1}. ``method="auto"`` picks ``explicit`` for S <=
    ``EXPLICIT_MAX_STATE``. Returns ``norms`` (N,) in float64; ``seed``
    draws the Lanczos start vectors. Raises ``ComputationCancelled`` when
    ``should_stop`` returns True before a chunk of steps or a Lanczos
    iteration.
    """
    state_size = previous.shape[1]
    if method == "auto":
        method = "explicit" if state_size <= EXPLICIT_MAX_STATE else "lanczos"
    if method == "explicit":
        return _explicit_norms(cell, inputs, previous, should_stop)
    if method == "lanczos":
        return _lanczos_norms(cell, inputs, previous, seed, should_stop)
    raise ValueError(
        f"step_jacobian_norms: method must be 'auto', 'explicit' or 'lanczos', "
        f"got {method!r}"
    )


def _explicit_norms(
    cell: RecurrentCell,
    inputs: Tensor,
    previous: Tensor,
    should_stop: StopCheck | None,
) -> JacobianNorms:
    state_size = previous.shape[1]
    chunk = max(1, CHUNK_BYTES // (8 * state_size * state_size))
    identity = torch.eye(state_size, dtype=torch.float64)

    parts: list[Tensor] = []
    for start in range(0, previous.shape[0], chunk):
        stop_if_requested(should_stop, COMPUTATION)
        rows = previous[start : start + chunk]
        with torch.enable_grad():
            state = rows.detach().clone().requires_grad_(True)
            output = _step(cell, inputs[start : start + chunk].detach(), state)
        # row i of every J_n at once: grad_outputs e_i (S, N, S) -> (S, N, S)
        basis = identity[:, None, :].expand(state_size, rows.shape[0], state_size)
        (grads,) = torch.autograd.grad(output, state, basis, is_grads_batched=True)
        jacobians = grads.transpose(0, 1)
        gram = jacobians @ jacobians.mT
        parts.append(torch.linalg.eigvalsh(gram)[:, -1].clamp_min(0.0).sqrt())
    return JacobianNorms(norms=torch.cat(parts), converged=True, iterations=0)


def _lanczos_norms(
    cell: RecurrentCell,
    inputs: Tensor,
    previous: Tensor,
    seed: int,
    should_stop: StopCheck | None,
) -> JacobianNorms:
    state_size = previous.shape[1]
    iterations = min(state_size, MAX_ITERATIONS)
    chunk = max(1, CHUNK_BYTES // (8 * iterations * state_size))
    generator = torch.Generator().manual_seed(seed)

    parts: list[Tensor] = []
    converged, used = True, 0
    for start in range(0, previous.shape[0], chunk):
        stop = start + chunk
        jv, jtv = _linear_maps(cell, inputs[start:stop], previous[start:stop])
        result = _lanczos_max_eigenvalue(
            jv, jtv, previous[start:stop].shape, iterations, generator, should_stop
        )
        parts.append(result.values.clamp_min(0.0).sqrt())
        converged = converged and result.converged
        used = max(used, result.iterations)

    if not converged:
        logger.warning(
            "Jacobian norms did not reach relative tolerance %g in %d iterations",
            TOLERANCE,
            used,
        )
    return JacobianNorms(norms=torch.cat(parts), converged=converged, iterations=used)


def _linear_maps(
    cell: RecurrentCell, inputs: Tensor, previous: Tensor
) -> tuple[LinearMap, LinearMap]:
    """Return v -> J v and u -> J^T u for a batch of steps (N, S) -> (N, S)."""
    with torch.enable_grad():
        state = previous.detach().clone().requires_grad_(True)
        output = _step(cell, inputs.detach(), state)
        # J^T u is linear in u, so differentiating it against u gives J v
        probe = torch.zeros_like(output, requires_grad=True)
        (transposed,) = torch.autograd.grad(output, state, probe, create_graph=True)

    def jv(v: Tensor) -> Tensor:
        (result,) = torch.autograd.grad(transposed, probe, v, retain_graph=True)
        return result

    def jtv(u: Tensor) -> Tensor:
        (result,) = torch.autograd.grad(output, state, u, retain_graph=True)
        return result

    return jv, jtv


def _step(cell: RecurrentCell, inputs: Tensor, state: Tensor) -> Tensor:
    """Run one cell step on flat states (N, S) -> (N, S)."""
    if isinstance(cell, LSTMCell):
        h, c = state.chunk(2, dim=1)
        h_next, c_next = cell(inputs, (h, c))
        return torch.cat([h_next, c_next], dim=1)
    return cell(inputs, state)


@dataclass(frozen=True)
class _Eigenvalues:
    values: Tensor
    converged: bool
    iterations: int


def _lanczos_max_eigenvalue(
    jv: LinearMap,
    jtv: LinearMap,
    shape: torch.Size,
    iterations: int,
    generator: torch.Generator,
    should_stop: StopCheck | None,
) -> _Eigenvalues:
    """Largest eigenvalue of J^T J (N,) for each of N independent rows."""
    batch, size = shape
    basis = torch.zeros(batch, iterations, size, dtype=torch.float64)
    alphas = torch.zeros(batch, iterations, dtype=torch.float64)
    betas = torch.zeros(batch, iterations, dtype=torch.float64)

    v = torch.randn(batch, size, dtype=torch.float64, generator=generator)
    v = v / v.norm(dim=1, keepdim=True)
    v_previous = torch.zeros_like(v)
    beta_previous = torch.zeros(batch, dtype=torch.float64)
    estimate = torch.full((batch,), -1.0, dtype=torch.float64)

    for j in range(iterations):
        stop_if_requested(should_stop, COMPUTATION)
        basis[:, j] = v
        w = jtv(jv(v))
        alpha = (w * v).sum(dim=1)
        w = w - alpha[:, None] * v - beta_previous[:, None] * v_previous

        # two passes of Gram-Schmidt against the whole basis keep it orthogonal
        done = basis[:, : j + 1]
        for _ in range(2):
            w = w - torch.einsum(
                "bk,bks->bs", torch.einsum("bks,bs->bk", done, w), done
            )
        beta = w.norm(dim=1)

        # a vanishing residual means the Krylov space is exhausted: stop the row
        scale = torch.maximum(alphas[:, : j + 1].abs().amax(dim=1), alpha.abs())
        alive = beta > 1e-13 * scale
        beta = torch.where(alive, beta, torch.zeros_like(beta))
        v_next = torch.where(
            alive[:, None], w / beta.clamp_min(1e-300)[:, None], torch.zeros_like(w)
        )
        alphas[:, j], betas[:, j] = alpha, beta
        v_previous, v, beta_previous = v, v_next, beta

        last = j == iterations - 1
        if j % CHECK_EVERY == CHECK_EVERY - 1 or last:
            current = _tridiagonal_max(alphas[:, : j + 1], betas[:, :j])
            change = (current - estimate).abs()
            if bool((change <= TOLERANCE * current.abs()).all()) or not bool(
                alive.any()
            ):
                return _Eigenvalues(current, True, j + 1)
            estimate = current
            if last:
                # S iterations span the whole space, so the value is exact
                exact = iterations == size
                return _Eigenvalues(current, exact, j + 1)
    raise RuntimeError("Lanczos iteration ended without a result")  # unreachable


def _tridiagonal_max(alphas: Tensor, betas: Tensor) -> Tensor:
    """Largest eigenvalue of each symmetric tridiagonal matrix (N, k, k)."""
    matrix = torch.diag_embed(alphas)
    if betas.shape[1] > 0:
        matrix = matrix + torch.diag_embed(betas, 1) + torch.diag_embed(betas, -1)
    return torch.linalg.eigvalsh(matrix)[:, -1]
