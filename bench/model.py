"""The served forecaster's forward pass beside a bare ``nn.LSTM`` + ``nn.Linear``.

Both have the bench spec's sizes (LSTM, hidden 64, 2 layers, lookback 60,
horizon 10), run under ``torch.inference_mode`` with the server's one torch
thread, and take turns round by round. The served forecaster runs as the
server runs it, through ``Forecaster.infer`` on the compiled inference
kernel, and once more with the kernel switched off, on torch's recurrent
operator. Also times ``run_batch``, the whole in-process forecast of the
served path (scaling, forward, prices, dates), and the bare model on a
window of one step, whose time is the per-call cost of torch's recurrent
operator (its oneDNN setup) with almost no arithmetic.

Each row also gives the arithmetic rate, the analytic FLOP of its windows
(``bench.flops``) over the median process CPU time per call, against the
float32 matmul peak per CPU second measured in the same run with the same
thread count: how close a batch comes to the physical limit on the cost
of a row. CPU time, unlike wall time, barely moves when other processes
share the cores.

    .venv/bin/python -m bench.model [--repeats 5]
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch import nn

from bench.common import (
    Summary,
    environment,
    format_range,
    interleave,
    print_environment,
    print_table,
    ratio,
    verdict,
    write_json,
)
from bench.flops import forward_flops, matmul_peak_gflops
from bench.servers import BENCH_SPEC, make_registry
from models.forecasting import build_input, run_batch
from models.nn import infer_kernel
from models.registry import LoadedModel

TARGET = 1.2
CALLS = {1: 300, 16: 40, 256: 10}
# the contender whose window is one step long; the others run T = lookback
ONE_STEP = "bare LSTM + Linear, T = 1"
TORCH_OPERATOR = "served forecaster, torch operator"


class Bare(nn.Module):
    """``nn.LSTM`` and ``nn.Linear`` of the same sizes, nothing else."""

    def __init__(self, hidden: int, layers: int, horizon: int) -> None:
        super().__init__()
        self.core = nn.LSTM(1, hidden, layers, batch_first=True)
        self.head = nn.Linear(hidden, horizon)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out, _ = self.core(x)
        return self.head(out[:, -1])


def per_call(
    function: Callable[[], object], calls: int, cpu: list[float]
) -> Callable[[], float]:
    """Wrap ``function`` in a measure of its mean wall seconds per call over
    ``calls`` calls. Each measure also appends the mean process CPU seconds
    per call to ``cpu``."""

    def measure() -> float:
        with torch.inference_mode():
            started, cpu_started = time.perf_counter(), time.process_time()
            for _ in range(calls):
                function()
            cpu.append((time.process_time() - cpu_started) / calls)
            return (time.perf_counter() - started) / calls

    return measure


def without_kernel(function: Callable[[], float]) -> Callable[[], float]:
    """Run a measure with the inference kernel switched off."""

    def measure() -> float:
        os.environ[infer_kernel.SWITCH] = "0"
        try:
            return function()
        finally:
            del os.environ[infer_kernel.SWITCH]

    return measure


Measures = dict[str, Callable[[], float]]


def contenders(
    loaded: LoadedModel, batch: int, cpu: dict[str, list[float]]
) -> Measures:
    """Build the measures of one batch size. Each measure appends its CPU
    seconds per call to ``cpu[name]``."""
    spec = BENCH_SPEC
    bare = Bare(spec.hidden_size, spec.num_layers, spec.horizon).eval()
    bare.load_state_dict(loaded.model.state_dict())
    x = torch.randn(batch, spec.lookback, 1)
    one_step = torch.randn(batch, 1, 1)
    item = build_input(loaded, spec.horizon)
    calls = CALLS[batch]
    functions: dict[str, Callable[[], object]] = {
        "served forecaster": lambda: loaded.model.infer(x),
        TORCH_OPERATOR: lambda: loaded.model.infer(x),
        "bare LSTM + Linear": lambda: bare(x),
        ONE_STEP: lambda: bare(one_step),
        "run_batch (whole forecast)": lambda: run_batch(loaded, [item] * batch),
    }
    measures = {
        name: per_call(function, calls, cpu.setdefault(name, []))
        for name, function in functions.items()
    }
    measures[TORCH_OPERATOR] = without_kernel(measures[TORCH_OPERATOR])
    return measures


def window_flops(name: str) -> int:
    """Analytic FLOP of one window of the contender ``name``."""
    spec = BENCH_SPEC
    steps = 1 if name == ONE_STEP else spec.lookback
    return forward_flops(
        spec.cell, spec.hidden_size, spec.num_layers, steps, spec.horizon
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=5, help="measured rounds")
    parser.add_argument("--threads", type=int, default=1, help="torch threads")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if infer_kernel.SWITCH in os.environ:
        parser.error(f"unset {infer_kernel.SWITCH}: this bench switches the kernel")
    if not infer_kernel.load():
        parser.error("the inference kernel could not be built; see the warning")
    env = environment()
    print_environment(env)
    peak = matmul_peak_gflops()[1]
    print(f"float32 matmul peak: {peak:.1f} GFLOP per CPU second")

    with tempfile.TemporaryDirectory() as folder:
        registry = make_registry(Path(folder) / "registry")
        loaded = registry.load(BENCH_SPEC.name, 1)

    results: dict[str, Any] = {}
    rows, targets = [], []
    for batch in CALLS:
        cpu: dict[str, list[float]] = {}
        samples = interleave(contenders(loaded, batch, cpu), args.repeats)
        base = samples["bare LSTM + Linear"]
        for name, values in samples.items():
            summary = Summary.of(values)
            throughput = batch / summary.median
            cpu_per_call = statistics.median(cpu[name][-args.repeats :])
            gflops = window_flops(name) * batch / cpu_per_call / 1e9
            relative = ratio(values, base)
            results[f"{name} @ {batch}"] = {
                "batch": batch,
                "seconds_per_call": summary.to_dict(),
                "windows_per_second": throughput,
                "cpu_seconds_per_call": cpu_per_call,
                "gflop_per_cpu_second": gflops,
                "share_of_peak": gflops / peak,
                "ratio_to_bare": relative,
            }
            rows.append(
                [
                    name,
                    batch,
                    format_range(summary, 1e3, 3),
                    f"{throughput:,.0f}",
                    f"{gflops:.1f} ({gflops / peak:.0%})",
                    f"{relative:.3f}",
                ]
            )
        if batch != 1:
            continue
        value = ratio(samples["served forecaster"], base)
        targets.append(
            [
                f"served forecaster / bare @ batch {batch}",
                f"{value:.3f}",
                f"<= {TARGET}",
                verdict(value, TARGET, at_most=True),
            ]
        )

    print_table(
        "Forward pass (LSTM, hidden 64, 2 layers, T = 60, K = 10)",
        [
            "contender",
            "batch",
            "ms per call",
            "windows/s",
            "GFLOP per CPU s (of peak)",
            "x bare",
        ],
        rows,
    )
    print_table("Targets", ["ratio", "value", "target", "verdict"], targets)
    summary = {"environment": env, "matmul_peak_gflops": peak, "results": results}
    write_json("model", {**summary, "targets": targets})


if __name__ == "__main__":
    main()
