"""Request and response models of the HTTP API."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, NotRequired

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, TypeAdapter

# pydantic needs this TypedDict before Python 3.12
from typing_extensions import TypedDict

from models.date_fields import IsoDate
from models.field_types import INTEGER_ONLY, Number
from models.limits import DEFAULT_LIMITS
from models.stored_metadata import StoredIntervalScore
from models.version_refs import REF_RULE, check_version_ref, version_type_problem

FiniteFloat = Annotated[float, Field(allow_inf_nan=False, strict=True)]


def _check_version_ref(value: Any) -> Any:
    """Accept an integer or a version/alias string; JSON booleans and floats
    are rejected instead of being read as numbers."""
    problem = version_type_problem(value)
    if problem is not None:
        raise ValueError(f"version {problem}; {REF_RULE}")
    return check_version_ref(value)


def check_version_path(version: str) -> str:
    """Return ``version``, the ``{version}`` segment of a path, if it is a
    version number from 1 to ``MAX_VERSION`` or an alias; raise
    ``InvalidInputError`` otherwise. Leading zeros are accepted, so ``007``
    means version 7, as in a request body."""
    check_version_ref(version)
    return version


VersionRef = Annotated[
    int | str,
    BeforeValidator(_check_version_ref),
    Field(
        description="A version number or an alias such as 'latest' or 'production'",
        examples=["latest", 3],
    ),
]


Volume = Annotated[FiniteFloat, Field(ge=0)]
Horizon = Annotated[int, Field(ge=1, le=DEFAULT_LIMITS.max_horizon), INTEGER_ONLY]


class HistoryRow(BaseModel):
    """One daily row of client-supplied history.

    The forecast reads the date and the close. The optional prices of a row
    must agree: low at most high, and open and close between them.
    """

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"date": "2020-12-10", "close": 501.09}]},
    )

    date: IsoDate
    close: FiniteFloat
    open: FiniteFloat | None = None
    high: FiniteFloat | None = None
    low: FiniteFloat | None = None
    volume: Volume | None = None


class ForecastRequest(BaseModel):
    """Body of ``POST /v1/models/{name}/forecast``."""

    model_config = ConfigDict(
        extra="forbid",
        allow_inf_nan=False,
        json_schema_extra={"examples": [{"version": "latest", "horizon": 10}]},
    )

    version: VersionRef = "latest"
    horizon: Horizon | None = Field(
        default=None,
        description="Steps to forecast, 1 up to the model's horizon (default: all)",
    )
    history: list[HistoryRow] | None = Field(
        default=None,
        min_length=1,
        description="Daily rows, sorted by date; default: the tail of the "
        "model's own training data",
    )
    level: Number | None = Field(
        default=None,
        gt=0,
        lt=1,
        description="Prediction interval level such as 0.8 or 0.95: each point "
        "then carries lower and upper bounds. The version serves the levels "
        "0.01 to 0.99 in steps of 0.01 that its calibration windows support",
        examples=[0.9],
    )


class HistoryRowFields(TypedDict):
    """``HistoryRow`` as a dict: same fields, types and checks."""

    __pydantic_config__ = ConfigDict(extra="forbid")  # type: ignore[misc]

    date: IsoDate
    close: FiniteFloat
    open: NotRequired[FiniteFloat | None]
    high: NotRequired[FiniteFloat | None]
    low: NotRequired[FiniteFloat | None]
    volume: NotRequired[Volume | None]


class ForecastRequestFields(TypedDict):
    """``ForecastRequest`` as a dict, with dict rows: same fields, types and
    checks. Pydantic validates it in about half the time, because it builds
    no model object per history row. Absent fields stay absent instead of
    taking their defaults."""

    __pydantic_config__ = ConfigDict(  # type: ignore[misc]
        extra="forbid", allow_inf_nan=False
    )

    version: NotRequired[VersionRef]
    horizon: NotRequired[Horizon | None]
    history: NotRequired[Annotated[list[HistoryRowFields], Field(min_length=1)] | None]
    level: NotRequired[Annotated[Number, Field(gt=0, lt=1)] | None]


FORECAST_REQUEST_FIELDS: TypeAdapter[ForecastRequestFields] = TypeAdapter(
    ForecastRequestFields
)


class ForecastPoint(BaseModel):
    date: dt.date
    value: float
    lower: float | None = Field(
        default=None, description="Lower interval bound (only with a level)"
    )
    upper: float | None = Field(
        default=None, description="Upper interval bound (only with a level)"
    )


class ForecastWarningOut(BaseModel):
    """A fact about a forecast's input that makes the forecast less reliable.

    The only type is ``outside_training_range``: the history's modelled
    values (closes, or their log returns for a log-return model) leave the
    range of the version's training part, so the network extrapolates.
    """

    field: str = Field(description="The input that the warning is about")
    type: str = Field(description="'outside_training_range'")
    message: str = Field(description="What is outside which range, and the fix")


class ForecastResponse(BaseModel):
    """A forecast and the version that made it."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "model": "nflx",
                    "version": 1,
                    "horizon": 2,
                    "last_history_date": "2020-12-11",
                    "history_source": "model",
                    "forecast": [
                        {"date": "2020-12-14", "value": 503.95},
                        {"date": "2020-12-15", "value": 504.82},
                    ],
                }
            ]
        }
    )

    model: str
    version: int
    horizon: int
    last_history_date: dt.date
    history_source: str = Field(description="'request' or 'model'")
    forecast: list[ForecastPoint]
    level: float | None = Field(
        default=None, description="Level of the lower and upper bounds, if any"
    )
    warnings: list[ForecastWarningOut] = Field(
        default_factory=list,
        description="Facts about the input that make the forecast less "
        "reliable; empty for a history within the training range",
    )


