"""Service settings, read once from ``RNN_FORECAST_*`` environment variables."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Literal

from pydantic import (
    Field,
    SecretStr,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticUseDefault
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from models.limits import DEFAULT_LIMITS, Limits
from models.paths import default_cache_dir, default_registry
from models.trial_heartbeats import DEFAULT_HEARTBEAT_SECONDS, MAX_HEARTBEAT_SECONDS
from service.head_limits import (
    DEFAULT_MAX_HEAD_BYTES,
    MAX_HEAD_BYTES_RANGE,
)

# the default of RNN_FORECAST_BODY_TIMEOUT_SECONDS, in seconds
DEFAULT_BODY_TIMEOUT_SECONDS = 30.0

# A path prefix such as "/rnn" or "/ml/forecast". Empty means none.
ROOT_PATH = re.compile(r"(/[A-Za-z0-9._~-]+)*")


def _has_dot_segment(path: str) -> bool:
    """Return whether ``path`` has a segment ``.`` or ``..``. URL resolution
    removes such segments (RFC 3986, section 5.2.4), and curl does so before
    it sends a request unless given ``--path-as-is``, so a prefix with one
    would not reach the server as it is written."""
    return any(segment in (".", "..") for segment in path.split("/"))


# limits that the training spec and the request models bound too, with
# their defaults as the highest values, so a larger setting would have no effect
SPEC_BOUNDED = frozenset(
    {"max_epochs", "max_hidden_size", "max_num_layers", "max_lookback", "max_horizon"}
)


class Settings(BaseSettings):
    """Every setting of the API; the README lists them with their defaults."""

    # The text of a validation error leaves out the inputs, because settings
    # such as the API key are secrets. rnn-forecast serve names the invalid
    # values itself.
    model_config = SettingsConfigDict(
        env_prefix="RNN_FORECAST_",
        extra="ignore",
        hide_input_in_errors=True,
        allow_inf_nan=False,
    )

    registry: Path = Field(default_factory=default_registry)
    cache_dir: Path = Field(default_factory=default_cache_dir)
    data_dir: Path = Path("var")
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    # The prefix under which a reverse proxy publishes the API, e.g. "/rnn".
    # The proxy strips it before forwarding, and the docs and the OpenAPI
    # "servers" entry add it back. Empty means the API is at the root.
    root_path: str = ""

    model_cache_size: int = Field(default=8, ge=1, le=1000)
    torch_threads: int = Field(default=1, ge=1, le=256)
    inference_workers: int = Field(default=4, ge=1, le=256)
    # gradient diagnostics run on a pool of their own, so they cannot hold
    # every inference thread while forecasts wait
    diagnostics_workers: int = Field(default=1, ge=1, le=64)
    # micro-batching (service/batching.py): max wait in ms, 0 turns it off
    batch_window_ms: float = Field(default=2.0, ge=0.0, le=1000.0)
    max_batch_size: int = Field(default=64, ge=1, le=4096)
    # a lone forecast whose last lone forward pass took less than this many
    # ms runs on the event loop instead of the pool; 0 keeps all on the pool
    inline_forward_ms: float = Field(default=1.0, ge=0.0, le=100.0)
    # version resolution (service/resolution.py): 0 checks mtimes per request
    resolve_ttl_ms: float = Field(default=0.0, ge=0.0, le=60_000.0)
    # diagnostics waiting for a diagnostics thread; more get 503
    max_queued_diagnostics: int = Field(default=4, ge=0, le=1000)
    # series uploads read and parsed at once, each parsed on a thread of its
    # own; one more gets 503 before its body is read (service/upload_parsing.py).
    # Checks of uploads that an earlier release stored take these places too.
    upload_workers: int = Field(default=2, ge=1, le=64)

    max_epochs: int = DEFAULT_LIMITS.max_epochs
    max_hidden_size: int = DEFAULT_LIMITS.max_hidden_size
    max_num_layers: int = DEFAULT_LIMITS.max_num_layers
    max_lookback: int = DEFAULT_LIMITS.max_lookback
    max_horizon: int = DEFAULT_LIMITS.max_horizon
    max_series_rows: int = DEFAULT_LIMITS.max_series_rows
    max_history_rows: int = DEFAULT_LIMITS.max_history_rows
    max_seq_len: int = DEFAULT_LIMITS.max_seq_len
    max_diagnostic_hidden_size: int = DEFAULT_LIMITS.max_diagnostic_hidden_size
    max_diagnostic_features: int = DEFAULT_LIMITS.max_diagnostic_features
    max_diagnostic_parameters: int = DEFAULT_LIMITS.max_diagnostic_parameters
    max_lag_batch_elements: int = DEFAULT_LIMITS.max_lag_batch_elements
    max_upload_bytes: int = DEFAULT_LIMITS.max_upload_bytes
    max_request_bytes: int = DEFAULT_LIMITS.max_request_bytes
    # seconds a client may take between two parts of an incomplete body
    body_timeout_seconds: float = Field(
        default=DEFAULT_BODY_TIMEOUT_SECONDS, gt=0.0, le=3600.0
    )
    # seconds a client may take to send a whole request line and headers
    head_timeout_seconds: float = Field(default=30.0, gt=0.0, le=3600.0)
    # bytes of a request line and headers; more gets 431, or 414 when the
    # request line alone is longer (service/head_limits.py)
    max_head_bytes: int = DEFAULT_MAX_HEAD_BYTES
    max_queued_jobs: int = DEFAULT_LIMITS.max_queued_jobs
    max_backtest_fits: int = DEFAULT_LIMITS.max_backtest_fits

    # training and other jobs: service/jobs/ and the README's "Jobs" section
    job_store: str | None = Field(
        default=None, description="SQL URL; default sqlite:///<data_dir>/jobs.db"
    )
    runner: Literal["inhost", "celery"] = "inhost"
    broker_url: str = "redis://127.0.0.1:6379/0"
    # seconds between the checks for queued jobs whose message the broker
    # lost (celery runner, Redis broker); 0 turns the check off
    broker_message_check_seconds: float = Field(default=30.0, ge=0.0, le=3600.0)
    # seconds after which Redis hands a taken, unacknowledged message to a
    # worker again (kombu's visibility_timeout). A worker acknowledges its
    # message when the task starts, so a running job is never delivered again.
    broker_visibility_timeout_seconds: float = Field(default=300.0, ge=1.0, le=86_400.0)
    # seconds after its last reply to inspect conf that GET /v1/health stops
    # listing a Celery worker. A solo pool replies only between two jobs, so
    # this should exceed the longest job that such a worker runs.
    worker_forget_seconds: float = Field(default=3600.0, ge=1.0, le=604_800.0)
    max_concurrent_jobs: int = Field(default=1, ge=1, le=256)
    job_torch_threads: int = Field(default=1, ge=1, le=256)
    job_heartbeat_seconds: float = Field(default=5.0, gt=0.0, le=3600.0)
    job_heartbeat_timeout: float = Field(default=60.0, gt=0.0, le=86_400.0)
    job_cancel_grace_seconds: float = Field(default=5.0, ge=0.0, le=3600.0)
    # SQLAlchemy URL of the Optuna studies of tuning jobs; None means the
    # SQLite file optuna.db in data_dir. Use PostgreSQL for several hosts.
    tuning_storage: str | None = None
    # seconds between the heartbeats of a running tuning trial; 0 turns them
    # off (models/trial_heartbeats.py)
    tuning_heartbeat_seconds: int = Field(
        default=DEFAULT_HEARTBEAT_SECONDS, ge=0, le=MAX_HEARTBEAT_SECONDS
    )
    api_key: SecretStr | None = None

    log_format: Literal["json", "text"] = "json"
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    # comma-separated origins, e.g. "https://a.example,https://b.example";
    # empty (the default) sends no CORS headers, so browsers block other origins
    cors_origins: Annotated[list[str], NoDecode] = Field(default_factory=list)

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper_level(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value

    @field_validator("registry", "cache_dir", "data_dir", mode="before")
    @classmethod
    def _empty_folder_means_default(cls, value: object) -> object:
        # Path("") is the folder the server starts in, so an empty variable
        # selects the default folder instead
        if isinstance(value, str) and not value.strip():
            raise PydanticUseDefault()
        return value

    @field_validator("job_store", "tuning_storage", mode="before")
    @classmethod
    def _empty_means_default(cls, value: object) -> object:
        # an empty variable, as compose files write an unset one, selects the
        # default SQLite file
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("root_path")
    @classmethod
    def _check_root_path(cls, value: str) -> str:
        if not ROOT_PATH.fullmatch(value) or _has_dot_segment(value):
            raise ValueError(
                f"RNN_FORECAST_ROOT_PATH={value!r} is invalid; use "
                "empty for none, or segments of letters, digits and ._~- "
                "each after a slash, other than . and .., with no trailing "
                "slash, such as /rnn"
            )
        return value

    @field_validator("api_key")
    @classmethod
    def _check_api_key(cls, value: SecretStr | None) -> SecretStr | None:
        """Reject a key that clients cannot send in ``X-API-Key`` as it is.

        HTTP servers strip the spaces around a header value, and Starlette
        decodes header bytes as Latin-1, so neither surrounding whitespace
        nor a non-ASCII key (which curl sends as UTF-8) would ever match.
        The message never contains the key.
        """
        key = value.get_secret_value() if value is not None else ""
        if not (key.isascii() and key.isprintable()):
            problem = "contains a character that is not printable ASCII"
        elif key != key.strip():
            problem = "starts or ends with a space, which HTTP drops from headers"
        else:
            return value
        raise ValueError(
            f"RNN_FORECAST_API_KEY {problem}; use printable ASCII characters, "
            "such as the output of python3 -c 'import secrets; "
            "print(secrets.token_urlsafe(32))'"
        )

    @field_validator(*Limits.__dataclass_fields__)
    @classmethod
    def _check_limit(cls, value: int, info: ValidationInfo) -> int:
        setting = f"RNN_FORECAST_{str(info.field_name).upper()}"
        if value < 1:
            raise ValueError(f"{setting}={value} is invalid; use a limit of at least 1")
        bound = getattr(DEFAULT_LIMITS, str(info.field_name))
        if info.field_name in SPEC_BOUNDED and value > bound:
            raise ValueError(
                f"{setting}={value} is above {bound}, the most that training "
                f"specs and requests accept; use at most {bound}"
            )
        return value

    @field_validator("max_head_bytes")
    @classmethod
    def _check_head_bytes(cls, value: int) -> int:
        low, high = MAX_HEAD_BYTES_RANGE
        if not low <= value <= high:
            raise ValueError(
                f"RNN_FORECAST_MAX_HEAD_BYTES={value} is invalid; use a limit "
                f"from {low} to {high} bytes, such as the default "
                f"{DEFAULT_MAX_HEAD_BYTES}"
            )
        return value

    @field_validator("cors_origins", mode="before")
    @classmethod
    def _split_origins(cls, value: object) -> object:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    def limits(self) -> Limits:
        """Return the limits as the model package's ``Limits``."""
        return Limits(
            **{name: getattr(self, name) for name in Limits.__dataclass_fields__}
        )

    @model_validator(mode="after")
    def _check_heartbeat_timeout(self) -> Settings:
        # a timeout within one interval would fail healthy running jobs
        if self.job_heartbeat_timeout <= self.job_heartbeat_seconds:
            raise ValueError(
                "RNN_FORECAST_JOB_HEARTBEAT_TIMEOUT "
                f"({self.job_heartbeat_timeout:g} s) must be longer than "
                "RNN_FORECAST_JOB_HEARTBEAT_SECONDS "
                f"({self.job_heartbeat_seconds:g} s); a few intervals is usual"
            )
        return self
