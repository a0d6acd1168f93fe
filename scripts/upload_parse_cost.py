"""CPU time and outcome of parsing upload bodies near the 10 MB upload limit.

Usage: ``.venv/bin/python scripts/upload_parse_cost.py [--repeat 3]`` or
``... --memory``

Each body goes through ``models.data.csv_source.parse_csv_bytes`` with the
options of ``POST /v1/series``. The script prints, per body, its size in
MB (10^6 bytes), its lines, the least process CPU time of ``--repeat``
parses in seconds, and the number of rows or the start of the error. The
bodies are:

- ``rows``: the bundled NFLX file with its rows written 31 times (the
  repeated dates are dropped as duplicates), a large valid upload;
- ``blank``: one data row followed by 9.9 million blank lines;
- ``commas``: one data row followed by 4.9 million lines of one comma each,
  which have no value in either field.

With ``--memory`` the script parses the ``rows`` body once and prints how
much it raised the process's peak resident memory (VmHWM in
/proc/self/status, Linux only), in MB. The modules are loaded by a parse
of a one-row body and the ``rows`` body is built before the peak is read
first, so the rise is what the parse itself takes.
"""

from __future__ import annotations

import argparse
import re
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# run from a checkout, the script imports the models from it, installed or not
sys.path.insert(0, str(ROOT))
from models.data.csv_source import parse_csv_bytes  # noqa: E402
from models.errors import DataError  # noqa: E402

ERROR_CHARS = 100


def rows_body() -> bytes:
    """Return the ``rows`` body."""
    text = (ROOT / "models" / "data" / "bundled" / "NFLX.csv").read_bytes()
    header, rows = text.rstrip(b"\n").split(b"\n", 1)
    return header + b"\n" + (rows + b"\n") * 31


def bodies() -> dict[str, bytes]:
    """Return the bodies by name."""
    one_row = b"date,value\n2024-01-02,1\n"
    return {
        "rows": rows_body(),
        "blank": one_row + b"\n" * 9_900_000,
        "commas": one_row + b",\n" * 4_900_000,
    }


def parse_seconds(raw: bytes) -> tuple[float, str]:
    """Return the process CPU time of one parse and its outcome."""
    started = time.process_time()
    try:
        series = parse_csv_bytes(
            raw, label="the uploaded CSV", source={}, check_all_columns=True
        )
        outcome = f"{len(series.frame)} rows"
    except DataError as exc:
        outcome = f"DataError: {str(exc)[:ERROR_CHARS]}"
    return time.process_time() - started, outcome


def peak_memory_mb() -> float:
    """Return the peak resident memory of this process in MB."""
    status = Path("/proc/self/status").read_text()
    match = re.search(r"VmHWM:\s+(\d+) kB", status)
    if match is None:
        raise RuntimeError("/proc/self/status has no VmHWM line; run on Linux")
    return int(match.group(1)) * 1024 / 1e6


def print_memory() -> None:
    """Print the rise of the peak memory that one parse of ``rows`` causes."""
    parse_seconds(b"date,value\n2024-01-02,1\n")
    raw = rows_body()
    # the body itself is in memory before the parse, as in a request
    before = peak_memory_mb()
    parse_seconds(raw)
    print(
        f"rows    {len(raw) / 1e6:5.2f} MB: the parse raised the peak resident "
        f"memory by {peak_memory_mb() - before:.1f} MB"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3, help="parses per body")
    parser.add_argument(
        "--memory", action="store_true", help="print the peak memory of one parse"
    )
    args = parser.parse_args()
    if args.memory:
        print_memory()
        return
    for name, raw in bodies().items():
        runs = [parse_seconds(raw) for _ in range(args.repeat)]
        seconds = min(run[0] for run in runs)
        lines = raw.count(b"\n")
        print(
            f"{name:7} {len(raw) / 1e6:5.2f} MB {lines:>9} lines "
            f"{seconds:6.3f} s CPU  {runs[0][1]}"
        )


if __name__ == "__main__":
    main()
