"""``POST /v1/models/{name}/forecast``."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter

from models.errors import LimitExceededError
from models.forecasting import Forecast, build_input
from models.limits import check_limit
from models.registry import check_name
from service.deps import (
    BatcherDep,
    CacheDep,
    ExecutorDep,
    ResolverDep,
    SettingsDep,
)
from service.schemas import ForecastPoint, ForecastRequest, ForecastResponse

router = APIRouter(tags=["forecast"])

RESPONSES = {
    404: {"description": "Unknown model or version"},
    422: {"description": "Invalid horizon, history or interval level"},
}


@router.post(
    "/models/{name}/forecast",
    response_model=ForecastResponse,
    responses=RESPONSES,
    summary="Forecast the next trading days' prices",
)
async def forecast(
    name: str,
    body: ForecastRequest,
    settings: SettingsDep,
    cache: CacheDep,
    executor: ExecutorDep,
    resolver: ResolverDep,
    batcher: BatcherDep,
) -> ForecastResponse:
    check_name(name)
    if body.history is not None and len(body.history) > settings.max_history_rows:
        raise LimitExceededError(
            f"history has {len(body.history)} rows, above the limit of "
            f"{settings.max_history_rows}; send only the most recent rows or "
            "raise RNN_FORECAST_MAX_HISTORY_ROWS",
            field="history",
        )
    if body.horizon is not None:
        check_limit(
            "horizon", body.horizon, settings.max_horizon, "RNN_FORECAST_MAX_HORIZON"
        )

    # the alias is resolved once, so the whole response comes from one version;
    # a cached version costs no file reads, a new one is loaded on the pool
    version = resolver.resolve(name, body.version)
    loaded = cache.peek(name, version)
    if loaded is None:
        loop = asyncio.get_running_loop()
        loaded = await loop.run_in_executor(executor, cache.get, name, version)
    horizon = body.horizon if body.horizon is not None else loaded.horizon

    dates = closes = None
    if body.history is not None:
        dates = [row.date.isoformat() for row in body.history]
        closes = [row.close for row in body.history]
    item = build_input(loaded, horizon, dates, closes, level=body.level)
    result = await batcher.forecast(loaded, item)

    return ForecastResponse(
        model=name,
        version=version,
        horizon=horizon,
        last_history_date=item.last_date,
        history_source="model" if body.history is None else "request",
        forecast=forecast_points(result),
        level=body.level,
    )


def forecast_points(result: Forecast) -> list[ForecastPoint]:
    """Build one point per step, with interval bounds where the result has them."""
    steps = len(result.values)
    lower = result.lower if result.lower is not None else [None] * steps
    upper = result.upper if result.upper is not None else [None] * steps
    return [
        ForecastPoint(date=d, value=v, lower=lo, upper=up)
        for d, v, lo, up in zip(result.dates, result.values, lower, upper, strict=True)
    ]
