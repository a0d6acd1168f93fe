"""One training epoch on the bundled NFLX data, side by side.

Contenders, interleaved round by round for each cell (LSTM and GRU; hidden
64, 2 layers, lookback 60, horizon 10, batch 64, Adam, clipping at 1.0):

- ``rnn-forecast``: ``models.training`` running one epoch, validation
  loss included; a GRU trains on the fused layer of ``models.nn.fused_gru``;
- ``rnn-forecast, nn.GRU`` (GRU only): the same with
  ``RNN_FORECAST_FUSED_GRU=0``, so on torch's ``nn.GRU``;
- ``bare torch``: ``nn.LSTM``/``nn.GRU`` + ``nn.Linear`` in a plain loop
  doing the same arithmetic (shuffle, forward, MSE, backward, clip, Adam
  step, validation forward);
- Darts ``RNNModel`` and ``BlockRNNModel`` with the same sizes and data, in
  float32 and in float64 (the dtype Darts takes from a pandas series), when
  Darts is installed.

Every contender runs with one torch thread (``--threads``): on a shared
2-core machine two OpenMP threads per process wait on each other whenever
another process takes a core, which made epochs 5 to 15 times slower in
trials. Wall and process CPU times are both reported. The analytic GFLOP per
epoch divided by CPU seconds is set against a 2048 x 2048 float32 matmul
timed the same way. ``--profile`` adds a torch.profiler and cProfile summary
of one epoch of each cell.

    .venv-bench/bin/python -m bench.training            # with Darts
    .venv/bin/python -m bench.training --no-darts       # without
"""

from __future__ import annotations

import argparse
import cProfile
import io
import os
import pstats
import time
from collections.abc import Callable
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
from bench.darts_models import DartsEpoch, darts_missing_message
from bench.flops import matmul_peak_gflops, training_epoch_flops
from models.data.bundled import load_bundled
from models.data.windows import WindowedData, prepare_windows
from models.nn import fused_gru
from models.nn.forecaster import Forecaster
from models.spec import TrainingSpec
from models.training import _train_epoch, seed_everything

TARGET_BARE = 1.1
TARGET_DARTS = 3.0
TARGET_PEAK = 0.40
WARMUP = 1
UNFUSED = "rnn-forecast, nn.GRU"
# contenders whose arithmetic the analytic FLOP count describes exactly
FLOP_COUNTED = ("rnn-forecast", UNFUSED, "bare torch")

Measure = Callable[[], float]


def nflx_windows(spec: TrainingSpec) -> WindowedData:
    """Scaled log-return windows of the bundled NFLX closes, as ``fit`` makes."""
    prices = load_bundled().frame["close"].to_numpy()
    return prepare_windows(
        prices,
        target=spec.target,
        scaler_kind=spec.scaler,
        lookback=spec.lookback,
        horizon=spec.horizon,
        val_fraction=spec.val_fraction,
        test_fraction=spec.test_fraction,
    )


def ours(spec: TrainingSpec, data: WindowedData, *, fused: bool = True) -> Measure:
    """Build a measure of one epoch of ``models.training``, in seconds;
    ``fused=False`` switches the fused GRU layer off for the epoch."""
    generator = seed_everything(spec.seed)
    model = Forecaster(
        spec.cell,
        input_size=1,
        hidden_size=spec.hidden_size,
        num_layers=spec.num_layers,
        horizon=spec.horizon,
    )
    optimizer = torch.optim.Adam(model.parameters(), lr=spec.learning_rate)

    def measure() -> float:
        switch = os.environ.get(fused_gru.SWITCH)
        os.environ[fused_gru.SWITCH] = "1" if fused else "0"
        try:
            started = time.perf_counter()
            _train_epoch(model, optimizer, data, spec, generator, None)
            return time.perf_counter() - started
        finally:
            if switch is None:
                del os.environ[fused_gru.SWITCH]
            else:
                os.environ[fused_gru.SWITCH] = switch

    return measure


def bare(spec: TrainingSpec, data: WindowedData) -> Measure:
    """Build a measure of one epoch of a plain torch loop with the same
    arithmetic, in seconds."""
    torch.manual_seed(spec.seed)
    core_class = {"lstm": nn.LSTM, "gru": nn.GRU, "rnn": nn.RNN}[spec.cell]
    core = core_class(1, spec.hidden_size, spec.num_layers, batch_first=True)
    head = nn.Linear(spec.hidden_size, spec.horizon)
    params = [*core.parameters(), *head.parameters()]
    optimizer = torch.optim.Adam(params, lr=spec.learning_rate)
    generator = torch.Generator().manual_seed(spec.seed)
    x_train, y_train = data.x_train, data.y_train
    n = len(x_train)

    def measure() -> float:
        started = time.perf_counter()
        core.train()
        order = torch.randperm(n, generator=generator)
        for start in range(0, n, spec.batch_size):
            idx = order[start : start + spec.batch_size]
            optimizer.zero_grad(set_to_none=True)
            out, _ = core(x_train[idx])
            loss = nn.functional.mse_loss(head(out[:, -1]), y_train[idx])
            loss.backward()
            nn.utils.clip_grad_norm_(params, spec.clip_norm or float("inf"))
            optimizer.step()
        core.eval()
        with torch.inference_mode():
            out, _ = core(data.x_val)
            nn.functional.mse_loss(head(out[:, -1]), data.y_val).item()
        return time.perf_counter() - started

    return measure