class RunnerHealth(BaseModel):
    """The job runner's state as of its last check."""

    name: str = Field(description="'inhost' or 'celery' (RNN_FORECAST_RUNNER)")
    status: str = Field(
        description="'ok', 'unavailable', or 'unknown' before the first check"
    )
    detail: str | None = Field(
        default=None, description="Why the runner is not 'ok', and the fix"
    )
    checked_at: str | None = Field(
        default=None,
        description="Time of the last check (ISO 8601, UTC); null where the "
        "state is read on each request",
    )
    mismatched_visibility_timeouts: dict[str, float] = Field(
        description="Celery workers whose broker visibility timeout differs "
        "from the API's, with each worker's timeout in seconds, from the "
        "workers' replies after each broker check. Set "
        "RNN_FORECAST_BROKER_VISIBILITY_TIMEOUT_SECONDS to one value for the "
        "API and every worker and restart the ones that differ. They leave "
        "status as it is, because jobs still run. Always empty for the "
        "in-host runner"
    )
    unknown_visibility_timeouts: dict[str, str] = Field(
        description="Celery job workers whose reply has no valid broker "
        "visibility timeout, with the reason: the broker transport option "
        "visibility_timeout is missing (a release before the setting, which "
        "uses kombu's default of 3600 s on Redis) or is not a number. Start "
        "them with this project's Celery app and "
        "RNN_FORECAST_BROKER_VISIBILITY_TIMEOUT_SECONDS. They leave status as "
        "it is. Always empty for the in-host runner"
    )
    worker_replied_at: dict[str, str] = Field(
        description="Time of the last reply (ISO 8601, UTC) of each worker in "
        "mismatched_visibility_timeouts or unknown_visibility_timeouts. A "
        "worker that stops replying stays listed for "
        "RNN_FORECAST_WORKER_FORGET_SECONDS (default 3600) after its last "
        "reply, because a worker with a solo pool replies only between jobs"
    )


