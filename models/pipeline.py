"""One training run end to end: load data, fit, build metadata, register.

The command line and every job runner call ``train_and_register``.
"""

from __future__ import annotations

import datetime as dt
import platform
from collections.abc import Callable
from importlib import metadata as importlib_metadata
from pathlib import Path
from typing import Any

from models import __version__
from models.data.series import Series
from models.data.sources import load_series
from models.data.windows import history_rows
from models.json_values import json_safe
from models.registry import Registry
from models.spec import TrainingSpec, check_model_name
from models.training import EpochCallback, FitResult, StageCallback, StopCheck, fit

PACKAGES = ("torch", "numpy", "pandas", "safetensors", "pydantic")


def train_and_register(
    spec: TrainingSpec,
    registry: Registry,
    *,
    cache_dir: Path | None = None,
    upload_dir: Path | None = None,
    root_path: str = "",
    on_epoch: EpochCallback | None = None,
    should_stop: StopCheck | None = None,
    on_stage: StageCallback | None = None,
    before_write: Callable[[], None] | None = None,
    series: Series | None = None,
) -> tuple[int, FitResult, Series]:
    """Train ``spec`` and write a new version; return (version, result, series).

    Nothing is written when loading or training fails or is cancelled, or
    when ``before_write`` raises. ``before_write`` runs after training and
    evaluation, just before the registry write. Raises ``InvalidInputError``
    before loading when ``spec`` has no name of its own for data other than
    the bundled series, and ``CheckpointError`` before loading when the
    model's ``highest_version`` file is unreadable or invalid. ``root_path``
    goes before the API paths in the errors of an upload (``load_series``).
    """
    check_model_name(spec)
    registry.check_writable(spec.name)
    if series is None:
        series = load_series(
            spec.data, cache_dir=cache_dir, upload_dir=upload_dir, root_path=root_path
        )
    result = fit(
        spec, series, on_epoch=on_epoch, should_stop=should_stop, on_stage=on_stage
    )
    meta = build_metadata(spec, series, result)
    if before_write is not None:
        before_write()
    version = registry.write(spec.name, result.model.state_dict(), meta)
    return version, result, series


def build_metadata(
    spec: TrainingSpec, series: Series, result: FitResult
) -> dict[str, Any]:
    """Everything stored beside the weights, JSON-safe (non-finite -> null)."""
    rows = history_rows(spec.lookback, spec.target)
    tail = series.frame.iloc[-rows:]
    meta = {
        "created_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "spec": spec.model_dump(mode="json"),
        "model": result.model.config,
        "scaler": result.scaler.to_dict(),
        "data": series.describe(),
        "split": result.split,
        "metrics": {"test": result.metrics},
        "intervals": (
            result.intervals.to_dict() if result.intervals is not None else None
        ),
        "history": [record.to_dict() for record in result.history],
        "best_epoch": result.best_epoch,
        "stopped_early": result.stopped_early,
        "training_seconds": round(result.seconds, 3),
        "tail": {
            "dates": [d.date().isoformat() for d in tail.index],
            "close": [float(v) for v in tail["close"].to_numpy()],
        },
        "packages": package_versions(),
    }
    return json_safe(meta)


def package_versions() -> dict[str, str]:
    """Versions of Python, this package and its numeric dependencies."""
    versions = {"python": platform.python_version(), "rnn-forecast": __version__}
    for name in PACKAGES:
        try:
            versions[name] = importlib_metadata.version(name)
        except importlib_metadata.PackageNotFoundError:
            versions[name] = "unknown"
    return versions
