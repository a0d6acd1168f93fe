"""Forecast serving under load: ``rnn-forecast serve`` beside a bare app.

Three servers run at once on 127.0.0.1 under the same uvicorn settings:
``rnn-forecast serve`` with micro-batching on (the default), the same with
``RNN_FORECAST_BATCH_WINDOW_MS=0``, and ``bench/bare_app.py``, which parses
the same body and returns a response of the same size without a model. For
1, 16 and 64 closed-loop clients they take turns, round by round.

    .venv/bin/python -m bench.serving [--repeats 5] [--seconds 3]

The served model is an LSTM of the default spec. ``--hidden-size`` and
``--num-layers`` serve a model of another size instead, to show how the
ratios change with the model's cost. Such a run writes
``serving-h<H>-l<L>.json`` beside ``serving.json``.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import tempfile
from pathlib import Path
from typing import Any

import httpx

from bench.common import (
    Summary,
    check_repeats,
    environment,
    format_range,
    print_environment,
    print_table,
    ratio,
    verdict,
    write_json,
)
from bench.load import LoadResult, generator_name, run_load
from bench.servers import (
    BENCH_SPEC,
    Server,
    make_registry,
    start_bare,
    start_serve,
    wait_ready,
)
from models.nn import infer_kernel
from models.spec import TrainingSpec

BATCHED = "serve"
UNBATCHED = "serve, batching off"
BARE = "bare app"
TARGET_P50 = 1.5
TARGET_THROUGHPUT = 0.6
TARGET_BATCHING = 3.0
FORECAST_PATH = f"/v1/models/{BENCH_SPEC.name}/forecast"
# the counters of forward passes and of the requests in them on /metrics
BATCHES = "rnn_forecast_forecast_batches_total"
BATCH_ITEMS = "rnn_forecast_forecast_batch_items_total"
WARM_REQUESTS = 200


def request_body(registry_root: Path, kind: str) -> bytes:
    """Build the forecast request: the model's last T + 1 rows as client
    history (``history``) or no history at all (``tail``), horizon K."""
    meta = json.loads(
        (
            registry_root / BENCH_SPEC.name / "versions" / "1" / "metadata.json"
        ).read_text()
    )
    body: dict[str, Any] = {"horizon": BENCH_SPEC.horizon}
    if kind == "history":
        tail = meta["tail"]
        body["history"] = [
            {"date": d, "close": c}
            for d, c in zip(tail["dates"], tail["close"], strict=True)
        ]
    return json.dumps(body).encode()


def start_servers(registry: Path, body: bytes, folder: Path) -> dict[str, Server]:
    """Start the three servers; the bare app returns what ``serve`` returned
    for ``body``."""
    servers = {
        BATCHED: start_serve(BATCHED, registry, folder),
        UNBATCHED: start_serve(
            UNBATCHED, registry, folder, {"RNN_FORECAST_BATCH_WINDOW_MS": "0"}
        ),
    }
    for server in servers.values():
        wait_ready(server)

    response = httpx.post(
        servers[BATCHED].url + FORECAST_PATH,
        content=body,
        headers={"content-type": "application/json"},
        timeout=30,
    )
    response.raise_for_status()
    response_file = folder / "response.json"
    response_file.write_bytes(response.content)
    servers[BARE] = start_bare(BARE, response_file, folder)
    wait_ready(servers[BARE])

    bare = httpx.post(
        servers[BARE].url + FORECAST_PATH,
        content=body,
        headers={"content-type": "application/json"},
        timeout=30,
    )
    bare.raise_for_status()
    print(
        f"response bytes: serve {len(response.content)}, bare app {len(bare.content)}"
    )
    return servers


def warm(server: Server, body: bytes, requests: int = WARM_REQUESTS) -> None:
    """Send ``requests`` sequential forecasts, so one-time work (loading the
    version, building the NYSE calendar) happens before any timing."""
    with httpx.Client(base_url=server.url, timeout=120) as client:
        for _ in range(requests):
            client.post(
                FORECAST_PATH,
                content=body,
                headers={"content-type": "application/json"},
            ).raise_for_status()


def measure(
    servers: dict[str, Server],
    body: bytes,
    clients: list[int],
    repeats: int,
    seconds: float,
    generator: str,
) -> dict[tuple[str, int], list[LoadResult]]:
    """Run one warm-up round, then ``repeats`` rounds of every (clients,
    contender) pair, contenders taking turns within each round."""
    results: dict[tuple[str, int], list[LoadResult]] = {
        (name, count): [] for name in servers for count in clients
    }
    for server in servers.values():
        warm(server, body)
    for round_index in range(1 + repeats):
        for count in clients:
            for name, server in servers.items():
                length = 1.0 if round_index == 0 else seconds
                counted = batch_counters(server, name)
                cpu_before = server.cpu_seconds()
                result = run_load(
                    server.url + FORECAST_PATH, body, count, length, generator
                )
                cpu = (server.cpu_seconds() - cpu_before) / max(result.requests, 1)
                result = dataclasses.replace(
                    result,
                    server_cpu_per_request=cpu,
                    mean_batch=mean_batch(counted, batch_counters(server, name)),
                )
                if result.errors:
                    raise RuntimeError(
                        f"{name} returned {result.errors} errors at "
                        f"{count} clients; see {server.log.name}"
                    )
                if round_index > 0:
                    results[(name, count)].append(result)
    return results


def batch_counters(server: Server, name: str) -> tuple[float, float] | None:
    """Forward passes and the requests in them since ``serve`` started, from
    its ``/metrics``; None for the bare app and any other server without a
    model."""
    if name not in (BATCHED, UNBATCHED):
        return None
    text = httpx.get(server.url + "/metrics", timeout=30).text
    values = {}
    for line in text.splitlines():
        metric, _, value = line.partition(" ")
        if metric in (BATCHES, BATCH_ITEMS):
            values[metric] = float(value)
    return values[BATCHES], values[BATCH_ITEMS]


def mean_batch(
    before: tuple[float, float] | None, after: tuple[float, float] | None
) -> float | None:
    """Requests per forward pass between two ``batch_counters`` readings."""
    if before is None or after is None or after[0] == before[0]:
        return None
    return (after[1] - before[1]) / (after[0] - before[0])


def summarize(
    results: dict[tuple[str, int], list[LoadResult]], clients: list[int]
) -> tuple[list[list[Any]], dict[str, Any]]:
    rows, figures = [], {}
    for (name, count), runs in results.items():
        p50 = Summary.of([r.p50 for r in runs])
        p99 = Summary.of([r.p99 for r in runs])
        rate = Summary.of([r.throughput for r in runs])
        cpu = Summary.of([r.server_cpu_per_request or 0.0 for r in runs])
        batches = [r.mean_batch for r in runs if r.mean_batch is not None]
        batch = Summary.of(batches) if batches else None
        figures[f"{name} @ {count}"] = {
            "clients": count,
            "p50_seconds": p50.to_dict(),
            "p99_seconds": p99.to_dict(),
            "throughput_per_second": rate.to_dict(),
            "server_cpu_seconds_per_request": cpu.to_dict(),
            "requests_per_forward_pass": None if batch is None else batch.to_dict(),
        }
        rows.append(
            [
                name,
                count,
                format_range(p50, 1e3),
                format_range(p99, 1e3),
                format_range(rate, 1.0, 0),
                format_range(cpu, 1e3, 2),
                "-" if batch is None else format_range(batch, 1.0, 1),
            ]
        )
    order = {count: i for i, count in enumerate(clients)}
    rows.sort(key=lambda row: (order[row[1]], row[0]))
    return rows, figures


def target_rows(
    results: dict[tuple[str, int], list[LoadResult]], clients: list[int]
) -> list[list[str]]:
    def values(name: str, count: int, field: str) -> list[float]:
        return [getattr(r, field) for r in results[(name, count)]]

    rows = []
    for count in clients:
        value = ratio(values(BATCHED, count, "p50"), values(BARE, count, "p50"))
        rows.append(
            [
                f"p50 serve / bare @ {count}",
                f"{value:.2f}",
                f"<= {TARGET_P50}",
                verdict(value, TARGET_P50, at_most=True),
            ]
        )
        value = ratio(
            values(BATCHED, count, "throughput"), values(BARE, count, "throughput")
        )
        rows.append(
            [
                f"throughput serve / bare @ {count}",
                f"{value:.2f}",
                f">= {TARGET_THROUGHPUT}",
                verdict(value, TARGET_THROUGHPUT, at_most=False),
            ]
        )

    for count in clients:
        value = ratio(
            values(BATCHED, count, "server_cpu_per_request"),
            values(BARE, count, "server_cpu_per_request"),
        )
        rows.append(
            [
                f"server CPU per request serve / bare @ {count}",
                f"{value:.2f}",
                "(no target)",
                "-",
            ]
        )

    most, fewest = max(clients), min(clients)
    value = ratio(
        values(BATCHED, most, "throughput"), values(UNBATCHED, most, "throughput")
    )
    rows.append(
        [
            f"throughput batching on / off @ {most}",
            f"{value:.2f}",
            f">= {TARGET_BATCHING}",
            verdict(value, TARGET_BATCHING, at_most=False),
        ]
    )
    value = ratio(values(BATCHED, fewest, "p50"), values(UNBATCHED, fewest, "p50"))
    rows.append(
        [
            f"p50 batching on / off @ {fewest}",
            f"{value:.2f}",
            "<= 1.0 (no worse)",
            verdict(value, 1.0, at_most=True),
        ]
    )
    return rows


def results_name(spec: TrainingSpec, torch_operator: bool = False) -> str:
    """Return the results file name: ``serving`` for the default model size,
    else one that names the hidden size and the layers; ``-torch-operator``
    is added when the servers run without the inference kernel."""
    size = (spec.hidden_size, spec.num_layers)
    name = "serving"
    if size != (BENCH_SPEC.hidden_size, BENCH_SPEC.num_layers):
        name = f"serving-h{spec.hidden_size}-l{spec.num_layers}"
    return f"{name}-torch-operator" if torch_operator else name


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=5, help="measured rounds")
    parser.add_argument(
        "--seconds", type=int, default=3, help="whole seconds per load run"
    )
    parser.add_argument(
        "--clients", default="1,16,64", help="comma-separated client counts"
    )
    parser.add_argument(
        "--generator",
        choices=["auto", "wrk", "python"],
        default="auto",
        help="load generator; auto takes wrk when it is on PATH",
    )
    parser.add_argument(
        "--body",
        choices=["history", "tail"],
        default="history",
        help="send the model's last T + 1 rows as history, or no history",
    )
    parser.add_argument(
        "--hidden-size",
        type=int,
        default=BENCH_SPEC.hidden_size,
        help="hidden units per layer of the served LSTM",
    )
    parser.add_argument(
        "--num-layers",
        type=int,
        default=BENCH_SPEC.num_layers,
        help="stacked layers of the served LSTM",
    )
    parser.add_argument(
        "--torch-operator",
        action="store_true",
        help="serve with the inference kernel off (RNN_FORECAST_INFER_KERNEL=0), "
        "on torch's recurrent operator",
    )
    args = parser.parse_args()
    check_repeats(args.repeats)
    if args.torch_operator:
        os.environ[infer_kernel.SWITCH] = "0"
    spec = BENCH_SPEC.model_copy(
        update={"hidden_size": args.hidden_size, "num_layers": args.num_layers}
    )
    spec = TrainingSpec.model_validate(spec.model_dump())
    clients = [int(c) for c in args.clients.split(",")]
    generator = generator_name(args.generator)

    env = environment()
    print_environment(env)
    print(f"load generator: {generator}; body: {args.body}; {args.seconds:g} s per run")
    print(f"model: {spec.cell}, hidden {spec.hidden_size}, {spec.num_layers} layer(s)")
    kernel = "off: torch's operator" if args.torch_operator else "on"
    print(f"inference kernel: {kernel}")

    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        registry = make_registry(root / "registry", spec=spec)
        body = request_body(registry.root, args.body)
        servers = start_servers(registry.root, body, root)
        try:
            results = measure(
                servers, body, clients, args.repeats, args.seconds, generator
            )
        finally:
            for server in servers.values():
                server.stop()

    rows, figures = summarize(results, clients)
    print_table(
        f"Forecast under load ({args.repeats} rounds of {args.seconds:g} s)",
        [
            "server",
            "clients",
            "p50 ms",
            "p99 ms",
            "requests/s",
            "server CPU ms/request",
            "requests per forward pass",
        ],
        rows,
    )
    targets = target_rows(results, clients)
    print_table("Targets", ["ratio", "value", "target", "verdict"], targets)
    write_json(
        results_name(spec, args.torch_operator),
        {
            "environment": env,
            "inference_kernel": not args.torch_operator,
            "model": {
                "cell": spec.cell,
                "hidden_size": spec.hidden_size,
                "num_layers": spec.num_layers,
                "lookback": spec.lookback,
                "horizon": spec.horizon,
            },
            "generator": generator,
            "body": args.body,
            "body_bytes": len(body),
            "seconds_per_run": args.seconds,
            "figures": figures,
            "targets": targets,
        },
    )


if __name__ == "__main__":
    main()
