"""A 10-step forecast from a fitted model, in process and over HTTP, beside
Darts ``predict(n=10)`` and NeuralForecast ``predict()``.

- ``rnn-forecast in process``: ``build_input`` + ``run_batch`` with the last
  T + 1 closes as client history: validation, scaling, forward, prices and
  NYSE dates.
- ``rnn-forecast HTTP``: the same request to ``rnn-forecast serve`` on
  127.0.0.1, median round trip of one client (wrk when installed: clients
  that send headers and body in two writes can stall on delayed ACKs).
- Darts ``BlockRNNModel`` (same sizes, one epoch on the NFLX closes) in
  float32 and float64, and a NeuralForecast ``LSTM`` (same hidden size and
  layers) trained for 5 steps, when they are installed.

    .venv-bench/bin/python -m bench.predict [--repeats 5]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import torch

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
from bench.darts_models import fitted_darts, fitted_neuralforecast, missing_message
from bench.load import generator_name, run_load
from bench.servers import BENCH_SPEC, make_registry, start_serve, wait_ready
from bench.serving import FORECAST_PATH, request_body, warm
from models.data.bundled import load_bundled
from models.forecasting import build_input, run_batch

TARGET_IN_PROCESS = 10.0
OURS = "rnn-forecast in process"
HTTP = "rnn-forecast HTTP"


def mean_seconds(function: Callable[[], object], calls: int) -> Callable[[], float]:
    def measure() -> float:
        started = time.perf_counter()
        for _ in range(calls):
            function()
        return (time.perf_counter() - started) / calls

    return measure


def ours(registry_root: Path) -> Callable[[], float]:
    from models.registry import Registry

    loaded = Registry(registry_root).load(BENCH_SPEC.name, 1)
    dates, closes = list(loaded.tail_dates), list(loaded.tail_close)

    def forecast() -> None:
        item = build_input(loaded, BENCH_SPEC.horizon, dates, closes)
        run_batch(loaded, [item])

    return mean_seconds(forecast, 100)


def http(url: str, body: bytes) -> Callable[[], float]:
    """Median round trip of one client posting ``body`` for 2 seconds, with
    the serving bench's load generator (wrk when installed)."""
    generator = generator_name()

    def measure() -> float:
        return run_load(url + FORECAST_PATH, body, 1, 2, generator).p50

    return measure


def comparisons() -> dict[str, Callable[[], float]]:
    """Darts and NeuralForecast contenders that are installed."""
    frame = load_bundled().frame
    values = frame["close"].to_numpy()
    # both libraries need a regular frequency, so the closes get business days
    dates = pd.bdate_range(end=frame.index[-1], periods=len(values))
    found: dict[str, Callable[[], float]] = {}

    if missing := missing_message("darts"):
        print(missing)
    else:
        for dtype in ("float32", "float64"):
            model, series = fitted_darts("block", dtype, BENCH_SPEC, values, dates)
            found[f"Darts predict(n=10) {dtype}"] = mean_seconds(
                lambda model=model, series=series: model.predict(
                    n=BENCH_SPEC.horizon, series=series, verbose=False
                ),
                3,
            )

    if missing := missing_message("neuralforecast"):
        print(missing)
    else:
        table = pd.DataFrame({"unique_id": "nflx", "ds": dates, "y": values})
        forecaster = fitted_neuralforecast(BENCH_SPEC, table)
        found["NeuralForecast predict()"] = mean_seconds(forecaster.predict, 3)
    return found


def target_rows(samples: dict[str, list[float]]) -> list[list[str]]:
    rows = []
    for name in samples:
        if name in (OURS, HTTP):
            continue
        value = ratio(samples[name], samples[OURS])
        rows.append(
            [
                f"{name} / ours in process",
                f"{value:.1f}",
                f">= {TARGET_IN_PROCESS:g}",
                verdict(value, TARGET_IN_PROCESS, at_most=False),
            ]
        )
        if name.startswith("Darts"):
            value = ratio(samples[name], samples[HTTP])
            rows.append(
                [
                    f"{name} / ours over HTTP",
                    f"{value:.1f}",
                    "> 1",
                    verdict(value, 1.0, at_most=False),
                ]
            )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=5, help="measured rounds")
    parser.add_argument("--threads", type=int, default=1, help="torch threads")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    env = environment()
    print_environment(env)

    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        registry = make_registry(root / "registry")
        server = start_serve("serve", registry.root, root)
        try:
            wait_ready(server)
            body = request_body(registry.root, "history")
            warm(server, body)
            contenders = {
                OURS: ours(registry.root),
                HTTP: http(server.url, body),
                **comparisons(),
            }
            samples = interleave(contenders, args.repeats)
        finally:
            server.stop()

    rows, results = [], {}
    for name, values in samples.items():
        summary = Summary.of(values)
        relative = ratio(values, samples[OURS])
        results[name] = {"seconds": summary.to_dict(), "ratio_to_ours": relative}
        rows.append([name, format_range(summary, 1e3, 3), f"{relative:.1f}"])
    print_table(
        "10-step forecast from a fitted model",
        ["contender", "ms per forecast", "x ours in process"],
        rows,
    )
    targets = target_rows(samples)
    print_table("Targets", ["ratio", "value", "target", "verdict"], targets)
    write_json("predict", {"environment": env, "results": results, "targets": targets})


if __name__ == "__main__":
    main()
