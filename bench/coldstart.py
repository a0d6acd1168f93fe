"""Cold start and resident memory of ``rnn-forecast serve``.

- Time from starting the process to the first returned forecast (a POST
  polled until it returns 200), over fresh processes: with the inference
  kernel already built, and with an empty cache folder, as on a machine's
  first start, where the server compiles the kernel while it imports.
- Resident memory (VmRSS) after forecasts from 1 and from 20 versions with
  a model cache of 20, and from 20 versions with the default cache of 8.

    .venv/bin/python -m bench.coldstart [--repeats 5]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from bench.common import (
    Summary,
    check_repeats,
    environment,
    format_range,
    print_environment,
    print_table,
    verdict,
    write_json,
)
from bench.servers import (
    BENCH_SPEC,
    ROOT,
    Server,
    make_registry,
    start_serve,
    wait_ready,
)
from bench.serving import FORECAST_PATH

TARGET_SECONDS = 2.0
TARGET_MB = 500.0
VERSIONS = 20
POLL_SECONDS = 0.01
HEAVY_IMPORTS = (
    "torch",
    "pandas",
    "fastapi",
    "exchange_calendars",
    "matplotlib",
    "models.registry",
    "service.app",
)


def first_forecast_seconds(
    registry: Path, folder: Path, cache: Path | None = None
) -> tuple[float, float]:
    """Return the wall seconds from Popen to the first 200 response to a
    forecast, and the CPU seconds the server process used until then.
    ``cache``, a new folder, replaces the cache with its built kernel."""
    env = {} if cache is None else {"RNN_FORECAST_CACHE_DIR": str(cache)}
    server = start_serve("cold start", registry, folder, env)
    try:
        deadline = time.monotonic() + 120
        with httpx.Client(timeout=30) as client:
            while time.monotonic() < deadline:
                try:
                    response = client.post(
                        server.url + FORECAST_PATH, json={"horizon": BENCH_SPEC.horizon}
                    )
                    if response.status_code == 200:
                        wall = time.perf_counter() - server.started_at
                        return wall, server.cpu_seconds()
                except httpx.TransportError:
                    pass
                time.sleep(POLL_SECONDS)
        raise RuntimeError(f"no forecast within 120 s; see {server.log.name}")
    finally:
        server.stop()


def rss_after_forecasts(
    registry: Path, folder: Path, versions: int, cache_size: int
) -> float:
    """VmRSS in MB after one forecast from each of versions 1..``versions``."""
    env = {"RNN_FORECAST_MODEL_CACHE_SIZE": str(cache_size)}
    server: Server = start_serve(
        f"rss {versions} of cache {cache_size}", registry, folder, env
    )
    try:
        wait_ready(server)
        with httpx.Client(base_url=server.url, timeout=30) as client:
            for version in range(1, versions + 1):
                client.post(FORECAST_PATH, json={"version": version}).raise_for_status()
        return server.rss_mb()
    finally:
        server.stop()


def import_seconds() -> dict[str, float]:
    """Cumulative import seconds of the heaviest packages the server loads,
    from one ``python -X importtime -c "import service.app"`` run."""
    output = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", "import service.app"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stderr
    found: dict[str, float] = {}
    for line in output.splitlines():
        parts = [part.strip() for part in line.removeprefix("import time:").split("|")]
        if len(parts) == 3 and parts[2] in HEAVY_IMPORTS:
            found[parts[2]] = max(found.get(parts[2], 0.0), int(parts[1]) / 1e6)
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=5, help="fresh processes")
    args = parser.parse_args()
    check_repeats(args.repeats)
    env = environment()
    print_environment(env)

    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        registry = make_registry(root / "registry", versions=VERSIONS)
        # rounds alternate the measurements, so load from elsewhere hits all
        starts: list[float] = []
        cpu: list[float] = []
        empty_starts: list[float] = []
        rss: dict[str, list[float]] = {
            "1 version, cache 20": [],
            f"{VERSIONS} versions, cache 20": [],
            f"{VERSIONS} versions, cache 8 (default)": [],
        }
        for index in range(args.repeats):
            wall, used = first_forecast_seconds(registry.root, root)
            starts.append(wall)
            cpu.append(used)
            cache = root / f"empty-cache-{index}"
            empty_starts.append(first_forecast_seconds(registry.root, root, cache)[0])
            rss["1 version, cache 20"].append(
                rss_after_forecasts(registry.root, root, 1, 20)
            )
            rss[f"{VERSIONS} versions, cache 20"].append(
                rss_after_forecasts(registry.root, root, VERSIONS, 20)
            )
            rss[f"{VERSIONS} versions, cache 8 (default)"].append(
                rss_after_forecasts(registry.root, root, VERSIONS, 8)
            )

    start_summary = Summary.of(starts)
    empty_summary = Summary.of(empty_starts)
    rss_summaries = {name: Summary.of(values) for name, values in rss.items()}
    cpu_summary = Summary.of(cpu)
    rows = [
        ["process start to first forecast, wall", f"{format_range(start_summary)} s"],
        ["server CPU until the first forecast", f"{format_range(cpu_summary)} s"],
        [
            "process start to first forecast, kernel not yet built",
            f"{format_range(empty_summary)} s",
        ],
    ]
    rows += [
        [f"resident memory, {name}", f"{format_range(summary, 1.0, 0)} MB"]
        for name, summary in rss_summaries.items()
    ]
    print_table("Cold start and memory", ["figure", "median (min..max)"], rows)
    imports = import_seconds()
    print_table(
        "Import time of `import service.app`, one run (cumulative seconds)",
        ["module", "seconds"],
        [[name, f"{seconds:.2f}"] for name, seconds in imports.items()],
    )

    largest = rss_summaries[f"{VERSIONS} versions, cache 20"].median
    targets = [
        [
            "first forecast after process start",
            f"{start_summary.median:.2f} s",
            f"<= {TARGET_SECONDS:g} s",
            verdict(start_summary.median, TARGET_SECONDS, at_most=True),
        ],
        [
            "first forecast, kernel compiled at start",
            f"{empty_summary.median:.2f} s",
            f"<= {TARGET_SECONDS:g} s",
            verdict(empty_summary.median, TARGET_SECONDS, at_most=True),
        ],
        [
            f"resident memory with {VERSIONS} versions loaded",
            f"{largest:.0f} MB",
            f"<= {TARGET_MB:g} MB",
            verdict(largest, TARGET_MB, at_most=True),
        ],
    ]
    print_table("Targets", ["figure", "value", "target", "verdict"], targets)
    write_json(
        "coldstart",
        {
            "environment": env,
            "first_forecast_seconds": start_summary.to_dict(),
            "first_forecast_cpu_seconds": cpu_summary.to_dict(),
            "first_forecast_seconds_kernel_not_built": empty_summary.to_dict(),
            "rss_mb": {name: s.to_dict() for name, s in rss_summaries.items()},
            "import_seconds": imports,
            "targets": targets,
        },
    )


if __name__ == "__main__":
    main()
