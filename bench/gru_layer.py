"""A hand-written GRU layer and the fused GRU layer beside ``nn.GRU``: one
training batch, forward and backward, on one torch thread.

torch 2.13 on CPU runs an LSTM layer as one oneDNN kernel but a GRU layer as
about a dozen small ATen calls per time step, and autograd records each of
them. ``GRULayer`` tests whether fewer calls close the gap. Its forward
makes seven calls per step. Its backward computes every derivative factor
that does not depend on the incoming gradient for all steps at once, so the
reverse loop also makes seven calls per step, and the weight gradients are
one matrix product over all steps. The fused layer of
``models.nn.fused_gru``, which the project trains with, runs the same plan
in C++ with one loop per step for all gates. Before timing, the script
checks the gradients of both against ``nn.GRU``.

    .venv/bin/python -m bench.gru_layer [--repeats 5]
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor, nn

from bench.common import (
    Summary,
    environment,
    format_range,
    interleave,
    print_environment,
    print_table,
    ratio,
    write_json,
)
from models.nn import fused_gru

BATCHES_PER_SAMPLE = 10


class GRULayer(torch.autograd.Function):
    """One GRU layer with torch's equations and gate order (r, z, n):

    r = sigmoid(W_ir x + b_ir + W_hr h + b_hr)
    z = sigmoid(W_iz x + b_iz + W_hz h + b_hz)
    n = tanh(W_in x + b_in + r * (W_hn h + b_hn))
    h' = n + z * (h - n)
    """

    @staticmethod
    def forward(  # type: ignore[override]
        ctx: Any,
        x: Tensor,
        h0: Tensor,
        w_ih: Tensor,
        w_hh: Tensor,
        b_ih: Tensor,
        b_hh: Tensor,
    ) -> Tensor:
        """Map inputs x (T, B, I) and h0 (B, H) to the states h_1..h_T (T, B, H)."""
        steps, batch, _ = x.shape
        hidden = h0.shape[1]
        gates_x = torch.addmm(b_ih, x.reshape(steps * batch, -1), w_ih.t())
        gates_x = gates_x.view(steps, batch, 3 * hidden)
        # (T, B, 2H): the input part of r and z, plus their recurrent bias
        rz_x = gates_x[:, :, : 2 * hidden] + b_hh[: 2 * hidden]
        n_x = gates_x[:, :, 2 * hidden :]
        w_rz, w_n, b_n = (
            w_hh[: 2 * hidden].t(),
            w_hh[2 * hidden :].t(),
            b_hh[2 * hidden :],
        )

        states = x.new_empty(steps + 1, batch, hidden)
        states[0] = h0
        rz = x.new_empty(steps, batch, 2 * hidden)
        candidates = x.new_empty(steps, batch, hidden)
        n_h = x.new_empty(steps, batch, hidden)
        difference = x.new_empty(batch, hidden)
        for t in range(steps):
            h = states[t]
            torch.addmm(rz_x[t], h, w_rz, out=rz[t]).sigmoid_()
            torch.addmm(b_n, h, w_n, out=n_h[t])
            n = torch.addcmul(n_x[t], rz[t, :, :hidden], n_h[t], out=candidates[t])
            n.tanh_()
            torch.sub(h, n, out=difference)
            torch.addcmul(n, rz[t, :, hidden:], difference, out=states[t + 1])

        ctx.save_for_backward(x, w_ih, w_hh, states, rz, candidates, n_h)
        return states[1:]

    @staticmethod
    def backward(ctx: Any, d_states: Tensor) -> tuple[Tensor, ...]:  # type: ignore[override]
        """Return the gradients of x, h0, w_ih, w_hh, b_ih and b_hh."""
        x, w_ih, w_hh, states, rz, candidates, n_h = ctx.saved_tensors
        steps, batch, hidden = candidates.shape
        r, z = rz[:, :, :hidden], rz[:, :, hidden:]

        # factors independent of the incoming gradient, for all steps at once
        sigmoid_slope = rz * (1 - rz)
        factor_z = (states[:-1] - candidates) * sigmoid_slope[:, :, hidden:]
        factor_n = (1 - z) * (1 - candidates * candidates)
        factor_r = n_h * sigmoid_slope[:, :, :hidden]

        # (T, B, 3H): gradients of the recurrent gate pre-activations
        d_gates_h = d_states.new_empty(steps, batch, 3 * hidden)
        d_n = d_states.new_empty(steps, batch, hidden)
        d_h = d_states[steps - 1].clone()
        for t in range(steps - 1, -1, -1):
            if t < steps - 1:
                d_h.add_(d_states[t])
            torch.mul(d_h, factor_z[t], out=d_gates_h[t, :, hidden : 2 * hidden])
            torch.mul(d_h, factor_n[t], out=d_n[t])
            torch.mul(d_n[t], r[t], out=d_gates_h[t, :, 2 * hidden :])
            torch.mul(d_n[t], factor_r[t], out=d_gates_h[t, :, :hidden])
            d_h = torch.mm(d_gates_h[t], w_hh).addcmul_(d_h, z[t])

        d_gates_x = torch.cat((d_gates_h[:, :, : 2 * hidden], d_n), 2)
        flat_h = d_gates_h.view(steps * batch, 3 * hidden)
        flat_x = d_gates_x.view(steps * batch, 3 * hidden)
        d_w_hh = flat_h.t() @ states[:-1].reshape(steps * batch, hidden)
        d_w_ih = flat_x.t() @ x.reshape(steps * batch, -1)
        d_x = (flat_x @ w_ih).view(steps, batch, -1)
        return d_x, d_h, d_w_ih, d_w_hh, flat_x.sum(0), flat_h.sum(0)


def run_layers(core: nn.GRU, x: Tensor) -> Tensor:
    """Run the layers of ``core`` with ``GRULayer``: x (B, T, I) to the top
    layer's states (B, T, H), from zero initial states."""
    return fused_gru.run(core, x, layer=GRULayer)


