"""Shared benchmark plumbing: interleaved rounds, summaries, tables, JSON.

Every benchmark measures its contenders round by round (A, B, C, A, B, C,
...), so load from other processes on a shared machine hits all of them
alike. Each target is a ratio of medians taken in the same run.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import platform
import statistics
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

RESULTS_DIR = Path(__file__).resolve().parent / "results"
MIN_REPEATS = 5


@dataclass(frozen=True)
class Summary:
    """Median and range of one contender's samples."""

    median: float
    low: float
    high: float
    count: int

    @classmethod
    def of(cls, samples: Sequence[float]) -> Summary:
        if not samples:
            raise ValueError("no samples to summarize; run at least one repeat")
        return cls(statistics.median(samples), min(samples), max(samples), len(samples))

    @classmethod
    def from_dict(cls, stored: Mapping[str, float | int]) -> Summary:
        """Build a summary from the output of ``to_dict``."""
        return cls(
            float(stored["median"]),
            float(stored["min"]),
            float(stored["max"]),
            int(stored["repeats"]),
        )

    def to_dict(self) -> dict[str, float | int]:
        return {
            "median": self.median,
            "min": self.low,
            "max": self.high,
            "repeats": self.count,
        }


def environment() -> dict[str, Any]:
    """Machine, library and thread facts printed above every table."""
    return {
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "cores": os.cpu_count(),
        "usable_cores": len(os.sched_getaffinity(0)),
        "load_average_1m": round(os.getloadavg()[0], 2),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "torch_interop_threads": torch.get_num_interop_threads(),
        "machine": platform.machine(),
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
    }


def interleave(
    contenders: Mapping[str, Callable[[], float]], repeats: int, warmup: int = 1
) -> dict[str, list[float]]:
    """Run each contender once per round for ``warmup + repeats`` rounds and
    keep the last ``repeats`` values each returned."""
    check_repeats(repeats)
    samples: dict[str, list[float]] = {name: [] for name in contenders}
    for round_index in range(warmup + repeats):
        for name, measure in contenders.items():
            value = measure()
            if round_index >= warmup:
                samples[name].append(value)
    return samples


def check_repeats(repeats: int) -> None:
    if repeats < MIN_REPEATS:
        raise ValueError(
            f"repeats={repeats} is below {MIN_REPEATS}; medians of fewer "
            f"repeats are too noisy, use --repeats {MIN_REPEATS} or more"
        )


def ratio(numerator: Sequence[float], denominator: Sequence[float]) -> float:
    """Ratio of the medians of two contenders measured in the same rounds."""
    return statistics.median(numerator) / statistics.median(denominator)


def verdict(value: float, target: float, *, at_most: bool) -> str:
    """'met' or 'NOT met' for a ratio against its target."""
    met = value <= target if at_most else value >= target
    return "met" if met else "NOT met"


def format_range(summary: Summary, scale: float = 1.0, digits: int = 2) -> str:
    """'median (min..max)' with every figure multiplied by ``scale``."""
    return (
        f"{summary.median * scale:.{digits}f} "
        f"({summary.low * scale:.{digits}f}..{summary.high * scale:.{digits}f})"
    )


def print_environment(env: Mapping[str, Any]) -> None:
    print(
        f"{env['cores']} cores ({env['usable_cores']} usable, load "
        f"{env['load_average_1m']}), torch {env['torch']}, "
        f"{env['torch_threads']} intra-op / {env['torch_interop_threads']} "
        f"inter-op threads, python {env['python']}"
    )


def print_table(
    title: str, header: Sequence[str], rows: Sequence[Sequence[Any]]
) -> None:
    """Print a plain Markdown table, so output pastes into BENCHMARKS.md."""
    print(f"\n{title}\n")
    print("| " + " | ".join(header) + " |")
    print("|" + "|".join("---" for _ in header) + "|")
    for row in rows:
        print("| " + " | ".join(str(cell) for cell in row) + " |")


def write_json(name: str, payload: Mapping[str, Any]) -> Path:
    """Write ``payload`` to ``bench/results/<name>.json`` and return the path."""
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    path = RESULTS_DIR / f"{name}.json"
    path.write_text(json.dumps(payload, indent=2, sort_keys=True) + "\n")
    print(f"\nwrote {path}")
    return path
