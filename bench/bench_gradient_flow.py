"""Latency of a gradient-flow diagnostic, in process and over HTTP.

    .venv/bin/python -m bench.bench_gradient_flow [--repeats 7] [--seq-len 200]
        [--hidden-size 64] [--cells rnn,lstm,gru] [--max-size]

For each cell, one request of T = ``--seq-len`` steps and H =
``--hidden-size`` units on N(0, 1) noise, with the Jacobian norms, is timed:

- in process: ``compute_gradient_flow`` on one torch thread, as the service's
  pool threads run it, as wall time and as the CPU time of this process,
- over HTTP: ``POST /v1/diagnostics/gradient-flow`` against ``rnn-forecast
  serve`` on 127.0.0.1 (default settings, so one torch thread per request),
  as wall time on the client, including JSON encoding and the loopback round
  trip, and as the CPU time the server process used for the request.

On a machine that other processes load, wall times grow with the load, but
the CPU time of a request on one thread stays close to its wall time on an
idle core.

Cells are measured round by round after one warm-up round, so load from other
processes hits them alike. ``--max-size`` also times the largest request the
default limits accept (LSTM, H = 256, T = 1000) in process. Figures go to
stdout as Markdown tables and to ``bench/results/gradient_flow.json``.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import torch

from bench.common import (
    Summary,
    check_repeats,
    environment,
    format_range,
    interleave,
    print_environment,
    print_table,
    write_json,
)
from bench.servers import start_serve, wait_ready
from models.gradients import GradientFlowSpec, compute_gradient_flow
from models.limits import DEFAULT_LIMITS

TARGET_SECONDS = 1.0
FLOW_PATH = "/v1/diagnostics/gradient-flow"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7, help="timed rounds")
    parser.add_argument("--seq-len", type=int, default=200, help="time steps T")
    parser.add_argument("--hidden-size", type=int, default=64, help="hidden units H")
    parser.add_argument("--cells", default="rnn,lstm,gru", help="comma-separated")
    parser.add_argument(
        "--max-size",
        action="store_true",
        help="also time LSTM, H = 256, T = 1000 in process (minutes)",
    )
    args = parser.parse_args(argv)
    check_repeats(args.repeats)
    torch.set_num_threads(1)

    cells = [cell.strip() for cell in args.cells.split(",") if cell.strip()]
    bodies = {
        cell: {"cell": cell, "hidden_size": args.hidden_size, "seq_len": args.seq_len}
        for cell in cells
    }
    env = environment()
    print_environment(env)

    in_process = interleave(
        {cell: _time_in_process(body) for cell, body in bodies.items()}, args.repeats
    )
    in_process_cpu = interleave(
        {
            cell: _time_in_process(body, time.process_time)
            for cell, body in bodies.items()
        },
        args.repeats,
    )
    over_http, server_cpu = _time_over_http(bodies, args.repeats)
    results: dict[str, Any] = {
        "environment": env,
        "request": {"seq_len": args.seq_len, "hidden_size": args.hidden_size},
        "target_seconds": TARGET_SECONDS,
        "in_process": _summaries(in_process),
        "in_process_cpu": _summaries(in_process_cpu),
        "http": _summaries(over_http),
        "http_server_cpu": _summaries(server_cpu),
    }
    _print_results(results, cells)

    if args.max_size:
        results["max_size"] = _time_max_size(args.repeats)
    write_json("gradient_flow", results)
    return 0


def _time_in_process(
    body: dict[str, Any], clock: Callable[[], float] = time.perf_counter
) -> Callable[[], float]:
    spec = GradientFlowSpec.model_validate(body)

    def measure() -> float:
        started = clock()
        compute_gradient_flow(spec).to_dict()
        return clock() - started

    return measure


def _time_over_http(
    bodies: dict[str, dict[str, Any]], repeats: int
) -> tuple[dict[str, list[float]], dict[str, list[float]]]:
    """Start a server on an empty registry and time POSTs, round by round;
    return client wall times and server CPU times."""
    with tempfile.TemporaryDirectory(prefix="bench-gradients-") as folder:
        root = Path(folder)
        server = start_serve(
            "gradient flow",
            root / "registry",
            root,
            env={"RNN_FORECAST_DATA_DIR": str(root / "data")},
        )
        try:
            wait_ready(server)
            pid = server.process.pid
            with httpx.Client(base_url=server.url, timeout=60) as client:
                wall = interleave(
                    {
                        cell: _time_post(client, body, time.perf_counter)
                        for cell, body in bodies.items()
                    },
                    repeats,
                )
                cpu = interleave(
                    {
                        cell: _time_post(client, body, lambda: _cpu_seconds(pid))
                        for cell, body in bodies.items()
                    },
                    repeats,
                )
            return wall, cpu
        finally:
            server.stop()


def _time_post(
    client: httpx.Client, body: dict[str, Any], clock: Callable[[], float]
) -> Callable[[], float]:
    def measure() -> float:
        started = clock()
        response = client.post(FLOW_PATH, json=body)
        elapsed = clock() - started
        if response.status_code != 200:
            raise RuntimeError(f"POST {FLOW_PATH} returned {response.status_code}")
        return elapsed

    return measure


def _cpu_seconds(pid: int) -> float:
    """User plus system CPU seconds of process ``pid`` and all its threads,
    from fields 14 and 15 of /proc/PID/stat (in clock ticks)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    ticks = int(fields[11]) + int(fields[12])
    return ticks / os.sysconf("SC_CLK_TCK")


def _time_max_size(repeats: int) -> dict[str, Any]:
    body = {
        "cell": "lstm",
        "hidden_size": DEFAULT_LIMITS.max_diagnostic_hidden_size,
        "seq_len": DEFAULT_LIMITS.max_seq_len,
    }
    samples = interleave({"lstm": _time_in_process(body)}, repeats)["lstm"]
    summary = Summary.of(samples)
    print_table(
        "Largest accepted request, in process (seconds)",
        ["cell", "H", "T", "median (min..max)"],
        [["lstm", body["hidden_size"], body["seq_len"], format_range(summary)]],
    )
    return {"request": body, "seconds": summary.to_dict()}


def _summaries(samples: dict[str, list[float]]) -> dict[str, dict[str, float | int]]:
    return {cell: Summary.of(values).to_dict() for cell, values in samples.items()}


def _print_results(results: dict[str, Any], cells: list[str]) -> None:
    request = results["request"]
    rows = []
    for cell in cells:
        figures = [
            Summary.from_dict(results[key][cell])
            for key in ("in_process", "in_process_cpu", "http", "http_server_cpu")
        ]
        rows.append(
            [
                cell,
                *(format_range(summary, 1000, 1) for summary in figures),
                "met" if figures[2].median < TARGET_SECONDS else "NOT met",
            ]
        )
    print_table(
        f"Gradient flow, T = {request['seq_len']}, H = {request['hidden_size']} "
        "(milliseconds, median (min..max))",
        [
            "cell",
            "in process, wall",
            "in process, CPU",
            "HTTP, client wall",
            "HTTP, server CPU",
            f"HTTP wall median < {TARGET_SECONDS:g} s",
        ],
        rows,
    )


if __name__ == "__main__":
    raise SystemExit(main())