def profile_epoch(spec: TrainingSpec, data: WindowedData) -> str:
    """torch.profiler and cProfile summaries of one epoch of ours."""
    measure = ours(spec, data)
    measure()

    with torch.profiler.profile(
        activities=[torch.profiler.ProfilerActivity.CPU]
    ) as prof:
        measure()
    table = prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=12)

    profiler = cProfile.Profile()
    profiler.enable()
    seconds = measure()
    profiler.disable()
    stream = io.StringIO()
    pstats.Stats(profiler, stream=stream).sort_stats("tottime").print_stats(12)

    return (
        f"one {spec.cell} epoch under cProfile: {seconds:.2f} s\n\n"
        f"torch.profiler, top operators by self CPU time:\n{table}\n"
        f"cProfile, top functions by own time:\n{stream.getvalue()}"
    )


def with_cpu_time(measure: Measure, cpu_seconds: list[float]) -> Measure:
    """Wrap ``measure`` so that each call also appends the process CPU time it
    used, which other processes on a shared machine disturb less than wall
    time."""

    def wrapped() -> float:
        started = time.process_time()
        wall = measure()
        cpu_seconds.append(time.process_time() - started)
        return wall

    return wrapped


def run_cell(
    cell: str, repeats: int, darts_kinds: list[str], peak: float
) -> dict[str, Any]:
    """Measure every contender on one cell; print and return the figures."""
    spec = TrainingSpec(cell=cell)
    data = nflx_windows(spec)
    windows = len(data.x_train)
    contenders: dict[str, Measure] = {
        "rnn-forecast": ours(spec, data),
        "bare torch": bare(spec, data),
    }
    counts = {"rnn-forecast": windows, "bare torch": windows}
    if cell == "gru":
        contenders[UNFUSED] = ours(spec, data, fused=False)
        counts[UNFUSED] = windows
    darts_fits: dict[str, list[float]] = {}
    for kind in darts_kinds:
        for dtype in ("float32", "float64"):
            epoch = DartsEpoch(kind, dtype, spec, data)
            contenders[epoch.label] = epoch.measure
            counts[epoch.label] = epoch.windows
            darts_fits[epoch.label] = epoch.fit_seconds

    cpu: dict[str, list[float]] = {name: [] for name in contenders}
    timed = {name: with_cpu_time(m, cpu[name]) for name, m in contenders.items()}
    samples = interleave(timed, repeats, warmup=WARMUP)
    flops = training_epoch_flops(spec, windows, len(data.x_val))

    results: dict[str, Any] = {}
    rows = []
    for name, values in samples.items():
        summary = Summary.of(values)
        cpu_summary = Summary.of(cpu[name][WARMUP:])
        per_window = summary.median / counts[name] * 1e6
        relative = ratio(values, samples["rnn-forecast"])
        counted = name in FLOP_COUNTED
        gflops = flops / cpu_summary.median / 1e9 if counted else None
        results[name] = {
            "seconds": summary.to_dict(),
            "cpu_seconds": cpu_summary.to_dict(),
            "windows": counts[name],
            "us_per_window": per_window,
            "ratio_to_ours": relative,
            "gflops_per_cpu_second": gflops,
        }
        if name in darts_fits:
            results[name]["fit_seconds"] = Summary.of(
                darts_fits[name][WARMUP:]
            ).to_dict()
        rows.append(
            [
                name,
                format_range(summary),
                format_range(cpu_summary),
                counts[name],
                f"{per_window:.0f}",
                f"{relative:.2f}",
                f"{gflops:.2f} ({gflops / peak:.1%})" if gflops else "",
            ]
        )

    print_table(
        f"{cell.upper()} epoch: {windows} training windows, "
        f"{flops / 1e9:.1f} GFLOP (analytic)",
        [
            "contender",
            "wall s, median (min..max)",
            "CPU s, median (min..max)",
            "windows",
            "us/window",
            "x ours",
            "GFLOP per CPU s (of peak)",
        ],
        rows,
    )
    return {
        "windows": windows,
        "gflop": flops / 1e9,
        "contenders": results,
        "samples": samples,
    }