def largest_gradient_gap(
    core: nn.GRU,
    head: nn.Linear,
    x: Tensor,
    y: Tensor,
    layers: Callable[[nn.GRU, Tensor], Tensor] = run_layers,
) -> float:
    """Return the largest absolute difference between the parameter
    gradients of ``nn.GRU`` and of ``layers`` for one batch."""
    parameters = [*core.parameters(), *head.parameters()]
    native = torch.autograd.grad(loss(head, core(x)[0], y), parameters)
    written = torch.autograd.grad(loss(head, layers(core, x), y), parameters)
    return max(float((a - b).abs().max()) for a, b in zip(native, written, strict=True))


def loss(head: nn.Linear, states: Tensor, y: Tensor) -> Tensor:
    """Return the mean squared error of the head on the last states
    (B, T, H) against y (B, K)."""
    return ((head(states[:, -1]) - y) ** 2).mean()


def cpu_per_batch(step: Callable[[], Tensor]) -> Callable[[], float]:
    """Wrap one forward and backward in a measure of its mean CPU seconds."""

    def measure() -> float:
        started = time.process_time()
        for _ in range(BATCHES_PER_SAMPLE):
            step().backward()
        return (time.process_time() - started) / BATCHES_PER_SAMPLE

    return measure


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=5, help="measured rounds")
    args = parser.parse_args()
    torch.set_num_threads(1)
    env = environment()
    print_environment(env)

    torch.manual_seed(0)
    core = nn.GRU(1, 64, 2, batch_first=True)
    head = nn.Linear(64, 10)
    x, y = torch.randn(64, 60, 1), torch.randn(64, 10)
    contenders = {
        "nn.GRU": cpu_per_batch(lambda: loss(head, core(x)[0], y)),
        "GRULayer": cpu_per_batch(lambda: loss(head, run_layers(core, x), y)),
    }
    gaps = {"GRULayer": largest_gradient_gap(core, head, x, y)}
    if fused_gru.load():
        contenders["fused_gru"] = cpu_per_batch(
            lambda: loss(head, fused_gru.run(core, x), y)
        )
        gaps["fused_gru"] = largest_gradient_gap(core, head, x, y, fused_gru.run)
    else:
        print("the fused GRU layer could not be built; its row is left out")
    for name, gap in gaps.items():
        print(f"largest gradient difference of {name} from nn.GRU: {gap:.2e}")

    samples = interleave(contenders, args.repeats)
    speedups = {name: ratio(samples["nn.GRU"], samples[name]) for name in gaps}
    rows = [
        [
            name,
            format_range(Summary.of(values), 1e3),
            f"{speedups[name]:.2f}" if name in speedups else "1.00",
        ]
        for name, values in samples.items()
    ]
    print_table(
        "One batch, forward and backward (B 64, T 60, H 64, 2 layers)",
        ["contender", "CPU ms per batch, median (min..max)", "nn.GRU / this"],
        rows,
    )
    write_json(
        "gru_layer",
        {
            "environment": env,
            "largest_gradient_gap": gaps,
            "seconds_per_batch": {
                name: Summary.of(values).to_dict() for name, values in samples.items()
            },
            "speedup": speedups,
        },
    )


if __name__ == "__main__":
    main()
