"""CPU per forecast request inside the process: ``serve``'s app beside the
bare app, with no HTTP server and no client.

``bench.serving`` measures round trips through uvicorn with wrk, which on
a shared machine moves with the load of other processes. This script calls
each ASGI app directly, one request after another on one event loop, with
a scripted ``receive`` that gives the whole body at once and a ``send``
that keeps the response. It reports the process CPU time
(``time.process_time``, every thread, so the forward pass is counted
wherever it runs) per request, round by round for both apps:

    .venv/bin/python -m bench.serving_cpu [--repeats 7] [--requests 2000]

Both apps get the bodies of ``bench.serving``: no history (``tail``) and
the model's last T + 1 rows (``history``), horizon K of the default spec.
The bare app returns the response ``serve`` gave for the same body. The
figures leave out uvicorn's protocol work, which both servers pay alike,
so the ratio here is above the round-trip ratio of ``bench.serving``.

``--memoize-kernel`` computes each window on the kernel once and returns
copies of the stored forecast after that (``memoize_kernel``), so the
figures show the work around the forward pass without the kernel's own
time and noise. It writes ``serving_cpu-memoized-kernel.json`` beside
``serving_cpu.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import logging.config
import os
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from bench.bare_app import create_bare_app
from bench.common import (
    Summary,
    check_repeats,
    environment,
    format_range,
    interleave,
    print_environment,
    print_table,
    ratio,
    write_json,
)
from bench.servers import make_registry
from bench.serving import FORECAST_PATH, request_body
from models.nn import infer_kernel
from service.app import create_app
from service.logging_config import log_config
from service.resolution import RACY_SECONDS
from service.schemas import ForecastResponse
from service.settings import Settings

ASGIApp = Callable[..., Awaitable[None]]
BODY_KINDS = ("tail", "history")
SERVE = "serve"
BARE = "bare app"


def request_scope(body: bytes) -> dict[str, Any]:
    """Build the scope that uvicorn gives a forecast POST from a client
    such as wrk, without a ``state`` copy (added per request)."""
    return {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.4"},
        "http_version": "1.1",
        "server": ("127.0.0.1", 8000),
        "client": ("127.0.0.1", 50000),
        "scheme": "http",
        "method": "POST",
        "root_path": "",
        "path": FORECAST_PATH,
        "raw_path": FORECAST_PATH.encode(),
        "query_string": b"",
        "headers": [
            (b"host", b"127.0.0.1:8000"),
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
        ],
    }


async def call(app: ASGIApp, scope: dict[str, Any], body: bytes) -> bytes:
    """Send one request through ``app``; return the response body. Raise
    RuntimeError for a status other than 200."""
    received = False
    status = 0
    parts: list[bytes] = []

    async def receive() -> dict[str, Any]:
        nonlocal received
        if not received:
            received = True
            return {"type": "http.request", "body": body, "more_body": False}
        # the response is sent before the client goes away
        await asyncio.Event().wait()
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]
        elif message["type"] == "http.response.body":
            parts.append(message.get("body", b""))

    await app({**scope, "state": {}}, receive, send)
    if status != 200:
        raise RuntimeError(f"the app responded {status}: {b''.join(parts)!r}")
    return b"".join(parts)


async def cpu_per_request(
    app: ASGIApp, scope: dict[str, Any], body: bytes, requests: int
) -> float:
    """Return the process CPU seconds per request over ``requests``
    sequential requests."""
    started = time.process_time()
    for _ in range(requests):
        await call(app, scope, body)
    return (time.process_time() - started) / requests


async def start(app: Any) -> Callable[[], Awaitable[None]]:
    """Run the app's lifespan start-up; return a coroutine function that
    runs its shutdown."""
    messages: asyncio.Queue[dict[str, str]] = asyncio.Queue()
    replies: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    await messages.put({"type": "lifespan.startup"})
    scope = {"type": "lifespan", "asgi": {"version": "3.0"}, "state": {}}
    task = asyncio.create_task(app(scope, messages.get, replies.put))
    reply = await replies.get()
    if reply["type"] != "lifespan.startup.complete":
        raise RuntimeError(f"the app did not start: {reply}")

    async def stop() -> None:
        await messages.put({"type": "lifespan.shutdown"})
        await replies.get()
        await task

    return stop


def memoize_kernel() -> None:
    """Replace the kernel's numpy entry with one that computes each window
    once and then returns a copy of its stored forecast. The figures then
    leave out the kernel's arithmetic (about 0.11 ms per pass on a quiet
    host, and the noisiest part on a loaded one) and keep every Python and
    numpy step around it, so small savings there show."""
    compute = infer_kernel.run_array
    stored: dict[bytes, np.ndarray] = {}

    def run_array(packed: infer_kernel.Packed, x: np.ndarray) -> np.ndarray:
        key = x.tobytes()
        out = stored.get(key)
        if out is None:
            out = stored[key] = compute(packed, x)
        return out.copy()

    infer_kernel.run_array = run_array  # type: ignore[assignment]


def quiet_json_logging() -> None:
    """Configure logging as ``rnn-forecast serve`` does, JSON lines at INFO,
    with the lines written to /dev/null, so the access line costs what it
    costs in the server."""
    logging.config.dictConfig(log_config("json", "INFO"))
    handler = logging.getLogger().handlers[0]
    assert isinstance(handler, logging.StreamHandler)
    handler.setStream(open(os.devnull, "w"))  # noqa: SIM115


def new_loop() -> asyncio.AbstractEventLoop:
    """Create an event loop of the kind uvicorn picks: uvloop when installed."""
    try:
        import uvloop
    except ImportError:
        return asyncio.new_event_loop()
    return uvloop.new_event_loop()


def measure(
    root: Path, repeats: int, requests: int, warmup: int
) -> dict[str, list[float]]:
    """Return CPU seconds per request for each ``"<app>, <body kind>"``,
    one value per round."""
    loop = new_loop()
    asyncio.set_event_loop(loop)
    settings = Settings(registry=root / "registry", data_dir=root / "var")
    serve_app = create_app(settings)
    stop = loop.run_until_complete(start(serve_app))

    # (app, scope, body) per contender; the bare app returns serve's bytes
    calls: dict[str, tuple[ASGIApp, dict[str, Any], bytes]] = {}
    for kind in BODY_KINDS:
        body = request_body(root / "registry", kind)
        scope = request_scope(body)
        response = loop.run_until_complete(call(serve_app, scope, body))
        bare = create_bare_app(ForecastResponse.model_validate_json(response))
        if loop.run_until_complete(call(bare, scope, body)) != response:
            raise RuntimeError(f"the bare app's {kind} response differs from serve's")
        calls[f"{SERVE}, {kind}"] = (serve_app, scope, body)
        calls[f"{BARE}, {kind}"] = (bare, scope, body)

    def contender(label: str) -> Callable[[], float]:
        def run() -> float:
            return loop.run_until_complete(cpu_per_request(*calls[label], requests))

        return run

    for arguments in calls.values():
        loop.run_until_complete(cpu_per_request(*arguments, warmup))
    samples = interleave({label: contender(label) for label in calls}, repeats)
    loop.run_until_complete(stop())
    loop.close()
    return samples


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=7, help="rounds per app")
    parser.add_argument(
        "--requests", type=int, default=2000, help="sequential requests per round"
    )
    parser.add_argument(
        "--warmup", type=int, default=500, help="untimed requests per app first"
    )
    parser.add_argument(
        "--memoize-kernel",
        action="store_true",
        help="compute each window on the kernel once and return copies after, "
        "to measure the work around the forward pass",
    )
    args = parser.parse_args()
    check_repeats(args.repeats)

    torch.set_num_threads(1)
    infer_kernel.load()
    if args.memoize_kernel:
        memoize_kernel()
    quiet_json_logging()
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        make_registry(root / "registry")
        # the resolver reads a registry folder changed in the last
        # RACY_SECONDS again on every request, which a served registry is not
        time.sleep(RACY_SECONDS)
        samples = measure(root, args.repeats, args.requests, args.warmup)

    env = environment()
    print_environment(env)
    summaries = {label: Summary.of(values) for label, values in samples.items()}
    rows = [
        [label, format_range(summary, scale=1e6, digits=1)]
        for label, summary in summaries.items()
    ]
    ratios = {
        kind: ratio(samples[f"{SERVE}, {kind}"], samples[f"{BARE}, {kind}"])
        for kind in BODY_KINDS
    }
    print_table(
        f"CPU per request inside the process, {args.requests} requests per round",
        ["app, body", "CPU us/request"],
        rows,
    )
    print_table(
        "ratio of medians",
        ["body", "CPU serve / bare"],
        [[kind, f"{value:.2f}"] for kind, value in ratios.items()],
    )
    write_json(
        "serving_cpu-memoized-kernel" if args.memoize_kernel else "serving_cpu",
        {
            "environment": env,
            "memoized_kernel": args.memoize_kernel,
            "requests_per_round": args.requests,
            "cpu_seconds_per_request": {
                label: summary.to_dict() for label, summary in summaries.items()
            },
            "samples": samples,
            "ratio_serve_to_bare": ratios,
        },
    )


if __name__ == "__main__":
    main()
