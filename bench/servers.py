"""Benchmark servers on 127.0.0.1: a bench registry, ``rnn-forecast serve``
and the bare app as subprocesses, and their resident memory."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import httpx
import torch

from bench.ports import free_port
from models.data.bundled import load_bundled
from models.pipeline import train_and_register
from models.registry import Registry
from models.spec import TrainingSpec

ROOT = Path(__file__).resolve().parents[1]
HOST = "127.0.0.1"
# the served forecaster: the default spec (LSTM, hidden 64, 2 layers,
# lookback 60, horizon 10); one epoch, because only its speed matters here
BENCH_SPEC = TrainingSpec(name="nflx", epochs=1)


def make_registry(
    root: Path, versions: int = 1, spec: TrainingSpec = BENCH_SPEC
) -> Registry:
    """A registry under ``root`` with ``versions`` versions of ``spec.name``:
    one trained version and copies of its weights and metadata."""
    registry = Registry(root)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        train_and_register(spec, registry, series=load_bundled())
    finally:
        torch.set_num_threads(threads)

    loaded = registry.load(spec.name, 1)
    metadata = registry.metadata(spec.name, 1)
    for _ in range(versions - 1):
        registry.write(spec.name, loaded.model.state_dict(), metadata)
    return registry


@dataclass
class Server:
    """A server subprocess, its URL and the file its output goes to."""

    label: str
    process: subprocess.Popen[bytes]
    url: str
    log: IO[bytes]
    started_at: float

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.log.close()

    def cpu_seconds(self) -> float:
        """User plus system CPU seconds of the server process so far, from
        fields 14 and 15 of /proc/PID/stat."""
        fields = Path(f"/proc/{self.process.pid}/stat").read_text().split()
        return (int(fields[13]) + int(fields[14])) / os.sysconf("SC_CLK_TCK")

    def rss_mb(self) -> float:
        """Resident memory of the server process in MB (10^6 bytes), from the
        VmRSS line (in KiB) of /proc/PID/status."""
        status = Path(f"/proc/{self.process.pid}/status").read_text()
        for line in status.splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024 / 1e6
        raise RuntimeError(f"no VmRSS line for pid {self.process.pid}")


def start(label: str, args: list[str], env: dict[str, str], log_dir: Path) -> Server:
    """Start ``python args...`` from the repository root; output goes to
    ``log_dir/<label>.log``."""
    log = open(log_dir / f"{label.replace(' ', '_')}.log", "wb")
    started = time.perf_counter()
    process = subprocess.Popen(
        [sys.executable, *args],
        cwd=ROOT,
        env={**os.environ, **env},
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    port = args[args.index("--port") + 1]
    return Server(label, process, f"http://{HOST}:{port}", log, started)


def start_serve(
    label: str, registry: Path, log_dir: Path, env: dict[str, str] | None = None
) -> Server:
    """``rnn-forecast serve`` on a free port, reading ``registry``."""
    settings = {"RNN_FORECAST_REGISTRY": str(registry)}
    args = ["-m", "models.cli", "serve", "--host", HOST, "--port", str(free_port())]
    return start(label, args, {**settings, **(env or {})}, log_dir)


def start_bare(label: str, response_file: Path, log_dir: Path) -> Server:
    """Start the bare app on a free port, returning ``response_file``."""
    args = ["-m", "bench.bare_app", "--port", str(free_port())]
    return start(label, [*args, "--response", str(response_file)], {}, log_dir)


def wait_ready(server: Server, timeout: float = 120.0) -> None:
    """Poll ``/v1/health`` until it returns 200."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(
                f"{server.label} exited with code {server.process.returncode}; "
                f"see {server.log.name}"
            )
        try:
            if httpx.get(f"{server.url}/v1/health", timeout=5).status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.05)
    raise RuntimeError(f"{server.label} did not start within {timeout} s")
