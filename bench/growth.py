"""Cost growth: epoch time against series length, forecast latency
against history length and horizon, and against the number of versions.

- Epoch time for random-walk price series of 1k to 100k points, built
  directly as arrays (the synthetic generator stops at 60k sessions), with
  the default spec (LSTM, hidden 64, 2 layers, lookback 60, batch 64). The
  windows per second column shows whether the cost per window stays flat.
- In-process forecast latency (``build_input`` + ``run_batch``) for 61 to
  5,000 history rows and for horizons 1 to 60 (a model with K = 60).
- HTTP forecast latency (median, one client) of ``latest`` from a registry
  with 1 version and one with 50 versions, round by round.

Plots go to bench/results/growth_*.png.

    .venv/bin/python -m bench.growth [--repeats 5]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import matplotlib
import numpy as np
import pandas as pd
import torch

from bench.common import (
    RESULTS_DIR,
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
from bench.load import generator_name, run_load
from bench.servers import BENCH_SPEC, make_registry, start_serve, wait_ready
from bench.serving import FORECAST_PATH, warm
from models.data.series import Series
from models.forecasting import build_input, run_batch
from models.nn.forecaster import Forecaster
from models.registry import LoadedModel
from models.spec import TrainingSpec
from models.training import _train_epoch, seed_everything, spec_windows

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

LENGTHS = (1_000, 3_000, 10_000, 30_000, 100_000)
HISTORY_ROWS = (61, 250, 1_000, 2_500, 5_000)
HORIZONS = (1, 5, 10, 20, 40, 60)
VERSION_COUNTS = (1, 50)
TARGET_VERSIONS = 1.2
Measure = Callable[[], float]


def random_walk(length: int, seed: int = 0) -> Series:
    """Build a positive random-walk price series of ``length`` business days."""
    rng = np.random.default_rng(seed)
    prices = 100.0 * np.exp(np.cumsum(rng.normal(0.0, 0.01, length)))
    dates = pd.bdate_range("1700-01-01", periods=length, name="date")
    frame = pd.DataFrame({"close": prices}, index=dates)
    return Series(frame, {"source": "bench random walk", "length": length}, "")


def epoch_measure(spec: TrainingSpec, length: int) -> tuple[Measure, int]:
    data = spec_windows(spec, random_walk(length))
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
        started = time.perf_counter()
        _train_epoch(model, optimizer, data, spec, generator, None)
        return time.perf_counter() - started

    return measure, len(data.x_train)


def epochs(spec: TrainingSpec, repeats: int) -> list[dict[str, Any]]:
    measures, windows = {}, {}
    for length in LENGTHS:
        measures[length], windows[length] = epoch_measure(spec, length)
    samples = interleave(measures, repeats)
    return [
        {
            "length": length,
            "windows": windows[length],
            "seconds": Summary.of(samples[length]).to_dict(),
            "windows_per_second": windows[length] / Summary.of(samples[length]).median,
        }
        for length in LENGTHS
    ]


def forecast_measure(loaded: LoadedModel, rows: int, horizon: int) -> Measure:
    rng = np.random.default_rng(rows)
    closes = list(100.0 * np.exp(np.cumsum(rng.normal(0.0, 0.01, rows))))
    dates = [str(d.date()) for d in pd.bdate_range("2000-01-03", periods=rows)]

    def measure() -> float:
        started = time.perf_counter()
        for _ in range(20):
            run_batch(loaded, [build_input(loaded, horizon, dates, closes)])
        return (time.perf_counter() - started) / 20

    return measure


def forecasts(root: Path, repeats: int) -> dict[str, list[dict[str, Any]]]:
    default = make_registry(root / "default").load(BENCH_SPEC.name, 1)
    long_spec = BENCH_SPEC.model_copy(update={"horizon": max(HORIZONS)})
    long = make_registry(root / "horizon60", spec=long_spec).load(BENCH_SPEC.name, 1)

    by_rows = interleave(
        {
            rows: forecast_measure(default, rows, BENCH_SPEC.horizon)
            for rows in HISTORY_ROWS
        },
        repeats,
    )
    by_horizon = interleave(
        {k: forecast_measure(long, 61, k) for k in HORIZONS}, repeats
    )
    return {
        "history_rows": [
            {"rows": rows, "seconds": Summary.of(by_rows[rows]).to_dict()}
            for rows in HISTORY_ROWS
        ],
        "horizon": [
            {"horizon": k, "seconds": Summary.of(by_horizon[k]).to_dict()}
            for k in HORIZONS
        ],
    }


def versions(root: Path, repeats: int) -> dict[int, list[float]]:
    """Median HTTP latency of one client requesting ``latest`` for 2 seconds,
    for each registry size, round by round."""
    generator = generator_name()
    servers = {}
    try:
        for count in VERSION_COUNTS:
            registry = make_registry(root / f"versions{count}", versions=count)
            servers[count] = start_serve(f"versions {count}", registry.root, root)
        for server in servers.values():
            wait_ready(server)
            warm(server, b"{}")

        def latency(count: int) -> Measure:
            url = servers[count].url + FORECAST_PATH
            return lambda: run_load(url, b"{}", 1, 2, generator).p50

        return interleave({count: latency(count) for count in VERSION_COUNTS}, repeats)
    finally:
        for server in servers.values():
            server.stop()


def plot(x: list[float], y: list[float], xlabel: str, ylabel: str, name: str) -> Path:
    figure, axes = plt.subplots(figsize=(6, 4))
    axes.plot(x, y, marker="o")
    axes.set_xlabel(xlabel)
    axes.set_ylabel(ylabel)
    axes.grid(True, alpha=0.3)
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    path = RESULTS_DIR / f"growth_{name}.png"
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=5, help="measured rounds")
    parser.add_argument("--threads", type=int, default=1, help="torch threads")
    parser.add_argument("--hidden-size", type=int, default=64)
    parser.add_argument("--num-layers", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    env = environment()
    print_environment(env)

    spec = TrainingSpec(hidden_size=args.hidden_size, num_layers=args.num_layers)
    epoch_rows = epochs(spec, args.repeats)
    with tempfile.TemporaryDirectory() as folder:
        forecast_rows = forecasts(Path(folder), args.repeats)
        version_samples = versions(Path(folder), args.repeats)

    print_table(
        f"Epoch time against series length (LSTM, hidden {spec.hidden_size}, "
        f"{spec.num_layers} layer(s), lookback {spec.lookback}, "
        f"batch {spec.batch_size})",
        ["points", "training windows", "seconds", "windows/s"],
        [
            [
                f"{r['length']:,}",
                f"{r['windows']:,}",
                format_range(Summary.from_dict(r["seconds"])),
                f"{r['windows_per_second']:,.0f}",
            ]
            for r in epoch_rows
        ],
    )
    print_table(
        "In-process forecast latency against history rows (K = 10)",
        ["history rows", "ms"],
        [
            [r["rows"], format_range(Summary.from_dict(r["seconds"]), 1e3, 3)]
            for r in forecast_rows["history_rows"]
        ],
    )
    print_table(
        "In-process forecast latency against horizon (61 rows, model K = 60)",
        ["horizon", "ms"],
        [
            [r["horizon"], format_range(Summary.from_dict(r["seconds"]), 1e3, 3)]
            for r in forecast_rows["horizon"]
        ],
    )
    version_rows = [
        [count, format_range(Summary.of(version_samples[count]), 1e3, 2)]
        for count in VERSION_COUNTS
    ]
    print_table(
        "HTTP forecast latency against stored versions",
        ["versions", "ms"],
        version_rows,
    )

    value = ratio(
        version_samples[max(VERSION_COUNTS)], version_samples[min(VERSION_COUNTS)]
    )
    per_window = [r["windows_per_second"] for r in epoch_rows]
    spread = max(per_window) / min(per_window)
    targets = [
        [
            "windows/s, fastest / slowest length (1 = linear)",
            f"{spread:.2f}",
            "close to 1",
            "met" if spread <= 1.5 else "NOT met",
        ],
        [
            "latency 50 versions / 1 version",
            f"{value:.2f}",
            f"<= {TARGET_VERSIONS} (no growth)",
            verdict(value, TARGET_VERSIONS, at_most=True),
        ],
    ]
    print_table("Targets", ["figure", "value", "target", "verdict"], targets)

    plots = [
        plot(
            [r["length"] for r in epoch_rows],
            [r["seconds"]["median"] for r in epoch_rows],
            "series length (points)",
            "epoch seconds (median)",
            "epoch",
        ),
        plot(
            [r["rows"] for r in forecast_rows["history_rows"]],
            [r["seconds"]["median"] * 1e3 for r in forecast_rows["history_rows"]],
            "history rows",
            "forecast ms (median)",
            "history",
        ),
        plot(
            [r["horizon"] for r in forecast_rows["horizon"]],
            [r["seconds"]["median"] * 1e3 for r in forecast_rows["horizon"]],
            "horizon (steps)",
            "forecast ms (median)",
            "horizon",
        ),
    ]
    for path in plots:
        print(f"plot: {path}")
    write_json(
        "growth",
        {
            "environment": env,
            "epochs": epoch_rows,
            "forecasts": forecast_rows,
            "versions": {
                str(c): Summary.of(v).to_dict() for c, v in version_samples.items()
            },
            "targets": targets,
        },
    )


if __name__ == "__main__":
    main()
