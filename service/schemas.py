"""Request and response models of the HTTP API."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

from models.limits import DEFAULT_LIMITS

FiniteFloat = Annotated[float, Field(allow_inf_nan=False)]
VersionRef = Annotated[
    int | str,
    Field(
        description="A version number or an alias such as 'latest' or 'production'",
        examples=["latest", 3],
    ),
]


class HistoryRow(BaseModel):
    """One daily row of client-supplied history."""

    model_config = ConfigDict(extra="forbid")

    date: dt.date
    close: FiniteFloat
    open: FiniteFloat | None = None
    high: FiniteFloat | None = None
    low: FiniteFloat | None = None
    volume: Annotated[float, Field(allow_inf_nan=False, ge=0)] | None = None


class ForecastRequest(BaseModel):
    """Body of ``POST /v1/models/{name}/forecast``."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"version": "latest", "horizon": 10}]},
    )

    version: VersionRef = "latest"
    horizon: int | None = Field(
        default=None,
        ge=1,
        le=DEFAULT_LIMITS.max_horizon,
        description="Steps to forecast, 1 up to the model's horizon (default: all)",
    )
    history: list[HistoryRow] | None = Field(
        default=None,
        min_length=1,
        description="Daily rows, sorted by date; default: the tail of the "
        "model's own training data",
    )


class ForecastPoint(BaseModel):
    date: dt.date
    value: float


class ForecastResponse(BaseModel):
    """A forecast and the version that made it."""

    model: str
    version: int
    horizon: int
    last_history_date: dt.date
    history_source: str = Field(description="'request' or 'model'")
    forecast: list[ForecastPoint]


class Health(BaseModel):
    status: str
    version: str
    registry: str
    models: int


class VersionSummary(BaseModel):
    """One version in a listing."""

    version: int
    created_at: str | None = None
    cell: str | None = None
    metrics: dict[str, Any] | None = None


class ModelSummary(BaseModel):
    name: str
    versions: list[int]
    aliases: dict[str, int]
    latest: VersionSummary


class ModelList(BaseModel):
    models: list[ModelSummary]


class VersionDetail(BaseModel):
    """The stored metadata of one version."""

    model_config = ConfigDict(extra="allow")

    name: str
    version: int
    created_at: str
    spec: dict[str, Any]
    model: dict[str, Any]
    data: dict[str, Any]
    split: dict[str, Any]
    metrics: dict[str, Any]
    history: list[dict[str, Any]]
    aliases: list[str] = Field(description="Aliases that point at this version")
