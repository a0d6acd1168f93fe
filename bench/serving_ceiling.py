"""What one uvicorn process can serve here: ``serve`` beside raw ASGI apps.

Four servers run at once on 127.0.0.1 and take turns under the same load,
round by round, as in ``bench.serving``. They are ``rnn-forecast serve``
(batching on), the bare FastAPI app, and the raw app of
``bench/raw_app.py`` twice: on ``serve``'s server code with its limits for
request heads, and on plain uvicorn. Every one reads the same forecast body
and sends the same response body::

    .venv/bin/python -m bench.serving_ceiling [--repeats 5] [--seconds 3]

The raw app on ``serve``'s server code gives the highest request rate
that ``serve`` could reach with its HTTP server as it is. The two raw
apps differ only by this project's HTTP layer (the head deadline, the
head size limit and the ordering of pipelined error responses). The
figures go to
``bench/results/serving_ceiling.json``.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
from pathlib import Path
from typing import Any

import httpx

from bench.common import (
    check_repeats,
    environment,
    print_environment,
    print_table,
    ratio,
    write_json,
)
from bench.load import LoadResult, generator_name
from bench.servers import (
    Server,
    free_port,
    make_registry,
    start,
    start_bare,
    start_serve,
    wait_ready,
)
from bench.serving import BARE, BATCHED, FORECAST_PATH, measure, request_body
from bench.serving import summarize as summarize_runs

RAW_SERVE = "raw app, serve's server"
RAW_PLAIN = "raw app, plain uvicorn"
RAW_SERVERS = {RAW_SERVE: "serve", RAW_PLAIN: "plain"}


def start_raw(label: str, response_file: Path, server: str, log_dir: Path) -> Server:
    """Start the raw app on a free port with ``server``'s code, returning
    the bytes of ``response_file``."""
    args = ["-m", "bench.raw_app", "--port", str(free_port())]
    args += ["--response", str(response_file), "--server", server]
    return start(label, args, {}, log_dir)


def post(server: Server, body: bytes) -> bytes:
    """POST ``body`` to ``server``'s forecast route; return the response body."""
    response = httpx.post(
        server.url + FORECAST_PATH,
        content=body,
        headers={"content-type": "application/json"},
        timeout=30,
    )
    response.raise_for_status()
    return response.content


def start_servers(registry: Path, body: bytes, folder: Path) -> dict[str, Server]:
    """Start ``serve``, then the bare and raw apps with its response to
    ``body``; raise ``RuntimeError`` when one returns other bytes."""
    servers = {BATCHED: start_serve(BATCHED, registry, folder)}
    wait_ready(servers[BATCHED])
    response = post(servers[BATCHED], body)
    response_file = folder / "response.json"
    response_file.write_bytes(response)

    servers[BARE] = start_bare(BARE, response_file, folder)
    for label, server in RAW_SERVERS.items():
        servers[label] = start_raw(label, response_file, server, folder)
    for label, server in servers.items():
        wait_ready(server)
        if post(server, body) != response:
            raise RuntimeError(f"{label} returned other bytes than serve")
    print(f"response bytes: {len(response)} from each server")
    return servers


def cpu_rows(
    results: dict[tuple[str, int], list[LoadResult]], clients: list[int]
) -> list[list[str]]:
    """Build rows of the median server CPU ms per request of each server,
    and of three differences. The raw app on ``serve``'s server minus on
    plain uvicorn is the project's HTTP layer. The bare app minus the raw
    app is FastAPI with pydantic. ``serve`` minus the raw app on its server
    code is everything ``serve`` does besides the HTTP server."""

    def cpu(name: str, count: int) -> float:
        runs = results[(name, count)]
        return statistics.median(r.server_cpu_per_request or 0.0 for r in runs) * 1e3

    rows = []
    for count in clients:
        figures = {name: cpu(name, count) for name in (BATCHED, BARE, *RAW_SERVERS)}
        rows.append(
            [
                str(count),
                *(f"{figures[name]:.3f}" for name in (BATCHED, BARE, *RAW_SERVERS)),
                f"{figures[RAW_SERVE] - figures[RAW_PLAIN]:.3f}",
                f"{figures[BARE] - figures[RAW_SERVE]:.3f}",
                f"{figures[BATCHED] - figures[RAW_SERVE]:.3f}",
            ]
        )
    return rows


def throughput_rows(
    results: dict[tuple[str, int], list[LoadResult]], clients: list[int]
) -> list[list[str]]:
    """Build rows of the ratio of each server's median requests/s to
    ``serve``'s."""

    def rates(name: str, count: int) -> list[float]:
        return [r.throughput for r in results[(name, count)]]

    rows = []
    for count in clients:
        serve = rates(BATCHED, count)
        rows.append(
            [str(count)]
            + [
                f"{ratio(rates(name, count), serve):.2f}"
                for name in (BARE, *RAW_SERVERS)
            ]
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=5, help="measured rounds")
    parser.add_argument(
        "--seconds", type=int, default=3, help="whole seconds per load run"
    )
    parser.add_argument(
        "--clients", default="1,16,64", help="comma-separated client counts"
    )
    args = parser.parse_args()
    check_repeats(args.repeats)
    clients = [int(c) for c in args.clients.split(",")]
    generator = generator_name("auto")

    env = environment()
    print_environment(env)
    print(f"load generator: {generator}; body: history; {args.seconds} s per run")
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        registry = make_registry(root / "registry")
        body = request_body(registry.root, "history")
        servers = start_servers(registry.root, body, root)
        try:
            results = measure(
                servers, body, clients, args.repeats, args.seconds, generator
            )
        finally:
            for server in servers.values():
                server.stop()

    rows, figures = summarize_runs(results, clients)
    print_table(
        f"Forecast under load ({args.repeats} rounds of {args.seconds} s)",
        [
            "server",
            "clients",
            "p50 ms",
            "p99 ms",
            "requests/s",
            "server CPU ms/request",
        ],
        [row[:-1] for row in rows],
    )
    cpu = cpu_rows(results, clients)
    print_table(
        "Server CPU ms per request, medians, and their differences",
        [
            "clients",
            "serve",
            "bare app",
            "raw, serve's server",
            "raw, plain uvicorn",
            "HTTP layer (raw serve's - raw plain)",
            "FastAPI + pydantic (bare - raw serve's)",
            "serve - raw serve's",
        ],
        cpu,
    )
    rates = throughput_rows(results, clients)
    print_table(
        "requests/s of each server / serve's, ratio of medians",
        ["clients", "bare app", "raw, serve's server", "raw, plain uvicorn"],
        rates,
    )
    payload: dict[str, Any] = {
        "environment": env,
        "generator": generator,
        "body_bytes": len(body),
        "seconds_per_run": args.seconds,
        "figures": figures,
        "cpu_ms_per_request": cpu,
        "throughput_ratio_to_serve": rates,
    }
    write_json("serving_ceiling", payload)


if __name__ == "__main__":
    main()
