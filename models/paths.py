"""Default locations, shared by the command line and the service settings.

A variable that is set but empty, or only spaces, counts as unset, as a
compose file writes an unset variable. ``Path("")`` would otherwise be the
current folder, and files would land wherever a command starts.
"""

from __future__ import annotations

import os
from pathlib import Path

ENV_PREFIX = "RNN_FORECAST_"


def default_registry() -> Path:
    """``RNN_FORECAST_REGISTRY`` or ``./registry``: the checkpoint folder."""
    return Path(_setting("REGISTRY") or "registry")


def default_cache_dir() -> Path:
    """``RNN_FORECAST_CACHE_DIR`` or ``~/.cache/rnn-forecast``: downloads."""
    return Path(_setting("CACHE_DIR") or Path.home() / ".cache" / "rnn-forecast")


def _setting(name: str) -> str:
    """Return the value of ``RNN_FORECAST_<name>``, or '' when it is unset,
    empty or only spaces."""
    value = os.environ.get(f"{ENV_PREFIX}{name}", "")
    return value if value.strip() else ""
