"""Default locations, shared by the command line and the service settings."""

from __future__ import annotations

import os
from pathlib import Path

ENV_PREFIX = "RNN_FORECAST_"


def default_registry() -> Path:
    """``RNN_FORECAST_REGISTRY`` or ``./registry``: the checkpoint folder."""
    return Path(os.environ.get(f"{ENV_PREFIX}REGISTRY", "registry"))


def default_cache_dir() -> Path:
    """``RNN_FORECAST_CACHE_DIR`` or ``~/.cache/rnn-forecast``: downloads."""
    fallback = Path.home() / ".cache" / "rnn-forecast"
    return Path(os.environ.get(f"{ENV_PREFIX}CACHE_DIR", str(fallback)))
