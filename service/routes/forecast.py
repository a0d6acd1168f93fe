"""``POST /v1/models/{name}/forecast``.

This is the hot route, so it skips two pieces of FastAPI machinery. It
reads the serving objects from ``app.state`` in one step instead of through
per-request dependencies. It also writes its JSON itself, so FastAPI does
not validate the response against ``ForecastResponse`` a second time. The
OpenAPI schema is unchanged, and ``tests/service/test_forecast_json.py``
checks that the bytes it writes validate as ``ForecastResponse``.

Valid requests with a JSON body reach ``forecast_json`` through
``service.fast_forecast`` without FastAPI's routing; this route serves the
others and produces every error response.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from fastapi import APIRouter, Request, Response

from models.errors import LimitExceededError
from models.forecasting import Forecast, build_input
from models.limits import check_limit
from models.registry import check_name
from service.logging_config import in_request_context
from service.schemas import ForecastRequest, ForecastResponse
from service.serving import Serving

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
async def forecast(name: str, body: ForecastRequest, request: Request) -> Response:
    content = await forecast_json(request.app.state.serving, name, body)
    return Response(content, media_type="application/json")


async def forecast_json(serving: Serving, name: str, body: ForecastRequest) -> bytes:
    """Serve one validated forecast request; return the response body.

    Raises the service's errors (unknown model or version, a history or
    horizon that fails its checks), which the app's handlers turn into
    problem responses.
    """
    check_name(name)
    check_request_limits(body, serving)

    # the alias is resolved once, so the whole response comes from one version;
    # a cached version costs no file reads, a new one is loaded on the pool
    version = serving.resolver.resolve(name, body.version)
    loaded = serving.cache.peek(name, version)
    if loaded is None:
        loop = asyncio.get_running_loop()
        loaded = await loop.run_in_executor(
            serving.executor, in_request_context(serving.cache.get, name, version)
        )
    horizon = body.horizon if body.horizon is not None else loaded.horizon

    dates = closes = None
    if body.history is not None:
        dates = [row.date for row in body.history]
        closes = [row.close for row in body.history]
    item = build_input(loaded, horizon, dates, closes, level=body.level)
    result = await serving.batcher.forecast(loaded, item)

    content = {
        "model": name,
        "version": version,
        "horizon": horizon,
        "last_history_date": item.last_date.isoformat(),
        "history_source": "model" if body.history is None else "request",
        "forecast": forecast_points(result),
        "level": body.level,
    }
    return json_bytes(content)


def check_request_limits(body: ForecastRequest, serving: Serving) -> None:
    """Raise ``LimitExceededError`` for a history or horizon above the
    server's configured limits."""
    settings = serving.settings
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


def forecast_points(result: Forecast) -> list[dict[str, Any]]:
    """Build one ``ForecastPoint`` dict per step, with interval bounds where
    the result has them."""
    steps = len(result.values)
    lower = result.lower if result.lower is not None else [None] * steps
    upper = result.upper if result.upper is not None else [None] * steps
    return [
        {"date": d, "value": v, "lower": lo, "upper": up}
        for d, v, lo, up in zip(result.dates, result.values, lower, upper, strict=True)
    ]


def json_bytes(content: dict[str, Any]) -> bytes:
    """Encode ``content`` as compact UTF-8 JSON. ``run_batch`` rejects
    non-finite forecasts, and ``allow_nan=False`` raises if one gets here."""
    return json.dumps(content, separators=(",", ":"), allow_nan=False).encode()
