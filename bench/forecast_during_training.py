"""Forecast latency of ``rnn-forecast serve`` while a training job runs.

The script starts the server on 127.0.0.1 with the in-host runner. Each
round times sequential forecasts while the server is idle, then while a
training job of the default spec (LSTM, hidden 64, 2 layers, lookback 60)
trains in a worker process. It prints the median, p90, p99 and max of each
phase in milliseconds::

    python -m bench.forecast_during_training [--requests 75] [--rounds 4]
"""

from __future__ import annotations

import argparse
import os
import platform
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from models.pipeline import train_and_register
from models.registry import Registry
from models.spec import TrainingSpec

ROOT = Path(__file__).resolve().parents[1]
SERVED_SPEC = TrainingSpec(name="nflx", epochs=1)
# long enough to outlast the measurement; it is cancelled afterwards
TRAINING_JOB = {"name": "load", "epochs": 500, "patience": None}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_server(
    registry: Path, data_dir: Path, log: Path
) -> tuple[subprocess.Popen[bytes], str]:
    """Start ``rnn-forecast serve`` on a free port; return it and its URL."""
    env = {
        **os.environ,
        "RNN_FORECAST_REGISTRY": str(registry),
        "RNN_FORECAST_DATA_DIR": str(data_dir),
        "RNN_FORECAST_LOG_LEVEL": "WARNING",
    }
    port = free_port()
    with open(log, "wb") as handle:
        process = subprocess.Popen(
            [sys.executable, "-m", "models.cli", "serve", "--port", str(port)],
            cwd=ROOT,
            env=env,
            stdout=handle,
            stderr=subprocess.STDOUT,
        )
    return process, f"http://127.0.0.1:{port}"


def wait_ready(client: httpx.Client, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if client.get("/v1/health").status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.2)
    raise RuntimeError(f"the server did not start within {timeout} s")


def time_forecasts(client: httpx.Client, requests: int) -> list[float]:
    """Time ``requests`` sequential forecasts of 10 days, in milliseconds."""
    samples = []
    for _ in range(requests):
        started = time.perf_counter()
        response = client.post("/v1/models/nflx/forecast", json={"horizon": 10})
        samples.append((time.perf_counter() - started) * 1000)
        response.raise_for_status()
    return samples


def wait_training(client: httpx.Client, href: str, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = client.get(href).json()
        if job["status"] == "running" and (job["progress"] or {}).get("epoch", 0):
            return
        if job["status"] not in ("queued", "running"):
            raise RuntimeError(f"the training job ended early: {job}")
        time.sleep(0.2)
    raise RuntimeError(f"the training job did not start within {timeout} s")


def percentile(samples: list[float], fraction: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def print_row(phase: str, samples: list[float]) -> None:
    print(
        f"{phase:<18}{len(samples):>6}{statistics.median(samples):>10.1f}"
        f"{percentile(samples, 0.9):>9.1f}{percentile(samples, 0.99):>9.1f}"
        f"{max(samples):>9.1f}"
    )


def measure_round(client: httpx.Client, requests: int) -> tuple[list[float], ...]:
    """Time ``requests`` forecasts idle, then as many during a training job;
    cancel the job and wait until it has ended."""
    idle = time_forecasts(client, requests)

    job = client.post("/v1/training-jobs", json=TRAINING_JOB).json()
    wait_training(client, job["href"])
    busy = time_forecasts(client, requests)
    still = client.get(job["href"]).json()
    client.delete(job["href"])
    if still["status"] != "running":
        raise RuntimeError(f"the job stopped during the measurement: {still}")

    deadline = time.monotonic() + 60
    while client.get(job["href"]).json()["status"] == "running":
        if time.monotonic() > deadline:
            raise RuntimeError(f"job {job['id']} did not stop within 60 s")
        time.sleep(0.2)
    return idle, busy


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=75, help="per phase")
    parser.add_argument(
        "--rounds",
        type=int,
        default=4,
        help="idle and training phases alternate this many times, so that "
        "load from other processes hits both phases alike",
    )
    args = parser.parse_args()

    idle: list[float] = []
    busy: list[float] = []
    with tempfile.TemporaryDirectory(prefix="bench-jobs-") as tmp:
        folder = Path(tmp)
        train_and_register(SERVED_SPEC, Registry(folder / "registry"))
        server, url = start_server(folder / "registry", folder / "data", folder / "log")
        client = httpx.Client(base_url=url, timeout=30)
        try:
            wait_ready(client)
            time_forecasts(client, 20)
            for _ in range(args.rounds):
                idle_round, busy_round = measure_round(client, args.requests)
                idle += idle_round
                busy += busy_round
        finally:
            client.close()
            server.terminate()
            server.wait(timeout=30)

    load = ", ".join(f"{value:.1f}" for value in os.getloadavg())
    print(
        f"{platform.machine()}, {os.cpu_count()} CPUs, Python "
        f"{platform.python_version()}, load average {load} at the end; "
        f"{args.rounds} rounds of {args.requests} forecasts per phase"
    )
    print(f"{'phase':<18}{'n':>6}{'median':>10}{'p90':>9}{'p99':>9}{'max':>9}")
    print_row("idle", idle)
    print_row("during training", busy)


if __name__ == "__main__":
    main()
