"""``POST /v1/models/{name}/forecast``.

This is the hot route, so it skips two pieces of FastAPI machinery. It
reads the serving objects from ``app.state`` in one step instead of through
per-request dependencies. It also writes its JSON itself, so FastAPI does
not validate the response against ``ForecastResponse`` a second time. The
OpenAPI schema is unchanged, and ``tests/service/test_forecast_json.py``
checks that the bytes it writes validate as ``ForecastResponse``.

Valid requests with a JSON body reach ``forecast_json`` through
``service.fast_forecast`` without FastAPI's routing; this route serves the
others and produces every error response. Its body is parsed by
``loads_unique_keys``, which rejects a repeated key.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import math
from collections.abc import Sequence
from json.encoder import encode_basestring_ascii
from typing import NamedTuple

import msgspec
from fastapi import APIRouter, Request, Response

from models.errors import LimitExceededError
from models.forecasting import Forecast, build_input
from models.history_prices import RowPrices, check_row_prices
from models.limits import check_limit
from models.registry import check_name
from service.json_bodies import JsonBodyRoute
from service.logging_config import in_request_context
from service.path_params import ModelNameParam
from service.schemas import ForecastRequest, ForecastRequestFields, ForecastResponse
from service.serving import Serving

router = APIRouter(tags=["forecast"], route_class=JsonBodyRoute)

# an error the fast path met serving a valid body of this request; the route
# raises it instead of computing the forecast a second time
FORECAST_ERROR_SCOPE_KEY = "rnn_forecast.forecast_error"

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
    name: ModelNameParam, body: ForecastRequest, request: Request
) -> Response:
    error = request.scope.get(FORECAST_ERROR_SCOPE_KEY)
    if error is not None:
        raise error
    content = await forecast_json(
        request.app.state.serving, name, ForecastQuery.from_model(body)
    )
    return Response(content, media_type="application/json")


class ForecastQuery(NamedTuple):
    """A validated forecast request body: the version reference, the
    horizon (None: the model's), the history's dates and closes (None: the
    model's stored tail) and the interval level (None: no interval)."""

    version: int | str
    horizon: int | None
    dates: Sequence[dt.date] | None
    closes: Sequence[float] | None
    level: float | None

    @classmethod
    def from_model(cls, body: ForecastRequest) -> ForecastQuery:
        """Build the query of a validated body. Raise ``InvalidInputError``
        for a history row whose open, high, low and close disagree."""
        dates = closes = None
        if body.history is not None:
            dates = [row.date for row in body.history]
            closes = [row.close for row in body.history]
            check_row_prices(
                (index, RowPrices(row.close, row.open, row.high, row.low))
                for index, row in enumerate(body.history)
            )
        return cls(body.version, body.horizon, dates, closes, body.level)

    @classmethod
    def from_fields(cls, body: ForecastRequestFields) -> ForecastQuery:
        """Build the query of a validated body, as ``from_model`` does."""
        dates = closes = None
        history = body.get("history")
        if history is not None:
            dates = [row["date"] for row in history]
            closes = [row["close"] for row in history]
            # only a row with more keys than date and close can give prices,
            # so the usual body, of such rows alone, skips the check
            if sum(map(len, history)) != 2 * len(history):
                check_row_prices(
                    (index, RowPrices.of_fields(row))
                    for index, row in enumerate(history)
                )
        return cls(
            body.get("version", "latest"),
            body.get("horizon"),
            dates,
            closes,
            body.get("level"),
        )


async def forecast_json(serving: Serving, name: str, query: ForecastQuery) -> bytes:
    """Serve one validated forecast request; return the response body.

    Raises the service's errors (unknown model or version, a history or
    horizon that fails its checks), which the app's handlers turn into
    problem responses.
    """
    check_name(name)
    check_request_limits(query, serving)

    # the alias is resolved once, so the whole response comes from one version;
    # the cache checks a cached version by the stat of its metadata file that
    # resolution made, and a new one is loaded on the pool
    version, stamp = serving.resolver.resolve_stamped(name, query.version)
    loaded = serving.cache.peek(name, version, stamp)
    if loaded is None:
        loop = asyncio.get_running_loop()
        loaded = await loop.run_in_executor(
            serving.executor, in_request_context(serving.cache.get, name, version)
        )
    horizon = query.horizon if query.horizon is not None else loaded.horizon
    item = build_input(loaded, horizon, query.dates, query.closes, level=query.level)
    result = await serving.batcher.forecast(loaded, item)

    source = "model" if query.dates is None else "request"
    return response_json(name, version, item.last_date, source, result, query.level)


def check_request_limits(query: ForecastQuery, serving: Serving) -> None:
    """Raise ``LimitExceededError`` for a history or horizon above the
    server's configured limits."""
    settings = serving.settings
    if query.dates is not None and len(query.dates) > settings.max_history_rows:
        raise LimitExceededError(
            f"history has {len(query.dates)} rows, above the limit of "
            f"{settings.max_history_rows}; send only the most recent rows or "
            "raise RNN_FORECAST_MAX_HISTORY_ROWS",
            field="history",
        )
    if query.horizon is not None:
        check_limit(
            "horizon", query.horizon, settings.max_horizon, "RNN_FORECAST_MAX_HORIZON"
        )


def response_json(
    name: str,
    version: int,
    last_date: dt.date,
    source: str,
    result: Forecast,
    level: float | None,
) -> bytes:
    """Write the ``ForecastResponse`` JSON, compact and UTF-8.

    The bytes equal ``json.dumps`` of the same dict with compact separators,
    which ``tests/service/test_forecast_json.py`` checks. Writing them
    directly takes about 6 us instead of 15 us for 10 points.
    """
    steps = len(result.values)
    if result.lower is None and result.upper is None and _plain_floats(result.values):
        points = ",".join(
            [
                f'{{"date":"{d}","value":{v},"lower":null,"upper":null}}'
                for d, v in zip(result.dates, float_reprs(result.values), strict=True)
            ]
        )
    else:
        points = _points(result)
    model = encode_basestring_ascii(name)
    text = (
        f'{{"model":{model},"version":{int(version)},"horizon":{steps},'
        f'"last_history_date":"{last_date.isoformat()}",'
        f'"history_source":"{source}","forecast":[{points}],'
        f'"level":{_number(level)},"warnings":[{_warnings(result)}]}}'
    )
    return text.encode()


def _warnings(result: Forecast) -> str:
    """Write the warnings of ``result`` as the items of a JSON array."""
    return ",".join(
        [
            f'{{"field":{encode_basestring_ascii(warning.field)},'
            f'"type":{encode_basestring_ascii(warning.type)},'
            f'"message":{encode_basestring_ascii(warning.message)}}}'
            for warning in result.warnings
        ]
    )


def _points(result: Forecast) -> str:
    """Write the forecast points, each list of values through
    ``_number_texts``."""
    steps = len(result.values)
    values = _number_texts(result.values, steps)
    lower = _number_texts(result.lower, steps)
    upper = _number_texts(result.upper, steps)
    return ",".join(
        [
            f'{{"date":"{d}","value":{v},"lower":{lo},"upper":{up}}}'
            for d, v, lo, up in zip(result.dates, values, lower, upper, strict=True)
        ]
    )


def _number_texts(values: list[float] | None, steps: int) -> list[str]:
    """Write each of ``values`` as ``_number`` does, or ``steps`` nulls
    when ``values`` is None. Lists of finite floats go through
    ``float_reprs``."""
    if values is None:
        return ["null"] * steps
    if _plain_floats(values):
        return float_reprs(values)
    return [_number(value) for value in values]


def float_reprs(values: list[float]) -> list[str]:
    """Return ``float.__repr__`` of each finite ``float`` of ``values``.

    ``float.__repr__`` finds the shortest digits with bignum arithmetic
    (David Gay's dtoa). For the 10 values of a forecast that took about
    67,000 of the 955,000 instructions of a request with a 61-row history
    (callgrind). msgspec 0.23's JSON encoder writes the same shortest
    round-trip digits with far fewer. Its notation differs only for values
    below 1e-4, which it may write positionally (0.00001 against 1e-05),
    and for exponents, which it writes without "+" (1e16 against 1e+16).
    So a list whose text has neither "e" nor "0.0000" is split into the
    reprs, and any other list goes through ``float.__repr__``.
    """
    text = msgspec.json.encode(values)
    if b"e" in text or b"0.0000" in text:
        return [float.__repr__(value) for value in values]
    return text[1:-1].decode().split(",")


def _plain_floats(values: list[float]) -> bool:
    """True when every value is a finite ``float``, which ``float.__repr__``
    writes as ``json.dumps`` does."""
    return all(type(value) is float for value in values) and all(
        map(math.isfinite, values)
    )


def _number(value: float | None) -> str:
    """Write a JSON number as ``json.dumps`` does, or null for None.

    ``run_batch`` rejects non-finite forecasts; this raises if one gets
    here, because JSON has no literal for it.
    """
    if value is None:
        return "null"
    if not math.isfinite(value):
        raise ValueError(f"{value} cannot be written as a JSON number")
    if type(value) is float:
        return float.__repr__(value)
    return json.dumps(value)
