"""Analytic FLOP counts of the recurrent forecasters and the matmul peak.

Counts are of the matrix products and bias additions, the arithmetic a
matmul peak can be compared to. A multiply-add is 2 FLOP. The element-wise
gate functions (sigmoid, tanh, the cell update) are left out, so the counts
are a lower bound.
"""

from __future__ import annotations

import time

import torch

from models.spec import TrainingSpec

GATES = {"rnn": 1, "gru": 3, "lstm": 4}
# backward costs about two forwards: one product for the input gradients and
# one for the weight gradients per forward product
BACKWARD_FACTOR = 2


def forward_flops(cell: str, hidden: int, layers: int, steps: int, horizon: int) -> int:
    """FLOP of one window's forward pass: L layers over T steps plus the head.

    Each step of layer l multiplies its input (size 1 for the first layer, H
    above) and the previous hidden state (H) by G x H weights and adds two
    bias vectors of G x H.
    """
    gates = GATES[cell] * hidden
    total = 0
    for layer in range(layers):
        inputs = 1 if layer == 0 else hidden
        per_step = 2 * inputs * gates + 2 * hidden * gates + 2 * gates
        total += steps * per_step
    return total + 2 * hidden * horizon + horizon


def training_epoch_flops(
    spec: TrainingSpec, train_windows: int, val_windows: int
) -> float:
    """FLOP of one epoch: forward and backward on every training window, and a
    forward on every validation window."""
    forward = forward_flops(
        spec.cell, spec.hidden_size, spec.num_layers, spec.lookback, spec.horizon
    )
    return float(forward * ((1 + BACKWARD_FACTOR) * train_windows + val_windows))


def matmul_peak_gflops(size: int = 2048, repeats: int = 10) -> tuple[float, float]:
    """Best float32 GFLOP/s of ``size`` x ``size`` matrix products with the
    current torch thread count, by wall time and by process CPU time.

    On a shared machine the CPU-time figure is the one to compare with: it
    counts only the time this process ran, and with one torch thread that is
    the time one core spent on the product.
    """
    a = torch.randn(size, size)
    b = torch.randn(size, size)
    torch.mm(a, b)
    best_wall = best_cpu = float("inf")
    for _ in range(repeats):
        wall, cpu = time.perf_counter(), time.process_time()
        torch.mm(a, b)
        best_cpu = min(best_cpu, time.process_time() - cpu)
        best_wall = min(best_wall, time.perf_counter() - wall)
    flop = 2 * size**3
    return flop / best_wall / 1e9, flop / best_cpu / 1e9