class Health(BaseModel):
    """Liveness: the endpoint returns 200 while ``status`` is ``degraded``
    too. While the runner is unavailable, forecasts work but jobs cannot be
    submitted. While a model is in ``unreadable``, requests that read its
    broken file fail with 500, a broken ``highest_version`` fails every
    write of a new version of it, and the other models work as usual. An
    alias in ``dangling_aliases`` fails only the requests by that alias."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "status": "ok",
                    "version": "0.1.0",
                    "models": 2,
                    "unreadable": {},
                    "dangling_aliases": {"nflx": ["production"]},
                    "runner": {
                        "name": "celery",
                        "status": "ok",
                        "detail": None,
                        "checked_at": "2026-12-04T16:20:46.137+00:00",
                        "mismatched_visibility_timeouts": {"celery@worker-2": 60.0},
                        "unknown_visibility_timeouts": {},
                        "worker_replied_at": {
                            "celery@worker-2": "2026-12-04T16:20:36.512+00:00"
                        },
                    },
                }
            ]
        }
    )

    status: str = Field(
        description="'ok', or 'degraded' when the runner is unavailable or "
        "the registry has unreadable entries"
    )
    version: str
    models: int
    unreadable: dict[str, str] = Field(
        description="Models whose latest version's metadata, alias file or "
        "highest_version file cannot be read or is invalid, with the reason"
    )
    dangling_aliases: dict[str, list[str]] = Field(
        description="Models with aliases whose version no longer exists, "
        "with those aliases sorted. Reading one gets 409 and a forecast by one "
        "404; PUT each to an existing version or DELETE it. They do not make "
        "status 'degraded', because latest, version numbers and the other "
        "aliases work",
    )
    runner: RunnerHealth


class VersionTestMetrics(BaseModel):
    """The scores of a version on its test windows, in price units: the
    model's and each baseline's errors, the skill against the baselines and
    the interval coverage."""

    model_config = ConfigDict(extra="allow")

    intervals: dict[str, StoredIntervalScore] | None = Field(
        default=None,
        description="Coverage and mean width of the prediction intervals on "
        "the test windows, keyed by level as text: '0.8', '0.9' and '0.95'. "
        "A level that the validation windows were too few to calibrate has "
        "served false and null figures. Versions written before served "
        "existed list only the calibrated levels",
    )


class VersionMetrics(BaseModel):
    """The metrics that training stored with a version."""

    model_config = ConfigDict(extra="allow")

    test: VersionTestMetrics | None = None


class VersionSummary(BaseModel):
    """One version in a listing."""

    version: int
    created_at: str | None = None
    cell: str | None = None
    metrics: VersionMetrics | None = None
    skill: dict[str, float | None] | None = Field(
        default=None,
        description="Skill against the naive last-value forecast on the test "
        "part, 1 - error_model / error_naive, for rmse and mae: 0 ties the "
        "naive forecast and a negative value is worse than it",
    )
    baselines: dict[str, dict[str, float | None]] | None = Field(
        default=None,
        description="RMSE and MAE of the model and of each baseline (naive, "
        "drift, mean and, for seasonal series, seasonal_naive) on the same "
        "test windows",
    )


class ModelSummary(BaseModel):
    """One model in a listing. A model whose latest version's metadata,
    alias file or ``highest_version`` file cannot be read or is invalid is
    listed with ``error`` set."""

    name: str
    versions: list[int]
    aliases: dict[str, int] = Field(
        description="Every alias with its version; only 'latest' when the "
        "alias file cannot be read"
    )
    dangling_aliases: list[str] = Field(
        default_factory=list,
        description="Aliases in 'aliases' whose version no longer exists. "
        "Reading one gets 409 and a forecast by one 404; PUT each to an "
        "existing version or DELETE it",
    )
    latest: VersionSummary | None = Field(
        description="The highest version's summary; null when its metadata "
        "cannot be read"
    )
    error: str | None = Field(
        default=None,
        description="Why the latest version's metadata, the alias file or the "
        "highest_version file cannot be read or is invalid, the reason that "
        "health reports too; null when all can be used",
    )


class ModelList(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "models": [
                        {
                            "name": "nflx",
                            "versions": [1, 2],
                            "aliases": {"latest": 2, "production": 1},
                            "latest": {
                                "version": 2,
                                "created_at": "2026-12-04T16:11:37+00:00",
                                "cell": "lstm",
                                "metrics": {"test": {"model": {"rmse": 21.72}}},
                            },
                        }
                    ]
                }
            ]
        }
    )

    models: list[ModelSummary]


class VersionDetail(BaseModel):
    """The stored metadata of one version."""

    model_config = ConfigDict(
        extra="allow",
        json_schema_extra={
            "examples": [
                {
                    "name": "nflx",
                    "version": 1,
                    "created_at": "2026-12-04T16:11:37+00:00",
                    "spec": {"cell": "lstm", "hidden_size": 64, "lookback": 60},
                    "model": {"cell": "lstm", "hidden_size": 64, "horizon": 10},
                    "data": {"source": "bundled", "start": "2002-05-23"},
                    "split": {"test": {"start": "2018-03-05", "end": "2020-12-11"}},
                    "metrics": {
                        "test": {
                            "model": {"rmse": 21.72},
                            "intervals": {
                                "0.8": {
                                    "coverage": 0.79,
                                    "mean_width": 41.3,
                                    "served": True,
                                },
                                "0.9": {
                                    "coverage": 0.88,
                                    "mean_width": 55.1,
                                    "served": True,
                                },
                                "0.95": {
                                    "coverage": None,
                                    "mean_width": None,
                                    "served": False,
                                },
                            },
                        }
                    },
                    "history": [{"epoch": 1, "train_loss": 0.91, "val_loss": 0.88}],
                    "aliases": ["production"],
                }
            ]
        },
    )

    name: str
    version: int
    created_at: str
    spec: dict[str, Any]
    model: dict[str, Any]
    data: dict[str, Any]
    split: dict[str, Any]
    metrics: VersionMetrics
    history: list[dict[str, Any]]
    aliases: list[str] = Field(description="Aliases that point at this version")
    job_id: str | None = Field(
        default=None,
        description="The job that wrote this version; absent for a version "
        "written by the command line",
    )