def cpu_per_window(first: dict[str, Any], second: dict[str, Any]) -> float:
    """Ratio of median CPU seconds per window of two contenders."""
    return (first["cpu_seconds"]["median"] / first["windows"]) / (
        second["cpu_seconds"]["median"] / second["windows"]
    )


def targets(cells: dict[str, Any], peak: float) -> list[list[str]]:
    """List one row per target and cell: the ratio and whether it is met."""
    rows = []
    for cell, result in cells.items():
        samples = result["samples"]
        contenders = result["contenders"]
        value = ratio(samples["rnn-forecast"], samples["bare torch"])
        rows.append(
            [
                cell,
                "ours / bare torch, wall",
                f"{value:.3f}",
                f"<= {TARGET_BARE}",
                verdict(value, TARGET_BARE, at_most=True),
            ]
        )
        value = cpu_per_window(contenders["rnn-forecast"], contenders["bare torch"])
        rows.append(
            [
                cell,
                "ours / bare torch, CPU",
                f"{value:.3f}",
                f"<= {TARGET_BARE}",
                verdict(value, TARGET_BARE, at_most=True),
            ]
        )
        if UNFUSED in contenders:
            # the loop's own overhead, with the same nn.GRU as the bare loop
            value = cpu_per_window(contenders[UNFUSED], contenders["bare torch"])
            rows.append(
                [
                    cell,
                    "ours on nn.GRU / bare torch, CPU",
                    f"{value:.3f}",
                    f"<= {TARGET_BARE}",
                    verdict(value, TARGET_BARE, at_most=True),
                ]
            )
        ours_per_window = contenders["rnn-forecast"]["us_per_window"]
        for name in samples:
            if name.startswith("darts") and name.endswith("float64"):
                value = contenders[name]["us_per_window"] / ours_per_window
                cpu = cpu_per_window(contenders[name], contenders["rnn-forecast"])
                for basis, figure in (("wall", value), ("CPU", cpu)):
                    rows.append(
                        [
                            cell,
                            f"{name} / ours, per window, {basis}",
                            f"{figure:.2f}",
                            f">= {TARGET_DARTS}",
                            verdict(figure, TARGET_DARTS, at_most=False),
                        ]
                    )
        share = contenders["rnn-forecast"]["gflops_per_cpu_second"] / peak
        rows.append(
            [
                cell,
                "ours GFLOP per CPU s / matmul peak",
                f"{share:.1%}",
                f">= {TARGET_PEAK:.0%}",
                verdict(share, TARGET_PEAK, at_most=False),
            ]
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=5, help="measured rounds")
    parser.add_argument("--cells", default="lstm,gru", help="comma-separated cells")
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch intra-op threads for every contender and the matmul peak",
    )
    parser.add_argument("--no-darts", action="store_true", help="skip Darts rows")
    parser.add_argument(
        "--darts-models",
        default="rnn,block",
        help="Darts models: rnn (RNNModel), block (BlockRNNModel)",
    )
    parser.add_argument(
        "--profile", action="store_true", help="also profile one epoch of each cell"
    )
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    env = environment()
    print_environment(env)
    # built or loaded here, so that no measured epoch includes the build
    env["fused_gru"] = fused_gru.load()
    print(
        "fused GRU layer: "
        + ("loaded" if env["fused_gru"] else "not built, GRU rows use nn.GRU")
    )
    darts_kinds: list[str] = []
    if not args.no_darts:
        missing = darts_missing_message()
        if missing:
            print(missing)
        else:
            darts_kinds = args.darts_models.split(",")

    peak_wall, peak = matmul_peak_gflops()
    print(
        f"float32 matmul peak (2048 x 2048, {torch.get_num_threads()} threads): "
        f"{peak:.1f} GFLOP per CPU second ({peak_wall:.1f} per wall second)"
    )

    cells = {
        cell: run_cell(cell, args.repeats, darts_kinds, peak)
        for cell in args.cells.split(",")
    }
    rows = targets(cells, peak)
    print_table("Targets", ["cell", "ratio", "value", "target", "verdict"], rows)

    payload: dict[str, Any] = {
        "environment": env,
        "matmul_peak_gflops_per_cpu_second": peak,
        "matmul_peak_gflops_per_wall_second": peak_wall,
        "cells": cells,
        "targets": rows,
    }
    if args.profile:
        texts = []
        for cell in cells:
            spec = TrainingSpec(cell=cell)
            texts.append(profile_epoch(spec, nflx_windows(spec)))
            print("\n" + texts[-1])
        payload["profile"] = "\n".join(texts)
    write_json("training", payload)


if __name__ == "__main__":
    main()
