"""Size limits shared by the command line, the training spec and the service.

The service reads its own copy from settings (``RNN_FORECAST_MAX_*``); these
are the defaults and the hard bounds that a spec can never exceed.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, fields

from models.errors import LimitExceededError


@dataclass(frozen=True)
class Limits:
    """Upper bounds on every size a client can request."""

    max_epochs: int = 500
    max_hidden_size: int = 512
    max_num_layers: int = 4
    max_lookback: int = 512
    max_horizon: int = 60
    max_series_rows: int = 200_000
    max_history_rows: int = 5_000
    max_seq_len: int = 1_000
    max_diagnostic_hidden_size: int = 256
    max_diagnostic_features: int = 1_000
    max_diagnostic_parameters: int = 1_000_000
    max_lag_batch_elements: int = 4_000_000
    max_upload_bytes: int = 10_000_000
    max_request_bytes: int = 2_000_000
    max_queued_jobs: int = 100
    max_backtest_fits: int = 100


DEFAULT_LIMITS = Limits()


def limit_from_env(name: str) -> int:
    """Return the limit ``name``, a field of ``Limits``, from the environment
    variable ``RNN_FORECAST_<NAME>`` when it is set, else its default.

    The command line uses it for the limits that it applies itself. Raises
    ``ValueError`` when the variable is not a whole number or is below 1,
    as the service settings do.
    """
    known = {field.name for field in fields(Limits)}
    if name not in known:
        raise ValueError(f"limit {name!r} not found; use one of {sorted(known)}")
    variable = f"RNN_FORECAST_{name.upper()}"
    text = os.environ.get(variable, "").strip()
    if not text:
        return int(getattr(DEFAULT_LIMITS, name))
    try:
        value = int(text)
    except ValueError as exc:
        raise ValueError(
            f"{variable}={text!r} is invalid; set it to a whole number or unset it"
        ) from exc
    if value < 1:
        raise ValueError(f"{variable}={value} is invalid; use a limit of at least 1")
    return value


def limits_from_env() -> Limits:
    """Return every limit as ``limit_from_env`` reads it."""
    values = {field.name: limit_from_env(field.name) for field in fields(Limits)}
    return Limits(**values)


def check_limit(field: str, value: int, limit: int, setting: str) -> None:
    """Raise ``LimitExceededError`` when ``value`` is above ``limit``.

    ``setting`` is the environment variable that raises the limit, so the
    message names what the operator can change.
    """
    if value > limit:
        raise LimitExceededError(
            f"{field}={value} is above the limit of {limit}; "
            f"request at most {limit} or raise {setting}",
            field=field,
        )
