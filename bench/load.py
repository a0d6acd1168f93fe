"""Closed-loop HTTP load on 127.0.0.1: N clients each POST the same body,
one request at a time, for a fixed number of seconds.

``wrk`` (Debian package ``wrk``) is used when it is on PATH, because a C
client takes less of a small machine's CPU from the server under test.
Otherwise an asyncio + httpx client in this process does the same job.
Every contender of one run gets the same generator.
"""

from __future__ import annotations

import asyncio
import re
import shutil
import statistics
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import httpx

LOOPBACK = "127.0.0.1"
MAX_CLIENTS = 256
MAX_SECONDS = 60.0
WRK_LATENCY = re.compile(r"^\s+(50|99)(?:\.0+)?%\s+([\d.]+)(us|ms|s)\s*$", re.M)
WRK_UNITS = {"us": 1e-6, "ms": 1e-3, "s": 1.0}


@dataclass(frozen=True)
class LoadResult:
    """Latency percentiles in seconds, throughput in requests per second, and
    the server's CPU seconds per request and requests per forward pass when
    the caller measured them."""

    p50: float
    p99: float
    throughput: float
    requests: int
    errors: int
    server_cpu_per_request: float | None = None
    mean_batch: float | None = None


def check_target(url: str, clients: int, seconds: float) -> None:
    """Reject anything but a bounded load on the loopback address."""
    if urlsplit(url).hostname != LOOPBACK:
        raise ValueError(f"load target {url} is not on {LOOPBACK}; use a local server")
    if not 1 <= clients <= MAX_CLIENTS:
        raise ValueError(f"clients={clients} is outside 1..{MAX_CLIENTS}")
    if not 0 < seconds <= MAX_SECONDS:
        raise ValueError(f"seconds={seconds} is outside (0, {MAX_SECONDS}]")


def generator_name(prefer: str = "auto") -> str:
    """'wrk' or 'python': what ``run_load`` will use."""
    if prefer == "python":
        return "python"
    if shutil.which("wrk"):
        return "wrk"
    if prefer == "wrk":
        raise RuntimeError("wrk is not on PATH; install it with apt-get install wrk")
    return "python"


def run_load(
    url: str, body: bytes, clients: int, seconds: float, generator: str
) -> LoadResult:
    """POST ``body`` to ``url`` from ``clients`` closed-loop clients."""
    check_target(url, clients, seconds)
    if generator == "wrk":
        return _run_wrk(url, body, clients, seconds)
    return asyncio.run(_run_python(url, body, clients, seconds))


def _run_wrk(url: str, body: bytes, clients: int, seconds: float) -> LoadResult:
    with tempfile.TemporaryDirectory() as folder:
        body_file = Path(folder) / "body.json"
        body_file.write_bytes(body)
        script = Path(folder) / "post.lua"
        script.write_text(
            'wrk.method = "POST"\n'
            'wrk.headers["Content-Type"] = "application/json"\n'
            f'local f = io.open("{body_file}", "rb")\n'
            "wrk.body = f:read('*a')\n"
            "f:close()\n"
        )
        command = [
            "wrk",
            "-t1",
            f"-c{clients}",
            # wrk takes whole seconds
            f"-d{max(1, round(seconds))}s",
            "--timeout",
            "10s",
            "--latency",
            "-s",
            str(script),
            url,
        ]
        output = subprocess.run(
            command, capture_output=True, text=True, check=True, timeout=seconds + 30
        ).stdout
    return _parse_wrk(output)


def _parse_wrk(output: str) -> LoadResult:
    percentiles = {
        int(match[0]): float(match[1]) * WRK_UNITS[match[2]]
        for match in WRK_LATENCY.findall(output)
    }
    requests = re.search(r"(\d+) requests in", output)
    rate = re.search(r"Requests/sec:\s+([\d.]+)", output)
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    socket_errors = re.search(r"Socket errors: (.*)", output)
    if requests is None or rate is None or set(percentiles) != {50, 99}:
        raise RuntimeError(f"could not parse wrk output:\n{output}")
    errors = int(non_2xx[1]) if non_2xx else 0
    if socket_errors:
        errors += sum(int(n) for n in re.findall(r"\d+", socket_errors[1]))
    return LoadResult(
        p50=percentiles[50],
        p99=percentiles[99],
        throughput=float(rate[1]),
        requests=int(requests[1]),
        errors=errors,
    )


async def _run_python(
    url: str, body: bytes, clients: int, seconds: float
) -> LoadResult:
    latencies: list[float] = []
    errors = 0
    headers = {"content-type": "application/json"}
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)

    async with httpx.AsyncClient(limits=limits, timeout=10) as client:
        started = time.perf_counter()
        deadline = started + seconds

        async def one_client() -> None:
            nonlocal errors
            while time.perf_counter() < deadline:
                sent = time.perf_counter()
                response = await client.post(url, content=body, headers=headers)
                latencies.append(time.perf_counter() - sent)
                errors += response.status_code != 200

        await asyncio.gather(*(one_client() for _ in range(clients)))
        elapsed = time.perf_counter() - started

    ordered = sorted(latencies)
    return LoadResult(
        p50=statistics.median(ordered),
        p99=ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))],
        throughput=len(ordered) / elapsed,
        requests=len(ordered),
        errors=errors,
    )
